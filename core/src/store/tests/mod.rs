//! The store's unit tests, one file per part of it, and the fixtures they
//! share. `reader_tests.rs` beside this directory covers the reader
//! connection.

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::model::{Contact, ResourcePresence, Show, Subscription};

mod contacts;
mod conversations;
mod incoming;
mod open;
mod outbox;
mod search;
mod uploads;

const ME: &str = "me@example.org";
const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn outgoing<'a>(id: &'a str, to: &'a str, secs: i64) -> NewOutgoing<'a> {
    NewOutgoing {
        id,
        own_jid: ME,
        to,
        body: "hi",
        timestamp: at(secs),
    }
}

fn incoming(from: &str, secs: i64) -> NewIncoming<'_> {
    NewIncoming {
        file_url: None,
        markable: false,
        from,
        remote_id: None,
        origin_id: None,
        stanza_id: None,
        body: "hello",
        timestamp: at(secs),
    }
}

fn ids(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

fn bodies(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

fn store() -> Store {
    Store::open_in_memory().unwrap()
}

fn contact(jid: &str, subscription: Subscription) -> Contact {
    Contact {
        jid: jid.into(),
        name: None,
        groups: Vec::new(),
        subscription,
        ask: false,
        pending_in: false,
    }
}

fn resource(name: &str, show: Show, priority: i8) -> ResourcePresence {
    ResourcePresence {
        resource: name.into(),
        show,
        status: Some(format!("{name} status")),
        priority,
    }
}

fn hit_ids(store: &Store, query: &str) -> Vec<String> {
    store
        .search(query, 100)
        .unwrap()
        .into_iter()
        .map(|hit| hit.message.id)
        .collect()
}

/// FTS5's own check that the index matches the messages table exactly.
fn assert_fts_in_sync(store: &Store) {
    store
        .conn()
        .execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .unwrap();
}
