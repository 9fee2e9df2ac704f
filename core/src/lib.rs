//! # JabberKit core
//!
//! The Rust core of an XMPP messenger for phones: one [`Client`] per account
//! keeps the connection alive on flaky networks, stores every message in a
//! local SQLite store before it touches the network, and tells the app what
//! happened through [`Event`]s.
//!
//! See `ARCHITECTURE.md` at the repository root for the layers.

mod archive;
mod client;
mod config;
mod connection;
mod error;
mod events;
mod inbound;
mod outbox;
mod presence;
mod roster;
mod session;
pub mod store;

pub use client::Client;
pub use config::{ClientConfig, TlsMode};
pub use error::{Error, FailureReason};
pub use events::{ConnectionState, Event, TypingState};
pub use presence::{ContactPresence, ResourcePresence, Show};
pub use roster::{Contact, Subscription};
pub use store::{
    ConversationSummary, DeliveryState, Direction, SearchHit, StoredMessage as Message,
};
