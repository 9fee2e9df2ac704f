//! [`Client`]: the app's handle on one account.
//!
//! Every method returns quickly: nothing here waits on the network. `send`
//! writes to the local store and returns; `connect` starts a background
//! session on the tokio runtime the client was created in. What happens
//! later arrives as [`Event`]s on [`Client::events`].

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_xmpp::jid::{BareJid, Jid};

use crate::config::ClientConfig;
use crate::connection::{DnsServers, FastToken, Link, LoginMemory};
use crate::error::Error;
use crate::events::EventHub;
use crate::model::{ConnectionState, Event, Show};
use crate::session::{self, Command, OwnPresence, Session};
use crate::store::Store;

/// File name of the message store inside [`ClientConfig::store_dir`].
pub const STORE_FILE: &str = "jabberkit.sqlite3";

/// Longest body `send` accepts, in bytes as it goes on the wire, XML-escaped
/// (servers cap stanzas, Prosody at 256 KiB, and close the stream on a
/// bigger one; a body of `&`s is five times longer escaped, so the raw
/// length alone would let one message kill every session that sends it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One account: its connection, its store, its events.
///
/// Create it inside a tokio runtime (its background work runs there). Cheap
/// to clone; all clones are the same account.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    jid: Jid,
    own: BareJid,
    store: Arc<Store>,
    hub: Arc<EventHub>,
    network: watch::Sender<bool>,
    /// The DNS servers for SRV lookups: the app's, for the network it is on.
    dns: watch::Sender<DnsServers>,
    /// Our availability: in memory, so every session (and every fresh
    /// stream of one) starts with the last one set; online by default.
    presence: watch::Sender<OwnPresence>,
    /// Whether the app is in the foreground (XEP-0352); true by default.
    foreground: watch::Sender<bool>,
    runtime: Handle,
    session: Mutex<Option<SessionHandle>>,
    /// The rooms we are in now (written by the session's rooms handler).
    joined_rooms: session::Joined,
    /// Messages whose file is being downloaded now.
    downloads: Mutex<std::collections::HashSet<String>>,
    /// The password logins use: the config's, until the session changes
    /// it on the server (`change_password`).
    password: Arc<watch::Sender<String>>,
}

struct SessionHandle {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl Client {
    /// Opens (or creates) the account's store. Does not connect.
    ///
    /// Errors: [`Error::InvalidInput`] for a JID without a user part or an
    /// unusable CA PEM, [`Error::Storage`] if the store cannot be opened.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let runtime = Handle::try_current().map_err(|_| Error::Other {
            reason: "Client::new must be called inside a tokio runtime".into(),
        })?;
        let jid: Jid = config
            .jid
            .parse()
            .map_err(|e| Error::invalid(format!("{:?} is not a JID: {e}", config.jid)))?;
        if jid.node().is_none() {
            return Err(Error::invalid(format!(
                "{:?} has no user part (user@domain)",
                config.jid
            )));
        }
        if config.password.is_empty() {
            return Err(Error::invalid("the password is empty"));
        }
        let dns = DnsServers::parse(&config.dns_servers)?;
        let store = Store::open(&config.store_dir.join(STORE_FILE))?;
        let password = Arc::new(watch::Sender::new(config.password.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                own: jid.to_bare(),
                jid,
                config,
                store: Arc::new(store),
                hub: Arc::new(EventHub::new()),
                network: watch::Sender::new(true),
                dns: watch::Sender::new(dns),
                presence: watch::Sender::new((Show::Online, None)),
                foreground: watch::Sender::new(true),
                runtime,
                session: Mutex::new(None),
                joined_rooms: Default::default(),
                downloads: Default::default(),
                password,
            }),
        })
    }

    /// The account's bare JID.
    pub fn jid(&self) -> String {
        self.inner.own.to_string()
    }

    /// Starts connecting in the background (no-op if already connected or
    /// trying). After [`ConnectionState::Failed`], this is how the app
    /// retries, e.g. with a corrected password in a new `Client`.
    ///
    /// Errors only for an unusable configuration (bad server address or CA).
    pub fn connect(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let mut session = inner.lock_session();
        let previous = match session.take() {
            Some(s)
                if !s.task.is_finished()
                    && !matches!(inner.hub.state(), ConnectionState::Failed { .. }) =>
            {
                *session = Some(s);
                return Ok(());
            }
            other => other,
        };
        let _guard = inner.runtime.enter();
        let link = Link::open(
            &inner.config,
            &inner.jid,
            inner.network.subscribe(),
            inner.dns.subscribe(),
            inner.password.subscribe(),
            inner.store.clone(),
        )?;
        let (commands, rx) = mpsc::unbounded_channel();
        let run = Session {
            link,
            own: inner.own.clone(),
            store: inner.store.clone(),
            hub: inner.hub.clone(),
            commands: rx,
            own_presence: inner.presence.subscribe(),
            foreground: inner.foreground.subscribe(),
            catch_up_first_login: inner.config.catch_up_first_login,
            room_ping: inner.config.room_ping_interval,
            room_first_visit: inner.config.room_first_visit,
            joined_rooms: inner.joined_rooms.clone(),
            extra_ca_pem: inner.config.extra_ca_pem.clone(),
            password: inner.password.clone(),
        };
        let run = run.start();
        let task = inner.runtime.spawn(async move {
            // A failed session may still be closing; never run two at once.
            if let Some(previous) = previous {
                let _ = previous.task.await;
            }
            run.await
        });
        *session = Some(SessionHandle { commands, task });
        Ok(())
    }

    /// Closes the connection cleanly and waits until it is closed (at most
    /// a few seconds): first up to 2 s for the server to ack what was
    /// already sent, so that it is not sent again. Queued messages stay in
    /// the store and go out at the next `connect`.
    pub async fn disconnect(&self) {
        let handle = self.inner.lock_session().take();
        if let Some(handle) = handle {
            let (done, wait) = oneshot::channel();
            if handle.commands.send(Command::Disconnect(done)).is_ok() {
                let _ = wait.await;
            }
            let _ = handle.task.await;
        }
        session::idle(&self.inner.hub);
    }

    /// The app's view of the network, reported whenever it changes (also
    /// on a switch between networks, with `true` again). `false` stops
    /// connection attempts, saving battery while there is nothing to reach;
    /// any report while JabberKit waits to retry makes it retry at once.
    pub fn network_available(&self, available: bool) {
        self.inner.network.send_replace(available);
    }

    /// The DNS servers of the network the device is on now (`ip` or
    /// `ip:port`; empty: the system's configuration), for the SRV lookups
    /// of the next connection attempts; see
    /// [`ClientConfig::dns_servers`]. Call it on every network change,
    /// before [`Self::network_available`]: the servers of a network the
    /// phone left do not answer. Returns at once.
    ///
    /// Errors: [`Error::InvalidInput`] for an entry that is not an IP
    /// address (the servers in use stay).
    pub fn set_dns_servers(&self, servers: Vec<String>) -> Result<(), Error> {
        self.inner.dns.send_replace(DnsServers::parse(&servers)?);
        Ok(())
    }

    /// Tells JabberKit whether the app is in the foreground. In the
    /// background the server is asked (XEP-0352, Client State Indication) to
    /// hold back what can wait, such as presence changes, until the app
    /// comes back or a message arrives: fewer radio wake-ups, less battery.
    /// Call it from the app's lifecycle callbacks; it is remembered for
    /// every later connection. Servers without CSI support just ignore it.
    pub fn set_foreground(&self, active: bool) {
        self.inner.foreground.send_replace(active);
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        self.inner.hub.state()
    }

    /// A new, independent queue of events, starting with the current
    /// connection state. Receive on any task or thread; dropping it
    /// unsubscribes.
    pub fn events(&self) -> mpsc::UnboundedReceiver<Event> {
        self.inner.hub.subscribe()
    }
}

/// The login pin lives in the store; the connection only asks for it.
impl LoginMemory for Store {
    fn pinned(&self) -> Result<Option<String>, String> {
        self.login_pin().map_err(|e| {
            tracing::error!("cannot read the login pin: {e}");
            e.to_string()
        })
    }

    fn pin(&self, mechanism: &str) {
        if let Err(e) = self.pin_login(mechanism) {
            tracing::error!("cannot record the login pin: {e}");
        }
    }

    fn agent_id(&self) -> String {
        Store::agent_id(self).unwrap_or_else(|e| {
            // A fresh id only costs the FAST token and a stable resource.
            tracing::error!("cannot read the user-agent id: {e}");
            uuid::Uuid::new_v4().to_string()
        })
    }

    fn renew_agent_id(&self) {
        if let Err(e) = Store::renew_agent_id(self) {
            tracing::error!("cannot renew the user-agent id: {e}");
        }
    }

    fn fast_token(&self) -> Option<FastToken> {
        match Store::fast_token(self) {
            Ok(token) => token.map(|(mechanism, secret, expiry)| FastToken {
                mechanism,
                secret,
                expiry,
            }),
            Err(e) => {
                tracing::error!("cannot read the FAST token: {e}");
                None
            }
        }
    }

    fn keep_fast_token(&self, token: &FastToken) -> bool {
        let row = (token.mechanism.clone(), token.secret.clone(), token.expiry);
        self.set_fast_token(Some(&row))
            .map_err(|e| tracing::error!("cannot keep the FAST token: {e}"))
            .is_ok()
    }

    fn forget_fast_token(&self) {
        if let Err(e) = self.set_fast_token(None) {
            tracing::error!("cannot forget the FAST token: {e}");
        }
    }
}

impl Inner {
    fn lock_session(&self) -> MutexGuard<'_, Option<SessionHandle>> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `command` to the session, which acts on it now: only while
    /// online ([`Error::NotConnected`] otherwise; nothing is queued).
    fn online_command(&self, command: Command) -> Result<(), Error> {
        if !matches!(self.hub.state(), ConnectionState::Online { .. }) {
            return Err(Error::NotConnected);
        }
        let session = self.lock_session();
        let session = session.as_ref().ok_or(Error::NotConnected)?;
        session
            .commands
            .send(command)
            .map_err(|_| Error::NotConnected)
    }
}

/// Where a message may go: a bare JID (a contact or a room), or a room's
/// occupant (`room@service/nick`, a private message) of a room we know.
fn parse_recipient(store: &Store, jid: &str) -> Result<Jid, Error> {
    let parsed: Jid = jid
        .parse()
        .map_err(|e| Error::invalid(format!("{jid:?} is not a JID: {e}")))?;
    if parsed.resource().is_some() && !store.is_room(parsed.to_bare().as_str())? {
        return Err(Error::invalid(format!(
            "{jid:?} is a full JID; messages go to bare JIDs (user@domain), \
             or to an occupant of a room this account is in"
        )));
    }
    Ok(parsed)
}

fn parse_bare(jid: &str) -> Result<BareJid, Error> {
    let parsed: BareJid = jid
        .parse()
        .map_err(|e| Error::invalid(format!("{jid:?} is not a bare JID (user@domain): {e}")))?;
    Ok(parsed)
}

/// The body's length once XML-escaped, counting quotes as escaped too
/// (the longest any serialiser makes it).
fn escaped_len(body: &str) -> usize {
    body.chars()
        .map(|c| match c {
            '&' => 5,
            '<' | '>' => 4,
            '"' | '\'' => 6,
            c => c.len_utf8(),
        })
        .sum()
}

/// Rejects bodies that could never be sent: empty, oversized, or holding
/// characters XML 1.0 cannot carry (which would fail serialisation on every
/// retry).
fn check_body(body: &str) -> Result<(), Error> {
    if body.is_empty() {
        return Err(Error::invalid("the message body is empty"));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::invalid(format!(
            "the message body is {} bytes; the limit is {MAX_BODY_BYTES}",
            body.len()
        )));
    }
    let escaped = escaped_len(body);
    if escaped > MAX_BODY_BYTES {
        return Err(Error::invalid(format!(
            "the message body is {escaped} bytes once XML-escaped; the limit is {MAX_BODY_BYTES}"
        )));
    }
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    if let Some(bad) = body.chars().find(|&c| !allowed(c)) {
        return Err(Error::invalid(format!(
            "the message body contains U+{:04X}, which XML cannot carry",
            bad as u32
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

mod account;
mod contacts;
mod files;
mod messages;
mod push;
mod room_actions;
mod rooms;
