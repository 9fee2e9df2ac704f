//! The message store: every message the user sent or received, the
//! conversation list and the outbox (the persisted send queue), in SQLite.
//!
//! # Why it exists
//!
//! Two promises of the product are kept here, not in the protocol code.
//!
//! **Persist first, send second.** An outgoing message is written together
//! with its outbox entry, in one transaction, before a single byte goes to
//! the network ([`Store::enqueue_outgoing`]). Its id is chosen once and
//! doubles as the XEP-0359 origin-id (and the stanza `@id`), so every retry
//! is recognisably the same message to the server, the peer and our own
//! dedup. The outbox entry stays until the server acks the stanza
//! (XEP-0198), or a receipt (XEP-0184) proves it arrived first, or the
//! sender gives up with a stored reason ([`Store::fail`]). After an app kill
//! or a lost session the sender replays [`Store::outbox`] in order; resending
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
//! the outbox. Incoming messages are `received` and never change.
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
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::presence::{ContactPresence, ResourcePresence, Show};
use crate::roster::{Change, Contact, Subscription};
use chrono::{DateTime, Utc};
use rusqlite::{
    params, Connection, OptionalExtension, Row, Rows, Transaction, TransactionBehavior,
};

/// Numbered migrations; entry `i` brings the schema to version `i + 1`.
/// Append only: a released migration is never edited.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_initial", include_str!("migrations/001_initial.sql")),
    ("002_outbox", include_str!("migrations/002_outbox.sql")),
    (
        "003_search_and_unread",
        include_str!("migrations/003_search_and_unread.sql"),
    ),
    ("004_roster", include_str!("migrations/004_roster.sql")),
    ("005_presence", include_str!("migrations/005_presence.sql")),
    ("006_archive", include_str!("migrations/006_archive.sql")),
    (
        "007_markers_and_corrections",
        include_str!("migrations/007_markers_and_corrections.sql"),
    ),
];

/// The schema version this build writes and understands.
const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long a write waits for another connection (another process, a
/// backup tool) before failing with `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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
pub struct StoredMessage {
    /// Our stable id (a UUID). For outgoing messages also the origin-id.
    pub id: String,
    /// The peer's bare JID.
    pub conversation: String,
    pub direction: Direction,
    /// Bare JID of the author: ours for outgoing messages.
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
}

/// One entry of the conversation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    /// The peer's bare JID.
    pub with: String,
    /// The newest message of the conversation, by timestamp.
    pub last_message: StoredMessage,
    /// Incoming messages stored since the conversation was last marked
    /// read ([`Store::mark_read`]).
    pub unread: u32,
}

/// One result of [`Store::search`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub message: StoredMessage,
    /// A short excerpt of the body around the matches, each match between
    /// `[` and `]`, cut text marked with `…`.
    pub snippet: String,
}

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

/// Reading a column failed: a type or range mismatch is bad data on disk,
/// anything else is SQLite's own error.
fn column_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => corrupt(e.to_string()),
        other => StoreError::Sqlite(other),
    }
}

/// The message store. Cheap to share (`Arc<Store>`); every call takes the
/// connection for one short transaction.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
};

/// `SELECT` of every [`StoredMessage`] column from `messages AS m`, in the
/// order [`read_message`] expects, then any `extra` columns (starting at
/// [`MESSAGE_COLUMNS`]), followed by the rest of the query.
macro_rules! select_message {
    ($rest:literal) => {
        select_message!(extra: "", $rest)
    };
    (extra: $extra:literal, $rest:literal) => {
        concat!(
            "SELECT m.id, m.conversation, m.direction, m.sender, m.body, m.timestamp, ",
            "m.origin_id, m.stanza_id, m.state, m.failure_reason, m.corrected",
            $extra,
            " FROM messages AS m ",
            $rest
        )
    };
}

/// How many columns [`select_message!`] reads before its extra ones.
const MESSAGE_COLUMNS: usize = 11;

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema
    /// up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_at(path, SCHEMA_VERSION)
    }

    /// A store that lives and dies with the returned value; for tests.
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
        Self::init(Connection::open(path)?, version)
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
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held cannot have left a half-written
        // transaction behind (dropping a `Transaction` rolls it back), so a
        // poisoned connection is still good.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores an outgoing message as `queued` and appends it to the outbox,
    /// in one transaction. Call this before sending anything.
    pub fn enqueue_outgoing(&self, m: NewOutgoing<'_>) -> Result<StoredMessage, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = next_seq(&tx)?;
        let timestamp = m.timestamp.timestamp_millis();
        tx.execute(
            "INSERT INTO messages (id, seq, conversation, direction, sender, body, timestamp, \
             origin_id, stanza_id, remote_id, state) \
             VALUES (?1, ?2, ?3, 'out', ?4, ?5, ?6, ?1, NULL, NULL, 'queued')",
            params![m.id, seq, m.to, m.own_jid, m.body, timestamp],
        )?;
        tx.execute("INSERT INTO outbox (message_id) VALUES (?1)", [m.id])?;
        touch_conversation(&tx, m.to, m.id, timestamp, seq)?;
        let message = load_message(&tx, m.id)?
            .ok_or_else(|| corrupt(format!("message {} missing right after insert", m.id)))?;
        tx.commit()?;
        Ok(message)
    }

    /// Stores an incoming message under a new id. `Ok(None)` means it is a
    /// copy of a message already stored (same stanza-id, or same sender and
    /// origin-id / stanza `@id`) and nothing changed.
    pub fn insert_incoming(&self, m: NewIncoming<'_>) -> Result<Option<StoredMessage>, StoreError> {
        Ok(self
            .insert_incoming_batch(std::slice::from_ref(&m))?
            .pop()
            .flatten())
    }

    /// Stores a copy of a message another device of ours sent, as outgoing
    /// and `acked` (the server had it), without an outbox entry: it is
    /// never sent from here. `Ok(None)` means we already have it (same
    /// sender, ours, and origin-id / stanza `@id`: e.g. our own message,
    /// whose id is its origin-id) and nothing changed.
    pub fn insert_outgoing_copy(
        &self,
        m: NewOutgoingCopy<'_>,
    ) -> Result<Option<StoredMessage>, StoreError> {
        Ok(self
            .insert_outgoing_copy_batch(std::slice::from_ref(&m))?
            .pop()
            .flatten())
    }

    /// Moves an outgoing message forward (see [`DeliveryState::can_advance_to`]).
    /// Returns the updated message, or `None` if nothing changed: unknown id,
    /// incoming message, or not a step forward. Reaching acked, delivered or
    /// failed takes the message out of the outbox.
    pub fn advance_state(
        &self,
        id: &str,
        to: DeliveryState,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.transition(id, None, to, None)
    }

    /// Gives up on an outgoing message that is queued or sent: it becomes
    /// failed with `reason`, and leaves the outbox. `None` if nothing changed.
    pub fn fail(&self, id: &str, reason: &str) -> Result<Option<StoredMessage>, StoreError> {
        self.transition(id, None, DeliveryState::Failed, Some(reason))
    }

    /// Applies an XEP-0184 receipt from `peer_bare` for our message `id`.
    /// Only a receipt from the peer of that message's conversation counts;
    /// anyone else's changes nothing (`None`).
    pub fn mark_delivered(
        &self,
        peer_bare: &str,
        id: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        self.transition(id, Some(peer_bare), DeliveryState::Delivered, None)
    }

    fn transition(
        &self,
        id: &str,
        peer: Option<&str>,
        to: DeliveryState,
        reason: Option<&str>,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(current) = load_message(&tx, id)? else {
            return Ok(None);
        };
        if current.direction != Direction::Outgoing
            || peer.is_some_and(|peer| peer != current.conversation)
            || !current.state.can_advance_to(to)
        {
            return Ok(None);
        }
        tx.execute(
            "UPDATE messages SET state = ?2, failure_reason = ?3 WHERE id = ?1",
            params![id, to.as_str(), reason],
        )?;
        if !to.is_pending() {
            tx.execute("DELETE FROM outbox WHERE message_id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(Some(StoredMessage {
            state: to,
            failure_reason: reason.map(str::to_owned),
            ..current
        }))
    }

    /// Outgoing messages not yet acked, oldest entry first: what the sender
    /// (re)sends after start-up or a new session.
    pub fn outbox(&self) -> Result<Vec<StoredMessage>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(select_message!(
            "JOIN outbox AS o ON o.message_id = m.id ORDER BY o.seq"
        ))?;
        let rows = stmt.query([])?;
        read_messages(rows)
    }

    /// Counts one more send attempt for an outbox entry; returns the new
    /// count, or `None` if the message is not in the outbox.
    pub fn note_attempt(&self, id: &str) -> Result<Option<u32>, StoreError> {
        let conn = self.conn();
        let attempts = conn
            .query_row(
                "UPDATE outbox SET attempts = attempts + 1 WHERE message_id = ?1 \
                 RETURNING attempts",
                [id],
                |row| row.get::<_, i64>(0),
            )
            .optional()?;
        attempts
            .map(|n| u32::try_from(n).map_err(|_| corrupt(format!("outbox attempts {n}"))))
            .transpose()
    }

    /// Records the latest recoverable error of an outbox entry (the message
    /// stays queued). `false` if the message is not in the outbox.
    pub fn note_error(&self, id: &str, error: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let changed = conn.execute(
            "UPDATE outbox SET last_error = ?2 WHERE message_id = ?1",
            [id, error],
        )?;
        Ok(changed > 0)
    }

    /// Up to `limit` of the newest messages with `with` that are older than
    /// the message `before` (exclusive; `None`: the newest), oldest first.
    /// Pass the first message of a page as `before` to get the previous
    /// page. An unknown `before`, or one from another conversation, gives an
    /// empty page.
    pub fn history(
        &self,
        with: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let (timestamp, seq) = match before {
            None => (i64::MAX, i64::MAX),
            Some(before) => {
                let anchor = conn
                    .prepare_cached(
                        "SELECT timestamp, seq FROM messages WHERE id = ?1 AND conversation = ?2",
                    )?
                    .query_row([before, with], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                match anchor {
                    Some(anchor) => anchor,
                    None => return Ok(Vec::new()),
                }
            }
        };
        let mut stmt = conn.prepare_cached(select_message!(
            "WHERE m.conversation = ?1 AND (m.timestamp, m.seq) < (?2, ?3) \
             ORDER BY m.timestamp DESC, m.seq DESC LIMIT ?4"
        ))?;
        let rows = stmt.query(params![with, timestamp, seq, limit])?;
        let mut page = read_messages(rows)?;
        page.reverse();
        Ok(page)
    }

    /// Every conversation with its newest message and unread count, most
    /// recent activity first.
    pub fn conversations(&self) -> Result<Vec<ConversationSummary>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(select_message!(
            extra: ", c.unread",
            "JOIN conversations AS c ON c.last_message_id = m.id \
             ORDER BY c.last_timestamp DESC, c.last_seq DESC"
        ))?;
        let mut rows = stmt.query([])?;
        let mut summaries = Vec::new();
        while let Some(row) = rows.next()? {
            let last_message = read_message(row)?;
            let unread = read_count(row, MESSAGE_COLUMNS, "unread count")?;
            summaries.push(ConversationSummary {
                with: last_message.conversation.clone(),
                last_message,
                unread,
            });
        }
        Ok(summaries)
    }

    /// How many incoming messages of the conversation with `conversation`
    /// are unread; 0 for an unknown conversation.
    pub fn unread(&self, conversation: &str) -> Result<u32, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT unread FROM conversations WHERE peer = ?1")?;
        let mut rows = stmt.query([conversation])?;
        match rows.next()? {
            Some(row) => read_count(row, 0, "unread count"),
            None => Ok(0),
        }
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

    /// Up to `limit` messages, from every conversation, whose body matches
    /// every word of `query`, best match first (bm25; newer first on a tie)
    /// among the newest [`SEARCH_WINDOW`] matches: ranking every match of
    /// a common word in a big store would take hundreds of milliseconds,
    /// and what a user looks for is usually recent.
    ///
    /// `query` is what the user typed, never an FTS5 expression: words are
    /// separated by whitespace and matched case- and accent-insensitively,
    /// the last one as a prefix so results follow typing. Quotes, `*`,
    /// `OR`, `NEAR(`… are plain text. A blank query finds nothing.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>, StoreError> {
        let Some(expression) = fts_expression(query) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        // Newest-first walks of the index are cheap: find where the window
        // starts, then rank only inside it.
        let oldest: i64 = conn
            .prepare_cached(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 \
                 ORDER BY rowid DESC LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![expression, SEARCH_WINDOW - 1], |row| row.get(0))
            .optional()?
            .unwrap_or(0);
        let mut stmt = conn.prepare_cached(SEARCH_SQL)?;
        let mut rows = stmt.query(params![expression, limit, oldest])?;
        let mut hits = Vec::new();
        while let Some(row) = rows.next()? {
            hits.push(SearchHit {
                message: read_message(row)?,
                snippet: row.get(MESSAGE_COLUMNS).map_err(column_error)?,
            });
        }
        Ok(hits)
    }

    /// One message by our id.
    pub fn message(&self, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        load_message(&self.conn(), id)
    }

    /// Time of the newest message received from `sender` (a bare JID).
    pub fn last_received_from(&self, sender: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        // Walks the conversation index from the newest end and stops at the
        // first match: cheap however long the conversation is.
        let ms: Option<i64> = self
            .conn()
            .query_row(
                "SELECT timestamp FROM messages \
                 WHERE conversation = ?1 AND direction = 'in' AND sender = ?1 \
                 ORDER BY timestamp DESC, seq DESC LIMIT 1",
                [sender],
                |row| row.get(0),
            )
            .optional()?;
        ms.map(|ms| {
            DateTime::<Utc>::from_timestamp_millis(ms)
                .ok_or_else(|| corrupt(format!("timestamp {ms}")))
        })
        .transpose()
    }

    /// How many messages are stored.
    pub fn count_messages(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))?;
        u64::try_from(n).map_err(|_| corrupt(format!("message count {n}")))
    }
}

/// The contact list (see "Contacts" in the module doc).
impl Store {
    /// Every contact, and everyone who asked to become one, by JID.
    pub fn roster(&self) -> Result<Vec<Contact>, StoreError> {
        let conn = self.conn();
        let mut groups: std::collections::HashMap<String, Vec<String>> = Default::default();
        let mut stmt =
            conn.prepare_cached("SELECT jid, name FROM roster_groups ORDER BY jid, name")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            groups
                .entry(row.get(0).map_err(column_error)?)
                .or_default()
                .push(row.get(1).map_err(column_error)?);
        }
        let mut stmt = conn.prepare_cached(
            "SELECT jid, name, subscription, ask, pending_in FROM roster_items ORDER BY jid",
        )?;
        let mut rows = stmt.query([])?;
        let mut contacts = Vec::new();
        while let Some(row) = rows.next()? {
            let jid: String = row.get(0).map_err(column_error)?;
            let subscription: String = row.get(2).map_err(column_error)?;
            let subscription = Subscription::parse(&subscription)
                .ok_or_else(|| corrupt(format!("contact {jid}: subscription {subscription:?}")))?;
            contacts.push(Contact {
                name: row.get(1).map_err(column_error)?,
                subscription,
                ask: row.get(3).map_err(column_error)?,
                pending_in: row.get(4).map_err(column_error)?,
                groups: groups.remove(&jid).unwrap_or_default(),
                jid,
            });
        }
        Ok(contacts)
    }

    /// One contact by bare JID.
    pub fn contact(&self, jid: &str) -> Result<Option<Contact>, StoreError> {
        Ok(self.roster()?.into_iter().find(|c| c.jid == jid))
    }

    /// The version of the stored roster, to send with the next fetch.
    pub fn roster_ver(&self) -> Result<Option<String>, StoreError> {
        let ver = self
            .conn()
            .query_row("SELECT ver FROM roster_meta WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(ver.flatten())
    }

    /// The newest archive id (XEP-0313) a catch-up reached: the next one
    /// starts after it. `None` before the first catch-up.
    pub fn archive_last_id(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT last_id FROM archive_meta WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Records how far a catch-up got in our archive.
    pub(crate) fn set_archive_last_id(&self, last_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO archive_meta (id, last_id) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id",
            [last_id],
        )?;
        Ok(())
    }

    /// Replaces the roster with a full fetch result. Unanswered requests
    /// stay, off the roster unless `contacts` lists them.
    pub(crate) fn replace_roster(
        &self,
        ver: Option<&str>,
        contacts: &[Contact],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM roster_items WHERE pending_in = 0", [])?;
        tx.execute("DELETE FROM roster_groups", [])?;
        tx.execute(
            "UPDATE roster_items SET name = NULL, subscription = 'none', ask = 0, on_roster = 0",
            [],
        )?;
        for c in contacts {
            upsert_contact(&tx, c)?;
        }
        set_roster_ver(&tx, ver)?;
        tx.commit()?;
        Ok(())
    }

    /// Applies a roster push and stores its version (if it has one).
    pub(crate) fn apply_roster_push(
        &self,
        ver: Option<&str>,
        changes: &[Change],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for change in changes {
            match change {
                Change::Set(c) => upsert_contact(&tx, c)?,
                Change::Remove(jid) => {
                    tx.execute("DELETE FROM roster_items WHERE jid = ?1", [jid])?;
                }
            }
        }
        if ver.is_some() {
            set_roster_ver(&tx, ver)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records that `jid` asks to see our presence (`true`), or that the
    /// request was answered or withdrawn (`false`, which forgets a
    /// requester who is not on the roster).
    pub(crate) fn set_pending_in(&self, jid: &str, pending: bool) -> Result<(), StoreError> {
        let conn = self.conn();
        if pending {
            conn.execute(
                "INSERT INTO roster_items (jid, pending_in, on_roster) VALUES (?1, 1, 0) \
                 ON CONFLICT (jid) DO UPDATE SET pending_in = 1",
                [jid],
            )?;
        } else {
            conn.execute(
                "DELETE FROM roster_items WHERE jid = ?1 AND on_roster = 0",
                [jid],
            )?;
            conn.execute(
                "UPDATE roster_items SET pending_in = 0 WHERE jid = ?1",
                [jid],
            )?;
        }
        Ok(())
    }
}

/// Contacts' availability (see "Presence" in the module doc).
impl Store {
    /// Every contact with a stored presence, available or not, by JID.
    pub fn presences(&self) -> Result<Vec<ContactPresence>, StoreError> {
        self.read_presence(None)
    }

    /// `jid`'s availability; `None` if nothing is stored (offline).
    pub fn presence(&self, jid: &str) -> Result<Option<ContactPresence>, StoreError> {
        Ok(self.read_presence(Some(jid))?.pop())
    }

    fn read_presence(&self, only: Option<&str>) -> Result<Vec<ContactPresence>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT jid, resource, show, status, priority FROM presence \
             WHERE ?1 IS NULL OR jid = ?1 ORDER BY jid",
        )?;
        let mut rows = stmt.query([only])?;
        let mut by_jid: Vec<(String, Vec<ResourcePresence>)> = Vec::new();
        while let Some(row) = rows.next()? {
            let jid: String = row.get(0).map_err(column_error)?;
            let show: String = row.get(2).map_err(column_error)?;
            let show = Show::parse(&show)
                .ok_or_else(|| corrupt(format!("presence of {jid}: show {show:?}")))?;
            let priority: i64 = row.get(4).map_err(column_error)?;
            let resource = ResourcePresence {
                resource: row.get(1).map_err(column_error)?,
                show,
                status: row.get(3).map_err(column_error)?,
                priority: i8::try_from(priority)
                    .map_err(|_| corrupt(format!("presence of {jid}: priority {priority}")))?,
            };
            match by_jid.last_mut() {
                Some((last, list)) if *last == jid => list.push(resource),
                _ => by_jid.push((jid, vec![resource])),
            }
        }
        Ok(by_jid
            .into_iter()
            .map(|(jid, list)| ContactPresence::aggregate(jid, list))
            .collect())
    }

    /// Records that `jid`'s resource is available (or changed).
    pub(crate) fn set_presence(
        &self,
        jid: &str,
        r: &ResourcePresence,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO presence (jid, resource, show, status, priority, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (jid, resource) DO UPDATE SET show = excluded.show, \
                     status = excluded.status, priority = excluded.priority, \
                     updated_at = excluded.updated_at",
            )?
            .execute(params![
                jid,
                r.resource,
                r.show.as_str(),
                r.status,
                r.priority,
                at.timestamp_millis()
            ])?;
        Ok(())
    }

    /// Records that `jid`'s resource went offline; all of them if `None`.
    pub(crate) fn remove_presence(
        &self,
        jid: &str,
        resource: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM presence WHERE jid = ?1 AND (?2 IS NULL OR resource = ?2)",
            params![jid, resource],
        )?;
        Ok(())
    }

    /// Forgets every stored presence (stale at the start of a fresh session).
    pub(crate) fn clear_presence(&self) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM presence", [])?;
        Ok(())
    }
}

/// Adds or updates a contact the server sent. A request it granted
/// (`from` or `both`) is answered; any other stays pending.
fn upsert_contact(tx: &Transaction<'_>, c: &Contact) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO roster_items (jid, name, subscription, ask, pending_in, on_roster) \
         VALUES (?1, ?2, ?3, ?4, 0, 1) \
         ON CONFLICT (jid) DO UPDATE SET name = excluded.name, \
             subscription = excluded.subscription, ask = excluded.ask, on_roster = 1, \
             pending_in = pending_in AND excluded.subscription NOT IN ('from', 'both')",
    )?
    .execute(params![c.jid, c.name, c.subscription.as_str(), c.ask])?;
    tx.prepare_cached("DELETE FROM roster_groups WHERE jid = ?1")?
        .execute([&c.jid])?;
    for group in &c.groups {
        tx.prepare_cached("INSERT OR IGNORE INTO roster_groups (jid, name) VALUES (?1, ?2)")?
            .execute([&c.jid, group])?;
    }
    Ok(())
}

fn set_roster_ver(tx: &Transaction<'_>, ver: Option<&str>) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO roster_meta (id, ver) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET ver = excluded.ver",
    )?
    .execute([ver])?;
    Ok(())
}

/// The search query: full-text matches joined to their messages. The
/// auxiliary functions need the table's own name; an alias will not do.
/// How many of the newest matches [`Store::search`] ranks.
pub const SEARCH_WINDOW: u32 = 500;

const SEARCH_SQL: &str = select_message!(
    extra: ", snippet(messages_fts, 0, '[', ']', '…', 10)",
    "JOIN messages_fts ON messages_fts.rowid = m.seq \
     WHERE messages_fts MATCH ?1 AND messages_fts.rowid >= ?3 \
     ORDER BY messages_fts.rank, m.timestamp DESC, m.seq DESC \
     LIMIT ?2"
);

/// Turns what the user typed into an FTS5 expression that cannot be a
/// syntax error: every word becomes a quoted string (so operators, `*`,
/// `:` and parentheses are just text), the words are ANDed, and the last
/// one matches as a prefix. `None` when there is no word.
fn fts_expression(query: &str) -> Option<String> {
    // FTS5 reads the expression as a C string: a NUL would cut it short,
    // inside a quote, so control characters separate words like spaces.
    let words: Vec<&str> = query
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let (last, rest) = words.split_last()?;
    let mut expression = String::new();
    for word in rest {
        push_fts_string(&mut expression, word);
        expression.push(' ');
    }
    push_fts_string(&mut expression, last);
    expression.push('*');
    Some(expression)
}

/// Appends `word` as an FTS5 string: in double quotes, quotes doubled.
fn push_fts_string(out: &mut String, word: &str) {
    out.push('"');
    out.push_str(&word.replace('"', "\"\""));
    out.push('"');
}

/// Reads a non-negative count that must fit a `u32`.
fn read_count(row: &Row<'_>, column: usize, what: &str) -> Result<u32, StoreError> {
    let n: i64 = row.get(column).map_err(column_error)?;
    u32::try_from(n).map_err(|_| corrupt(format!("{what} {n}")))
}

fn user_version(conn: &Connection) -> Result<u32, StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    u32::try_from(version).map_err(|_| corrupt(format!("schema version {version}")))
}

/// Applies the migrations after the current `user_version`, up to
/// `version`, each in its own transaction.
fn migrate(conn: &mut Connection, version: u32) -> Result<(), StoreError> {
    for (step, (name, sql)) in (1..=version).zip(MIGRATIONS) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read under the write lock: another process may have migrated.
        if user_version(&tx)? >= step {
            continue;
        }
        tx.execute_batch(sql).inspect_err(|e| {
            tracing::error!(migration = name, error = %e, "message store migration failed");
        })?;
        tx.pragma_update(None, "user_version", step)?;
        tx.commit()?;
        tracing::info!(migration = name, version = step, "message store migrated");
    }
    Ok(())
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

fn load_message(conn: &Connection, id: &str) -> Result<Option<StoredMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(select_message!("WHERE m.id = ?1"))?;
    let mut rows = stmt.query([id])?;
    rows.next()?.map(read_message).transpose()
}

fn read_messages(mut rows: Rows<'_>) -> Result<Vec<StoredMessage>, StoreError> {
    let mut messages = Vec::new();
    while let Some(row) = rows.next()? {
        messages.push(read_message(row)?);
    }
    Ok(messages)
}

/// Reads the columns of [`select_message!`]; anything malformed is
/// [`StoreError::Corrupt`], never a panic.
fn read_message(row: &Row<'_>) -> Result<StoredMessage, StoreError> {
    let id: String = row.get(0).map_err(column_error)?;
    let direction: String = row.get(2).map_err(column_error)?;
    let direction = direction
        .parse()
        .map_err(|e| corrupt(format!("message {id}: {e}")))?;
    let millis: i64 = row.get(5).map_err(column_error)?;
    let timestamp = DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| corrupt(format!("message {id}: timestamp {millis} out of range")))?;
    let state: String = row.get(8).map_err(column_error)?;
    let state = state
        .parse()
        .map_err(|e| corrupt(format!("message {id}: {e}")))?;
    Ok(StoredMessage {
        conversation: row.get(1).map_err(column_error)?,
        direction,
        sender: row.get(3).map_err(column_error)?,
        body: row.get(4).map_err(column_error)?,
        timestamp,
        origin_id: row.get(6).map_err(column_error)?,
        stanza_id: row.get(7).map_err(column_error)?,
        state,
        failure_reason: row.get(9).map_err(column_error)?,
        corrected: row.get::<_, i64>(10).map_err(column_error)? != 0,
        id,
    })
}

mod batch;
mod edits;

pub use batch::PageItem;

pub(crate) use edits::{CorrectError, CorrectionTarget};
#[cfg(test)]
mod tests;
