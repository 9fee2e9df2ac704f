//! A room under injected faults, against a real Prosody: three accounts
//! talk, 200 messages each; Bob, behind the fault proxy, has his link
//! reset (the stream resumes) and his session lost twice (cut for longer
//! than the server keeps it: a fresh session must enter the room again
//! and catch up from its archive). Every client ends with every message
//! exactly once and in order per sender, and
//! Bob is an occupant again without any call from the app.

mod common;

use std::time::Duration;

use common::*;
use jabberkit::{ConnectionState, Event, RoomConfig, TlsMode};
use jabberkit_testkit::proxy::{FaultProxy, Mode};
use jabberkit_testkit::server::{ServerOptions, TestServer};

const ROOM: &str = "storm@conference.example.test";
const ROUND: usize = 50;
/// Bob's link: a mobile one, 100 ms each way.
const LINK: Mode = Mode::Delay(Duration::from_millis(100));

fn say(who: &Account, list: &mut Vec<String>, tag: &str) {
    for i in 0..ROUND {
        let body = format!("{tag} {i}");
        who.client.send(ROOM, &body).expect("send");
        list.push(body);
    }
}

/// Whether `account`'s history of the room holds every body of `list`.
fn has_all(account: &Account, list: &[String]) -> bool {
    let history = account.client.history(ROOM, None, 2000).expect("history");
    list.iter().all(|b| history.iter().any(|m| m.body == *b))
}

async fn lose_session(proxy: &FaultProxy, bob: &mut Account) {
    proxy.set_mode(Mode::Refuse);
    proxy.reset_all();
    // Longer than the server keeps the session (hibernation 1 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.set_mode(LINK);
    bob.wait_for("a fresh session", |e| {
        matches!(
            e,
            Event::ConnectionState(ConnectionState::Online { resumed: false })
        )
    })
    .await;
    // Back in the room without any call from the app.
    room_joined(bob, ROOM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_accounts_keep_every_room_message_once_through_resets_and_two_lost_sessions() {
    init_logs();
    let server = TestServer::start_with(ServerOptions {
        hibernation_secs: 1,
        ..ServerOptions::default()
    })
    .await;
    let dirs = [(); 3].map(|_| tempfile::tempdir().expect("tmp"));
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let carol_jid = server.register("carol", PASSWORD).await;
    let proxy = FaultProxy::start(server.direct_tls_addr()).await;
    proxy.set_mode(LINK);
    let mut alice = open(&server, &alice_jid, dirs[0].path());
    let mut carol = open(&server, &carol_jid, dirs[2].path());
    let mut bob = Account::new(config(
        &server,
        &bob_jid,
        proxy.addr(),
        TlsMode::DirectTls,
        dirs[1].path(),
    ));
    for a in [&mut alice, &mut bob, &mut carol] {
        online(a).await;
    }
    let config = RoomConfig {
        persistent: true,
        ..Default::default()
    };
    alice
        .client
        .create_room(ROOM, "alice", config)
        .expect("create");
    room_joined(&mut alice, ROOM).await;
    for (a, nick) in [(&mut bob, "bob"), (&mut carol, "carol")] {
        a.client.join_room(ROOM, nick, None).expect("join");
        room_joined(a, ROOM).await;
    }

    let (mut from_alice, mut from_bob, mut from_carol) = (Vec::new(), Vec::new(), Vec::new());
    for tag in ["a", "b", "c", "d"] {
        if tag == "b" {
            // A reset while everyone talks: the stream resumes.
            proxy.reset_all();
        }
        say(&bob, &mut from_bob, &format!("bob {tag}"));
        say(&carol, &mut from_carol, &format!("carol {tag}"));
        // Alice's first ten a few milliseconds apart: Bob hears the first
        // live, 100 ms later, and loses the next with his session (below),
        // so the archive gives him messages the room stamped before he
        // received the first: they must still sort after it.
        for i in 0..ROUND {
            let body = format!("alice {tag} {i}");
            alice.client.send(ROOM, &body).expect("send");
            from_alice.push(body);
            if i < 10 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        if tag == "c" || tag == "d" {
            // Bob's session is lost, twice, while everyone's round is on
            // its way (his own messages too).
            let first = format!("alice {tag} 0");
            bob.wait_for(
                "Alice's first of the round",
                |e| matches!(e, Event::Message(m) if m.body == first),
            )
            .await;
            lose_session(&proxy, &mut bob).await;
        }
    }
    assert_eq!(from_bob.len(), 4 * ROUND);

    let everyone = [&from_alice, &from_bob, &from_carol];
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    for (who, account) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        while !everyone.iter().all(|list| has_all(account, list)) {
            if tokio::time::Instant::now() >= deadline {
                let history = account.client.history(ROOM, None, 2000).expect("history");
                let missing: Vec<&String> = everyone
                    .iter()
                    .flat_map(|list| list.iter())
                    .filter(|b| !history.iter().any(|m| m.body == **b))
                    .collect();
                panic!("{who} is missing {} messages: {missing:?}", missing.len());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Late duplicates would show now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (who, account) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        let history = account.client.history(ROOM, None, 2000).expect("history");
        assert_eq!(history.len(), 3 * 4 * ROUND, "{who}: each message once");
        for list in everyone {
            for body in list.iter() {
                let n = history.iter().filter(|m| m.body == *body).count();
                assert_eq!(n, 1, "{who}: {body} stored {n} times");
            }
        }
        // In order per sender: live copies and those paged from the
        // room's archive milliseconds apart keep their places.
        for list in everyone {
            let sender = list[0].split(' ').next().expect("tag");
            let seen: Vec<&String> = history
                .iter()
                .map(|m| &m.body)
                .filter(|b| b.split(' ').next() == Some(sender))
                .collect();
            let expected: Vec<&String> = list.iter().collect();
            if seen != expected {
                let first = seen.iter().zip(&expected).position(|(a, b)| a != b);
                panic!("{who}: {sender}'s messages out of order from {first:?}: {seen:?}");
            }
        }
    }
    assert!(bob
        .client
        .rooms()
        .expect("rooms")
        .iter()
        .any(|r| r.jid == ROOM && r.joined));
}
