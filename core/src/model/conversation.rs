//! The conversation list's entries.

use super::Message;

/// What a conversation is with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConversationKind {
    /// A one-to-one chat; `with` is the peer's bare JID.
    Chat,
    /// A group chat room; `with` is the room's bare JID.
    Room,
    /// Private messages with one occupant of a room; `with` is the
    /// occupant's full JID (`room@service/nick`).
    RoomPrivate,
}

impl ConversationKind {
    /// `chat`, `room` or `room_private`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Chat => "chat",
            ConversationKind::Room => "room",
            ConversationKind::RoomPrivate => "room_private",
        }
    }
}

/// One entry of the conversation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The peer's bare JID, a room's bare JID, or an occupant's full JID:
    /// see `kind`.
    pub with: String,
    pub kind: ConversationKind,
    /// The newest message of the conversation, by timestamp.
    pub last_message: Message,
    /// Incoming messages stored since the conversation was last marked
    /// read (`Client::mark_read`).
    pub unread: u32,
}
