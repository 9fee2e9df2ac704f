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
use crate::connection::Link;
use crate::error::Error;
use crate::events::EventHub;
use crate::model::{
    ConnectionState, Contact, ContactPresence, Conversation, Event, Message, SearchHit, Show,
    TypingState,
};
use crate::session::{self, Command, OwnPresence, RosterCommand, Session};
use crate::store::{CorrectError, NewOutgoing, Store};

/// File name of the message store inside [`ClientConfig::store_dir`].
pub const STORE_FILE: &str = "jabberkit.sqlite3";

/// Longest body `send` accepts, in bytes (servers commonly cap stanzas
/// around 256 KiB; staying well below keeps one message from killing the
/// stream).
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
    /// Our availability: in memory, so every session (and every fresh
    /// stream of one) starts with the last one set; online by default.
    presence: watch::Sender<OwnPresence>,
    /// Whether the app is in the foreground (XEP-0352); true by default.
    foreground: watch::Sender<bool>,
    runtime: Handle,
    session: Mutex<Option<SessionHandle>>,
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
        let store = Store::open(&config.store_dir.join(STORE_FILE))?;
        Ok(Self {
            inner: Arc::new(Inner {
                own: jid.to_bare(),
                jid,
                config,
                store: Arc::new(store),
                hub: Arc::new(EventHub::new()),
                network: watch::Sender::new(true),
                presence: watch::Sender::new((Show::Online, None)),
                foreground: watch::Sender::new(true),
                runtime,
                session: Mutex::new(None),
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
        let link = Link::open(&inner.config, &inner.jid, inner.network.subscribe())?;
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
    /// a few seconds). Queued messages stay in the store and go out at the
    /// next `connect`.
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

    /// Queues a chat message to `to` (a bare JID) and returns its id at
    /// once. The message is stored before this returns, so it survives an
    /// app kill; it is sent as soon as the account is online, and its
    /// progress arrives as [`Event::MessageState`].
    pub fn send(&self, to: &str, body: &str) -> Result<String, Error> {
        let to = parse_bare(to)?;
        check_body(body)?;
        let id = uuid::Uuid::new_v4().to_string();
        let own = self.inner.own.to_string();
        let stored = self.inner.store.enqueue_outgoing(NewOutgoing {
            id: &id,
            own_jid: &own,
            to: to.as_str(),
            body,
            timestamp: chrono::Utc::now(),
        })?;
        self.inner.hub.emit(Event::Message(stored));
        if let Some(session) = self.inner.lock_session().as_ref() {
            // If the session just ended, the entry waits for the next one.
            let _ = session.commands.send(Command::Send(id.clone()));
        }
        Ok(id)
    }

    /// Tells `with` that we are typing, paused, or left (XEP-0085). Sent
    /// only while online (a stale "typing…" is worse than none); never stored.
    pub fn set_typing(&self, with: &str, state: TypingState) -> Result<(), Error> {
        let with = parse_bare(with)?;
        if let Some(session) = self.inner.lock_session().as_ref() {
            let _ = session.commands.send(Command::Typing(with, state));
        }
        Ok(())
    }

    /// The contact list as last stored (also before connecting): contacts
    /// and everyone whose subscription request is unanswered, by JID.
    /// [`Event::RosterChanged`] says when to read it again.
    pub fn roster(&self) -> Result<Vec<Contact>, Error> {
        Ok(self.inner.store.roster()?)
    }

    /// Adds `jid` to the contact list (or renames it) and asks for
    /// permission to see its presence. The roster arrives changed as
    /// [`Event::RosterChanged`] once the server confirms.
    ///
    /// Contact calls need the account online: they are not queued (a
    /// stale request replayed later could surprise the user), so offline
    /// they fail with [`Error::NotConnected`].
    pub fn add_contact(&self, jid: &str, name: Option<&str>) -> Result<(), Error> {
        let jid = parse_bare(jid)?;
        let name = name.filter(|n| !n.is_empty()).map(str::to_owned);
        self.roster_command(RosterCommand::Add(jid, name))
    }

    /// Renames `jid` and puts it in `groups` (both replace what was
    /// there; no permission is asked again). The change arrives as
    /// [`Event::RosterChanged`] once the server confirms, on every device.
    /// Needs the account online, like the other contact calls.
    ///
    /// Errors: [`Error::InvalidInput`] for a bad JID or a blank group name.
    pub fn update_contact(
        &self,
        jid: &str,
        name: Option<&str>,
        groups: &[String],
    ) -> Result<(), Error> {
        let jid = parse_bare(jid)?;
        let name = name.filter(|n| !n.is_empty()).map(str::to_owned);
        let mut clean = Vec::new();
        for group in groups {
            let group = group.trim();
            if group.is_empty() {
                return Err(Error::invalid("a group name is blank"));
            }
            check_body(group)?;
            if !clean.iter().any(|g| g == group) {
                clean.push(group.to_owned());
            }
        }
        self.roster_command(RosterCommand::Update(jid, name, clean))
    }

    /// Lets `jid` see our presence, and asks to see theirs if we do not
    /// already: permission both ways, which is what users mean by "accept".
    pub fn approve(&self, jid: &str) -> Result<(), Error> {
        self.roster_command(RosterCommand::Approve(parse_bare(jid)?))
    }

    /// Refuses `jid`'s request (or revokes its permission) to see our presence.
    pub fn deny(&self, jid: &str) -> Result<(), Error> {
        self.roster_command(RosterCommand::Deny(parse_bare(jid)?))
    }

    /// Removes `jid` from the contact list; the server cancels the
    /// subscriptions both ways.
    pub fn remove_contact(&self, jid: &str) -> Result<(), Error> {
        self.roster_command(RosterCommand::Remove(parse_bare(jid)?))
    }

    fn roster_command(&self, cmd: RosterCommand) -> Result<(), Error> {
        if !matches!(self.inner.hub.state(), ConnectionState::Online { .. }) {
            return Err(Error::NotConnected);
        }
        let session = self.inner.lock_session();
        let session = session.as_ref().ok_or(Error::NotConnected)?;
        session
            .commands
            .send(Command::Roster(cmd))
            .map_err(|_| Error::NotConnected)
    }

    /// Sets our availability and status text (empty = none), shown to
    /// every contact allowed to see it. Sent at once while online;
    /// otherwise remembered (in memory, not across a restart) for the next
    /// connection.
    pub fn set_presence(&self, show: Show, status: Option<&str>) -> Result<(), Error> {
        let status = status.filter(|s| !s.is_empty());
        if let Some(status) = status {
            check_body(status)?;
        }
        self.inner
            .presence
            .send_replace((show, status.map(str::to_owned)));
        Ok(())
    }

    /// `jid`'s availability as last stored (also before connecting):
    /// `None` while no resource of it is known to be available.
    /// [`Event::Presence`] says when it changes.
    pub fn presence(&self, jid: &str) -> Result<Option<ContactPresence>, Error> {
        let jid = parse_bare(jid)?;
        Ok(self.inner.store.presence(jid.as_str())?)
    }

    /// Every contact known to be available, by JID.
    pub fn presences(&self) -> Result<Vec<ContactPresence>, Error> {
        Ok(self.inner.store.presences()?)
    }

    /// Up to `limit` messages exchanged with `with`, older than the message
    /// `before` (the newest when `None`), oldest first.
    pub fn history(
        &self,
        with: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, Error> {
        let with = parse_bare(with)?;
        Ok(self.inner.store.history(with.as_str(), before, limit)?)
    }

    /// One entry per conversation, most recent activity first.
    pub fn conversations(&self) -> Result<Vec<Conversation>, Error> {
        Ok(self.inner.store.conversations()?)
    }

    /// Messages whose body contains every word of `query` (the last one as a
    /// prefix, for search-as-you-type), best match first, with a snippet
    /// that brackets the matches. Any text is a valid query.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>, Error> {
        Ok(self.inner.store.search(query, limit)?)
    }

    /// Marks the conversation with `with` as read; returns how many messages
    /// were unread. If there were any, `with` is told (XEP-0333 chat
    /// marker: its messages show as read there) and so are our other
    /// devices, which mark the conversation read too. The marker goes out
    /// now if connected, or when the current session next comes online.
    pub fn mark_read(&self, with: &str) -> Result<u32, Error> {
        let with = parse_bare(with)?;
        let was = self.inner.store.mark_read(with.as_str())?;
        if was > 0 {
            if let Some(id) = self.inner.store.newest_markable(with.as_str())? {
                // Persisted: it goes out with the next session if there is
                // none now, and survives an app kill.
                let marker = self.inner.store.queue_marker(with.as_str(), &id)?;
                if let Some(session) = self.inner.lock_session().as_ref() {
                    let _ = session.commands.send(Command::Pending(marker.id));
                }
            }
        }
        Ok(was)
    }

    /// Corrects our last message in its conversation (XEP-0308): the
    /// stored body becomes `body` and the peer (and our other devices) get
    /// the correction, reliably like a message. Returns the updated message;
    /// [`Event::MessageCorrected`] is not emitted for our own call.
    ///
    /// Errors: [`Error::InvalidInput`] for an unknown id, a message that is
    /// not ours, not the last we sent in that conversation, or failed, and
    /// for a body `send` would refuse.
    pub fn correct(&self, id: &str, body: &str) -> Result<Message, Error> {
        check_body(body)?;
        match self.inner.store.correct_outgoing(id, body) {
            Ok((message, correction_id)) => {
                if let Some(session) = self.inner.lock_session().as_ref() {
                    let _ = session.commands.send(Command::Correct(correction_id));
                }
                Ok(message)
            }
            Err(CorrectError::Store(e)) => Err(e.into()),
            Err(e) => Err(Error::invalid(format!(
                "cannot correct message {id:?}: {e}"
            ))),
        }
    }

    /// One stored message.
    pub fn message(&self, id: &str) -> Result<Option<Message>, Error> {
        Ok(self.inner.store.message(id)?)
    }

    /// The app's view of the network, reported whenever it changes (also
    /// on a switch between networks, with `true` again). `false` stops
    /// connection attempts, saving battery while there is nothing to reach;
    /// any report while JabberKit waits to retry makes it retry at once.
    pub fn network_available(&self, available: bool) {
        self.inner.network.send_replace(available);
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

impl Inner {
    fn lock_session(&self) -> MutexGuard<'_, Option<SessionHandle>> {
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn parse_bare(jid: &str) -> Result<BareJid, Error> {
    let parsed: BareJid = jid
        .parse()
        .map_err(|e| Error::invalid(format!("{jid:?} is not a bare JID (user@domain): {e}")))?;
    Ok(parsed)
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
mod tests {
    use super::*;

    #[test]
    fn bodies_xml_cannot_carry_are_refused() {
        assert!(check_body("hello ✓ 🎉").is_ok());
        for bad in ["", "nul \u{0} inside", "bell \u{7}", "\u{FFFE}"] {
            assert!(
                matches!(check_body(bad), Err(Error::InvalidInput { .. })),
                "{bad:?}"
            );
        }
        assert!(check_body(&"x".repeat(MAX_BODY_BYTES + 1)).is_err());
    }

    #[tokio::test]
    async fn bad_config_and_recipients_are_typed_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad_jid = ClientConfig::new("no-user-part", "pw", dir.path());
        assert!(matches!(
            Client::new(bad_jid),
            Err(Error::InvalidInput { .. })
        ));
        let client =
            Client::new(ClientConfig::new("me@example.test", "pw", dir.path())).expect("client");
        assert!(matches!(
            client.send("not a jid@@", "hi"),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            client.history("", None, 10),
            Err(Error::InvalidInput { .. })
        ));
        // Offline send: stored, queued, returned at once.
        let id = client.send("you@example.test", "hi").expect("send");
        let msg = client.message(&id).expect("read").expect("stored");
        assert_eq!(msg.state, crate::DeliveryState::Queued);
    }

    #[tokio::test]
    async fn contact_calls_offline_are_refused_and_the_roster_reads_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let client =
            Client::new(ClientConfig::new("me@example.test", "pw", dir.path())).expect("client");
        let bob = "bob@example.test";
        for result in [
            client.add_contact(bob, Some("Bob")),
            client.approve(bob),
            client.deny(bob),
            client.remove_contact(bob),
        ] {
            assert!(matches!(&result, Err(Error::NotConnected)), "{result:?}");
        }
        assert!(matches!(
            client.approve("not a jid@@"),
            Err(Error::InvalidInput { .. })
        ));
        assert_eq!(client.roster().expect("roster"), []);
    }

    #[test]
    fn client_outside_a_runtime_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = ClientConfig::new("me@example.test", "pw", dir.path());
        assert!(matches!(Client::new(cfg), Err(Error::Other { .. })));
    }

    #[tokio::test]
    async fn a_store_from_a_newer_jabberkit_is_a_typed_error_and_left_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(STORE_FILE);
        rusqlite::Connection::open(&path)
            .and_then(|db| db.pragma_update(None, "user_version", 99))
            .expect("a newer store");
        let before = std::fs::read(&path).expect("read");
        let cfg = ClientConfig::new("me@example.test", "pw", dir.path());
        match Client::new(cfg) {
            Err(Error::StoreTooNew {
                found: 99,
                supported,
            }) => assert!(supported < 99),
            other => panic!("{:?}", other.map(|_| "a client")),
        }
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }
}
