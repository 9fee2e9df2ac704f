//! Messages: what was said, who wrote it, where it is in its life.
//!
//! A message belongs to a conversation named by a JID: the peer's bare JID
//! for a one-to-one chat (a group room's JID once rooms land); its sender is
//! a JID too. Nothing here parses them: the protocol code validates JIDs
//! before anything is stored.

use std::str::FromStr;

use chrono::{DateTime, Utc};

/// Which side of the conversation wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Incoming,
    Outgoing,
}

impl Direction {
    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "in",
            Direction::Outgoing => "out",
        }
    }
}

impl FromStr for Direction {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "in" => Ok(Direction::Incoming),
            "out" => Ok(Direction::Outgoing),
            other => Err(UnknownVariant::new("direction", other)),
        }
    }
}

/// Where a message is in its life. `Queued` to `Failed` are for outgoing
/// messages, `Received` for incoming ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Stored and in the outbox; not yet written to a stream.
    Queued,
    /// Written to a stream; the server has not acked it yet.
    Sent,
    /// Acked by our server (XEP-0198).
    Acked,
    /// The peer's client sent a receipt (XEP-0184).
    Delivered,
    /// The peer's client displayed it, or a later message (XEP-0333).
    Read,
    /// Given up; the message stays, out of the outbox.
    Failed,
    /// An incoming message.
    Received,
}

impl DeliveryState {
    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Acked => "acked",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read => "read",
            DeliveryState::Failed => "failed",
            DeliveryState::Received => "received",
        }
    }

    /// Whether an outgoing message in this state may move to `to`: forward
    /// along queued, sent, acked, delivered, read; to failed from any state short
    /// of delivered (the server may ack a message, then bounce it).
    pub fn can_advance_to(self, to: DeliveryState) -> bool {
        use DeliveryState::*;
        match (self, to) {
            (Queued | Sent | Acked, Failed) => true,
            _ => matches!((self.rank(), to.rank()), (Some(from), Some(to)) if to > from),
        }
    }

    /// Whether a message in this state still waits in the outbox.
    pub fn is_pending(self) -> bool {
        matches!(self, DeliveryState::Queued | DeliveryState::Sent)
    }

    fn rank(self) -> Option<u8> {
        match self {
            DeliveryState::Queued => Some(0),
            DeliveryState::Sent => Some(1),
            DeliveryState::Acked => Some(2),
            DeliveryState::Delivered => Some(3),
            DeliveryState::Read => Some(4),
            DeliveryState::Failed | DeliveryState::Received => None,
        }
    }
}

impl FromStr for DeliveryState {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(DeliveryState::Queued),
            "sent" => Ok(DeliveryState::Sent),
            "acked" => Ok(DeliveryState::Acked),
            "delivered" => Ok(DeliveryState::Delivered),
            "read" => Ok(DeliveryState::Read),
            "failed" => Ok(DeliveryState::Failed),
            "received" => Ok(DeliveryState::Received),
            other => Err(UnknownVariant::new("delivery state", other)),
        }
    }
}

/// A string that names no variant of [`Direction`] or [`DeliveryState`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}: {value:?}")]
pub struct UnknownVariant {
    pub what: &'static str,
    pub value: String,
}

impl UnknownVariant {
    fn new(what: &'static str, value: &str) -> Self {
        UnknownVariant {
            what,
            value: value.to_owned(),
        }
    }
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Our stable id (a UUID). For outgoing messages also the origin-id.
    pub id: String,
    /// The conversation: the peer's bare JID, a room's bare JID, or an
    /// occupant's full JID (`room@service/nick`) for a private message.
    pub conversation: String,
    pub direction: Direction,
    /// The author: our bare JID for outgoing messages, a peer's bare JID,
    /// or in a room the occupant's full JID (`room@service/nick`).
    pub sender: String,
    pub body: String,
    /// Millisecond precision.
    pub timestamp: DateTime<Utc>,
    /// XEP-0359 origin-id.
    pub origin_id: Option<String>,
    /// XEP-0359 stanza-id assigned by our server.
    pub stanza_id: Option<String>,
    pub state: DeliveryState,
    /// Why the message is [`DeliveryState::Failed`], if it is.
    pub failure_reason: Option<String>,
    /// The body is a correction (XEP-0308) of what was first sent.
    pub corrected: bool,
    /// In a room, someone else's message naming our nickname there (as a
    /// word, any case): notify of it even in a room kept quiet.
    pub mentions_me: bool,
    /// The file this message carries (an HTTP upload's link), if any.
    pub attachment: Option<super::Attachment>,
}

/// One result of a full-text search (`Client::search`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub message: Message,
    /// A short excerpt of the body around the matches, each match between
    /// `[` and `]`, cut text marked with `…`.
    pub snippet: String,
}
