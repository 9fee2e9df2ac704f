//! Plain records and enums for the FFI, each converted from (or into) its
//! core counterpart with `From`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How TLS is set up; never plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TlsMode {
    /// TLS from the first byte (XEP-0368).
    DirectTls,
    /// STARTTLS (RFC 6120).
    StartTls,
}

/// An account's password. An object rather than a string so that nothing
/// prints it: Kotlin's generated `ClientConfig.toString()`, Swift's
/// `description` and Rust's `Debug` all show the object, never its value.
#[derive(uniffi::Object)]
pub struct Password(String);

#[uniffi::export]
impl Password {
    /// Wraps the password the user typed.
    #[uniffi::constructor]
    pub fn new(value: String) -> Arc<Self> {
        Arc::new(Self(value))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Everything a `Client` needs to run one account.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClientConfig {
    /// `user@domain`.
    pub jid: String,
    /// Never logged or printed; sent only over a verified TLS link.
    pub password: Arc<Password>,
    /// `host:port`, or null to look the server up with DNS SRV.
    #[uniffi(default = None)]
    pub server: Option<String>,
    pub tls: TlsMode,
    /// Extra trusted CA certificates (PEM) on top of the system's.
    #[uniffi(default = None)]
    pub extra_ca_pem: Option<String>,
    /// Directory for this account's message store (app-private storage).
    pub store_dir: String,
    /// Silence (seconds) before JabberKit checks the link, and the time it
    /// then waits for an answer; null for the mobile default (90 s / 30 s).
    #[uniffi(default = None)]
    pub keepalive_secs: Option<u32>,
    /// First retry delay after a failed attempt (ms); null for the default.
    #[uniffi(default = None)]
    pub min_retry_ms: Option<u32>,
    /// Longest retry delay (ms); null for the default.
    #[uniffi(default = None)]
    pub max_retry_ms: Option<u32>,
    /// Allow PLAIN (the password itself, inside TLS) when the server offers
    /// no SCRAM at all; off by default. See the core's `allow_plain`.
    #[uniffi(default = false)]
    pub allow_plain: bool,
}

impl From<ClientConfig> for jabberkit::ClientConfig {
    fn from(c: ClientConfig) -> Self {
        let mut config =
            jabberkit::ClientConfig::new(c.jid, c.password.0.clone(), PathBuf::from(c.store_dir));
        config.server = c.server;
        config.tls = match c.tls {
            TlsMode::DirectTls => jabberkit::TlsMode::DirectTls,
            TlsMode::StartTls => jabberkit::TlsMode::StartTls,
        };
        config.extra_ca_pem = c.extra_ca_pem;
        config.allow_plain = c.allow_plain;
        if let Some(secs) = c.keepalive_secs {
            config.keepalive_idle = Duration::from_secs(secs.into());
            config.keepalive_timeout = Duration::from_secs(secs.into());
        }
        if let Some(ms) = c.min_retry_ms {
            config.min_retry_delay = Duration::from_millis(ms.into());
        }
        if let Some(ms) = c.max_retry_ms {
            config.max_retry_delay = Duration::from_millis(ms.into());
        }
        config
    }
}

/// Why the connection gave up for good.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FailureReason {
    /// Wrong credentials: ask the user.
    Authentication { detail: String },
    /// The server's certificate is not trusted; no credentials were sent.
    Certificate { detail: String },
    /// The server offered a weaker login than this account used before
    /// (possibly an attacker stripping it); no credentials were sent.
    Downgrade { detail: String },
}

impl From<jabberkit::FailureReason> for FailureReason {
    fn from(r: jabberkit::FailureReason) -> Self {
        match r {
            jabberkit::FailureReason::Authentication { detail } => Self::Authentication { detail },
            jabberkit::FailureReason::Certificate { detail } => Self::Certificate { detail },
            jabberkit::FailureReason::Downgrade { detail } => Self::Downgrade { detail },
        }
    }
}

/// Where the connection stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionState {
    Disconnected,
    Connecting,
    /// `resumed`: the previous session continued without loss.
    Online {
        resumed: bool,
    },
    /// Link lost; resuming.
    Suspended,
    /// Next attempt in `retry_in_ms` (sooner on a network change).
    Reconnecting {
        attempt: u32,
        retry_in_ms: u64,
    },
    /// Gave up; only `connect()` tries again.
    Failed {
        reason: FailureReason,
    },
}

impl From<jabberkit::ConnectionState> for ConnectionState {
    fn from(s: jabberkit::ConnectionState) -> Self {
        use jabberkit::ConnectionState as S;
        match s {
            S::Disconnected => Self::Disconnected,
            S::Connecting => Self::Connecting,
            S::Online { resumed } => Self::Online { resumed },
            S::Suspended => Self::Suspended,
            S::Reconnecting { attempt, retry_in } => Self::Reconnecting {
                attempt,
                retry_in_ms: u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX),
            },
            S::Failed { reason } => Self::Failed {
                reason: reason.into(),
            },
        }
    }
}

/// Progress of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeliveryState {
    /// Stored, waiting to be sent.
    Queued,
    /// Written to the network.
    Sent,
    /// The server has it.
    Acked,
    /// The recipient's device has it (receipt).
    Delivered,
    /// The recipient displayed it, or a later message (read marker).
    Read,
    /// Will not be delivered (see `failure_reason`).
    Failed,
    /// An incoming message.
    Received,
}

impl From<jabberkit::DeliveryState> for DeliveryState {
    fn from(s: jabberkit::DeliveryState) -> Self {
        use jabberkit::DeliveryState as S;
        match s {
            S::Queued => Self::Queued,
            S::Sent => Self::Sent,
            S::Acked => Self::Acked,
            S::Delivered => Self::Delivered,
            S::Read => Self::Read,
            S::Failed => Self::Failed,
            S::Received => Self::Received,
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Message {
    /// Stable id; for outgoing messages the one `send_message` returned.
    pub id: String,
    /// The peer's bare JID.
    pub conversation: String,
    pub outgoing: bool,
    /// Bare JID of the author.
    pub sender: String,
    pub body: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: i64,
    pub state: DeliveryState,
    pub failure_reason: Option<String>,
    /// The body was corrected after it was first sent.
    pub corrected: bool,
}

impl From<jabberkit::Message> for Message {
    fn from(m: jabberkit::Message) -> Self {
        Self {
            id: m.id,
            conversation: m.conversation,
            outgoing: m.direction == jabberkit::Direction::Outgoing,
            sender: m.sender,
            body: m.body,
            timestamp_ms: m.timestamp.timestamp_millis(),
            state: m.state.into(),
            failure_reason: m.failure_reason,
            corrected: m.corrected,
        }
    }
}

/// One entry of the conversation list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conversation {
    /// The peer's bare JID.
    pub peer: String,
    pub last_message: Message,
    /// Incoming messages since the conversation was last marked read.
    pub unread: u32,
}

/// A search result: the message and a snippet with `[`matches`]`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SearchHit {
    pub message: Message,
    pub snippet: String,
}

impl From<jabberkit::SearchHit> for SearchHit {
    fn from(h: jabberkit::SearchHit) -> Self {
        Self {
            message: h.message.into(),
            snippet: h.snippet,
        }
    }
}

impl From<jabberkit::Conversation> for Conversation {
    fn from(c: jabberkit::Conversation) -> Self {
        Self {
            peer: c.with,
            last_message: c.last_message.into(),
            unread: c.unread,
        }
    }
}

/// An error from a JabberKit call: its variant says what the app can do.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum JabberKitError {
    /// The input is unusable (bad JID, empty body, bad CA PEM): fix it.
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// The local store failed (disk full, corrupted file); data is untouched.
    #[error("storage error: {reason}")]
    Storage { reason: String },
    /// Anything else.
    #[error("{reason}")]
    Other { reason: String },
    // New variants go last: the generated bindings number them in order.
    /// The call needs the account online (contact list changes): wait for
    /// `Online` and retry.
    #[error("not connected")]
    NotConnected,
    /// The store was written by a newer JabberKit (the app was downgraded);
    /// it is left untouched: ask the user to update the app.
    #[error("the message store is from a newer JabberKit (schema {found}; this build reads up to {supported})")]
    StoreTooNew { found: u32, supported: u32 },
}

impl From<jabberkit::Error> for JabberKitError {
    fn from(e: jabberkit::Error) -> Self {
        match e {
            jabberkit::Error::InvalidInput { reason } => Self::InvalidInput { reason },
            jabberkit::Error::NotConnected => Self::NotConnected,
            jabberkit::Error::StoreTooNew { found, supported } => {
                Self::StoreTooNew { found, supported }
            }
            jabberkit::Error::Storage { reason } => Self::Storage { reason },
            jabberkit::Error::Other { reason } => Self::Other { reason },
        }
    }
}

/// Who sees whose presence (RFC 6121).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Subscription {
    /// Neither side.
    None,
    /// We see the contact's presence.
    To,
    /// The contact sees ours.
    From,
    /// Both: the contact is fully set up.
    Both,
}

impl From<jabberkit::Subscription> for Subscription {
    fn from(s: jabberkit::Subscription) -> Self {
        use jabberkit::Subscription as S;
        match s {
            S::None => Self::None,
            S::To => Self::To,
            S::From => Self::From,
            S::Both => Self::Both,
        }
    }
}

/// One entry of the contact list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Contact {
    /// The contact's bare JID.
    pub jid: String,
    /// The name the user gave the contact.
    pub name: Option<String>,
    pub groups: Vec<String>,
    pub subscription: Subscription,
    /// We asked to see the contact's presence; no answer yet.
    pub ask: bool,
    /// The contact asked to see ours; the user has not answered yet.
    pub pending_in: bool,
}

impl From<jabberkit::Contact> for Contact {
    fn from(c: jabberkit::Contact) -> Self {
        Self {
            jid: c.jid,
            name: c.name,
            groups: c.groups,
            subscription: c.subscription.into(),
            ask: c.ask,
            pending_in: c.pending_in,
        }
    }
}

/// Availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Show {
    Online,
    Away,
    DoNotDisturb,
    /// Away for a long time.
    ExtendedAway,
}

impl From<jabberkit::Show> for Show {
    fn from(s: jabberkit::Show) -> Self {
        use jabberkit::Show as S;
        match s {
            S::Online => Self::Online,
            S::Away => Self::Away,
            S::DoNotDisturb => Self::DoNotDisturb,
            S::ExtendedAway => Self::ExtendedAway,
        }
    }
}

impl From<Show> for jabberkit::Show {
    fn from(s: Show) -> Self {
        match s {
            Show::Online => Self::Online,
            Show::Away => Self::Away,
            Show::DoNotDisturb => Self::DoNotDisturb,
            Show::ExtendedAway => Self::ExtendedAway,
        }
    }
}

/// A contact's availability: its best resource.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ContactPresence {
    /// The contact's bare JID.
    pub jid: String,
    /// Null when no resource is available.
    pub show: Option<Show>,
    pub status: Option<String>,
}

impl From<jabberkit::ContactPresence> for ContactPresence {
    fn from(p: jabberkit::ContactPresence) -> Self {
        Self {
            jid: p.jid,
            show: p.show.map(Show::from),
            status: p.status,
        }
    }
}

/// Chat state (XEP-0085).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TypingState {
    /// Paying attention to the conversation.
    Active,
    /// Typing.
    Composing,
    /// Stopped typing for a moment.
    Paused,
    /// Not looking at the conversation.
    Inactive,
    /// Left the conversation.
    Gone,
}

impl From<jabberkit::TypingState> for TypingState {
    fn from(s: jabberkit::TypingState) -> Self {
        use jabberkit::TypingState as S;
        match s {
            S::Active => Self::Active,
            S::Composing => Self::Composing,
            S::Paused => Self::Paused,
            S::Inactive => Self::Inactive,
            S::Gone => Self::Gone,
        }
    }
}

impl From<TypingState> for jabberkit::TypingState {
    fn from(s: TypingState) -> Self {
        match s {
            TypingState::Active => Self::Active,
            TypingState::Composing => Self::Composing,
            TypingState::Paused => Self::Paused,
            TypingState::Inactive => Self::Inactive,
            TypingState::Gone => Self::Gone,
        }
    }
}
