//! The lists driven by store writes and the events the session would
//! announce for them: a UI that only applies the diffs must end up showing
//! exactly what the store holds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::runtime::Handle;

use super::occupants::{changes, Occupants};
use super::{conversation_list, occupant_list, timeline, Follow, ListUpdates};
use crate::events::EventHub;
use crate::model::{DeliveryState, Event, ListDiff, Message, Occupant};
use crate::store::{NewIncoming, NewOutgoing, RoomEntry, Store};

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
                file_url: None,
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

const ROOM: &str = "tea@conference.example.test";
const OTHER_ROOM: &str = "coffee@conference.example.test";

fn occupant(nick: &str, role: &str) -> Occupant {
    Occupant {
        nick: nick.into(),
        role: role.into(),
        affiliation: "none".into(),
        jid: Some(format!("{nick}@example.test")),
    }
}

impl World {
    fn room(&self, room: &str) {
        self.store
            .upsert_room(&RoomEntry {
                jid: room.into(),
                nick: "alice".into(),
                password: None,
                autojoin: true,
            })
            .expect("room");
    }

    /// What the session does with an occupant's presence.
    fn occupant(&self, room: &str, nick: &str, o: Option<&Occupant>) {
        self.store.set_occupant(room, nick, o).expect("occupant");
        self.hub.emit(Event::OccupantsChanged { room: room.into() });
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

#[tokio::test]
async fn an_occupant_list_follows_joins_nick_changes_and_leaves_of_its_room_only() {
    let w = World::new();
    w.room(ROOM);
    w.room(OTHER_ROOM);
    w.occupant(ROOM, "alice", Some(&occupant("alice", "moderator")));
    let mut list = occupant_list(&Handle::current(), w.store.clone(), &w.hub, ROOM.into());
    let first = list.next().await.expect("first batch");
    assert_eq!(
        first,
        vec![ListDiff::Reset {
            items: vec![occupant("alice", "moderator")]
        }]
    );
    let mut ui = vec![occupant("alice", "moderator")];
    let all = || w.store.occupants(ROOM).expect("occupants");

    // Joins, out of order: each lands at its place by nick.
    for nick in ["dave", "bob", "carol"] {
        w.occupant(ROOM, nick, Some(&occupant(nick, "participant")));
    }
    settle(&mut list, &mut ui, all).await;
    let nicks = |ui: &[Occupant]| ui.iter().map(|o| o.nick.clone()).collect::<Vec<_>>();
    assert_eq!(nicks(&ui), ["alice", "bob", "carol", "dave"]);

    // Another room's changes, then a nick change here (the room says bob
    // left, then that zoe arrived) and a role change in place.
    w.occupant(OTHER_ROOM, "eve", Some(&occupant("eve", "participant")));
    w.occupant(ROOM, "bob", None);
    w.occupant(ROOM, "zoe", Some(&occupant("zoe", "participant")));
    w.occupant(ROOM, "carol", Some(&occupant("carol", "moderator")));
    settle(&mut list, &mut ui, all).await;
    assert_eq!(nicks(&ui), ["alice", "carol", "dave", "zoe"]);
    assert_eq!(ui[1].role, "moderator");

    // A leave.
    w.occupant(ROOM, "dave", None);
    settle(&mut list, &mut ui, all).await;
    assert_eq!(nicks(&ui), ["alice", "carol", "zoe"]);

    // We leave: the store forgets who was there, the list empties.
    w.store.stop_autojoin(ROOM).expect("leave");
    w.hub.emit(Event::RoomLeft { room: ROOM.into() });
    settle(&mut list, &mut ui, Vec::new).await;
    assert_eq!(w.store.occupants(OTHER_ROOM).expect("other").len(), 1);
}

#[test]
fn an_occupant_list_reads_only_for_events_about_its_room_and_emits_exact_diffs() {
    let w = World::new();
    w.room(ROOM);
    w.room(OTHER_ROOM);
    let mut list = Occupants::new(ROOM.into());
    assert!(list.reset(&w.store).expect("reset").is_empty());

    w.occupant(OTHER_ROOM, "eve", Some(&occupant("eve", "participant")));
    w.occupant(ROOM, "bob", Some(&occupant("bob", "participant")));
    // Stored, but the only event names another room: nothing to show yet.
    let elsewhere = Event::OccupantsChanged {
        room: OTHER_ROOM.into(),
    };
    assert!(list
        .apply(&[elsewhere], &w.store)
        .expect("apply")
        .is_empty());

    let here = Event::OccupantsChanged { room: ROOM.into() };
    w.occupant(ROOM, "alice", Some(&occupant("alice", "participant")));
    let diffs = list.apply(&[here.clone(), here.clone()], &w.store);
    assert_eq!(
        diffs.expect("apply"),
        vec![
            ListDiff::Insert {
                index: 0,
                item: occupant("alice", "participant")
            },
            ListDiff::Insert {
                index: 1,
                item: occupant("bob", "participant")
            },
        ]
    );
    // Applying the same event again changes nothing.
    assert!(list
        .apply(std::slice::from_ref(&here), &w.store)
        .expect("again")
        .is_empty());

    // A nick change (alice is now zed) and a role change.
    w.occupant(ROOM, "alice", None);
    w.occupant(ROOM, "zed", Some(&occupant("zed", "participant")));
    w.occupant(ROOM, "bob", Some(&occupant("bob", "moderator")));
    assert_eq!(
        list.apply(&[here], &w.store).expect("apply"),
        vec![
            ListDiff::Remove { index: 0 },
            ListDiff::Set {
                index: 0,
                item: occupant("bob", "moderator")
            },
            ListDiff::Insert {
                index: 1,
                item: occupant("zed", "participant")
            },
        ]
    );
}

#[test]
fn occupant_diffs_turn_any_list_into_any_other() {
    // Every pair of subsets of a few nicks, each occupant in one of two
    // roles: applying the diffs to the old list gives the new one.
    let nicks = ["ann", "bea", "cid", "dot"];
    let lists: Vec<Vec<Occupant>> = (0..81u32)
        .map(|n| {
            let mut rest = n;
            let mut list = Vec::new();
            for nick in nicks {
                match rest % 3 {
                    1 => list.push(occupant(nick, "participant")),
                    2 => list.push(occupant(nick, "moderator")),
                    _ => {}
                }
                rest /= 3;
            }
            list
        })
        .collect();
    for old in &lists {
        for new in &lists {
            let mut ui = old.clone();
            let diffs = changes(old, new);
            if old == new {
                assert!(diffs.is_empty());
            }
            for diff in diffs {
                assert!(diff.apply(&mut ui), "{old:?} -> {new:?}");
            }
            assert_eq!(&ui, new);
        }
    }
}
