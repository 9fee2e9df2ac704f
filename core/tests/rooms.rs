//! Group chat (XEP-0045) against a real Prosody with its MUC component
//! (`conference.example.test`, with muc_mam): a password room refuses a
//! missing and a wrong password with typed errors and lets the right one
//! in, messages flow both ways once each, and rooms are entered again
//! after a new session, with what was said meanwhile.

mod common;

use common::*;
use jabberkit::{DeliveryState, Direction, Event, RoomConfig, RoomError};
use jabberkit_testkit::server::TestServer;

const ROOM: &str = "tea@conference.example.test";

async fn joined(a: &mut Account, room: &str) -> String {
    match a
        .wait_for("joined", |e| {
            matches!(e, Event::RoomJoined { room: r, .. } | Event::RoomError { room: r, .. } if r == room)
        })
        .await
    {
        Event::RoomJoined { nick, .. } => nick,
        other => panic!("not joined: {other:?}"),
    }
}

async fn refused(a: &mut Account, room: &str) -> RoomError {
    match a
        .wait_for("refused", |e| {
            matches!(e, Event::RoomJoined { room: r, .. } | Event::RoomError { room: r, .. } if r == room)
        })
        .await
    {
        Event::RoomError { error, .. } => error,
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_room_lets_in_only_the_right_password_and_messages_flow_once() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;

    p.alice
        .client
        .create_room(
            ROOM,
            "alice",
            RoomConfig {
                password: Some("secret".into()),
                persistent: true,
                ..Default::default()
            },
        )
        .expect("create");
    assert_eq!(joined(&mut p.alice, ROOM).await, "alice");

    p.bob.client.join_room(ROOM, "bob", None).expect("join");
    assert_eq!(refused(&mut p.bob, ROOM).await, RoomError::PasswordRequired);
    p.bob
        .client
        .join_room(ROOM, "bob", Some("wrong"))
        .expect("join");
    assert_eq!(refused(&mut p.bob, ROOM).await, RoomError::WrongPassword);
    p.bob
        .client
        .join_room(ROOM, "bob", Some("secret"))
        .expect("join");
    assert_eq!(joined(&mut p.bob, ROOM).await, "bob");
    assert!(p
        .bob
        .client
        .rooms()
        .expect("rooms")
        .iter()
        .any(|r| r.jid == ROOM && r.joined));

    // Ours is delivered when the room sends it back to everyone.
    let hello = p.alice.client.send(ROOM, "hello room").expect("send");
    let got = wait_message(&mut p.bob, "hello room", Direction::Incoming).await;
    assert_eq!(got.conversation, ROOM);
    assert_eq!(got.sender, format!("{ROOM}/alice"));
    p.alice
        .wait_states(&[hello], DeliveryState::Delivered)
        .await;
    let reply = p.bob.client.send(ROOM, "hi alice").expect("send");
    let got = wait_message(&mut p.alice, "hi alice", Direction::Incoming).await;
    assert_eq!(got.sender, format!("{ROOM}/bob"));
    p.bob.wait_states(&[reply], DeliveryState::Delivered).await;

    for (who, account) in [("alice", &p.alice), ("bob", &p.bob)] {
        let history = account.client.history(ROOM, None, 50).expect("history");
        let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(
            bodies,
            ["hello room", "hi alice"],
            "{who}: each message once"
        );
    }
    let occupants = p.alice.client.occupants(ROOM).expect("occupants");
    assert!(occupants.iter().any(|o| o.nick == "bob"), "{occupants:?}");
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_is_entered_again_on_a_new_session_with_what_was_said_meanwhile() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;
    p.alice
        .client
        .create_room(
            ROOM,
            "alice",
            RoomConfig {
                persistent: true,
                ..Default::default()
            },
        )
        .expect("create");
    joined(&mut p.alice, ROOM).await;
    p.bob.client.join_room(ROOM, "bob", None).expect("join");
    joined(&mut p.bob, ROOM).await;
    p.alice.client.send(ROOM, "before").expect("send");
    wait_message(&mut p.bob, "before", Direction::Incoming).await;

    // Bob goes away (his session ends); the room goes on without him.
    p.bob.client.disconnect().await;
    let meanwhile: Vec<String> = (0..5).map(|i| format!("meanwhile {i}")).collect();
    for body in &meanwhile {
        p.alice.client.send(ROOM, body).expect("send");
    }
    p.alice.client.send(ROOM, "last").expect("send");
    wait_message(&mut p.alice, "last", Direction::Outgoing).await;

    // A new session enters the room again without any call from the app.
    p.bob.client.connect().expect("connect");
    joined(&mut p.bob, ROOM).await;
    let mut wanted = meanwhile.clone();
    wanted.push("last".into());
    let got = p.bob.receive_all(&wanted, WAIT).await;
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    let history = p.bob.client.history(ROOM, None, 50).expect("history");
    let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
    let mut expected = vec!["before"];
    expected.extend(meanwhile.iter().map(String::as_str));
    expected.push("last");
    assert_eq!(bodies, expected, "each once, in order");
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_offline_while_a_room_talks_catches_up_all_of_it_once_from_the_rooms_archive() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;
    p.alice
        .client
        .create_room(
            ROOM,
            "alice",
            RoomConfig {
                persistent: true,
                ..Default::default()
            },
        )
        .expect("create");
    joined(&mut p.alice, ROOM).await;
    p.bob.client.join_room(ROOM, "bob", None).expect("join");
    joined(&mut p.bob, ROOM).await;
    p.alice.client.send(ROOM, "before").expect("send");
    wait_message(&mut p.bob, "before", Direction::Incoming).await;

    // More than the room's history replays (20 here): only its archive
    // has all of them.
    p.bob.client.disconnect().await;
    let said: Vec<String> = (0..120).map(|i| format!("while away {i}")).collect();
    let ids: Vec<String> = said
        .iter()
        .map(|body| p.alice.client.send(ROOM, body).expect("send"))
        .collect();
    p.alice.wait_states(&ids, DeliveryState::Delivered).await;

    p.bob.client.connect().expect("connect");
    joined(&mut p.bob, ROOM).await;
    let got = p.bob.receive_all(&said, WAIT).await;
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    let history = p.bob.client.history(ROOM, None, 500).expect("history");
    let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
    let mut expected = vec!["before"];
    expected.extend(said.iter().map(String::as_str));
    assert_eq!(bodies, expected, "each once, in order");
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}
