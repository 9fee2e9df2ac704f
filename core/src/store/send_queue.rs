//! The send queue (migration 015): everything that must reach our server
//! exactly once — our messages, our corrections, receipts and read markers
//! — in one table, in the order it was queued. An item is stored before
//! anything is sent and leaves once the server acked it (or it is given
//! up). Each keeps its stanza id for every retry, so a receiver that
//! already has it can tell.
//!
//! An item may wait on another (`depends_on`): it is not pushed while that
//! one is queued, goes once that one left acked (the reference is then
//! NULL), and fails with it. A correction waits on the message it corrects
//! while that is queued; a file's message will wait on its upload.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::rows::{read_message, MESSAGE_COLUMNS};
use super::{
    corrupt, load_message, next_seq, read_messages, touch_conversation, NewOutgoing, Store,
    StoreError,
};
use crate::model::Message;

/// One queued item: what to send, and what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Queued {
    /// The stanza's @id, the same on every retry (a message's own id).
    pub id: String,
    pub item: Item,
    /// The item this one waits for, while that one is still queued.
    pub waits_for: Option<String>,
}

/// What a queued item says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// Our message, as stored.
    Message(Message),
    /// Our correction (XEP-0308) of this message: its current body.
    Correction(Message),
    /// XEP-0184: we received `about`; to the sender's full JID.
    Receipt { to: String, about: String },
    /// XEP-0333: we displayed `about` and all before it; to the peer.
    Marker { to: String, about: String },
}

/// A row of `select_message!` over `send_queue AS q LEFT JOIN messages`, with the
/// queue's columns (id, kind, recipient, about, depends_on) after the
/// message's, which are NULL for a receipt or marker.
fn read_queued(row: &Row<'_>) -> Result<Queued, StoreError> {
    let col = |i: usize| MESSAGE_COLUMNS + i;
    let kind: String = row.get(col(1))?;
    let stanza = |row: &Row<'_>| -> Result<(String, String), StoreError> {
        Ok((row.get(col(2))?, row.get(col(3))?))
    };
    let item = match kind.as_str() {
        "message" => Item::Message(read_message(row)?),
        "correction" => Item::Correction(read_message(row)?),
        "receipt" => stanza(row).map(|(to, about)| Item::Receipt { to, about })?,
        "marker" => stanza(row).map(|(to, about)| Item::Marker { to, about })?,
        other => return Err(corrupt(format!("send queue kind {other:?}"))),
    };
    Ok(Queued {
        id: row.get(col(0))?,
        item,
        waits_for: row.get(col(4))?,
    })
}

impl Store {
    /// Stores an outgoing message as `queued` and appends it to the send
    /// queue, in one transaction. Call this before sending anything.
    pub fn enqueue_outgoing(&self, m: NewOutgoing<'_>) -> Result<Message, StoreError> {
        self.enqueue_outgoing_after(m, None)
    }

    /// Like [`Self::enqueue_outgoing`], but the message is not pushed
    /// while queue item `after` waits, and fails if that one fails.
    pub(crate) fn enqueue_outgoing_after(
        &self,
        m: NewOutgoing<'_>,
        after: Option<&str>,
    ) -> Result<Message, StoreError> {
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
        tx.execute(
            "INSERT INTO send_queue (id, kind, conversation, message_id, depends_on) \
             VALUES (?1, 'message', ?2, ?1, \
                     (SELECT id FROM send_queue WHERE id = ?3))",
            params![m.id, m.to, after],
        )?;
        touch_conversation(&tx, m.to, m.id, timestamp, seq)?;
        let message = load_message(&tx, m.id)?
            .ok_or_else(|| corrupt(format!("message {} missing right after insert", m.id)))?;
        tx.commit()?;
        Ok(message)
    }

    /// Everything queued, oldest first: what the sender (re)sends after
    /// start-up or a new session.
    pub(crate) fn send_queue(&self) -> Result<Vec<Queued>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(select_message!(
            extra: ", q.id, q.kind, q.recipient, q.about, q.depends_on",
            from: "send_queue AS q LEFT JOIN messages AS m ON m.id = q.message_id",
            "ORDER BY q.seq"
        ))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(read_queued(row)?);
        }
        Ok(out)
    }

    /// Queue item `id`, if it is still queued.
    pub(crate) fn queued(&self, id: &str) -> Result<Option<Queued>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(select_message!(
            extra: ", q.id, q.kind, q.recipient, q.about, q.depends_on",
            from: "send_queue AS q LEFT JOIN messages AS m ON m.id = q.message_id",
            "WHERE q.id = ?1"
        ))?;
        let mut rows = stmt.query([id])?;
        rows.next()?.map(read_queued).transpose()
    }

    /// Our messages still queued, oldest entry first.
    pub fn outbox(&self) -> Result<Vec<Message>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(select_message!(
            "JOIN send_queue AS q ON q.message_id = m.id WHERE q.kind = 'message' \
             ORDER BY q.seq"
        ))?;
        let rows = stmt.query([])?;
        read_messages(rows)
    }

    /// Queues a receipt for `about` to `recipient` (the sender's full JID)
    /// in `conversation`. `None` if the same receipt is already waiting.
    pub(crate) fn queue_receipt(
        &self,
        recipient: &str,
        conversation: &str,
        about: &str,
    ) -> Result<Option<Queued>, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let added = self.conn().execute(
            "INSERT INTO send_queue (id, kind, recipient, conversation, about) \
             VALUES (?1, 'receipt', ?2, ?3, ?4) \
             ON CONFLICT (recipient, about) WHERE kind = 'receipt' DO NOTHING",
            params![id, recipient, conversation, about],
        )?;
        Ok((added == 1).then(|| Queued {
            id,
            item: Item::Receipt {
                to: recipient.to_owned(),
                about: about.to_owned(),
            },
            waits_for: None,
        }))
    }

    /// Queues a marker telling `peer` we displayed `about`; it replaces a
    /// marker still waiting for that conversation (the newest says it all).
    pub(crate) fn queue_marker(&self, peer: &str, about: &str) -> Result<Queued, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM send_queue WHERE kind = 'marker' AND conversation = ?1",
            [peer],
        )?;
        tx.execute(
            "INSERT INTO send_queue (id, kind, recipient, conversation, about) \
             VALUES (?1, 'marker', ?2, ?2, ?3)",
            params![id, peer, about],
        )?;
        tx.commit()?;
        Ok(Queued {
            id,
            item: Item::Marker {
                to: peer.to_owned(),
                about: about.to_owned(),
            },
            waits_for: None,
        })
    }

    /// Counts one more send attempt for queue item `id`; returns the new
    /// count, or `None` if it is not queued.
    pub fn note_attempt(&self, id: &str) -> Result<Option<u32>, StoreError> {
        let attempts = self
            .conn()
            .query_row(
                "UPDATE send_queue SET attempts = attempts + 1 WHERE id = ?1 RETURNING attempts",
                [id],
                |row| row.get::<_, i64>(0),
            )
            .optional()?;
        attempts
            .map(|n| u32::try_from(n).map_err(|_| corrupt(format!("send queue attempts {n}"))))
            .transpose()
    }

    /// Records the latest recoverable error of queue item `id` (it stays
    /// queued). `false` if it is not queued.
    #[cfg(test)]
    pub fn note_error(&self, id: &str, error: &str) -> Result<bool, StoreError> {
        let changed = self.conn().execute(
            "UPDATE send_queue SET last_error = ?2 WHERE id = ?1",
            [id, error],
        )?;
        Ok(changed > 0)
    }

    /// Gives up on queue item `id` that cannot be sent (e.g. its stored
    /// recipient is no JID), and on what waited on it. Returns the messages
    /// that failed with it. A message of ours fails by [`Self::fail`].
    pub(crate) fn drop_queued(&self, id: &str, reason: &str) -> Result<Vec<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let failed = fail_dependents(&tx, id, reason)?;
        tx.execute("DELETE FROM send_queue WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(failed)
    }
}

/// Takes items out of the queue that need nothing more: a correction,
/// receipt or marker the server acked, or anything written on a stream
/// without stream management (the server will never ack it, and sending
/// it on every later session would repeat it forever; a message stays
/// `Sent` until a receipt says more). What waited on them may go (its
/// reference becomes NULL).
pub(super) fn dequeue_in(tx: &Transaction<'_>, ids: &[&str]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached("DELETE FROM send_queue WHERE id = ?1")?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}

/// Queues our correction of message `message_id` in `conversation` under a
/// new stanza id, which it returns. It replaces a correction still waiting
/// (the newest body says it all), and waits on the message while that is
/// queued: a correction must not overtake what it corrects.
pub(super) fn queue_correction(
    tx: &Transaction<'_>,
    message_id: &str,
    conversation: &str,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    tx.execute(
        "DELETE FROM send_queue WHERE kind = 'correction' AND message_id = ?1",
        [message_id],
    )?;
    tx.execute(
        "INSERT INTO send_queue (id, kind, conversation, message_id, depends_on) \
         VALUES (?1, 'correction', ?2, ?3, \
                 (SELECT id FROM send_queue WHERE kind = 'message' AND message_id = ?3))",
        params![id, conversation, message_id],
    )?;
    Ok(id)
}

/// Item `id` is given up for `reason`: what waits on it fails too, named
/// after it, and leaves the queue (recursively). Returns the messages that
/// became failed. Call before `id` itself leaves the queue.
pub(super) fn fail_dependents(
    conn: &Connection,
    id: &str,
    reason: &str,
) -> Result<Vec<Message>, StoreError> {
    let dependents = conn
        .prepare_cached("SELECT id, kind, message_id FROM send_queue WHERE depends_on = ?1")?
        .query_map([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut failed = Vec::new();
    for (dependent, kind, message_id) in dependents {
        let why = format!("it waited for {id}, which failed: {reason}");
        tracing::warn!(id = dependent, kind, "given up: {why}");
        failed.extend(fail_dependents(conn, &dependent, &why)?);
        conn.execute("DELETE FROM send_queue WHERE id = ?1", [&dependent])?;
        let Some(message_id) = message_id.filter(|_| kind == "message") else {
            continue;
        };
        let changed = conn.execute(
            "UPDATE messages SET state = 'failed', failure_reason = ?2 \
             WHERE id = ?1 AND direction = 'out' AND state IN ('queued', 'sent')",
            params![message_id, why],
        )?;
        if changed > 0 {
            failed.extend(load_message(conn, &message_id)?);
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests;
