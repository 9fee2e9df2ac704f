//! The rooms table and room messages, on an in-memory store.

use super::*;

const ROOM: &str = "tea@conference.example.org";

fn msg<'a>(sender: &'a str, stanza_id: &'a str, origin: &'a str) -> NewRoomMessage<'a> {
    NewRoomMessage {
        file_url: None,
        room: ROOM,
        sender,
        remote_id: None,
        origin_id: Some(origin),
        stanza_id: Some(stanza_id),
        body: "hello",
        timestamp: chrono::Utc::now(),
        mentions_me: false,
    }
}

#[test]
fn a_room_message_is_stored_once_under_the_room_with_its_occupant_as_sender() {
    let store = Store::open_in_memory().expect("store");
    let alice = format!("{ROOM}/alice");
    let stored = store
        .insert_room_message(msg(&alice, "s1", "o1"))
        .expect("insert")
        .expect("new");
    assert_eq!(stored.conversation, ROOM);
    assert_eq!(stored.sender, alice);
    assert!(store
        .insert_room_message(msg(&alice, "s1", "o2"))
        .expect("insert")
        .is_none());
    assert!(store
        .insert_room_message(msg(&alice, "s2", "o1"))
        .expect("insert")
        .is_none());
    // The same origin-id from another occupant is their own message.
    let bob = format!("{ROOM}/bob");
    assert!(store
        .insert_room_message(msg(&bob, "s3", "o1"))
        .expect("insert")
        .is_some());
    assert_eq!(store.history(ROOM, None, 10).expect("history").len(), 2);
}

#[test]
fn a_room_message_is_found_by_the_rooms_id_or_by_sender_and_origin_id() {
    let store = Store::open_in_memory().expect("store");
    let alice = format!("{ROOM}/alice");
    let stored = store
        .insert_room_message(msg(&alice, "s1", "o1"))
        .expect("insert")
        .expect("new");
    let at = Some(stored.timestamp);
    let time = |s: Option<&str>, sender: &str, key: Option<&str>| {
        store.room_message_time(ROOM, s, sender, key).expect("time")
    };
    assert_eq!(time(Some("s1"), "", None), at);
    assert_eq!(time(Some("s9"), &alice, Some("o1")), at);
    assert_eq!(time(None, &format!("{ROOM}/bob"), Some("o1")), None);
    assert_eq!(
        store
            .room_message_time("other@conference.example.org", Some("s1"), "", None)
            .expect("time"),
        None
    );
    // Our own message gets the room's id once it comes back.
    let own = crate::store::NewOutgoing {
        id: "o2",
        to: ROOM,
        own_jid: "me@example.org",
        body: "mine",
        timestamp: chrono::Utc::now(),
    };
    store.enqueue_outgoing(own).expect("queue");
    store.set_stanza_id("o2", "s2").expect("set");
    assert!(time(Some("s2"), "", None).is_some());
    // It keeps the first.
    store.set_stanza_id("o2", "s3").expect("set");
    assert_eq!(time(Some("s3"), "", None), None);
}

#[test]
fn a_rooms_floor_is_the_newest_time_stored_up_to_the_anchor() {
    let store = Store::open_in_memory().expect("store");
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).expect("time");
    let alice = format!("{ROOM}/alice");
    for (sid, origin, ms) in [
        ("s1", "o1", 3_000),
        ("s2", "o2", 1_000),
        ("s3", "o3", 9_000),
    ] {
        let mut m = msg(&alice, sid, origin);
        m.timestamp = at(ms);
        store.insert_room_message(m).expect("insert");
    }
    // Up to s2: s1's later receipt time counts, s3 (stored after) not.
    assert_eq!(
        store.room_floor(ROOM, "s2").expect("floor"),
        Some(at(3_000))
    );
    assert_eq!(
        store.room_floor(ROOM, "s3").expect("floor"),
        Some(at(9_000))
    );
    assert_eq!(store.room_floor(ROOM, "s9").expect("floor"), None);
}

#[test]
fn a_rooms_position_keeps_the_newest_floor_it_was_given() {
    let store = Store::open_in_memory().expect("store");
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).expect("time");
    store
        .upsert_room(&RoomEntry {
            jid: ROOM.into(),
            nick: "me".into(),
            password: None,
            autojoin: true,
        })
        .expect("room");
    assert_eq!(store.room_position_floor(ROOM).expect("floor"), None);
    store
        .set_room_position(ROOM, "s1", Some(at(5_000)))
        .expect("set");
    store
        .set_room_position(ROOM, "s2", Some(at(4_000)))
        .expect("set");
    store.set_room_position(ROOM, "s3", None).expect("set");
    assert_eq!(
        store.room_position(ROOM).expect("position").as_deref(),
        Some("s3")
    );
    assert_eq!(
        store.room_position_floor(ROOM).expect("floor"),
        Some(at(5_000))
    );
    store
        .set_room_position(ROOM, "s4", Some(at(6_000)))
        .expect("set");
    assert_eq!(
        store.room_position_floor(ROOM).expect("floor"),
        Some(at(6_000))
    );
}

#[test]
fn rooms_are_remembered_with_their_password_and_occupants_kept_per_room() {
    let store = Store::open_in_memory().expect("store");
    let entry = RoomEntry {
        jid: ROOM.into(),
        nick: "me".into(),
        password: Some("secret".into()),
        autojoin: true,
    };
    store.upsert_room(&entry).expect("upsert");
    assert_eq!(store.autojoin_rooms().expect("rooms"), vec![entry.clone()]);
    assert!(store.is_room(ROOM).expect("is room"));
    let o = Occupant {
        nick: "alice".into(),
        role: "participant".into(),
        affiliation: "none".into(),
        jid: None,
    };
    store.set_occupant(ROOM, "alice", Some(&o)).expect("set");
    assert_eq!(store.occupants(ROOM).expect("occupants"), vec![o]);
    store.set_occupant(ROOM, "alice", None).expect("remove");
    assert!(store.occupants(ROOM).expect("occupants").is_empty());
    store.stop_autojoin(ROOM).expect("stop");
    assert!(store.autojoin_rooms().expect("rooms").is_empty());
    let rooms = store.rooms(&|_| false).expect("rooms");
    assert_eq!(rooms.len(), 1);
    assert!(!rooms[0].autojoin);
}
