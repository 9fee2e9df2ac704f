//! The domain floor: plain types with no SQL and no XML, below both the
//! store and the protocol code. Everything above (store, session,
//! client) and every adapter (cli, bindings, bench) speaks these types.

mod attachment;
mod contact;
mod conversation;
mod event;
mod list;
mod message;
mod room;
mod secret;

pub use attachment::{Attachment, TransferProgress};
pub(crate) use contact::Change;
pub use contact::{Contact, ContactPresence, ResourcePresence, Show, Subscription};
pub use conversation::{Conversation, ConversationKind};
pub use event::{ConnectionState, Event, FailureReason, TypingState};
pub use list::ListDiff;
pub use message::{DeliveryState, Direction, Message, SearchHit};
pub use room::{Occupant, Room, RoomConfig, RoomError};
pub use secret::Secret;
