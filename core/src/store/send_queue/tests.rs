//! The send queue table: its order, its uniqueness rules, items that wait
//! on another, and migration 015 moving the three old places into it.

use super::*;
use crate::model::DeliveryState;

const ME: &str = "me@example.org";
const BOB: &str = "bob@example.org";
const ROOM: &str = "tea@conference.example.org";

fn store() -> Store {
    Store::open_in_memory().expect("store")
}

fn outgoing<'a>(id: &'a str, to: &'a str) -> NewOutgoing<'a> {
    NewOutgoing {
        id,
        own_jid: ME,
        to,
        body: "hi",
        timestamp: chrono::Utc::now(),
    }
}

/// (id, what it waits for) of everything queued, in order.
fn queue(s: &Store) -> Vec<(String, Option<String>)> {
    s.send_queue()
        .expect("read")
        .into_iter()
        .map(|q| (q.id, q.waits_for))
        .collect()
}

fn ack(s: &Store, ids: &[&str]) {
    s.record_progress(&[], ids).expect("ack");
}

#[test]
fn a_receipt_waits_once_until_acked() {
    let s = store();
    let r = s
        .queue_receipt("bob@example.org/desk", BOB, "m1")
        .expect("queue")
        .expect("new");
    assert!(
        matches!(&r.item, Item::Receipt { to, about } if to == "bob@example.org/desk" && about == "m1")
    );
    // The same message again (the sender retried): still one receipt.
    assert!(s
        .queue_receipt("bob@example.org/desk", BOB, "m1")
        .expect("queue")
        .is_none());
    assert_eq!(s.send_queue().expect("read"), vec![r.clone()]);
    ack(&s, &[&r.id]);
    assert!(s.send_queue().expect("read").is_empty());
    // Acked, then the sender retried: it gets a new receipt.
    assert!(s
        .queue_receipt("bob@example.org/desk", BOB, "m1")
        .expect("queue")
        .is_some());
}

#[test]
fn a_newer_marker_replaces_the_waiting_one_of_its_conversation() {
    let s = store();
    let first = s.queue_marker(BOB, "m1").expect("queue");
    let carol = s.queue_marker("carol@example.org", "c1").expect("queue");
    let second = s.queue_marker(BOB, "m2").expect("queue");
    assert_eq!(s.send_queue().expect("read"), vec![carol, second.clone()]);
    assert!(s.queued(&first.id).expect("read").is_none());
    // A late ack of the replaced one changes nothing.
    ack(&s, &[&first.id]);
    assert_eq!(s.queued(&second.id).expect("read"), Some(second));
}

#[test]
fn waiting_items_survive_a_restart_in_their_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("s.sqlite3");
    let before = {
        let s = Store::open(&path).expect("open");
        s.enqueue_outgoing(outgoing("m1", BOB)).expect("enqueue");
        s.queue_marker(BOB, "r1").expect("queue");
        s.correct_outgoing("m1", "hi!").expect("correct");
        s.send_queue().expect("read")
    };
    let s = Store::open(&path).expect("reopen");
    assert_eq!(s.send_queue().expect("read"), before);
    assert_eq!(before.len(), 3);
}

#[test]
fn a_correction_waits_on_its_queued_message_and_a_newer_one_replaces_it() {
    let s = store();
    s.enqueue_outgoing(outgoing("m1", BOB)).expect("enqueue");
    let (_, first) = s.correct_outgoing("m1", "one").expect("correct");
    let (m, second) = s.correct_outgoing("m1", "two").expect("correct");
    assert_eq!(m.body, "two");
    // One pending correction per message: the newest.
    assert_eq!(
        queue(&s),
        [("m1".into(), None), (second.clone(), Some("m1".into()))]
    );
    assert!(s.queued(&first).expect("read").is_none());
    let Some(Queued {
        item: Item::Correction(corrected),
        ..
    }) = s.queued(&second).expect("read")
    else {
        panic!("not a correction");
    };
    assert_eq!(corrected.body, "two");
    // The message is acked: the correction may go.
    s.record_progress(&[("m1", DeliveryState::Acked)], &[])
        .expect("ack");
    assert_eq!(queue(&s), [(second.clone(), None)]);
    // A correction of a message the server has needs no wait.
    let (_, third) = s.correct_outgoing("m1", "three").expect("correct");
    assert_eq!(queue(&s), [(third, None)]);
}

#[test]
fn a_room_message_holds_its_correction_until_the_room_sent_it_back() {
    let s = store();
    s.conn()
        .execute("INSERT INTO rooms (jid, nick) VALUES (?1, 'me')", [ROOM])
        .expect("room");
    s.enqueue_outgoing(outgoing("m1", ROOM)).expect("enqueue");
    s.record_progress(&[("m1", DeliveryState::Acked)], &[])
        .expect("ack");
    let (_, c) = s.correct_outgoing("m1", "fixed").expect("correct");
    // Acked by our server, but the room may still refuse it.
    assert_eq!(
        queue(&s),
        [("m1".into(), None), (c.clone(), Some("m1".into()))]
    );
    s.mark_delivered(ROOM, "m1")
        .expect("echo")
        .expect("changed");
    assert_eq!(queue(&s), [(c, None)]);
}

#[test]
fn what_waits_on_a_failed_item_fails_with_it_naming_it() {
    let s = store();
    s.enqueue_outgoing(outgoing("upload", BOB))
        .expect("enqueue");
    s.enqueue_outgoing_after(outgoing("m2", BOB), Some("upload"))
        .expect("enqueue");
    let (_, c) = s.correct_outgoing("m2", "fixed").expect("correct");
    s.queue_marker(BOB, "r1").expect("marker");
    assert_eq!(queue(&s)[1], ("m2".into(), Some("upload".into())));
    assert_eq!(queue(&s)[2], (c.clone(), Some("m2".into())));

    let failed = s.fail_all("upload", "service-unavailable").expect("fail");
    let ids: Vec<_> = failed.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["upload", "m2"]);
    let m2 = s.message("m2").expect("read").expect("row");
    assert_eq!(m2.state, DeliveryState::Failed);
    let reason = m2.failure_reason.expect("a reason");
    assert!(
        reason.contains("upload") && reason.contains("service-unavailable"),
        "{reason}"
    );
    // The correction left with its message; the marker waits on nothing.
    assert_eq!(queue(&s).len(), 1);
    assert!(s.queued(&c).expect("read").is_none());
}

#[test]
fn an_acked_dependency_lets_its_dependents_go_and_a_dropped_one_fails_them() {
    let s = store();
    let marker = s.queue_marker(BOB, "r1").expect("marker");
    s.enqueue_outgoing_after(outgoing("m1", BOB), Some(&marker.id))
        .expect("enqueue");
    ack(&s, &[&marker.id]);
    assert_eq!(queue(&s), [("m1".into(), None)]);

    let marker = s.queue_marker(BOB, "r2").expect("marker");
    s.enqueue_outgoing_after(outgoing("m2", BOB), Some(&marker.id))
        .expect("enqueue");
    let failed = s.drop_queued(&marker.id, "no JID").expect("drop");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, "m2");
    assert_eq!(failed[0].state, DeliveryState::Failed);
    assert_eq!(queue(&s), [("m1".into(), None)]);
}

/// A store written by a build at schema 14, with items in the three old
/// places, keeps them all, in the order the sender pushed them.
#[test]
fn migration_015_moves_the_old_queues_into_one_in_their_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("old.sqlite3");
    {
        let old = Store::open_at_version(&path, 14).expect("open at 14");
        old.conn()
            .execute_batch(
                "INSERT INTO messages (id, seq, conversation, direction, sender, body, timestamp, \
                   origin_id, state, correction_id) VALUES \
                 ('m1', 1, 'bob@example.org', 'out', 'me@example.org', 'one', 1, 'm1', 'queued', NULL), \
                 ('m2', 2, 'bob@example.org', 'out', 'me@example.org', 'two', 2, 'm2', 'acked', 'c2'), \
                 ('m3', 3, 'carol@example.org', 'out', 'me@example.org', 'three', 3, 'm3', 'queued', 'c3'), \
                 ('m4', 4, 'bob@example.org', 'out', 'me@example.org', 'four', 4, 'm4', 'sent', NULL); \
                 INSERT INTO outbox (message_id, attempts, last_error) VALUES \
                 ('m3', 0, NULL), ('m1', 0, NULL), ('m4', 2, 'lost'); \
                 INSERT INTO pending_stanzas (id, kind, recipient, conversation, about) VALUES \
                 ('k1', 'marker', 'bob@example.org', 'bob@example.org', 'r9'), \
                 ('k2', 'receipt', 'dave@example.org/desk', 'dave@example.org', 'r7');",
            )
            .expect("old rows");
    }
    let s = Store::open(&path).expect("migrate");
    let order: Vec<_> = queue(&s);
    let expect = |id: &str, waits: Option<&str>| (id.to_owned(), waits.map(str::to_owned));
    assert_eq!(
        order,
        [
            expect("k1", None),
            expect("k2", None),
            expect("m3", None),
            expect("m1", None),
            expect("m4", None),
            expect("c2", None),
            expect("c3", Some("m3")),
        ]
    );
    let items = s.send_queue().expect("read");
    assert!(matches!(&items[1].item, Item::Receipt { to, about }
        if to == "dave@example.org/desk" && about == "r7"));
    assert!(matches!(&items[6].item, Item::Correction(m) if m.id == "m3" && m.body == "three"));
    let (attempts, error): (i64, Option<String>) = s
        .conn()
        .query_row(
            "SELECT attempts, last_error FROM send_queue WHERE id = 'm4'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .expect("m4");
    assert_eq!((attempts, error.as_deref()), (2, Some("lost")));
    // The old places are gone.
    let old: i64 = s
        .conn()
        .query_row(
            "SELECT (SELECT count(*) FROM sqlite_master \
                     WHERE name IN ('outbox', 'pending_stanzas')) \
                  + (SELECT count(*) FROM pragma_table_info('messages') \
                     WHERE name = 'correction_id')",
            [],
            |row| row.get(0),
        )
        .expect("schema");
    assert_eq!(old, 0);
    // And the rules hold on the moved rows: one correction per message.
    s.correct_outgoing("m4", "FOUR").expect("correct");
    assert_eq!(s.send_queue().expect("read").len(), 8);
}

#[test]
fn a_failed_message_retried_is_queued_again_with_its_id_and_nothing_else_is() {
    let s = store();
    s.enqueue_outgoing(outgoing("m1", BOB)).expect("enqueue");
    s.enqueue_outgoing(outgoing("m2", BOB)).expect("enqueue");
    // Only a failed message of ours goes again.
    assert!(s.retry_failed("m1").expect("retry").is_none());
    assert!(s.retry_failed("nope").expect("retry").is_none());
    s.fail_all("m1", "RemoteServerNotFound").expect("fail");
    assert_eq!(queue(&s), [("m2".into(), None)]);

    let again = s.retry_failed("m1").expect("retry").expect("retried");
    assert_eq!(again.state, DeliveryState::Queued);
    assert_eq!(again.failure_reason, None);
    // At the end of the queue, under its own id.
    assert_eq!(queue(&s), [("m2".into(), None), ("m1".into(), None)]);
    assert!(s.retry_failed("m1").expect("retry").is_none());
}
