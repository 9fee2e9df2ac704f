//! The batch insert path stores exactly what single inserts store.
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
        file_url: None,
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
        file_url: None,
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
                 ..
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
                file_url: None,
                markable: false,
                from: ALICE,
                remote_id: None,
                origin_id: Some("o1"),
                stanza_id: Some("s1"),
                body: "one",
                timestamp: at(1),
            },
            NewIncoming {
                file_url: None,
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
        file_url: None,
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
