//! The lists driven by store writes and the events the session would
//! announce for them: a UI that only applies the diffs must end up showing
//! exactly what the store holds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::runtime::Handle;

use super::{conversation_list, timeline, ListUpdates};
use crate::events::EventHub;
use crate::model::{DeliveryState, Event, ListDiff, Message};
use crate::store::{NewIncoming, NewOutgoing, Store};

const OWN: &str = "alice@example.test";

fn at(second: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + second, 0)
        .single()
        .expect("time")
}

struct World {
    store: Arc<Store>,
    hub: EventHub,
}

impl World {
    fn new() -> Self {
        World {
            store: Arc::new(Store::open_in_memory().expect("store")),
            hub: EventHub::new(),
        }
    }

    fn incoming(&self, from: &str, body: &str, second: i64) -> Message {
        let m = self
            .store
            .insert_incoming(NewIncoming {
                from,
                remote_id: None,
                origin_id: Some(&uuid::Uuid::new_v4().to_string()),
                stanza_id: None,
                body,
                timestamp: at(second),
                markable: true,
            })
            .expect("insert")
            .expect("new");
        self.hub.emit(Event::Message(m.clone()));
        m
    }

    fn outgoing(&self, to: &str, body: &str, second: i64) -> Message {
        let m = self
            .store
            .enqueue_outgoing(NewOutgoing {
                id: &uuid::Uuid::new_v4().to_string(),
                own_jid: OWN,
                to,
                body,
                timestamp: at(second),
            })
            .expect("enqueue");
        self.hub.emit(Event::Message(m.clone()));
        m
    }

    fn advance(&self, id: &str, to: DeliveryState) {
        for m in self.store.advance_states(&[(id, to)]).expect("advance") {
            self.hub.emit(Event::MessageState {
                id: m.id,
                conversation: m.conversation,
                state: m.state,
            });
        }
    }

    fn correct(&self, id: &str, body: &str) {
        let (m, _) = self.store.correct_outgoing(id, body).expect("correct");
        self.hub.emit(Event::MessageCorrected(m));
    }

    fn read(&self, with: &str) {
        self.store.mark_read(with).expect("mark read");
        self.hub.emit(Event::ConversationRead { with: with.into() });
    }
}

/// Applies diffs until the UI's list equals `expected()`, or fails after
/// a few seconds with what it shows.
async fn settle<T: PartialEq + std::fmt::Debug>(
    updates: &mut ListUpdates<T>,
    ui: &mut Vec<T>,
    expected: impl Fn() -> Vec<T>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while *ui != expected() {
        let batch = tokio::time::timeout_at(deadline, updates.next())
            .await
            .unwrap_or_else(|_| panic!("the list never matched the store: {ui:#?}"))
            .expect("the list ended");
        for diff in batch {
            assert!(diff.apply(ui), "a diff out of range");
        }
    }
}

#[tokio::test]
async fn the_conversation_list_follows_bursts_corrections_and_reads() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let w = World::new();
    w.incoming("bob@example.test", "early", 1);
    let mut list = conversation_list(&Handle::current(), w.store.clone(), &w.hub);
    let mut ui = Vec::new();
    let all = || w.store.conversations().expect("conversations");
    settle(&mut list, &mut ui, all).await;
    assert_eq!(ui.len(), 1);

    let peers = [
        "bob@example.test",
        "carol@example.test",
        "dave@example.test",
    ];
    for i in 0..60 {
        let peer = peers[i % 3];
        if i % 4 == 0 {
            w.outgoing(peer, &format!("out {i}"), 10 + i as i64);
        } else {
            w.incoming(peer, &format!("in {i}"), 10 + i as i64);
        }
    }
    // A late archived message: older than the conversation's last one, it
    // must not move the conversation up.
    w.incoming("carol@example.test", "from the archive", 2);
    let out = w.outgoing("carol@example.test", "out last", 100);
    w.advance(&out.id, DeliveryState::Sent);
    w.advance(&out.id, DeliveryState::Acked);
    w.correct(&out.id, "out, corrected");
    w.read("bob@example.test");
    settle(&mut list, &mut ui, all).await;
    assert!(ui.iter().any(|c| c.last_message.body == "out, corrected"));

    // A new list (an app restart) starts from the same content.
    let mut again = conversation_list(&Handle::current(), w.store.clone(), &w.hub);
    let first = again.next().await.expect("first batch");
    assert_eq!(first, vec![ListDiff::Reset { items: all() }]);
}

#[tokio::test]
async fn a_timeline_grows_with_new_messages_and_older_pages() {
    let w = World::new();
    let bob = "bob@example.test";
    for i in 0..12 {
        w.incoming(bob, &format!("old {i}"), 100 + i);
    }
    w.incoming("carol@example.test", "elsewhere", 50);
    let mut timeline = timeline(&Handle::current(), w.store.clone(), &w.hub, bob.into(), 5);
    let paginator = timeline.paginator();
    let mut ui = Vec::new();
    let newest = |n: usize| w.store.history(bob, None, n as u32).expect("history");
    settle(&mut timeline.updates, &mut ui, || newest(5)).await;

    // A burst, a message out of order that falls inside the window, one
    // older than the window (it waits for its page), a state change and a
    // correction of ours.
    let sent = w.outgoing(bob, "hi", 200);
    for i in 0..20 {
        w.incoming(bob, &format!("new {i}"), 201 + i);
    }
    w.incoming(bob, "inside the window", 109);
    w.incoming(bob, "before the window", 103);
    w.advance(&sent.id, DeliveryState::Sent);
    w.correct(&sent.id, "hello");
    w.incoming("carol@example.test", "not here", 300);
    let shown = 5 + 21 + 1;
    settle(&mut timeline.updates, &mut ui, || newest(shown)).await;
    assert!(ui.iter().all(|m| m.body != "before the window"));
    assert!(ui
        .iter()
        .any(|m| m.body == "hello" && m.state == DeliveryState::Sent));

    // Older pages, down to the first message.
    assert!(paginator.back(4).await.expect("page"));
    settle(&mut timeline.updates, &mut ui, || newest(shown + 4)).await;
    assert!(!paginator.back(100).await.expect("page"));
    let total = 12 + 1 + 21 + 1;
    settle(&mut timeline.updates, &mut ui, || newest(total)).await;
    assert_eq!(ui.len(), total);
    assert!(!paginator.back(10).await.expect("page"));
}

#[tokio::test]
async fn a_dropped_list_stops_and_its_paginator_says_so() {
    let w = World::new();
    let timeline = timeline(
        &Handle::current(),
        w.store.clone(),
        &w.hub,
        "bob@example.test".into(),
        5,
    );
    let paginator = timeline.paginator();
    drop(timeline);
    let answer = tokio::time::timeout(Duration::from_secs(5), paginator.back(5))
        .await
        .expect("answered");
    assert!(answer.is_err());
}
