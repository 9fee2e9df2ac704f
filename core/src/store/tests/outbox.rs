//! Our outgoing messages: the outbox, and the delivery states.

use chrono::{TimeZone, Utc};

use super::*;

#[test]
fn enqueued_messages_are_stored_queued_and_listed_in_outbox_order() {
    let store = store();
    let first = store.enqueue_outgoing(outgoing("m1", ALICE, 10)).unwrap();
    store.enqueue_outgoing(outgoing("m2", BOB, 5)).unwrap();
    store.enqueue_outgoing(outgoing("m3", ALICE, 7)).unwrap();

    assert_eq!(first.state, DeliveryState::Queued);
    assert_eq!(first.direction, Direction::Outgoing);
    assert_eq!(first.origin_id.as_deref(), Some("m1"));
    assert_eq!(first.sender, ME);
    assert_eq!(first.conversation, ALICE);
    assert_eq!(first.timestamp, at(10));
    assert_eq!(store.message("m1").unwrap(), Some(first));
    // Outbox order is enqueue order, not timestamp order.
    assert_eq!(ids(&store.outbox().unwrap()), ["m1", "m2", "m3"]);
}

#[test]
fn enqueueing_the_same_id_twice_is_an_error_and_changes_nothing() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    assert!(store.enqueue_outgoing(outgoing("m1", BOB, 2)).is_err());
    assert_eq!(store.count_messages().unwrap(), 1);
    assert_eq!(ids(&store.outbox().unwrap()), ["m1"]);
    assert_eq!(store.conversations().unwrap().len(), 1);
}

#[test]
fn timestamps_keep_millisecond_precision() {
    let store = store();
    let ts = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
    let stored = store
        .enqueue_outgoing(NewOutgoing {
            timestamp: ts + chrono::Duration::microseconds(456),
            ..outgoing("m1", ALICE, 0)
        })
        .unwrap();
    assert_eq!(stored.timestamp, ts);
}

#[test]
fn state_only_moves_forward() {
    use DeliveryState::*;
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();

    let sent = store.advance_state("m1", Sent).unwrap().unwrap();
    assert_eq!(sent.state, Sent);
    assert_eq!(store.advance_state("m1", Sent).unwrap(), None);
    assert_eq!(store.advance_state("m1", Queued).unwrap(), None);
    assert_eq!(store.advance_state("m1", Received).unwrap(), None);
    assert_eq!(
        store.advance_state("m1", Delivered).unwrap().unwrap().state,
        Delivered
    );
    assert_eq!(store.advance_state("m1", Acked).unwrap(), None);
    assert_eq!(store.advance_state("m1", Failed).unwrap(), None);
    assert_eq!(store.fail("m1", "too late").unwrap(), None);
    assert_eq!(store.message("m1").unwrap().unwrap().state, Delivered);

    assert_eq!(store.advance_state("unknown", Sent).unwrap(), None);
}

#[test]
fn state_rules() {
    use DeliveryState::*;
    let all = [Queued, Sent, Acked, Delivered, Failed, Received];
    let allowed: Vec<_> = all
        .iter()
        .flat_map(|&from| all.iter().map(move |&to| (from, to)))
        .filter(|&(from, to)| from.can_advance_to(to))
        .collect();
    assert_eq!(
        allowed,
        [
            (Queued, Sent),
            (Queued, Acked),
            (Queued, Delivered),
            (Queued, Failed),
            (Sent, Acked),
            (Sent, Delivered),
            (Sent, Failed),
            (Acked, Delivered),
            (Acked, Failed),
        ]
    );
    for state in all {
        assert_eq!(state.as_str().parse::<DeliveryState>(), Ok(state));
    }
    assert!("bogus".parse::<DeliveryState>().is_err());
    for direction in [Direction::Incoming, Direction::Outgoing] {
        assert_eq!(direction.as_str().parse::<Direction>(), Ok(direction));
    }
}

#[test]
fn sent_message_stays_in_outbox_until_acked() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    store.enqueue_outgoing(outgoing("m2", ALICE, 2)).unwrap();

    store
        .advance_state("m1", DeliveryState::Sent)
        .unwrap()
        .unwrap();
    assert_eq!(ids(&store.outbox().unwrap()), ["m1", "m2"]);

    store
        .advance_state("m1", DeliveryState::Acked)
        .unwrap()
        .unwrap();
    assert_eq!(ids(&store.outbox().unwrap()), ["m2"]);
    assert_eq!(store.note_attempt("m1").unwrap(), None);
}

#[test]
fn receipt_before_ack_takes_message_out_of_outbox() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    store.advance_state("m1", DeliveryState::Sent).unwrap();
    let delivered = store.mark_delivered(ALICE, "m1").unwrap().unwrap();
    assert_eq!(delivered.state, DeliveryState::Delivered);
    assert!(store.outbox().unwrap().is_empty());
}

#[test]
fn failed_message_leaves_outbox_and_keeps_its_reason() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    store.enqueue_outgoing(outgoing("m2", ALICE, 2)).unwrap();
    store.advance_state("m1", DeliveryState::Sent).unwrap();

    let failed = store.fail("m1", "service-unavailable").unwrap().unwrap();
    assert_eq!(failed.state, DeliveryState::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("service-unavailable")
    );
    assert_eq!(store.message("m1").unwrap(), Some(failed));
    assert_eq!(ids(&store.outbox().unwrap()), ["m2"]);
    // Failed is final.
    assert_eq!(
        store.advance_state("m1", DeliveryState::Acked).unwrap(),
        None
    );
    assert_eq!(store.mark_delivered(ALICE, "m1").unwrap(), None);
}

#[test]
fn attempts_and_errors_are_counted_on_the_outbox_entry() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    assert_eq!(store.note_attempt("m1").unwrap(), Some(1));
    assert_eq!(store.note_attempt("m1").unwrap(), Some(2));
    assert!(store.note_error("m1", "connection lost").unwrap());
    assert!(!store.note_error("unknown", "x").unwrap());
    assert_eq!(store.note_attempt("unknown").unwrap(), None);

    let (attempts, error): (i64, Option<String>) = store
        .conn()
        .query_row(
            "SELECT attempts, last_error FROM send_queue WHERE id = 'm1'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((attempts, error.as_deref()), (2, Some("connection lost")));
    // Still queued: a recoverable error does not change the state.
    assert_eq!(
        store.message("m1").unwrap().unwrap().state,
        DeliveryState::Queued
    );
}

#[test]
fn receipt_from_another_jid_changes_nothing() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    store.advance_state("m1", DeliveryState::Acked).unwrap();

    assert_eq!(store.mark_delivered(BOB, "m1").unwrap(), None);
    assert_eq!(store.mark_delivered(ALICE, "unknown").unwrap(), None);
    assert_eq!(
        store.message("m1").unwrap().unwrap().state,
        DeliveryState::Acked
    );

    // Nor does a "receipt" for a message the peer sent us.
    let theirs = store.insert_incoming(incoming(ALICE, 2)).unwrap().unwrap();
    assert_eq!(store.mark_delivered(ALICE, &theirs.id).unwrap(), None);

    assert_eq!(
        store.mark_delivered(ALICE, "m1").unwrap().unwrap().state,
        DeliveryState::Delivered
    );
}
