//! What changes a message after it was stored: read markers (XEP-0333) and
//! corrections of the last message (XEP-0308).
//!
//! Both are instructions from someone else's stanza, so every statement
//! here is scoped by who may give it: only the peer of a conversation marks
//! our messages there read, and only a message's own sender corrects it.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::send_queue::queue_correction;
use super::{corrupt, load_message, DeliveryState, Direction, Message, Store, StoreError};

impl Store {
    /// The `@id` of the newest incoming message with `peer` that asked for
    /// read markers: what a `<displayed/>` marker names when the user has
    /// read the conversation.
    pub(crate) fn newest_markable(&self, peer: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "SELECT remote_id FROM messages \
                 WHERE conversation = ?1 AND direction = 'in' AND markable = 1 \
                   AND remote_id IS NOT NULL \
                 ORDER BY timestamp DESC, seq DESC LIMIT 1",
            )?
            .query_row([peer], |row| row.get(0))
            .optional()?)
    }

    /// Applies `peer`'s `<displayed id=…/>`: our message `id` in the
    /// conversation with `peer` and every earlier one the server has become
    /// [`DeliveryState::Read`]. Returns the messages that changed; a marker
    /// naming a message of another conversation changes nothing.
    pub(crate) fn mark_displayed(&self, peer: &str, id: &str) -> Result<Vec<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Our id, or the @id a message from another device of ours had.
        let anchor: Option<(i64, i64)> = tx
            .prepare_cached(
                "SELECT timestamp, seq FROM messages \
                 WHERE conversation = ?1 AND direction = 'out' AND (id = ?2 OR remote_id = ?2) \
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([peer, id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((timestamp, seq)) = anchor else {
            return Ok(Vec::new());
        };
        // Only what the server has: a sent but unacked message stays in the
        // outbox until its ack, which then finds it read already.
        let ids = tx
            .prepare_cached(
                "UPDATE messages SET state = 'read' \
                 WHERE conversation = ?1 AND direction = 'out' \
                   AND state IN ('acked', 'delivered') AND (timestamp, seq) <= (?2, ?3) \
                 RETURNING id",
            )?
            .query_map(params![peer, timestamp, seq], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut changed = Vec::with_capacity(ids.len());
        for id in ids {
            changed.push(
                load_message(&tx, &id)?.ok_or_else(|| corrupt(format!("message {id} vanished")))?,
            );
        }
        tx.commit()?;
        changed.sort_by_key(|m| (m.timestamp, m.id.clone()));
        Ok(changed)
    }

    /// Replaces the body of our message `id`, which must be the newest
    /// outgoing message of its conversation and not failed. Returns the
    /// message and the id of the correction stanza now queued.
    pub(crate) fn correct_outgoing(
        &self,
        id: &str,
        body: &str,
    ) -> Result<(Message, String), CorrectError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let message = load_message(&tx, id)?.ok_or(CorrectError::Unknown)?;
        if message.direction != Direction::Outgoing {
            return Err(CorrectError::NotOurs);
        }
        if message.state == DeliveryState::Failed {
            return Err(CorrectError::Failed);
        }
        let newest: String = tx
            .prepare_cached(
                "SELECT id FROM messages WHERE conversation = ?1 AND direction = 'out' \
                 ORDER BY timestamp DESC, seq DESC LIMIT 1",
            )?
            .query_row([&message.conversation], |row| row.get(0))?;
        if newest != id {
            return Err(CorrectError::NotLast);
        }
        // Even a message not yet written gets a correction stanza: it may
        // sit in the stream's queue with the old body already. The second
        // stanza then changes nothing at the peer.
        tx.execute(
            "UPDATE messages SET body = ?2, corrected = 1 WHERE id = ?1",
            params![id, body],
        )?;
        let correction_id = queue_correction(&tx, id, &message.conversation)?;
        tx.commit()?;
        Ok((
            Message {
                body: body.to_owned(),
                corrected: true,
                ..message
            },
            correction_id,
        ))
    }

    /// Applies a correction that `sender` sent in the conversation with
    /// `peer`: the newest message there that `sender` wrote with the stanza
    /// `@id` or origin-id `replaced` gets `body`. Only the original sender's
    /// own message can match; `None` when there is none (the caller stores
    /// the correction as a new message) or when the body is already that.
    pub(crate) fn apply_correction(
        &self,
        peer: &str,
        sender: &str,
        replaced: &str,
        body: &str,
    ) -> Result<Option<CorrectionTarget>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let target: Option<(String, String)> = tx
            .prepare_cached(
                "SELECT id, body FROM messages \
                 WHERE conversation = ?1 AND sender = ?2 \
                   AND (remote_id = ?3 OR origin_id = ?3 OR (direction = 'out' AND id = ?3)) \
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([peer, sender, replaced], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        let Some((id, old)) = target else {
            return Ok(None);
        };
        if old == body {
            return Ok(Some(CorrectionTarget::Unchanged));
        }
        tx.execute(
            "UPDATE messages SET body = ?2, corrected = 1 WHERE id = ?1",
            params![id, body],
        )?;
        let message =
            load_message(&tx, &id)?.ok_or_else(|| corrupt(format!("message {id} vanished")))?;
        tx.commit()?;
        Ok(Some(CorrectionTarget::Changed(Box::new(message))))
    }
}

/// The message a received correction applied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CorrectionTarget {
    Changed(Box<Message>),
    /// A copy of a correction already applied.
    Unchanged,
}

/// Why our correction was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CorrectError {
    #[error("no such message")]
    Unknown,
    #[error("only our own messages can be corrected")]
    NotOurs,
    #[error("only the last message we sent in a conversation can be corrected")]
    NotLast,
    #[error("a failed message cannot be corrected; send it again instead")]
    Failed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for CorrectError {
    fn from(e: rusqlite::Error) -> Self {
        CorrectError::Store(e.into())
    }
}
