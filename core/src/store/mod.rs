//! The message store: every message the user sent or received, the
//! conversation list and the send queue (what must reach the server
//! exactly once, persisted: see `send_queue.rs`), in SQLite.
//!
//! # Why it exists
//!
//! Two promises of the product are kept here, not in the protocol code.
//!
//! **Persist first, send second.** An outgoing message is written together
//! with its send queue entry, in one transaction, before a single byte goes to
//! the network ([`Store::enqueue_outgoing`]). Its id is chosen once and
//! doubles as the XEP-0359 origin-id (and the stanza `@id`), so every retry
//! is recognisably the same message to the server, the peer and our own
//! dedup. The queue entry stays until the server acks the stanza
//! (XEP-0198), or a receipt (XEP-0184) proves it arrived first, or the
//! sender gives up with a stored reason ([`Store::fail_all`]). After an app kill
//! or a lost session the sender replays the queue in order; resending
//! something the server had already taken is harmless because receivers
//! dedup on the origin-id.
//!
//! **No message is stored twice.** The same message reaches us by live
//! delivery, carbons, stream resumption and the archive (MAM). Unique
//! indexes on the server-assigned stanza-id, and on the sender together with
//! its origin-id (or, lacking one, the stanza `@id` it used), turn every
//! later copy into a no-op: [`Store::insert_incoming`] returns `Ok(None)`.
//!
//! # Delivery states
//!
//! Outgoing: `queued → sent → acked → delivered`, forward only (steps may be
//! skipped: a receipt can overtake the server's ack); `failed` only from
//! `queued` or `sent`, and it is final. A copy of what another device of
//! ours sent ([`Store::insert_outgoing_copy`]) starts at `acked`, outside
//! the send queue. Incoming messages are `received` and never change.
//!
//! # Search and unread counts
//!
//! Bodies are indexed for full-text search (SQLite FTS5, case- and
//! accent-insensitive) by triggers, so no write path can forget it;
//! [`Store::search`] takes what the user typed, never an FTS5 expression.
//! Each conversation keeps its count of unread incoming messages, raised
//! by [`Store::insert_incoming`] and reset by [`Store::mark_read`], so the
//! conversation list never counts messages.
//!
//! # Contacts
//!
//! The roster the server last sent (RFC 6121) and its version, so the
//! contact list shows at once after a restart; plus `pending_in`, the
//! subscription requests the user has not answered, which only we keep.
//! A full fetch replaces the roster (`replace_roster`), a push changes one
//! contact (`apply_roster_push`); neither forgets an unanswered request.
//!
//! # Presence
//!
//! Contacts' available resources (RFC 6121 §4), a cache: kept across a
//! restart so the UI shows who was online at once, cleared at the start of
//! every fresh session because the server then sends it all again.
//!
//! # Conventions
//!
//! * JIDs are stored and compared as given: callers pass normalised bare JIDs.
//! * Timestamps are stored as UTC unix milliseconds; a local sequence number
//!   breaks ties, so order is stable.
//! * Calls are synchronous and short (one small transaction each) but they do
//!   touch the disk: keep them off the UI thread.
//! * The schema evolves through numbered migrations in `migrations/`, one
//!   transaction each, tracked by `PRAGMA user_version`. Every table here is
//!   user data: a migration may add or rebuild, never drop. A database from a
//!   newer app version is refused ([`StoreError::SchemaTooNew`]) and left
//!   untouched.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::model::{DeliveryState, Direction, Message};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, Transaction, TransactionBehavior};

use migrate::{migrate, user_version, SCHEMA_VERSION};
// Row readers, shared by the files beside this one (`super::read_message`).
use rows::{column_error, load_message, read_count, read_message, read_messages, MESSAGE_COLUMNS};

/// How long a write waits for another connection (another process, a
/// backup tool) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An outgoing message, before it is stored.
#[derive(Debug, Clone, Copy)]
pub struct NewOutgoing<'a> {
    /// Chosen once by the caller (a UUID); also the origin-id and the
    /// stanza `@id` of every send attempt.
    pub id: &'a str,
    /// Our own bare JID.
    pub own_jid: &'a str,
    /// The peer's bare JID.
    pub to: &'a str,
    pub body: &'a str,
    pub timestamp: DateTime<Utc>,
}

/// An incoming message, as parsed from a stanza.
#[derive(Debug, Clone, Copy)]
pub struct NewIncoming<'a> {
    /// The sender's bare JID.
    pub from: &'a str,
    /// The stanza's `@id`.
    pub remote_id: Option<&'a str>,
    /// XEP-0359 origin-id.
    pub origin_id: Option<&'a str>,
    /// XEP-0359 stanza-id assigned by our server (only when `by` is our
    /// own bare JID; the caller checks).
    pub stanza_id: Option<&'a str>,
    pub body: &'a str,
    pub timestamp: DateTime<Utc>,
    /// The sender asked for read markers (XEP-0333 `<markable/>`).
    pub markable: bool,
    /// The file it carries: an out-of-band link (XEP-0066).
    pub file_url: Option<&'a str>,
}

/// A message another device of ours sent (an XEP-0280 `sent` carbon): ours,
/// already on the server, never to be sent from here.
#[derive(Debug, Clone, Copy)]
pub struct NewOutgoingCopy<'a> {
    /// Our own bare JID.
    pub own_jid: &'a str,
    /// The peer's bare JID.
    pub to: &'a str,
    /// XEP-0359 origin-id chosen by the sending device.
    pub origin_id: Option<&'a str>,
    /// The stanza's `@id`.
    pub remote_id: Option<&'a str>,
    pub body: &'a str,
    pub timestamp: DateTime<Utc>,
    /// The file it carries: an out-of-band link (XEP-0066).
    pub file_url: Option<&'a str>,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Written by a newer app version; left untouched.
    #[error("message store schema version {found} is newer than the supported {supported}")]
    SchemaTooNew { found: u32, supported: u32 },
    /// A row holds data this code cannot read.
    #[error("corrupt data in the message store: {reason}")]
    Corrupt { reason: String },
    #[error("message store I/O error: {0}")]
    Io(#[from] std::io::Error),
}

fn corrupt(reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        reason: reason.into(),
    }
}

/// The message store. Cheap to share (`Arc<Store>`); every call takes a
/// connection for one short transaction.
///
/// Two connections to the same WAL file: the session's writes (a whole
/// catch-up page, a roster replacement) hold the writer, while what a UI
/// reads (lists, history, search) goes through the reader and never waits
/// behind them — WAL lets a reader see the last commit while a write is
/// under way. Every write commits before its event goes out, so a read
/// made on an event sees the change.
#[derive(Debug)]
pub struct Store {
    /// `None` for an in-memory store (a second connection would be a
    /// second, empty database): reads then share the writer. Declared
    /// first so it closes first: the writer, closing last, checkpoints the
    /// WAL into the file and removes it (a read-only connection cannot).
    reader: Option<Mutex<Connection>>,
    writer: Mutex<Connection>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
};

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_at(path, SCHEMA_VERSION)
    }

    /// A store that lives and dies with the returned value; for tests.
    #[cfg(test)]
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?, SCHEMA_VERSION)
    }

    /// Opens `path` with only the first `version` migrations applied, to
    /// test the upgrade path.
    #[cfg(test)]
    pub(crate) fn open_at_version(path: &Path, version: u32) -> Result<Store, StoreError> {
        Self::open_at(path, version)
    }

    fn open_at(path: &Path, version: u32) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut store = Self::init(Connection::open(path)?, version)?;
        // Opened after the migrations: it only ever sees a current schema.
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        store.reader = Some(Mutex::new(reader));
        Ok(store)
    }

    fn init(mut conn: Connection, version: u32) -> Result<Store, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Check before anything writes: switching to WAL alone rewrites the
        // header of a file a newer version may own.
        let found = user_version(&conn)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        // WAL cannot be switched inside a transaction; it persists in the file.
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            tracing::warn!(%mode, "message store is not in WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn, version)?;
        Ok(Store {
            writer: Mutex::new(conn),
            reader: None,
        })
    }

    /// The writer: every write, and reads that decide a write.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held cannot have left a half-written
        // transaction behind (dropping a `Transaction` rolls it back), so a
        // poisoned connection is still good.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The reader: what a UI reads, never behind a write.
    fn read(&self) -> MutexGuard<'_, Connection> {
        match &self.reader {
            Some(reader) => reader.lock().unwrap_or_else(PoisonError::into_inner),
            None => self.conn(),
        }
    }

    /// Stores an incoming message under a new id. `Ok(None)` means it is a
    /// copy of a message already stored (same stanza-id, or same sender and
    /// origin-id / stanza `@id`) and nothing changed.
    pub fn insert_incoming(&self, m: NewIncoming<'_>) -> Result<Option<Message>, StoreError> {
        Ok(self
            .insert_incoming_batch(std::slice::from_ref(&m))?
            .pop()
            .flatten())
    }

    /// Stores a copy of a message another device of ours sent, as outgoing
    /// and `acked` (the server had it), without a send queue entry: it is
    /// never sent from here. `Ok(None)` means we already have it (same
    /// sender, ours, and origin-id / stanza `@id`: e.g. our own message,
    /// whose id is its origin-id) and nothing changed.
    pub fn insert_outgoing_copy(
        &self,
        m: NewOutgoingCopy<'_>,
    ) -> Result<Option<Message>, StoreError> {
        Ok(self
            .insert_outgoing_copy_batch(std::slice::from_ref(&m))?
            .pop()
            .flatten())
    }

    /// Marks every message of the conversation with `conversation` read and
    /// returns how many were unread (0 for an unknown conversation).
    pub fn mark_read(&self, conversation: &str) -> Result<u32, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let was = {
            let mut stmt = tx.prepare_cached("SELECT unread FROM conversations WHERE peer = ?1")?;
            let mut rows = stmt.query([conversation])?;
            match rows.next()? {
                Some(row) => read_count(row, 0, "unread count")?,
                None => 0,
            }
        };
        if was > 0 {
            tx.prepare_cached("UPDATE conversations SET unread = 0 WHERE peer = ?1")?
                .execute([conversation])?;
        }
        tx.commit()?;
        Ok(was)
    }
}

/// The next local sort key: larger than any stored, never reused because
/// messages are never deleted.
fn next_seq(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    Ok(tx.query_row(
        "SELECT coalesce(max(seq), 0) + 1 FROM messages",
        [],
        |row| row.get(0),
    )?)
}

/// Makes the message the conversation's last one, unless the conversation
/// already has a newer message (archive backfill inserts old ones).
fn touch_conversation(
    tx: &Transaction<'_>,
    peer: &str,
    message_id: &str,
    timestamp: i64,
    seq: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO conversations (peer, last_message_id, last_timestamp, last_seq) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (peer) DO UPDATE SET \
             last_message_id = excluded.last_message_id, \
             last_timestamp = excluded.last_timestamp, \
             last_seq = excluded.last_seq \
         WHERE (excluded.last_timestamp, excluded.last_seq) \
             > (conversations.last_timestamp, conversations.last_seq)",
    )?
    .execute(params![peer, message_id, timestamp, seq])?;
    Ok(())
}

// First: the files after it use its `select_message!`.
#[macro_use]
mod rows;

mod batch;
mod contacts;
mod delivery;
mod edits;
mod login;
mod migrate;
mod push;
mod queries;
mod rooms;
mod send_queue;
mod uploads;

pub(crate) use send_queue::{Item, Queued};

pub use batch::PageItem;
pub use rooms::NewRoomMessage;
pub(crate) use rooms::RoomEntry;
pub use uploads::NewOutgoingFile;
pub(crate) use uploads::Upload;

pub(crate) use edits::{CorrectError, CorrectionTarget};
#[cfg(test)]
mod reader_tests;
#[cfg(test)]
mod tests;
