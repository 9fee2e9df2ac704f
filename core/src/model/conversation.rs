//! The conversation list's entries.

use super::Message;

/// One entry of the conversation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The peer's bare JID.
    pub with: String,
    /// The newest message of the conversation, by timestamp.
    pub last_message: Message,
    /// Incoming messages stored since the conversation was last marked
    /// read (`Client::mark_read`).
    pub unread: u32,
}
