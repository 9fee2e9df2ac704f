//! Group chat rooms (XEP-0045): the rooms the account is in, the people in
//! them, and why a room would not let us in.
//!
//! A room is a conversation like a one-to-one chat, named by the room's
//! bare JID; its messages' sender is the occupant (`room@service/nick`),
//! never a bare JID, so one occupant cannot pass as another.

/// A room the account joined (or is joining again after a reconnect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// The room's bare JID, `room@conference.example.org`.
    pub jid: String,
    /// Our nickname in it.
    pub nick: String,
    /// In the room now (our own presence came back). False while joining,
    /// while offline, and after a refusal.
    pub joined: bool,
    /// Joined again on every fresh session (with its password) until the
    /// app leaves it or the room sends us away.
    pub autojoin: bool,
    /// The room's subject, if it has one.
    pub subject: Option<String>,
}

/// One person in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    pub nick: String,
    /// `moderator`, `participant`, `visitor`.
    pub role: String,
    /// `owner`, `admin`, `member`, `outcast` or `none`.
    pub affiliation: String,
    /// Their real bare JID, where the room shows it (non-anonymous rooms,
    /// or to moderators).
    pub jid: Option<String>,
}

/// Why a room refused us, or sent us away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomError {
    /// The room has a password and none was given.
    PasswordRequired,
    /// The password given is wrong.
    WrongPassword,
    /// We are banned from the room.
    Banned,
    /// Only members may enter.
    MembersOnly,
    /// Someone else has this nickname: join again with another, e.g.
    /// `suggestion` (ours with a number added or raised: `kim` → `kim2`).
    NicknameInUse { suggestion: String },
    /// No such room (and we may not create it), or it is still being set
    /// up by its owner (locked).
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

impl RoomError {
    /// The XMPP condition name the error stands for (what the agent prints).
    pub fn condition(&self) -> &str {
        match self {
            RoomError::PasswordRequired | RoomError::WrongPassword => "not-authorized",
            RoomError::Banned => "forbidden",
            RoomError::MembersOnly => "registration-required",
            RoomError::NicknameInUse { .. } => "conflict",
            RoomError::NotFound => "item-not-found",
            RoomError::Full => "service-unavailable",
            RoomError::Kicked { .. } => "kicked",
            RoomError::Destroyed { .. } => "gone",
            RoomError::Other { condition } => condition,
        }
    }
}

/// How a room we create is set up. Its `Debug` hides the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RoomConfig {
    /// A human name; the room's local part when `None`.
    pub name: Option<String>,
    /// Protect the room with a password.
    pub password: Option<String>,
    /// Only members may enter.
    pub members_only: bool,
    /// The room stays when its last occupant leaves.
    pub persistent: bool,
}

impl std::fmt::Debug for RoomConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomConfig")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("members_only", &self.members_only)
            .field("persistent", &self.persistent)
            .finish()
    }
}
