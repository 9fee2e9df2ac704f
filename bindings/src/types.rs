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

/// An account's (or a room's) password. An object rather than a string so
/// that nothing prints it: Kotlin's generated `toString()`, Swift's
/// `description` and Rust's `Debug` all show `Password(<redacted>)`, never
/// its value. Two passwords are equal when their values are, so that a
/// room invitation's (see `RoomListener::on_room_invite`) can be compared
/// without being read; it is passed on to `join_room` as it is.
#[derive(PartialEq, Eq, Hash, uniffi::Object)]
#[uniffi::export(Debug, Eq, Hash)]
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

impl Password {
    /// The value, for the core; never for printing.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl From<jabberkit::Secret> for Password {
    fn from(s: jabberkit::Secret) -> Self {
        Self(s.expose().to_owned())
    }
}

/// Everything a `Client` needs to run one account.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ClientConfig {
    /// `user@domain`.
    pub jid: String,
    /// Never logged or printed; sent only over a verified TLS link.
    pub password: Arc<Password>,
    /// `host:port`, or null to look the server up with DNS SRV (both
    /// XEP-0368 services, `tls` preferred at equal priority).
    #[uniffi(default = None)]
    pub server: Option<String>,
    pub tls: TlsMode,
    /// DNS servers (`ip` or `ip:port`) for the SRV lookups; empty for the
    /// system's. Android apps pass the network's
    /// (`LinkProperties.getDnsServers()`): Rust cannot read them there, and
    /// without them only the domain itself is tried. See the core's
    /// `dns_servers`.
    #[uniffi(default = [])]
    pub dns_servers: Vec<String>,
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
    /// How long a joined room may stay silent (seconds) before JabberKit
    /// checks it still has us (XEP-0410 self-ping); null for 5 minutes.
    #[uniffi(default = None)]
    pub room_ping_secs: Option<u32>,
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
        config.dns_servers = c.dns_servers;
        config.allow_plain = c.allow_plain;
        if let Some(secs) = c.room_ping_secs {
            config.room_ping_interval = Duration::from_secs(secs.max(1).into());
        }
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
    /// The conversation it belongs to: the peer's bare JID, a room's bare
    /// JID, or an occupant's full JID (`room@service/nick`) for private
    /// messages with someone in a room.
    pub conversation: String,
    pub outgoing: bool,
    /// The author: a bare JID (ours for outgoing messages), or in a room
    /// the occupant, `room@service/nick` (see `room_nick`).
    pub sender: String,
    pub body: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: i64,
    pub state: DeliveryState,
    pub failure_reason: Option<String>,
    /// The body was corrected after it was first sent.
    pub corrected: bool,
    /// In a room, the nickname of the occupant who said it: derived from
    /// `sender` when it is `conversation/nick`. Null in one-to-one and
    /// private conversations, and for our own messages (their sender is
    /// our bare JID; our nick is the room's, see `rooms()`).
    #[uniffi(default = None)]
    pub room_nick: Option<String>,
    /// In a room, someone else's message naming our nickname there (as a
    /// word, any case): notify of it even in a room kept quiet.
    #[uniffi(default = false)]
    pub mentions_me: bool,
    /// The file this message carries (an HTTP upload's link), if any.
    #[uniffi(default = None)]
    pub attachment: Option<Attachment>,
}

/// A file sent with a message (XEP-0363 upload, XEP-0066 link).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Attachment {
    /// Where anyone with the link downloads it (HTTPS); null while our own
    /// upload has not finished.
    pub url: Option<String>,
    /// The file's name: ours as sent, or the last part of the link.
    pub name: String,
    /// Its size in bytes, when known.
    pub size: Option<u64>,
    /// Its media type, when known (e.g. `image/jpeg`).
    pub mime_type: Option<String>,
    /// The file on this device: what we sent.
    pub local_path: Option<String>,
}

impl From<jabberkit::Attachment> for Attachment {
    fn from(a: jabberkit::Attachment) -> Self {
        Self {
            url: a.url,
            name: a.name,
            size: a.size,
            mime_type: a.mime_type,
            local_path: a.local_path,
        }
    }
}

impl From<jabberkit::Message> for Message {
    fn from(m: jabberkit::Message) -> Self {
        let room_nick = room_nick(&m.conversation, &m.sender);
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
            room_nick,
            mentions_me: m.mentions_me,
            attachment: m.attachment.map(Into::into),
        }
    }
}

/// The nick of a room message's `sender` (`room@service/nick`, where the
/// conversation is the room); `None` for anything else, such as a private
/// message (its conversation is the occupant's full JID itself).
fn room_nick(conversation: &str, sender: &str) -> Option<String> {
    match sender.split_once('/') {
        Some((room, nick)) if room == conversation && !nick.is_empty() => Some(nick.to_owned()),
        _ => None,
    }
}

/// One entry of the conversation list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conversation {
    /// The peer's bare JID, a room's bare JID, or an occupant's full JID
    /// (private messages in a room); see `Message.conversation`.
    pub peer: String,
    pub last_message: Message,
    /// Incoming messages since the conversation was last marked read.
    pub unread: u32,
    /// A one-to-one chat, a room, or an occupant's private messages.
    pub kind: ConversationKind,
}

/// What a conversation is with (see `Conversation.peer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConversationKind {
    Chat,
    Room,
    RoomPrivate,
}

impl From<jabberkit::ConversationKind> for ConversationKind {
    fn from(k: jabberkit::ConversationKind) -> Self {
        match k {
            jabberkit::ConversationKind::Chat => Self::Chat,
            jabberkit::ConversationKind::Room => Self::Room,
            jabberkit::ConversationKind::RoomPrivate => Self::RoomPrivate,
        }
    }
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
            kind: c.kind.into(),
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

/// A room the account knows (group chat, XEP-0045).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Room {
    /// The room's bare JID, `room@conference.example.org`: also its
    /// conversation's name.
    pub jid: String,
    /// Our nickname in it.
    pub nick: String,
    /// In the room now. False while joining, while offline, and after a
    /// refusal.
    pub joined: bool,
    /// Entered again on every new session (with its password) until the
    /// app leaves it or the room sends us away.
    pub autojoin: bool,
    /// The room's subject, if it has one.
    pub subject: Option<String>,
}

impl From<jabberkit::Room> for Room {
    fn from(r: jabberkit::Room) -> Self {
        Self {
            jid: r.jid,
            nick: r.nick,
            joined: r.joined,
            autojoin: r.autojoin,
            subject: r.subject,
        }
    }
}

/// One person in a room.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Occupant {
    pub nick: String,
    /// `moderator`, `participant` or `visitor` (XEP-0045's names).
    pub role: String,
    /// `owner`, `admin`, `member`, `outcast` or `none`.
    pub affiliation: String,
    /// Their real bare JID, where the room shows it (non-anonymous rooms,
    /// or to moderators).
    pub jid: Option<String>,
}

impl From<jabberkit::Occupant> for Occupant {
    fn from(o: jabberkit::Occupant) -> Self {
        Self {
            nick: o.nick,
            role: o.role,
            affiliation: o.affiliation,
            jid: o.jid,
        }
    }
}

/// How a room we create is set up; every field has a default.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RoomConfig {
    /// A human name; the room's local part when null.
    #[uniffi(default = None)]
    pub name: Option<String>,
    /// Protects the room with a password (an object, like the account's,
    /// so that printing the config never shows it).
    #[uniffi(default = None)]
    pub password: Option<Arc<Password>>,
    /// Only members may enter.
    #[uniffi(default = false)]
    pub members_only: bool,
    /// The room stays when its last occupant leaves.
    #[uniffi(default = false)]
    pub persistent: bool,
}

impl From<RoomConfig> for jabberkit::RoomConfig {
    fn from(c: RoomConfig) -> Self {
        Self {
            name: c.name,
            password: c.password.map(|p| p.expose().to_owned()),
            members_only: c.members_only,
            persistent: c.persistent,
        }
    }
}

/// Why a room refused us, or sent us away: match on it to tell the user
/// what to do (ask for a password, pick another nick…).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RoomError {
    /// The room has a password and none was given: ask for it.
    PasswordRequired,
    /// The password given is wrong.
    WrongPassword,
    /// We are banned from the room.
    Banned,
    /// Only members may enter.
    MembersOnly,
    /// Someone else has this nickname: join again with another, e.g.
    /// `suggestion` (ours with a number added or raised).
    NicknameInUse { suggestion: String },
    /// No such room (and we may not create it), or its owner is still
    /// setting it up.
    NotFound,
    /// The room is full.
    Full,
    /// A moderator kicked us (we may join again).
    Kicked { reason: Option<String> },
    /// The room was destroyed.
    Destroyed { reason: Option<String> },
    /// Anything else: the server's condition (e.g. `forbidden`).
    Other { condition: String },
}

impl From<jabberkit::RoomError> for RoomError {
    fn from(e: jabberkit::RoomError) -> Self {
        use jabberkit::RoomError as E;
        match e {
            E::PasswordRequired => Self::PasswordRequired,
            E::WrongPassword => Self::WrongPassword,
            E::Banned => Self::Banned,
            E::MembersOnly => Self::MembersOnly,
            E::NicknameInUse { suggestion } => Self::NicknameInUse { suggestion },
            E::NotFound => Self::NotFound,
            E::Full => Self::Full,
            E::Kicked { reason } => Self::Kicked { reason },
            E::Destroyed { reason } => Self::Destroyed { reason },
            E::Other { condition } => Self::Other { condition },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::room_nick;

    #[test]
    fn a_room_message_has_its_occupants_nick_and_nothing_else_has_one() {
        let room = "tea@conference.example.org";
        assert_eq!(
            room_nick(room, "tea@conference.example.org/alice"),
            Some("alice".into())
        );
        // A nick may hold a slash: everything after the first one.
        assert_eq!(
            room_nick(room, "tea@conference.example.org/a/b"),
            Some("a/b".into())
        );
        // Our own room message: our bare JID.
        assert_eq!(room_nick(room, "me@example.org"), None);
        // One-to-one, and a private message (keyed by the occupant).
        assert_eq!(room_nick("bob@example.org", "bob@example.org"), None);
        let occupant = "tea@conference.example.org/bob";
        assert_eq!(room_nick(occupant, occupant), None);
        // Another room's occupant cannot pass as this room's.
        assert_eq!(room_nick(room, "other@conference.example.org/bob"), None);
    }
}
