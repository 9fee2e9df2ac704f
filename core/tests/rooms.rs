//! Group chat (XEP-0045) against a real Prosody with its MUC component
//! (`conference.example.test`, with muc_mam): a password room refuses a
//! missing and a wrong password with typed errors and lets the right one
//! in, messages flow both ways once each, and rooms are entered again
//! after a new session, with what was said meanwhile; occupant lists
//! follow joins, a kick and a leave at both ends.

mod common;

use common::*;
use jabberkit::{
    ConversationKind, DeliveryState, Direction, Error, Occupant, OccupantList, RoomConfig,
    RoomError, TlsMode,
};
use jabberkit_testkit::server::{ServerKind, TestServer};

const ROOM: &str = "tea@conference.example.test";

/// Alice creates the (persistent) room, and Bob enters it.
async fn both_in_room(alice: &mut Account, bob: &mut Account) {
    let config = RoomConfig {
        persistent: true,
        ..Default::default()
    };
    alice
        .client
        .create_room(ROOM, "alice", config)
        .expect("create");
    room_joined(alice, ROOM).await;
    bob.client.join_room(ROOM, "bob", None).expect("join");
    room_joined(bob, ROOM).await;
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
    assert_eq!(room_joined(&mut p.alice, ROOM).await, "alice");

    p.bob.client.join_room(ROOM, "bob", None).expect("join");
    assert_eq!(
        room_refused(&mut p.bob, ROOM).await,
        RoomError::PasswordRequired
    );
    p.bob
        .client
        .join_room(ROOM, "bob", Some("wrong"))
        .expect("join");
    assert_eq!(
        room_refused(&mut p.bob, ROOM).await,
        RoomError::WrongPassword
    );
    p.bob
        .client
        .join_room(ROOM, "bob", Some("secret"))
        .expect("join");
    assert_eq!(room_joined(&mut p.bob, ROOM).await, "bob");
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
    // Ourselves too, as the room sees us: the creator owns it.
    assert!(
        occupants
            .iter()
            .any(|o| o.nick == "alice" && o.affiliation == "owner" && o.role == "moderator"),
        "{occupants:?}"
    );
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}

/// Applies `list`'s batches to `ui` until it shows exactly `nicks`.
async fn shows(list: &mut OccupantList, ui: &mut Vec<Occupant>, nicks: &[&str]) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !ui.iter().map(|o| o.nick.as_str()).eq(nicks.iter().copied()) {
        let batch = tokio::time::timeout_at(deadline, list.next())
            .await
            .unwrap_or_else(|_| panic!("the list never showed {nicks:?}: {ui:#?}"))
            .expect("the list ended");
        for diff in batch {
            assert!(diff.apply(ui), "a diff out of range");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occupant_lists_follow_joins_a_kick_and_a_leave_at_both_ends() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;
    // Followed before the room exists: empty, then filled as it is.
    let mut at_alice = p.alice.client.occupant_list(ROOM).expect("list");
    let mut alice_ui = Vec::new();
    shows(&mut at_alice, &mut alice_ui, &[]).await;
    let mut at_bob = p.bob.client.occupant_list(ROOM).expect("list");
    let mut bob_ui = Vec::new();
    both_in_room(&mut p.alice, &mut p.bob).await;
    shows(&mut at_alice, &mut alice_ui, &["alice", "bob"]).await;
    shows(&mut at_bob, &mut bob_ui, &["alice", "bob"]).await;
    assert_eq!(
        (alice_ui[0].role.as_str(), alice_ui[0].affiliation.as_str()),
        ("moderator", "owner")
    );
    // A moderator sees real JIDs.
    assert_eq!(alice_ui[1].jid.as_deref(), Some(p.bob_jid.as_str()));

    // Kicked, Bob is gone from Alice's list, and his own is emptied.
    p.alice.client.kick(ROOM, "bob", None).expect("kick");
    assert!(matches!(
        room_refused(&mut p.bob, ROOM).await,
        RoomError::Kicked { .. }
    ));
    shows(&mut at_alice, &mut alice_ui, &["alice"]).await;
    shows(&mut at_bob, &mut bob_ui, &[]).await;

    // Back, then leaving for good.
    p.bob.client.join_room(ROOM, "bob", None).expect("join");
    room_joined(&mut p.bob, ROOM).await;
    shows(&mut at_alice, &mut alice_ui, &["alice", "bob"]).await;
    shows(&mut at_bob, &mut bob_ui, &["alice", "bob"]).await;
    p.bob.client.leave_room(ROOM).expect("leave");
    shows(&mut at_alice, &mut alice_ui, &["alice"]).await;
    shows(&mut at_bob, &mut bob_ui, &[]).await;
    assert_eq!(alice_ui, p.alice.client.occupants(ROOM).expect("occupants"));

    for bad in ["conference.example.test", "not a jid@"] {
        assert!(matches!(
            p.alice.client.occupant_list(bad),
            Err(Error::InvalidInput { .. })
        ));
    }
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_is_entered_again_on_a_new_session_with_what_was_said_meanwhile() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;
    both_in_room(&mut p.alice, &mut p.bob).await;
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
    room_joined(&mut p.bob, ROOM).await;
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
    both_in_room(&mut p.alice, &mut p.bob).await;
    p.alice.client.send(ROOM, "before").expect("send");
    wait_message(&mut p.bob, "before", Direction::Incoming).await;

    // More than the room's history replays (20 here): only its archive
    // has all of them.
    p.bob.client.disconnect().await;
    let said: Vec<String> = (0..500).map(|i| format!("while away {i}")).collect();
    let ids: Vec<String> = said
        .iter()
        .map(|body| p.alice.client.send(ROOM, body).expect("send"))
        .collect();
    p.alice.wait_states(&ids, DeliveryState::Delivered).await;

    let mut progress = p.bob.client.events();
    p.bob.client.connect().expect("connect");
    room_joined(&mut p.bob, ROOM).await;
    let got = p.bob.receive_all(&said, WAIT).await;
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    // With progress, page by page, up to a complete one.
    let mut pages: Vec<(u32, bool)> = Vec::new();
    while !pages.last().is_some_and(|p| p.1) {
        let event = tokio::time::timeout(WAIT, progress.recv())
            .await
            .unwrap_or_else(|_| panic!("no complete catch-up: {pages:?}"))
            .expect("events");
        if let jabberkit::Event::RoomCatchUp {
            room,
            fetched,
            complete,
        } = event
        {
            assert_eq!(room, ROOM);
            pages.push((fetched, complete));
        }
    }
    assert!(pages.len() > 1, "{pages:?}");
    assert!(pages.windows(2).all(|w| w[0].0 <= w[1].0), "{pages:?}");
    let last = pages.last().copied().expect("a page");
    assert!(last.1 && last.0 >= 500, "{pages:?}");
    let history = p.bob.client.history(ROOM, None, 1000).expect("history");
    let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
    let mut expected = vec!["before"];
    expected.extend(said.iter().map(String::as_str));
    assert_eq!(bodies, expected, "each once, in order");
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_message_is_its_senders_own_conversation_and_another_occupant_cannot_correct_or_mark_it(
) {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;
    both_in_room(&mut p.alice, &mut p.bob).await;

    let alice_in_room = format!("{ROOM}/alice");
    p.alice
        .client
        .send(&format!("{ROOM}/bob"), "just between us")
        .expect("send a private message");
    let got = wait_message(&mut p.bob, "just between us", Direction::Incoming).await;
    assert_eq!(got.conversation, alice_in_room, "keyed by the occupant");
    assert_eq!(got.sender, alice_in_room);
    assert!(p
        .bob
        .client
        .history(ROOM, None, 50)
        .expect("history")
        .is_empty());
    // The list tells a room's private conversation from a one-to-one chat.
    p.bob.client.send(ROOM, "and one for all").expect("send");
    wait_message(&mut p.alice, "and one for all", Direction::Incoming).await;
    let kinds: Vec<_> = p
        .bob
        .client
        .conversations()
        .expect("conversations")
        .into_iter()
        .map(|c| (c.with, c.kind))
        .collect();
    assert!(
        kinds.contains(&(alice_in_room.clone(), ConversationKind::RoomPrivate)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(ROOM.to_owned(), ConversationKind::Room)),
        "{kinds:?}"
    );

    // Another occupant claims to correct it: stored as carol's own words,
    // in carol's own conversation; alice's stays as she wrote it.
    let remote_id = got
        .origin_id
        .clone()
        .expect("our messages carry an origin-id");
    let forged = message(
        &format!("{ROOM}/carol"),
        &p.bob.jid,
        Some("alice says you owe her money"),
    )
    .with_payload(tokio_xmpp::parsers::message_correct::Replace {
        id: tokio_xmpp::parsers::message::Id(remote_id),
    });
    inject(&server, forged).await;
    wait_message(
        &mut p.bob,
        "alice says you owe her money",
        Direction::Incoming,
    )
    .await;
    let private = p
        .bob
        .client
        .history(&alice_in_room, None, 10)
        .expect("history");
    assert_eq!(private.len(), 1);
    assert_eq!(private[0].body, "just between us");
    assert!(!private[0].corrected);

    // Nor can another occupant mark bob's private answer to alice read.
    let answer = p
        .bob
        .client
        .send(&alice_in_room, "between us, then")
        .expect("send");
    wait_message(&mut p.alice, "between us, then", Direction::Incoming).await;
    let forged = message(&format!("{ROOM}/carol"), &p.bob.jid, None).with_payload(
        tokio_xmpp::parsers::displayed_markers::Displayed {
            id: tokio_xmpp::parsers::message::Id(answer.clone()),
        },
    );
    inject(&server, forged).await;
    // A message injected after it arrives after it: the marker was handled.
    inject(
        &server,
        message(&format!("{ROOM}/carol"), &p.bob.jid, Some("sync")),
    )
    .await;
    wait_message(&mut p.bob, "sync", Direction::Incoming).await;
    let m = p
        .bob
        .client
        .message(&answer)
        .expect("read")
        .expect("stored");
    assert_ne!(m.state, DeliveryState::Read, "{m:?}");
    // The same marker from alice's occupant counts.
    let genuine = message(&alice_in_room, &p.bob.jid, None).with_payload(
        tokio_xmpp::parsers::displayed_markers::Displayed {
            id: tokio_xmpp::parsers::message::Id(answer.clone()),
        },
    );
    inject(&server, genuine).await;
    p.bob
        .wait_states(std::slice::from_ref(&answer), DeliveryState::Read)
        .await;
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}

/// A room that drops us without a word (here Prosody's shell removes Bob's
/// occupant, as a restart of the room's server would) is found out by
/// MUC self-ping (XEP-0410) and entered again; what was said meanwhile
/// arrives from the room's archive, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_that_silently_forgot_us_is_entered_again_and_nothing_is_missed() {
    let server = TestServer::start().await;
    if server.kind() == ServerKind::Ejabberd {
        eprintln!("skipped: dropping an occupant silently needs Prosody's shell");
        return;
    }
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let mut alice = open(&server, &alice_jid, dirs[0].path());
    let mut cfg = config(
        &server,
        &bob_jid,
        server.starttls_addr(),
        TlsMode::StartTls,
        dirs[1].path(),
    );
    cfg.room_ping_interval = std::time::Duration::from_secs(1);
    let mut bob = Account::new(cfg);
    online(&mut alice).await;
    online(&mut bob).await;
    both_in_room(&mut alice, &mut bob).await;
    alice.client.send(ROOM, "before").expect("send");
    wait_message(&mut bob, "before", Direction::Incoming).await;

    let out = server
        .shell(&format!(
            "> local room = prosody.hosts['conference.{}'].modules.muc.get_room_from_jid('{ROOM}'); \
             local o = room:get_occupant_by_nick('{ROOM}/bob'); o.role = nil; room:save_occupant(o)",
            server.domain()
        ))
        .await;
    assert!(!out.contains("rror"), "{out}");
    alice
        .client
        .send(ROOM, "while bob was a ghost")
        .expect("send");

    // The self-ping finds out, and Bob is back with the message.
    room_joined(&mut bob, ROOM).await;
    wait_message(&mut bob, "while bob was a ghost", Direction::Incoming).await;
    alice.client.send(ROOM, "after").expect("send");
    wait_message(&mut bob, "after", Direction::Incoming).await;
    let history = bob.client.history(ROOM, None, 50).expect("history");
    let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["before", "while bob was a ghost", "after"]);
}

/// A nickname someone already has is refused with one to try instead,
/// and that one gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_nickname_is_refused_with_one_to_try_instead() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;
    p.alice
        .client
        .create_room(ROOM, "kim", RoomConfig::default())
        .expect("create");
    room_joined(&mut p.alice, ROOM).await;
    p.bob.client.join_room(ROOM, "kim", None).expect("join");
    let refusal = room_refused(&mut p.bob, ROOM).await;
    let RoomError::NicknameInUse { suggestion } = refusal else {
        panic!("expected nickname-in-use, got {refusal:?}");
    };
    assert_eq!(suggestion, "kim2");
    p.bob
        .client
        .join_room(ROOM, &suggestion, None)
        .expect("join");
    assert_eq!(room_joined(&mut p.bob, ROOM).await, "kim2");
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}

/// Our last room message is corrected for everyone (the room sends the
/// correction back to us too: still one message), reading a room clears
/// its unread count like a chat's, and a message naming us is flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_message_is_corrected_for_everyone_a_room_is_read_and_mentions_flagged() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;
    both_in_room(&mut p.alice, &mut p.bob).await;

    let id = p.alice.client.send(ROOM, "helo all").expect("send");
    wait_message(&mut p.bob, "helo all", Direction::Incoming).await;
    p.alice
        .wait_states(std::slice::from_ref(&id), DeliveryState::Delivered)
        .await;
    p.alice.client.correct(&id, "hello all").expect("correct");
    p.bob
        .wait_for(
            "the correction",
            |e| matches!(e, jabberkit::Event::MessageCorrected(m) if m.body == "hello all"),
        )
        .await;
    // Late copies would show now.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for (who, account) in [("alice", &p.alice), ("bob", &p.bob)] {
        let history = account.client.history(ROOM, None, 50).expect("history");
        let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["hello all"], "{who}");
        assert!(history[0].corrected, "{who}");
    }

    let unread = |a: &Account| {
        let list = a.client.conversations().expect("conversations");
        list.into_iter().find(|c| c.with == ROOM).map(|c| c.unread)
    };
    assert_eq!(unread(&p.bob), Some(1));
    assert_eq!(p.bob.client.mark_read(ROOM).expect("read"), 1);
    assert_eq!(unread(&p.bob), Some(0));

    p.bob.client.send(ROOM, "Alice: look").expect("send");
    p.bob.client.send(ROOM, "with malice").expect("send");
    let named = wait_message(&mut p.alice, "Alice: look", Direction::Incoming).await;
    assert!(named.mentions_me);
    let not = wait_message(&mut p.alice, "with malice", Direction::Incoming).await;
    assert!(!not.mentions_me);
    let stored = p.alice.client.history(ROOM, None, 2).expect("history");
    let flags: Vec<_> = stored.iter().map(|m| m.mentions_me).collect();
    assert_eq!(flags, [true, false], "stored as announced");
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}

/// A first visit shows the room's newest messages from its archive (the
/// join asks for no history replay): 25 of 30 here, more than the
/// replay's cap of 20 would give, each once, in order, then live ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_visit_shows_the_newest_messages_from_the_rooms_archive() {
    let server = TestServer::start().await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    let room_config = RoomConfig {
        persistent: true,
        ..Default::default()
    };
    p.alice
        .client
        .create_room(ROOM, "alice", room_config)
        .expect("create");
    room_joined(&mut p.alice, ROOM).await;
    let said: Vec<String> = (0..30).map(|i| format!("said {i}")).collect();
    let ids: Vec<String> = said
        .iter()
        .map(|b| p.alice.client.send(ROOM, b).expect("send"))
        .collect();
    p.alice.wait_states(&ids, DeliveryState::Delivered).await;

    let dir = tempfile::tempdir().expect("tmp");
    let bob_jid = format!("{}/tablet", p.bob_jid);
    let mut cfg = config(
        &server,
        &bob_jid,
        server.starttls_addr(),
        TlsMode::StartTls,
        dir.path(),
    );
    cfg.room_first_visit = 25;
    let mut bob = Account::new(cfg);
    online(&mut bob).await;
    bob.client.join_room(ROOM, "bob", None).expect("join");
    room_joined(&mut bob, ROOM).await;
    let newest = &said[5..];
    let got = bob.receive_all(newest, WAIT).await;
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    p.alice.client.send(ROOM, "and now").expect("send");
    wait_message(&mut bob, "and now", Direction::Incoming).await;
    let history = bob.client.history(ROOM, None, 100).expect("history");
    let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
    let mut expected: Vec<&str> = newest.iter().map(String::as_str).collect();
    expected.push("and now");
    assert_eq!(bodies, expected, "the newest 25, once, in order");
    p.alice.client.disconnect().await;
    bob.client.disconnect().await;
}
