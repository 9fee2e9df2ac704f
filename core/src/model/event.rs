//! What happens, as the app hears it: the connection state, and one event
//! per thing that happened, in order.

use std::fmt;
use std::time::Duration;

use super::{DeliveryState, Message, Show};

/// Why the connection gave up for good (state
/// [`ConnectionState::Failed`](crate::ConnectionState::Failed)).
///
/// These are the failures that retrying cannot fix: JabberKit makes no
/// further connection attempt until the app calls `connect()` again
/// (typically after asking the user for a new password, or after the user
/// chose to trust a certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// The server rejected the credentials (SASL failure).
    Authentication {
        /// The server's condition, e.g. `not-authorized`.
        detail: String,
    },
    /// The server offered a weaker login than this account used before
    /// (no channel binding, a weaker hash, or no SCRAM at all): someone
    /// may be stripping the stronger mechanisms to learn the password. No
    /// credentials were sent.
    Downgrade {
        /// What was offered, against what was used before.
        detail: String,
    },
    /// The server's certificate could not be verified (unknown CA, wrong
    /// name, expired), or the server would not offer TLS at all. No
    /// credentials were sent.
    Certificate {
        /// What the TLS layer reported.
        detail: String,
    },
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Authentication { detail } => write!(f, "authentication failed: {detail}"),
            Self::Certificate { detail } => write!(f, "certificate not trusted: {detail}"),
            Self::Downgrade { detail } => write!(f, "login downgrade refused: {detail}"),
        }
    }
}

/// Where the connection to the server stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected, and not trying (before `connect()`, after
    /// `disconnect()`).
    Disconnected,
    /// The first connection attempt is running.
    Connecting,
    /// Online: messages flow. `resumed` is true when the previous session
    /// was resumed without loss (XEP-0198), false for a fresh session.
    Online {
        /// Whether the previous session was resumed.
        resumed: bool,
    },
    /// The link was lost; the session is held by the server for a while and
    /// JabberKit is reconnecting to resume it.
    Suspended,
    /// A connection attempt failed; the next one starts in `retry_in`
    /// (sooner if the app reports that the network came back).
    Reconnecting {
        /// How many attempts failed in a row.
        attempt: u32,
        /// Delay before the next attempt.
        retry_in: Duration,
    },
    /// Gave up for good; see [`FailureReason`]. Nothing is retried until
    /// the app calls `connect()` again.
    Failed {
        /// Why.
        reason: FailureReason,
    },
}

/// What a contact is doing in a conversation (XEP-0085 chat states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// One thing that happened, in the order it happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// The connection state changed (a new subscriber gets the current state
    /// first).
    ConnectionState(ConnectionState),
    /// A message was stored (each announced once, ever): an incoming one,
    /// whether it reached this device directly or as a carbon of another of
    /// the account's devices; an outgoing one that `send` just queued; or
    /// one another device of the account sent (outgoing, already acked).
    Message(Message),
    /// An outgoing message moved on: sent, acked by the server, delivered
    /// to the recipient, read by the recipient, or failed.
    MessageState {
        /// The message's id, as returned by `send`.
        id: String,
        /// The conversation it belongs to (the peer's bare JID).
        conversation: String,
        /// Its new state.
        state: DeliveryState,
    },
    /// A stored message changed in place (same id), other than by a
    /// correction: our file finished uploading (it now has its link, and
    /// its body is that link), or a download finished (its attachment's
    /// `local_path` is the file). Replace the message you show.
    MessageUpdated(Message),
    /// A file transfer moved on: our upload of message `id`'s file, or a
    /// download (`Client::download`). At most about a hundred per file;
    /// the last says all bytes are done.
    Transfer {
        /// The message that carries the file.
        id: String,
        /// Its conversation.
        conversation: String,
        progress: crate::model::TransferProgress,
    },
    /// `Client::download` of message `id`'s file failed for good (after
    /// its retries); nothing was kept. The app may call it again.
    DownloadFailed {
        id: String,
        conversation: String,
        reason: String,
    },
    /// Our server answered about push notifications to `service`'s `node`
    /// (`Client::enable_push`, `disable_push`, and again on each fresh
    /// session): `enabled` once it will notify there; `false` once it
    /// stopped, or with `refused` (the server's reason) if it would not.
    PushChanged {
        service: String,
        node: String,
        enabled: bool,
        refused: Option<String>,
    },
    /// A stored message's body was replaced by a correction from its
    /// sender (XEP-0308): ours (from `Client::correct` or another device),
    /// or the peer's. Update the message in place (its id is unchanged);
    /// `corrected` is true.
    MessageCorrected(Message),
    /// The conversation with `with` was marked read: by `Client::mark_read`
    /// when it cleared unread messages, or because another device of the
    /// account displayed it (XEP-0333). Its unread count is 0.
    ConversationRead {
        /// The peer's bare JID.
        with: String,
    },
    /// A contact started or stopped typing. Not stored: it only matters now.
    Typing {
        /// The contact's bare JID.
        from: String,
        state: TypingState,
    },
    /// The contact list changed (a fetch, a server push, a request that
    /// arrived or was answered): re-read `Client::roster`. Bursts are not
    /// coalesced yet.
    RosterChanged,
    /// `from` asks to see our presence (RFC 6121). Nothing is answered
    /// automatically: the user decides with `Client::approve` or
    /// `Client::deny`. Also stored, as `Contact::pending_in`.
    SubscriptionRequest {
        /// The requester's bare JID.
        from: String,
    },
    /// A contact's availability changed (the best of its resources; see
    /// `Client::presence` for all of them). Also when a fresh session
    /// forgets the stale presence stored before it.
    Presence {
        /// The contact's bare JID.
        from: String,
        /// `None`: offline.
        show: Option<Show>,
        status: Option<String>,
    },
    /// We are in `room` as `nick` (XEP-0045): after `Client::join_room`,
    /// `create_room`, or a rejoin after a fresh session.
    RoomJoined {
        /// The room's bare JID.
        room: String,
        nick: String,
    },
    /// `room` refused us, or sent us away; it is not joined again
    /// automatically (except after a kick, which only ends this visit).
    RoomError {
        /// The room's bare JID.
        room: String,
        error: crate::model::RoomError,
        /// The room's own words, if any.
        text: Option<String>,
    },
    /// Who is in `room` changed: re-read `Client::occupants` (or let
    /// `Client::occupant_list` apply the change).
    OccupantsChanged {
        /// The room's bare JID.
        room: String,
    },
    /// We are invited to `room` (XEP-0045 mediated or XEP-0249 direct
    /// invitation). Join with `Client::join_room` (with `password`), or
    /// tell the inviter no with `Client::decline_invitation`; nothing
    /// happens by itself. Anyone can send one: show who it is `from`.
    RoomInvite {
        /// The room's bare JID.
        room: String,
        /// Who invites us.
        from: String,
        /// The room's password, when the invitation carries it.
        password: Option<crate::model::Secret>,
        reason: Option<String>,
    },
    /// We left `room` here (`Client::leave_room`), or because another
    /// device of the account left it (its bookmark says so). A room that
    /// sends us away says so with [`Event::RoomError`] instead.
    RoomLeft {
        /// The room's bare JID.
        room: String,
    },
    /// `from` declined our invitation to `room` (relayed by the room).
    RoomInviteDeclined {
        /// The room's bare JID.
        room: String,
        /// Who declined, as the room names them.
        from: String,
        reason: Option<String>,
    },
    /// `room`'s subject changed (`None`: cleared), or is what the room
    /// said when we entered.
    RoomSubject {
        /// The room's bare JID.
        room: String,
        subject: Option<String>,
    },
    /// The room refused something we asked of it (`Client::invite`,
    /// `decline_invitation`, `set_subject`, `kick`, `ban`,
    /// `destroy_room`): `action` names it, `condition` is the room's
    /// reason (`forbidden`, `not-allowed`, `item-not-found`…).
    RoomActionFailed {
        /// The room's bare JID.
        room: String,
        /// `invite`, `decline_invitation`, `set_subject`, `kick`, `ban` or
        /// `destroy_room`.
        action: String,
        condition: String,
        /// The room's own words, if any.
        text: Option<String>,
    },
    /// Catching up with `room` from its archive (after a rejoin, or a
    /// first visit's window) progressed by one page. Its messages are
    /// announced as [`Event::Message`], once each, only if new here.
    RoomCatchUp {
        /// The room's bare JID.
        room: String,
        /// Archived messages received so far in this catch-up, copies of
        /// stored ones included.
        fetched: u32,
        /// Nothing more to fetch (or the room refused: see the logs).
        complete: bool,
    },
    /// Catching up from the server's archive after a fresh (not resumed)
    /// login progressed by one page. The messages themselves are announced
    /// as [`Event::Message`], once each, only if they were new here.
    CatchUp {
        /// Archived stanzas received so far in this catch-up: copies of
        /// stored messages included, and bodyless ones such as receipts
        /// (Prosody archives those too), which store nothing.
        fetched: u32,
        /// Nothing more to fetch (or the server refused: see the logs).
        complete: bool,
    },
}
