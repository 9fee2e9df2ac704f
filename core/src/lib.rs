//! # JabberKit core
//!
//! The Rust core of an XMPP messenger for phones: one [`Client`] per account
//! keeps the connection alive on flaky networks, stores every message in a
//! local SQLite store before it touches the network, and tells the app what
//! happened through [`Event`]s.
//!
//! See `ARCHITECTURE.md` at the repository root for the layers.

mod archive;
mod bookmarks;
mod client;
mod config;
mod connection;
mod disco;
mod error;
mod events;
mod inbound;
mod lists;
mod model;
mod muc;
mod outbox;
mod presence;
mod push;
mod roster;
mod session;
mod signup;
mod transfer;
mod upload;
// The store's API is public only for benchmarks that fill a store before a
// client opens it (feature `store-api`); adapters use `Client` and `model`.
#[cfg(feature = "store-api")]
pub mod store;
#[cfg(not(feature = "store-api"))]
mod store;

pub use client::{Client, STORE_FILE};
pub use config::{ClientConfig, TlsMode};
pub use error::{AccountError, Error, SignUpError};
pub use lists::{ConversationList, ListUpdates, OccupantList, Paginator, Timeline};
pub use model::{
    Attachment, ConnectionState, Contact, ContactPresence, Conversation, ConversationKind,
    DeliveryState, Direction, Event, FailureReason, ListDiff, Message, Occupant, ResourcePresence,
    Room, RoomConfig, RoomError, SearchHit, Secret, Show, Subscription, TransferProgress,
    TypingState,
};
pub use signup::sign_up;
