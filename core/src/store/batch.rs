//! Many messages in one transaction: what an archive catch-up page (or a
//! burst of offline messages) needs, where one commit per message would
//! dominate the cost.
//!
//! [`Store::insert_incoming`] and [`Store::insert_outgoing_copy`] are
//! batches of one, so there is a single insert path: the unique indexes
//! drop copies, the conversation keeps its newest message, new incoming
//! messages raise the unread count, and the FTS triggers index the body.

use rusqlite::{params, Transaction, TransactionBehavior};

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
            conversation: m.from,
            sender: m.from,
            remote_id: m.remote_id,
            origin_id: m.origin_id,
            stanza_id: m.stanza_id,
            body: m.body,
            timestamp: m.timestamp,
            markable: m.markable,
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
             origin_id, stanza_id, remote_id, state, markable) \
             VALUES (?1, ?2, ?3, 'in', ?4, ?5, ?6, ?7, ?8, ?9, 'received', ?10) \
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
            m.markable
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
             origin_id, stanza_id, remote_id, state) \
             VALUES (?1, ?2, ?3, 'out', ?4, ?5, ?6, ?7, NULL, ?8, 'acked') \
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
            m.remote_id
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
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::model::{Conversation, SearchHit};

    const ME: &str = "me@example.org";
    const ALICE: &str = "alice@example.org";
    const BOB: &str = "bob@example.org";
    const CAROL: &str = "carol@example.org";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    /// One write, as the archive or a live stream would hand it over.
    #[derive(Clone, Copy)]
    enum Write {
        In(NewIncoming<'static>),
        Copy(NewOutgoingCopy<'static>),
    }

    fn inc(
        from: &'static str,
        stanza_id: Option<&'static str>,
        origin_id: Option<&'static str>,
        remote_id: Option<&'static str>,
        body: &'static str,
        secs: i64,
    ) -> Write {
        Write::In(NewIncoming {
            markable: false,
            from,
            remote_id,
            origin_id,
            stanza_id,
            body,
            timestamp: at(secs),
        })
    }

    fn copy(
        to: &'static str,
        origin_id: Option<&'static str>,
        remote_id: Option<&'static str>,
        body: &'static str,
        secs: i64,
    ) -> Write {
        Write::Copy(NewOutgoingCopy {
            own_jid: ME,
            to,
            origin_id,
            remote_id,
            body,
            timestamp: at(secs),
        })
    }

    /// Pages of writes covering every path of both inserts: new messages,
    /// copies of stored ones by each unique index, copies within one page,
    /// older messages that must not become a conversation's last one, our
    /// own message echoed back, and a message with no id at all.
    fn pages() -> Vec<Vec<Write>> {
        vec![
            vec![
                inc(
                    ALICE,
                    Some("s1"),
                    Some("o1"),
                    Some("r1"),
                    "dinner at eight?",
                    100,
                ),
                copy(
                    ALICE,
                    Some("mine1"),
                    Some("mine1"),
                    "sure, see you there",
                    110,
                ),
                inc(BOB, Some("s2"), None, Some("r2"), "the café is closed", 120),
                // The same stanza-id again, in the same page.
                inc(
                    ALICE,
                    Some("s1"),
                    Some("o1"),
                    Some("r1"),
                    "dinner at eight?",
                    100,
                ),
                // Same sender and origin-id under another stanza-id.
                inc(ALICE, Some("s3"), Some("o1"), None, "dinner at eight?", 100),
                // Same sender and remote id, no origin-id.
                inc(BOB, None, None, Some("r2"), "the café is closed", 120),
                // The same remote id from someone else is another message.
                inc(CAROL, None, None, Some("r2"), "closed for good", 125),
            ],
            vec![
                // Older than what the conversations hold: backfill.
                inc(ALICE, Some("s4"), Some("o4"), None, "an old note", 50),
                copy(BOB, Some("mine2"), None, "an old reply", 60),
                // Our own copy again, by origin-id, then by remote id.
                copy(
                    ALICE,
                    Some("mine1"),
                    Some("other"),
                    "sure, see you there",
                    110,
                ),
                copy(BOB, None, Some("mine2"), "an old reply", 60),
                // No id at all: never a duplicate.
                inc(CAROL, None, None, None, "ping", 130),
                inc(CAROL, None, None, None, "ping", 130),
            ],
            vec![],
            vec![
                // Copies of messages stored two pages ago.
                inc(BOB, Some("s2"), None, Some("r2"), "the café is closed", 120),
                inc(ALICE, Some("s5"), Some("o5"), None, "eight works", 140),
                copy(CAROL, Some("mine3"), Some("mine3"), "pong", 135),
                // Same timestamp as the last one: seq breaks the tie.
                inc(ALICE, Some("s6"), Some("o6"), None, "tied", 140),
            ],
        ]
    }

    fn single(store: &Store, write: Write) -> Option<Message> {
        match write {
            Write::In(m) => store.insert_incoming(m).unwrap(),
            Write::Copy(m) => store.insert_outgoing_copy(m).unwrap(),
        }
    }

    /// A page in batches: runs of one kind per call, in page order.
    fn batched(store: &Store, page: &[Write]) -> Vec<Option<Message>> {
        let mut stored = Vec::new();
        let mut rest = page;
        while let Some(first) = rest.first() {
            let is_in = matches!(first, Write::In(_));
            let run = rest
                .iter()
                .take_while(|w| matches!(w, Write::In(_)) == is_in)
                .count();
            let (now, later) = rest.split_at(run);
            stored.extend(if is_in {
                let batch: Vec<_> = now
                    .iter()
                    .map(|w| match w {
                        Write::In(m) => *m,
                        Write::Copy(_) => unreachable!("a run holds one kind"),
                    })
                    .collect();
                store.insert_incoming_batch(&batch).unwrap()
            } else {
                let batch: Vec<_> = now
                    .iter()
                    .map(|w| match w {
                        Write::Copy(m) => *m,
                        Write::In(_) => unreachable!("a run holds one kind"),
                    })
                    .collect();
                store.insert_outgoing_copy_batch(&batch).unwrap()
            });
            rest = later;
        }
        stored
    }

    /// Our ids are fresh UUIDs on each path: compare everything else.
    fn without_id(m: Message) -> Message {
        Message {
            id: String::new(),
            ..m
        }
    }

    /// What a user can see of a store, ids aside.
    #[derive(Debug, PartialEq)]
    struct Visible {
        count: u64,
        conversations: Vec<(String, Message, u32)>,
        history: Vec<Vec<Message>>,
        search: Vec<Vec<(Message, String)>>,
    }

    fn visible(store: &Store) -> Visible {
        let conversations = store
            .conversations()
            .unwrap()
            .into_iter()
            .map(
                |Conversation {
                     with,
                     last_message,
                     unread,
                 }| { (with, without_id(last_message), unread) },
            )
            .collect();
        let history = [ALICE, BOB, CAROL]
            .iter()
            .map(|peer| {
                let page = store.history(peer, None, 100).unwrap();
                page.into_iter().map(without_id).collect()
            })
            .collect();
        let search = ["cafe", "dinner", "old", "ping", "tied"]
            .iter()
            .map(|q| {
                let hits = store.search(q, 50).unwrap();
                hits.into_iter()
                    .map(|SearchHit { message, snippet }| (without_id(message), snippet))
                    .collect()
            })
            .collect();
        Visible {
            count: store.count_messages().unwrap(),
            conversations,
            history,
            search,
        }
    }

    #[test]
    fn a_batch_stores_exactly_what_single_inserts_store() {
        let singly = Store::open_in_memory().unwrap();
        let in_batches = Store::open_in_memory().unwrap();
        for page in pages() {
            let one_by_one: Vec<_> = page
                .iter()
                .map(|w| single(&singly, *w).map(without_id))
                .collect();
            let at_once: Vec<_> = batched(&in_batches, &page)
                .into_iter()
                .map(|m| m.map(without_id))
                .collect();
            assert_eq!(at_once, one_by_one);
            assert_eq!(visible(&in_batches), visible(&singly));
        }
        let end = visible(&in_batches);
        // The pages hold 11 distinct messages; the rest were copies.
        assert_eq!(end.count, 11);
        let unread: Vec<_> = end
            .conversations
            .iter()
            .map(|c| (c.0.as_str(), c.2))
            .collect();
        assert_eq!(unread, [(ALICE, 4), (CAROL, 3), (BOB, 1)]);
    }

    #[test]
    fn batch_returns_each_stored_message_as_read_back() {
        let store = Store::open_in_memory().unwrap();
        let stored = store
            .insert_incoming_batch(&[
                NewIncoming {
                    markable: false,
                    from: ALICE,
                    remote_id: None,
                    origin_id: Some("o1"),
                    stanza_id: Some("s1"),
                    body: "one",
                    timestamp: at(1),
                },
                NewIncoming {
                    markable: false,
                    from: ALICE,
                    remote_id: None,
                    origin_id: Some("o1"),
                    stanza_id: Some("s1"),
                    body: "one",
                    timestamp: at(1),
                },
            ])
            .unwrap();
        assert_eq!(stored.len(), 2);
        let first = stored[0].clone().expect("new message stored");
        assert_eq!(store.message(&first.id).unwrap(), Some(first));
        assert_eq!(stored[1], None);
        assert!(store.insert_incoming_batch(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_batch_that_fails_part_way_stores_nothing() {
        let store = Store::open_in_memory().unwrap();
        // Makes the second message of the page fail, after the first was
        // written.
        store
            .conn()
            .execute_batch(
                "CREATE TEMP TRIGGER refuse_boom BEFORE INSERT ON messages \
                 WHEN new.body = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .unwrap();
        let message = |stanza_id, body| NewIncoming {
            markable: false,
            from: BOB,
            remote_id: None,
            origin_id: None,
            stanza_id: Some(stanza_id),
            body,
            timestamp: at(2),
        };
        let page = [message("s1", "fine"), message("s2", "boom")];
        assert!(store.insert_incoming_batch(&page).is_err());
        assert_eq!(store.count_messages().unwrap(), 0);
        assert!(store.conversations().unwrap().is_empty());
        assert!(store.search("fine", 10).unwrap().is_empty());
        // The store still takes the next page.
        let stored = store.insert_incoming_batch(&page[..1]).unwrap();
        assert!(stored[0].is_some());
        assert_eq!(store.unread(BOB).unwrap(), 1);
    }
}
