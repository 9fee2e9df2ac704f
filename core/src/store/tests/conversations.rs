//! What the conversation screens read: history pages, the conversation
//! list, unread counts.

use rusqlite::params;

use crate::model::ConversationKind;

use super::*;

#[test]
fn history_pages_backwards_oldest_first_with_stable_ties() {
    let store = store();
    // Five messages, three of them in the same millisecond, inserted out of
    // timestamp order, plus noise in another conversation.
    store.enqueue_outgoing(outgoing("a", ALICE, 1)).unwrap();
    store.enqueue_outgoing(outgoing("d", ALICE, 5)).unwrap();
    store.enqueue_outgoing(outgoing("e", ALICE, 5)).unwrap();
    store.enqueue_outgoing(outgoing("x", BOB, 3)).unwrap();
    store.enqueue_outgoing(outgoing("f", ALICE, 5)).unwrap();
    store.enqueue_outgoing(outgoing("b", ALICE, 2)).unwrap();

    let newest = store.history(ALICE, None, 2).unwrap();
    assert_eq!(ids(&newest), ["e", "f"]);
    let older = store.history(ALICE, Some("e"), 2).unwrap();
    assert_eq!(ids(&older), ["b", "d"]);
    let oldest = store.history(ALICE, Some("b"), 2).unwrap();
    assert_eq!(ids(&oldest), ["a"]);
    assert!(store.history(ALICE, Some("a"), 2).unwrap().is_empty());

    assert_eq!(
        ids(&store.history(ALICE, None, 100).unwrap()),
        ["a", "b", "d", "e", "f"]
    );
    assert!(store.history(ALICE, None, 0).unwrap().is_empty());
    // An anchor from another conversation, or an unknown one: empty page.
    assert!(store.history(ALICE, Some("x"), 10).unwrap().is_empty());
    assert!(store.history(ALICE, Some("nope"), 10).unwrap().is_empty());
    assert!(store
        .history("nobody@example.org", None, 10)
        .unwrap()
        .is_empty());
}

#[test]
fn history_query_uses_the_conversation_index() {
    let store = store();
    let conn = store.conn();
    let plan: Vec<String> = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            select_message!(
                "WHERE m.conversation = ?1 AND (m.timestamp, m.seq) < (?2, ?3) \
                 ORDER BY m.timestamp DESC, m.seq DESC LIMIT ?4"
            )
        ))
        .unwrap()
        .query_map(params![ALICE, 1_i64, 1_i64, 10_i64], |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("USING INDEX messages_by_conversation (conversation=? AND"),
        "{plan}"
    );
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[test]
fn conversations_are_ordered_by_last_activity() {
    let store = store();
    store.enqueue_outgoing(outgoing("a1", ALICE, 10)).unwrap();
    store.insert_incoming(incoming(BOB, 20)).unwrap().unwrap();
    assert_eq!(
        store
            .conversations()
            .unwrap()
            .iter()
            .map(|c| c.with.as_str())
            .collect::<Vec<_>>(),
        [BOB, ALICE]
    );

    store.enqueue_outgoing(outgoing("a2", ALICE, 30)).unwrap();
    // Archive backfill of an old message does not move Bob to the top.
    store
        .insert_incoming(NewIncoming {
            file_url: None,
            body: "old",
            ..incoming(BOB, 5)
        })
        .unwrap()
        .unwrap();
    let conversations = store.conversations().unwrap();
    assert_eq!(conversations.len(), 2);
    assert_eq!(conversations[0].with, ALICE);
    assert_eq!(conversations[0].last_message.id, "a2");
    assert_eq!(conversations[1].with, BOB);
    assert_eq!(bodies(&[conversations[1].last_message.clone()]), ["hello"]);

    // Same timestamp: the later insert is the last message.
    store.enqueue_outgoing(outgoing("a3", ALICE, 30)).unwrap();
    assert_eq!(store.conversations().unwrap()[0].last_message.id, "a3");
}

#[test]
fn last_received_from_a_sender_ignores_our_own_messages_and_other_senders() {
    let store = store();
    assert_eq!(store.last_received_from(ALICE).unwrap(), None);
    store.insert_incoming(incoming(ALICE, 3)).unwrap().unwrap();
    store
        .insert_incoming(NewIncoming {
            file_url: None,
            remote_id: Some("later"),
            ..incoming(ALICE, 7)
        })
        .unwrap()
        .unwrap();
    store.enqueue_outgoing(outgoing("mine", ALICE, 9)).unwrap();
    assert_eq!(store.last_received_from(ALICE).unwrap(), Some(at(7)));
}

// Unread counts.

#[test]
fn unread_counts_only_new_incoming_messages() {
    let store = store();
    assert_eq!(store.unread(ALICE).unwrap(), 0);
    let first = NewIncoming {
        file_url: None,
        stanza_id: Some("s1"),
        ..incoming(ALICE, 1)
    };
    store.insert_incoming(first).unwrap().unwrap();
    store.insert_incoming(incoming(ALICE, 2)).unwrap().unwrap();
    // Neither a copy nor our own messages count.
    assert_eq!(store.insert_incoming(first).unwrap(), None);
    store.enqueue_outgoing(outgoing("m1", ALICE, 3)).unwrap();
    store.enqueue_outgoing(outgoing("m2", BOB, 4)).unwrap();
    let echo = NewIncoming {
        file_url: None,
        origin_id: Some("m1"),
        ..incoming(ME, 5)
    };
    assert_eq!(store.insert_incoming(echo).unwrap(), None);

    assert_eq!(store.unread(ALICE).unwrap(), 2);
    assert_eq!(store.unread(BOB).unwrap(), 0);
    assert_eq!(store.unread(ME).unwrap(), 0);
    let unread: Vec<(String, u32)> = store
        .conversations()
        .unwrap()
        .into_iter()
        .map(|c| (c.with, c.unread))
        .collect();
    assert_eq!(unread, [(BOB.to_owned(), 0), (ALICE.to_owned(), 2)]);
}

#[test]
fn mark_read_resets_the_count_and_returns_it() {
    let store = store();
    store.insert_incoming(incoming(ALICE, 1)).unwrap().unwrap();
    store.insert_incoming(incoming(ALICE, 2)).unwrap().unwrap();
    store.insert_incoming(incoming(BOB, 3)).unwrap().unwrap();

    assert_eq!(store.mark_read(ALICE).unwrap(), 2);
    assert_eq!(store.unread(ALICE).unwrap(), 0);
    assert_eq!(store.mark_read(ALICE).unwrap(), 0);
    // Other conversations keep theirs; unknown ones have none.
    assert_eq!(store.unread(BOB).unwrap(), 1);
    assert_eq!(store.mark_read("nobody@example.org").unwrap(), 0);

    store.insert_incoming(incoming(ALICE, 4)).unwrap().unwrap();
    let conversations = store.conversations().unwrap();
    assert_eq!(conversations[0].with, ALICE);
    assert_eq!(conversations[0].unread, 1);
    assert_eq!(conversations[1].unread, 1);
}

#[test]
fn unread_count_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store.insert_incoming(incoming(ALICE, 1)).unwrap().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.unread(ALICE).unwrap(), 1);
    assert_eq!(store.conversations().unwrap()[0].unread, 1);
}

#[test]
fn malformed_unread_count_is_reported_as_corrupt() {
    let store = store();
    store.insert_incoming(incoming(ALICE, 1)).unwrap().unwrap();
    store
        .conn()
        .execute("UPDATE conversations SET unread = -1", [])
        .unwrap();
    assert!(matches!(
        store.unread(ALICE),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.mark_read(ALICE),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.conversations(),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn each_conversation_says_whether_it_is_a_chat_a_room_or_an_occupant() {
    let store = store();
    let room = "tea@conference.example.org";
    store
        .upsert_room(&crate::store::RoomEntry {
            jid: room.into(),
            nick: "me".into(),
            password: None,
            autojoin: true,
        })
        .unwrap();
    let occupant = format!("{room}/carol");
    for (i, to) in [ALICE, room, occupant.as_str()].into_iter().enumerate() {
        let id = format!("m{i}");
        store.enqueue_outgoing(outgoing(&id, to, i as i64)).unwrap();
    }
    let mut kinds: Vec<_> = store
        .conversations()
        .unwrap()
        .into_iter()
        .map(|c| (c.with, c.kind))
        .collect();
    kinds.sort();
    let mut expected = vec![
        (ALICE.to_owned(), ConversationKind::Chat),
        (room.to_owned(), ConversationKind::Room),
        (occupant, ConversationKind::RoomPrivate),
    ];
    expected.sort();
    assert_eq!(kinds, expected);
}
