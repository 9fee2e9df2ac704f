//! Our files still to upload (migration 016). A file's message is stored
//! at once, with the file's name, size and path, and waits here (not in
//! the send queue: an upload is no stanza, and a large one must not hold
//! up the chat queued after it). Once the file is on the upload service,
//! the message gets the file's link as its body and joins the send queue
//! in the same transaction, so an app killed in between either uploads
//! again or sends the message, never both and never neither.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::send_queue::fail_dependents;
use super::{corrupt, load_message, next_seq, touch_conversation, Store, StoreError};
use crate::model::Message;

/// A file message of ours before it is stored.
#[derive(Debug, Clone, Copy)]
pub struct NewOutgoingFile<'a> {
    /// Chosen once by the caller (a UUID): the message's id.
    pub id: &'a str,
    /// Our own bare JID.
    pub own_jid: &'a str,
    /// The conversation (a peer's or a room's bare JID).
    pub to: &'a str,
    /// The file on this device.
    pub path: &'a str,
    pub name: &'a str,
    pub size: u64,
    pub mime_type: Option<&'a str>,
    pub timestamp: chrono::DateTime<chrono::Utc>,
}

/// One upload to do: the message that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upload {
    pub message: Message,
    /// Earlier attempts that failed (this session or earlier ones).
    pub attempts: u32,
}

impl Store {
    /// Stores a file message of ours as `queued`, waiting for its upload
    /// (one transaction). Its body stays empty until the link is known.
    pub fn enqueue_file(&self, f: NewOutgoingFile<'_>) -> Result<Message, StoreError> {
        let size = i64::try_from(f.size).map_err(|_| corrupt(format!("file size {}", f.size)))?;
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = next_seq(&tx)?;
        let timestamp = f.timestamp.timestamp_millis();
        tx.execute(
            "INSERT INTO messages (id, seq, conversation, direction, sender, body, timestamp, \
             origin_id, state, file_name, file_size, file_mime, file_path) \
             VALUES (?1, ?2, ?3, 'out', ?4, '', ?5, ?1, 'queued', ?6, ?7, ?8, ?9)",
            params![
                f.id,
                seq,
                f.to,
                f.own_jid,
                timestamp,
                f.name,
                size,
                f.mime_type,
                f.path
            ],
        )?;
        tx.execute("INSERT INTO uploads (message_id) VALUES (?1)", [f.id])?;
        touch_conversation(&tx, f.to, f.id, timestamp, seq)?;
        let message = load_message(&tx, f.id)?
            .ok_or_else(|| corrupt(format!("message {} missing right after insert", f.id)))?;
        tx.commit()?;
        Ok(message)
    }

    /// Every upload still to do, oldest first.
    pub(crate) fn uploads(&self) -> Result<Vec<Upload>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(select_message!(
            extra: ", u.attempts",
            from: "uploads AS u JOIN messages AS m ON m.id = u.message_id",
            "ORDER BY u.seq"
        ))?;
        let uploads = read_uploads(stmt.query([])?)?;
        Ok(uploads)
    }

    /// Upload `id` if it is still to do.
    pub(crate) fn upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(select_message!(
            extra: ", u.attempts",
            from: "uploads AS u JOIN messages AS m ON m.id = u.message_id",
            "WHERE u.message_id = ?1"
        ))?;
        let upload = read_uploads(stmt.query([id])?)?.pop();
        Ok(upload)
    }

    /// Counts a failed attempt at upload `id` (it stays to do); returns
    /// the count, `None` if it is no longer to do.
    pub(crate) fn note_upload_failure(
        &self,
        id: &str,
        error: &str,
    ) -> Result<Option<u32>, StoreError> {
        let attempts = self
            .conn()
            .query_row(
                "UPDATE uploads SET attempts = attempts + 1, last_error = ?2 \
                 WHERE message_id = ?1 RETURNING attempts",
                params![id, error],
                |row| row.get::<_, i64>(0),
            )
            .optional()?;
        attempts
            .map(|n| u32::try_from(n).map_err(|_| corrupt(format!("upload attempts {n}"))))
            .transpose()
    }

    /// Upload `id` is done: the message gets the link `url` as its body
    /// and joins the send queue, in one transaction. `None` if it was not
    /// to do (already done, or given up meanwhile).
    pub(crate) fn upload_done(&self, id: &str, url: &str) -> Result<Option<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tx.execute("DELETE FROM uploads WHERE message_id = ?1", [id])? == 0 {
            return Ok(None);
        }
        tx.execute(
            "UPDATE messages SET body = ?2, file_url = ?2 WHERE id = ?1",
            params![id, url],
        )?;
        tx.execute(
            "INSERT INTO send_queue (id, kind, conversation, message_id) \
             SELECT id, 'message', conversation, id FROM messages WHERE id = ?1",
            [id],
        )?;
        let message = load_message(&tx, id)?;
        tx.commit()?;
        Ok(message)
    }

    /// Message `id`'s file is now at `path` on this device (`size` bytes),
    /// e.g. after a download. `None` if it is no file message.
    pub(crate) fn set_local_file(
        &self,
        id: &str,
        path: &str,
        size: u64,
    ) -> Result<Option<Message>, StoreError> {
        let size = i64::try_from(size).map_err(|_| corrupt(format!("file size {size}")))?;
        let conn = self.conn();
        let changed = conn.execute(
            "UPDATE messages SET file_path = ?2, file_size = ?3 \
             WHERE id = ?1 AND file_name IS NOT NULL",
            params![id, path, size],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        load_message(&conn, id)
    }

    /// Gives upload `id` up: its message fails with `reason`. `None` if
    /// it was not to do.
    pub(crate) fn upload_failed(
        &self,
        id: &str,
        reason: &str,
    ) -> Result<Option<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tx.execute("DELETE FROM uploads WHERE message_id = ?1", [id])? == 0 {
            return Ok(None);
        }
        tx.execute(
            "UPDATE messages SET state = 'failed', failure_reason = ?2 \
             WHERE id = ?1 AND state = 'queued'",
            params![id, reason],
        )?;
        // Nothing waits on an upload today; keep the rule of the queue.
        fail_dependents(&tx, id, reason)?;
        let message = load_message(&tx, id)?;
        tx.commit()?;
        Ok(message)
    }
}

/// The rows of a `select_message!` over uploads with their attempts.
fn read_uploads(mut rows: rusqlite::Rows<'_>) -> Result<Vec<Upload>, StoreError> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(Upload {
            message: super::read_message(row)?,
            attempts: super::read_count(row, super::MESSAGE_COLUMNS, "upload attempts")?,
        });
    }
    Ok(out)
}
