//! Our outgoing messages and the outbox (the persisted send queue): stored
//! before sending, moved forward only along the delivery states (see the
//! module doc), out of the outbox once nothing remains to send.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::{
    corrupt, load_message, next_seq, read_messages, touch_conversation, NewOutgoing, Store,
    StoreError,
};
use crate::model::{DeliveryState, Direction, Message};

impl Store {
    /// Stores an outgoing message as `queued` and appends it to the outbox,
    /// in one transaction. Call this before sending anything.
    pub fn enqueue_outgoing(&self, m: NewOutgoing<'_>) -> Result<Message, StoreError> {
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

    /// Moves an outgoing message forward (see [`DeliveryState::can_advance_to`]).
    /// Returns the updated message, or `None` if nothing changed: unknown id,
    /// incoming message, or not a step forward. Reaching acked, delivered or
    /// failed takes the message out of the outbox.
    #[cfg(test)]
    pub fn advance_state(
        &self,
        id: &str,
        to: DeliveryState,
    ) -> Result<Option<Message>, StoreError> {
        self.transition(id, None, to, None)
    }

    /// Gives up on an outgoing message that is queued or sent: it becomes
    /// failed with `reason`, and leaves the outbox. `None` if nothing changed.
    pub fn fail(&self, id: &str, reason: &str) -> Result<Option<Message>, StoreError> {
        self.transition(id, None, DeliveryState::Failed, Some(reason))
    }

    /// Applies an XEP-0184 receipt from `peer_bare` for our message `id`.
    /// Only a receipt from the peer of that message's conversation counts;
    /// anyone else's changes nothing (`None`).
    pub fn mark_delivered(&self, peer_bare: &str, id: &str) -> Result<Option<Message>, StoreError> {
        self.transition(id, Some(peer_bare), DeliveryState::Delivered, None)
    }

    /// Moves several outgoing messages on, in order, in one transaction:
    /// the server's acks arrive in bursts, and each must reach the disk
    /// before the app can be killed (an unrecorded ack means a resend).
    /// Returns the messages that changed, in order.
    pub fn advance_states(
        &self,
        changes: &[(&str, DeliveryState)],
    ) -> Result<Vec<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut changed = Vec::new();
        for (id, to) in changes {
            changed.extend(transition_in(&tx, id, None, *to, None)?);
        }
        tx.commit()?;
        Ok(changed)
    }

    fn transition(
        &self,
        id: &str,
        peer: Option<&str>,
        to: DeliveryState,
        reason: Option<&str>,
    ) -> Result<Option<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = transition_in(&tx, id, peer, to, reason)?;
        tx.commit()?;
        Ok(changed)
    }

    /// Puts a message a room bounced back in the queue, in its place in
    /// the outbox (its entry is kept until the room delivers it).
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
            "INSERT INTO outbox (message_id) VALUES (?1) ON CONFLICT (message_id) DO NOTHING",
            [id],
        )?;
        let message = load_message(&tx, id)?;
        tx.commit()?;
        Ok(message)
    }

    /// Outgoing messages not yet acked, oldest entry first: what the sender
    /// (re)sends after start-up or a new session.
    pub fn outbox(&self) -> Result<Vec<Message>, StoreError> {
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

    /// Takes a message written on a stream without stream management out
    /// of the outbox: the server will never ack it, and sending it on every
    /// later session would repeat it forever. It stays `Sent` until a
    /// receipt says more. `false` if it was not in the outbox.
    pub(crate) fn release_unacked(&self, id: &str) -> Result<bool, StoreError> {
        let removed = self
            .conn()
            .execute("DELETE FROM outbox WHERE message_id = ?1", [id])?;
        Ok(removed > 0)
    }

    /// Records the latest recoverable error of an outbox entry (the message
    /// stays queued). `false` if the message is not in the outbox.
    #[cfg(test)]
    pub fn note_error(&self, id: &str, error: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let changed = conn.execute(
            "UPDATE outbox SET last_error = ?2 WHERE message_id = ?1",
            [id, error],
        )?;
        Ok(changed > 0)
    }
}

/// One state change of our message `id` inside `tx`, if the rules allow it
/// (see "Delivery states" in the module doc); `peer`, if given, must be the
/// message's conversation.
fn transition_in(
    tx: &Transaction<'_>,
    id: &str,
    peer: Option<&str>,
    to: DeliveryState,
    reason: Option<&str>,
) -> Result<Option<Message>, StoreError> {
    let Some(current) = load_message(tx, id)? else {
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
    // A room message acked by our server can still be refused by the room
    // (we were not in it): it leaves the outbox only once the room sent it
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
    if !to.is_pending() && !room_ack {
        tx.execute("DELETE FROM outbox WHERE message_id = ?1", [id])?;
    }
    Ok(Some(Message {
        state: to,
        failure_reason: reason.map(str::to_owned),
        ..current
    }))
}
