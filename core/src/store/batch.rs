//! Many messages in one transaction: what an archive catch-up page (or a
//! burst of offline messages) needs, where one commit per message would
//! dominate the cost.
//!
//! [`Store::insert_incoming`] and [`Store::insert_outgoing_copy`] are
//! batches of one, so there is a single insert path: the unique indexes
//! drop copies, the conversation keeps its newest message, new incoming
//! messages raise the unread count, and the FTS triggers index the body.

use rusqlite::{params, Transaction, TransactionBehavior};

use crate::model::Attachment;

use super::{
    corrupt, load_message, next_seq, touch_conversation, Message, NewIncoming, NewOutgoingCopy,
    Store, StoreError,
};

/// One message of a mixed page (see [`Store::insert_page`]).
#[derive(Debug, Clone, Copy)]
pub enum PageItem<'a> {
    Incoming(NewIncoming<'a>),
    OwnCopy(NewOutgoingCopy<'a>),
}

impl Store {
    /// Stores incoming messages in order, in one transaction, exactly as as
    /// many [`Store::insert_incoming`] calls would: one entry per message,
    /// `None` for a copy of a message already stored, including one earlier
    /// in the same batch. All or nothing: after an error nothing is stored.
    pub fn insert_incoming_batch(
        &self,
        messages: &[NewIncoming<'_>],
    ) -> Result<Vec<Option<Message>>, StoreError> {
        self.in_one_transaction(messages, insert_incoming_in)
    }

    /// Stores copies of what other devices of ours sent, in order, in one
    /// transaction, exactly as as many [`Store::insert_outgoing_copy`] calls
    /// would (`None` for a message we already have). All or nothing.
    pub fn insert_outgoing_copy_batch(
        &self,
        messages: &[NewOutgoingCopy<'_>],
    ) -> Result<Vec<Option<Message>>, StoreError> {
        self.in_one_transaction(messages, insert_outgoing_copy_in)
    }

    /// Stores a page of mixed messages (an archive catch-up page: theirs
    /// and ours) in order, in one transaction, as the single inserts would.
    pub fn insert_page(
        &self,
        messages: &[PageItem<'_>],
    ) -> Result<Vec<Option<Message>>, StoreError> {
        self.in_one_transaction(messages, |tx, item| match item {
            PageItem::Incoming(m) => insert_incoming_in(tx, m),
            PageItem::OwnCopy(m) => insert_outgoing_copy_in(tx, m),
        })
    }

    fn in_one_transaction<M>(
        &self,
        messages: &[M],
        insert: fn(&Transaction<'_>, &M) -> Result<Option<Message>, StoreError>,
    ) -> Result<Vec<Option<Message>>, StoreError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = messages
            .iter()
            .map(|m| insert(&tx, m))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(stored)
    }
}

/// One incoming message inside the caller's transaction: the single path
/// of [`Store::insert_incoming`] and the batch.
fn insert_incoming_in(
    tx: &Transaction<'_>,
    m: &NewIncoming<'_>,
) -> Result<Option<Message>, StoreError> {
    insert_received_in(
        tx,
        Received {
            file_url: m.file_url,
            conversation: m.from,
            sender: m.from,
            remote_id: m.remote_id,
            origin_id: m.origin_id,
            stanza_id: m.stanza_id,
            body: m.body,
            timestamp: m.timestamp,
            markable: m.markable,
            mentions_me: false,
        },
    )
}

/// Someone else's message as stored: in a one-to-one chat the conversation
/// and the sender are the peer; in a room, the room and the occupant.
pub(super) struct Received<'a> {
    pub conversation: &'a str,
    pub sender: &'a str,
    pub remote_id: Option<&'a str>,
    pub origin_id: Option<&'a str>,
    pub stanza_id: Option<&'a str>,
    pub body: &'a str,
    pub timestamp: chrono::DateTime<chrono::Utc>,
    pub markable: bool,
    pub mentions_me: bool,
    /// The file it carries: an out-of-band link (XEP-0066).
    pub file_url: Option<&'a str>,
}

/// The one insert of someone else's message: the unique indexes drop a
/// copy (`None`), a new one becomes its conversation's last (if newest)
/// and raises the unread count.
pub(super) fn insert_received_in(
    tx: &Transaction<'_>,
    m: Received<'_>,
) -> Result<Option<Message>, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    let seq = next_seq(tx)?;
    let timestamp = m.timestamp.timestamp_millis();
    // Every unique index makes a copy a no-op; see 001_initial.sql.
    let inserted = tx
        .prepare_cached(
            "INSERT INTO messages (id, seq, conversation, direction, sender, body, timestamp, \
             origin_id, stanza_id, remote_id, state, markable, mentions_me, file_url, file_name) \
             VALUES (?1, ?2, ?3, 'in', ?4, ?5, ?6, ?7, ?8, ?9, 'received', ?10, ?11, ?12, ?13) \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            id,
            seq,
            m.conversation,
            m.sender,
            m.body,
            timestamp,
            m.origin_id,
            m.stanza_id,
            m.remote_id,
            m.markable,
            m.mentions_me,
            m.file_url,
            m.file_url.map(Attachment::name_from_url),
        ])?;
    if inserted == 0 {
        tracing::debug!(
            sender = m.sender,
            stanza_id = m.stanza_id,
            origin_id = m.origin_id,
            remote_id = m.remote_id,
            "duplicate incoming message ignored"
        );
        return Ok(None);
    }
    touch_conversation(tx, m.conversation, &id, timestamp, seq)?;
    // Only a new incoming message counts: a copy returned above.
    tx.prepare_cached("UPDATE conversations SET unread = unread + 1 WHERE peer = ?1")?
        .execute([m.conversation])?;
    let message = load_message(tx, &id)?
        .ok_or_else(|| corrupt(format!("message {id} missing right after insert")))?;
    Ok(Some(message))
}

/// One copy of our own message inside the caller's transaction: the
/// single path of [`Store::insert_outgoing_copy`] and the batch.
fn insert_outgoing_copy_in(
    tx: &Transaction<'_>,
    m: &NewOutgoingCopy<'_>,
) -> Result<Option<Message>, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    let seq = next_seq(tx)?;
    let timestamp = m.timestamp.timestamp_millis();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO messages (id, seq, conversation, direction, sender, body, timestamp, \
             origin_id, stanza_id, remote_id, state, file_url, file_name) \
             VALUES (?1, ?2, ?3, 'out', ?4, ?5, ?6, ?7, NULL, ?8, 'acked', ?9, ?10) \
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            id,
            seq,
            m.to,
            m.own_jid,
            m.body,
            timestamp,
            m.origin_id,
            m.remote_id,
            m.file_url,
            m.file_url.map(Attachment::name_from_url),
        ])?;
    if inserted == 0 {
        tracing::debug!(
            to = m.to,
            origin_id = m.origin_id,
            remote_id = m.remote_id,
            "duplicate copy of our own message ignored"
        );
        return Ok(None);
    }
    // Our own words: the unread count stays.
    touch_conversation(tx, m.to, &id, timestamp, seq)?;
    let message = load_message(tx, &id)?
        .ok_or_else(|| corrupt(format!("message {id} missing right after insert")))?;
    Ok(Some(message))
}

#[cfg(test)]
mod tests;
