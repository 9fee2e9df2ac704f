//! Our outgoing messages' delivery states: moved forward only (see the
//! module doc), and out of the send queue once nothing remains to send.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::send_queue::{dequeue_in, fail_dependents};
use super::{load_message, Store, StoreError};
use crate::model::{DeliveryState, Direction, Message};

impl Store {
    /// Moves an outgoing message forward (see [`DeliveryState::can_advance_to`]).
    /// Returns the updated message, or `None` if nothing changed: unknown id,
    /// incoming message, or not a step forward. Reaching acked, delivered or
    /// failed takes the message out of the send queue.
    #[cfg(test)]
    pub fn advance_state(
        &self,
        id: &str,
        to: DeliveryState,
    ) -> Result<Option<Message>, StoreError> {
        Ok(self.transition(id, None, to, None)?.into_iter().next())
    }

    /// Gives up on an outgoing message that is queued or sent: it becomes
    /// failed with `reason`, and leaves the send queue. `None` if nothing
    /// changed.
    #[cfg(test)]
    pub fn fail(&self, id: &str, reason: &str) -> Result<Option<Message>, StoreError> {
        Ok(self.fail_all(id, reason)?.into_iter().find(|m| m.id == id))
    }

    /// [`Self::fail`], and what waited on the message fails with it: every
    /// message that changed, the failed one first.
    pub(crate) fn fail_all(&self, id: &str, reason: &str) -> Result<Vec<Message>, StoreError> {
        self.transition(id, None, DeliveryState::Failed, Some(reason))
    }

    /// Applies an XEP-0184 receipt from `peer_bare` for our message `id`.
    /// Only a receipt from the peer of that message's conversation counts;
    /// anyone else's changes nothing (`None`).
    pub fn mark_delivered(&self, peer_bare: &str, id: &str) -> Result<Option<Message>, StoreError> {
        let changed = self.transition(id, Some(peer_bare), DeliveryState::Delivered, None)?;
        Ok(changed.into_iter().next())
    }

    /// Moves several outgoing messages on, in order, in one transaction.
    /// Returns the messages that changed, in order.
    #[cfg(test)]
    pub fn advance_states(
        &self,
        changes: &[(&str, DeliveryState)],
    ) -> Result<Vec<Message>, StoreError> {
        self.record_progress(changes, &[])
    }

    /// Records what the server did with a burst of pushes, in one
    /// transaction: acks arrive in bursts, and each must reach the disk
    /// before the app can be killed (an unrecorded ack means a resend).
    /// `states`: our messages that moved on, in order; `done`: other items
    /// that leave the queue (see `dequeue_in`). Returns the messages
    /// that changed, in order.
    pub(crate) fn record_progress(
        &self,
        states: &[(&str, DeliveryState)],
        done: &[&str],
    ) -> Result<Vec<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changed = Vec::new();
        for (id, to) in states {
            changed.extend(transition_in(&tx, id, None, *to, None)?);
        }
        dequeue_in(&tx, done)?;
        tx.commit()?;
        Ok(changed)
    }

    fn transition(
        &self,
        id: &str,
        peer: Option<&str>,
        to: DeliveryState,
        reason: Option<&str>,
    ) -> Result<Vec<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = transition_in(&tx, id, peer, to, reason)?;
        tx.commit()?;
        Ok(changed)
    }

    /// Queues a failed message of ours again (the user asked to retry):
    /// queued, without its failure reason, at the end of the send queue,
    /// with the same id (a peer that got it after all sees it once).
    /// `None` if it is not our failed message.
    pub(crate) fn retry_failed(&self, id: &str) -> Result<Option<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE messages SET state = 'queued', failure_reason = NULL \
             WHERE id = ?1 AND direction = 'out' AND state = 'failed'",
            [id],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        // A file that never reached the upload service is uploaded again;
        // any other message (a file's too, once it has its link) is sent.
        let uploaded = tx.execute(
            "INSERT INTO uploads (message_id) SELECT id FROM messages \
             WHERE id = ?1 AND file_name IS NOT NULL AND file_url IS NULL",
            [id],
        )?;
        if uploaded == 0 {
            tx.execute(
                "INSERT INTO send_queue (id, kind, conversation, message_id) \
                 SELECT id, 'message', conversation, id FROM messages WHERE id = ?1 \
                 ON CONFLICT (id) DO NOTHING",
                [id],
            )?;
        }
        let message = load_message(&tx, id)?;
        tx.commit()?;
        Ok(message)
    }

    /// Puts a message a room bounced back in the queue, in its place in
    /// the send queue (its entry is kept until the room delivers it).
    pub(crate) fn requeue(&self, id: &str) -> Result<Option<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE messages SET state = 'queued', failure_reason = NULL \
             WHERE id = ?1 AND direction = 'out' AND state IN ('queued', 'sent', 'acked')",
            [id],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO send_queue (id, kind, conversation, message_id) \
             SELECT id, 'message', conversation, id FROM messages WHERE id = ?1 \
             ON CONFLICT (id) DO NOTHING",
            [id],
        )?;
        let message = load_message(&tx, id)?;
        tx.commit()?;
        Ok(message)
    }
}

/// One state change of our message `id` inside `tx`, if the rules allow it
/// (see "Delivery states" in the module doc); `peer`, if given, must be the
/// message's conversation. Returns the message changed, then those that
/// failed with it (they waited on it).
fn transition_in(
    tx: &Transaction<'_>,
    id: &str,
    peer: Option<&str>,
    to: DeliveryState,
    reason: Option<&str>,
) -> Result<Vec<Message>, StoreError> {
    let Some(current) = load_message(tx, id)? else {
        return Ok(Vec::new());
    };
    if current.direction != Direction::Outgoing
        || peer.is_some_and(|peer| peer != current.conversation)
        || !current.state.can_advance_to(to)
    {
        return Ok(Vec::new());
    }
    tx.execute(
        "UPDATE messages SET state = ?2, failure_reason = ?3 WHERE id = ?1",
        params![id, to.as_str(), reason],
    )?;
    // A room message acked by our server can still be refused by the room
    // (we were not in it): it leaves the queue only once the room sent it
    // back to everyone (delivered).
    let room_ack = to == DeliveryState::Acked
        && tx
            .query_row(
                "SELECT 1 FROM rooms WHERE jid = ?1",
                [&current.conversation],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
    let mut changed = vec![Message {
        state: to,
        failure_reason: reason.map(str::to_owned),
        ..current
    }];
    if to == DeliveryState::Failed {
        changed.extend(fail_dependents(tx, id, reason.unwrap_or("failed"))?);
    }
    if !to.is_pending() && !room_ack {
        // What waited on it goes now (its reference becomes NULL).
        tx.execute(
            "DELETE FROM send_queue WHERE kind = 'message' AND message_id = ?1",
            [id],
        )?;
    }
    Ok(changed)
}
