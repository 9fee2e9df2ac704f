//! Incoming messages and copies of our own from other devices: each stored
//! once, however many times it arrives.

use super::*;

#[test]
fn incoming_message_is_stored_as_received() {
    let store = store();
    let stored = store
        .insert_incoming(NewIncoming {
            file_url: None,
            remote_id: Some("r1"),
            origin_id: Some("o1"),
            stanza_id: Some("s1"),
            ..incoming(ALICE, 3)
        })
        .unwrap()
        .unwrap();
    assert_eq!(stored.direction, Direction::Incoming);
    assert_eq!(stored.state, DeliveryState::Received);
    assert_eq!(stored.conversation, ALICE);
    assert_eq!(stored.sender, ALICE);
    assert_eq!(stored.origin_id.as_deref(), Some("o1"));
    assert_eq!(stored.stanza_id.as_deref(), Some("s1"));
    assert_eq!(stored.timestamp, at(3));
    assert_eq!(store.message(&stored.id).unwrap(), Some(stored.clone()));
    // Incoming messages never change state.
    assert_eq!(
        store
            .advance_state(&stored.id, DeliveryState::Delivered)
            .unwrap(),
        None
    );
    assert!(store.outbox().unwrap().is_empty());
}

#[test]
fn duplicate_stanza_id_is_stored_once() {
    let store = store();
    let first = NewIncoming {
        file_url: None,
        stanza_id: Some("s1"),
        remote_id: Some("r1"),
        ..incoming(ALICE, 1)
    };
    assert!(store.insert_incoming(first).unwrap().is_some());
    // Same server stanza-id, even with other client ids (e.g. from MAM).
    let again = NewIncoming {
        file_url: None,
        stanza_id: Some("s1"),
        remote_id: Some("r2"),
        body: "copy",
        ..incoming(ALICE, 2)
    };
    assert_eq!(store.insert_incoming(again).unwrap(), None);
    assert_eq!(store.count_messages().unwrap(), 1);
    // The duplicate did not touch the conversation either.
    let conversations = store.conversations().unwrap();
    assert_eq!(conversations[0].last_message.body, "hello");
}

#[test]
fn duplicate_origin_id_from_same_sender_is_stored_once() {
    let store = store();
    let live = NewIncoming {
        file_url: None,
        origin_id: Some("o1"),
        remote_id: Some("r1"),
        ..incoming(ALICE, 1)
    };
    assert!(store.insert_incoming(live).unwrap().is_some());
    // The archive copy carries a stanza-id the live one lacked.
    let from_archive = NewIncoming {
        file_url: None,
        stanza_id: Some("s9"),
        ..live
    };
    assert_eq!(store.insert_incoming(from_archive).unwrap(), None);
    // Another client's origin-id may collide with it: not a duplicate.
    let other_sender = NewIncoming {
        file_url: None,
        origin_id: Some("o1"),
        ..incoming(BOB, 1)
    };
    assert!(store.insert_incoming(other_sender).unwrap().is_some());
    assert_eq!(store.count_messages().unwrap(), 2);
}

#[test]
fn duplicate_remote_id_without_origin_id_is_stored_once() {
    let store = store();
    let first = NewIncoming {
        file_url: None,
        remote_id: Some("r1"),
        ..incoming(ALICE, 1)
    };
    assert!(store.insert_incoming(first).unwrap().is_some());
    assert_eq!(store.insert_incoming(first).unwrap(), None);
    // Without any id there is nothing to dedup on.
    assert!(store.insert_incoming(incoming(ALICE, 2)).unwrap().is_some());
    assert!(store.insert_incoming(incoming(ALICE, 2)).unwrap().is_some());
    assert_eq!(store.count_messages().unwrap(), 3);
}

#[test]
fn own_message_echoed_back_with_its_origin_id_is_a_duplicate() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    let echo = NewIncoming {
        file_url: None,
        origin_id: Some("m1"),
        ..incoming(ME, 1)
    };
    assert_eq!(store.insert_incoming(echo).unwrap(), None);
    assert_eq!(store.count_messages().unwrap(), 1);
}

#[test]
fn archived_copy_of_a_live_message_is_a_duplicate_and_not_unread_twice() {
    let store = store();
    // Live: the server's stanza-id and the sender's origin-id.
    let live = NewIncoming {
        file_url: None,
        origin_id: Some("o1"),
        stanza_id: Some("A1"),
        ..incoming(ALICE, 3)
    };
    store.insert_incoming(live).unwrap().unwrap();
    // From the archive: the archive id is the same stanza-id.
    let by_archive_id = NewIncoming {
        file_url: None,
        stanza_id: Some("A1"),
        ..incoming(ALICE, 3)
    };
    assert_eq!(store.insert_incoming(by_archive_id).unwrap(), None);
    // A copy that came without the stanza-id (offline storage): origin-id.
    let by_origin_id = NewIncoming {
        file_url: None,
        origin_id: Some("o1"),
        stanza_id: Some("A-other"),
        ..incoming(ALICE, 3)
    };
    assert_eq!(store.insert_incoming(by_origin_id).unwrap(), None);
    assert_eq!(store.unread(ALICE).unwrap(), 1);
    assert_eq!(store.count_messages().unwrap(), 1);
}

fn copy<'a>(
    origin_id: Option<&'a str>,
    remote_id: Option<&'a str>,
    secs: i64,
) -> NewOutgoingCopy<'a> {
    NewOutgoingCopy {
        file_url: None,
        own_jid: ME,
        to: ALICE,
        origin_id,
        remote_id,
        body: "from my laptop",
        timestamp: at(secs),
    }
}

#[test]
fn outgoing_copy_is_stored_acked_outside_the_outbox_and_updates_the_conversation() {
    let store = store();
    store.insert_incoming(incoming(ALICE, 1)).unwrap().unwrap();
    let m = store
        .insert_outgoing_copy(copy(Some("o1"), Some("r1"), 2))
        .unwrap()
        .unwrap();
    assert_eq!(m.direction, Direction::Outgoing);
    assert_eq!(m.state, DeliveryState::Acked);
    assert_eq!((m.conversation.as_str(), m.sender.as_str()), (ALICE, ME));
    assert_eq!(m.origin_id.as_deref(), Some("o1"));
    assert_eq!(m.timestamp, at(2));
    assert!(store.outbox().unwrap().is_empty());
    let conversations = store.conversations().unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].last_message, m);
    // Our own words do not count as unread.
    assert_eq!(conversations[0].unread, 1);
    assert_eq!(
        bodies(&store.history(ALICE, None, 10).unwrap()),
        ["hello", "from my laptop"]
    );
    // Only its receipt can move it on.
    assert_eq!(
        store.mark_delivered(ALICE, &m.id).unwrap().map(|m| m.state),
        Some(DeliveryState::Delivered)
    );
}

#[test]
fn outgoing_copy_is_stored_once_by_origin_id_or_stanza_id() {
    let store = store();
    assert!(store
        .insert_outgoing_copy(copy(Some("o1"), Some("r1"), 1))
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .insert_outgoing_copy(copy(Some("o1"), Some("r1"), 1))
            .unwrap(),
        None
    );
    // Without an origin-id the stanza @id is the key.
    assert!(store
        .insert_outgoing_copy(copy(None, Some("r2"), 2))
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .insert_outgoing_copy(copy(None, Some("r2"), 2))
            .unwrap(),
        None
    );
    assert_eq!(store.count_messages().unwrap(), 2);
}

#[test]
fn copy_of_a_message_we_sent_from_here_is_a_duplicate() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    assert_eq!(
        store
            .insert_outgoing_copy(copy(Some("m1"), Some("m1"), 1))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .insert_outgoing_copy(copy(None, Some("m1"), 1))
            .unwrap(),
        None
    );
    assert_eq!(store.count_messages().unwrap(), 1);
    // The original stays in the outbox, untouched.
    assert_eq!(ids(&store.outbox().unwrap()), ["m1"]);
}

#[test]
fn peer_reusing_our_origin_id_does_not_hide_our_copy() {
    // Dedup is per sender: a peer cannot make us drop our own message.
    let store = store();
    let theirs = NewIncoming {
        file_url: None,
        origin_id: Some("o1"),
        ..incoming(ALICE, 1)
    };
    store.insert_incoming(theirs).unwrap().unwrap();
    assert!(store
        .insert_outgoing_copy(copy(Some("o1"), None, 2))
        .unwrap()
        .is_some());
}
