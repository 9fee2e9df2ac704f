//! How an app describes an account to JabberKit.

use std::path::PathBuf;
use std::time::Duration;

/// How TLS is set up. TLS is always required: there is no plaintext mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// TLS from the first byte (XEP-0368, usually port 5223). One round trip
    /// fewer than STARTTLS.
    DirectTls,
    /// Plain TCP upgraded with `<starttls/>` (RFC 6120, usually port 5222).
    #[default]
    StartTls,
}

/// Everything a [`Client`](crate::Client) needs to run one account.
#[derive(Clone)]
pub struct ClientConfig {
    /// The account, `user@domain`. Leave the resource out for the fastest
    /// reconnects: on servers with Bind2 (XEP-0386) the server then names
    /// it, stable per installation (`JabberKit~…`), inside the login. A
    /// `/resource` part is requested exactly, with the classic bind after
    /// the login (two round trips more).
    pub jid: String,
    /// The account's password. Sent only after the server's certificate
    /// was verified, and never logged.
    pub password: String,
    /// Where the server is, as `host:port`, connected to with [`Self::tls`]
    /// and the OS resolver. `None` looks up both XEP-0368 SRV services of
    /// the JID's domain, `_xmpps-client._tcp` (direct TLS) and
    /// `_xmpp-client._tcp` (STARTTLS), and tries them by priority, each with
    /// its own TLS mode; a target of `.` removes a service. Without any
    /// record, the domain itself is tried on port 5223 (direct TLS) and
    /// 5222 (STARTTLS), [`Self::tls`]'s first. The certificate is always
    /// checked against the JID's domain.
    pub server: Option<String>,
    /// TLS mode: a fixed [`Self::server`]'s, and otherwise the preferred
    /// one among SRV records of equal priority (`DirectTls` tries
    /// `_xmpps-client` first, `StartTls` `_xmpp-client`); see [`TlsMode`].
    /// Once a certificate was refused, no other candidate is tried.
    pub tls: TlsMode,
    /// The DNS servers for those SRV lookups, as `ip` or `ip:port`
    /// (`[v6]:port`). Empty (the default) uses the system's configuration.
    /// Android apps should pass the active network's servers
    /// (`LinkProperties.getDnsServers()`), as Conversations does: there
    /// the system configuration is not readable, so without them there is
    /// no SRV lookup and only the domain itself is tried (through the OS
    /// resolver, as it is whenever no SRV record is found). These are the
    /// servers of the network the client starts on; on every network
    /// change, pass the new network's with
    /// [`Client::set_dns_servers`](crate::Client::set_dns_servers). Unused
    /// with a fixed [`Self::server`]. An entry that is not an IP address
    /// makes [`Client::new`](crate::Client::new) fail with
    /// [`Error::InvalidInput`](crate::Error::InvalidInput).
    pub dns_servers: Vec<String>,
    /// Extra trust anchors (PEM, one or more CA certificates) accepted on top
    /// of the system's roots, e.g. a company CA.
    pub extra_ca_pem: Option<String>,
    /// Directory holding this account's message store.
    pub store_dir: PathBuf,
    /// After this much silence from the server, JabberKit asks it for a sign
    /// of life (an XEP-0198 ack request); shorter detects a dead link sooner
    /// and costs battery.
    pub keepalive_idle: Duration,
    /// How long to wait for that sign of life before declaring the link dead.
    pub keepalive_timeout: Duration,
    /// First retry delay after a failed connection attempt; doubles on each
    /// failure (with jitter) up to [`Self::max_retry_delay`].
    pub min_retry_delay: Duration,
    /// Upper bound of the retry delay.
    pub max_retry_delay: Duration,
    /// How long one connection attempt (TCP, TLS, authentication) may take.
    pub connect_timeout: Duration,
    /// On the very first login of this store, how many of the most recent
    /// archived messages (XEP-0313) to fetch; later logins fetch everything
    /// after what was fetched before. 0 skips the first fetch.
    pub catch_up_first_login: u32,
    /// How long a joined room may stay silent before we ask it whether we
    /// are still in (XEP-0410 self-ping; a server restart or a broken link
    /// between servers can drop us from a room without a word). If it
    /// forgot us, we enter again and catch up from its archive.
    pub room_ping_interval: Duration,
    /// How many of a room's newest messages a first visit shows: paged
    /// from the room's archive (XEP-0313) when it keeps one, else its
    /// history replay, which servers cap (Prosody: 20).
    pub room_first_visit: u32,
    /// Whether this account may log in with PLAIN (the password itself goes
    /// to the server, inside TLS) when the server offers no SCRAM at all.
    /// Off by default: SCRAM never shows the password to the server, and a
    /// server that suddenly offers only PLAIN may be an impostor
    /// harvesting passwords. Never used when any SCRAM is offered.
    pub allow_plain: bool,
}

impl ClientConfig {
    /// A configuration with mobile-friendly defaults: STARTTLS preferred,
    /// SRV lookup with the system's DNS configuration, system roots only.
    pub fn new(
        jid: impl Into<String>,
        password: impl Into<String>,
        store_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            jid: jid.into(),
            password: password.into(),
            server: None,
            tls: TlsMode::default(),
            dns_servers: Vec::new(),
            extra_ca_pem: None,
            store_dir: store_dir.into(),
            keepalive_idle: Duration::from_secs(90),
            keepalive_timeout: Duration::from_secs(30),
            min_retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(30),
            catch_up_first_login: 200,
            room_ping_interval: Duration::from_secs(300),
            room_first_visit: 50,
            allow_plain: false,
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("jid", &self.jid)
            .field("password", &"<redacted>")
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("dns_servers", &self.dns_servers)
            .field("extra_ca_pem", &self.extra_ca_pem.as_ref().map(|_| "<pem>"))
            .field("store_dir", &self.store_dir)
            .finish_non_exhaustive()
    }
}
