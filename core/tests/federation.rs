//! Federation against two real Prosody servers that talk to each other
//! (server-to-server with TLS and verified certificates): `example.test`
//! on 127.0.0.2 and `other.test` on 127.0.0.3 (testkit::federation).
//! Nothing in the client is special to another server; these tests show
//! that what a user does with a contact on their own server works with
//! one elsewhere, and that a server that cannot be reached fails the
//! message with its reason instead of leaving it pending, and the user can
//! retry it once the server is back.

mod common;

use common::*;
use jabberkit::{DeliveryState, Direction, Event, RoomConfig, Show, Subscription, TlsMode};
use jabberkit_testkit::federation;
use jabberkit_testkit::server::TestServer;

fn account(server: &TestServer, jid: &str, dir: &std::path::Path) -> Account {
    Account::new(config(
        server,
        jid,
        server.direct_tls_addr(),
        TlsMode::DirectTls,
        dir,
    ))
}

/// Waits until `a`'s roster shows `jid` with `sub` and nothing pending.
async fn subscribed(a: &mut Account, jid: &str, sub: Subscription) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let roster = a.client.roster().expect("roster");
        if roster
            .iter()
            .any(|c| c.jid == jid && c.subscription == sub && !c.ask && !c.pending_in)
        {
            return;
        }
        match tokio::time::timeout_at(deadline, a.events.recv()).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("events closed"),
            Err(_) => panic!("timed out waiting for {jid} as {sub:?}: {roster:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_on_two_servers_subscribe_see_each_other_chat_and_get_receipts() {
    init_logs();
    let (home, other) = federation::start_pair().await;
    let alice_jid = home.register("alice", PASSWORD).await;
    let bob_jid = other.register("bob", PASSWORD).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let mut alice = account(&home, &alice_jid, dirs[0].path());
    let mut bob = account(&other, &bob_jid, dirs[1].path());
    online(&mut alice).await;
    online(&mut bob).await;

    // Permission both ways, across the servers.
    alice
        .client
        .add_contact(&bob_jid, Some("Bob"))
        .expect("add");
    bob.wait_for(
        "alice's request",
        |e| matches!(e, Event::SubscriptionRequest { from } if *from == alice_jid),
    )
    .await;
    bob.client.approve(&alice_jid).expect("approve");
    alice
        .wait_for(
            "bob's request",
            |e| matches!(e, Event::SubscriptionRequest { from } if *from == bob_jid),
        )
        .await;
    alice.client.approve(&bob_jid).expect("approve");
    subscribed(&mut alice, &bob_jid, Subscription::Both).await;
    subscribed(&mut bob, &alice_jid, Subscription::Both).await;
    // Each sees the other available, and a status set on one server
    // reaches the other.
    bob.client
        .set_presence(Show::Away, Some("on a train"))
        .expect("presence");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = alice.client.presence(&bob_jid).expect("presence");
        if seen.as_ref().is_some_and(|p| {
            p.show == Some(Show::Away) && p.status.as_deref() == Some("on a train")
        }) {
            break;
        }
        tokio::time::timeout_at(deadline, alice.events.recv())
            .await
            .unwrap_or_else(|_| panic!("bob's presence never reached alice: {seen:?}"));
    }

    // Messages both ways, each once, delivered (receipts come back across).
    let bodies: Vec<String> = (1..=20).map(|i| format!("across {i}")).collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| alice.client.send(&bob_jid, b).expect("send"))
        .collect();
    let got = bob.receive_all(&bodies, WAIT).await;
    assert!(got.values().all(|&n| n == 1), "duplicates: {got:?}");
    alice.wait_states(&ids, DeliveryState::Delivered).await;
    bob.client.send(&alice_jid, "and back").expect("send");
    alice.receive_all(&["and back".into()], WAIT).await;
    let stored = stored_bodies(&bob.client, &alice_jid, Direction::Incoming);
    assert_eq!(stored.len(), bodies.len(), "{stored:?}");
    assert!(stored.values().all(|&n| n == 1), "{stored:?}");
}

/// A room on the other server (its MUC service, reached across), joined
/// by a user of this one: messages flow both ways, each once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_on_the_other_server_carries_messages_once_and_in_order() {
    init_logs();
    let (home, other) = federation::start_pair().await;
    let alice_jid = home.register("alice", PASSWORD).await;
    let bob_jid = other.register("bob", PASSWORD).await;
    let room = format!("lounge@conference.{}", other.domain());
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let mut alice = account(&home, &alice_jid, dirs[0].path());
    let mut bob = account(&other, &bob_jid, dirs[1].path());
    online(&mut alice).await;
    online(&mut bob).await;
    let config = RoomConfig {
        persistent: true,
        ..Default::default()
    };
    bob.client
        .create_room(&room, "bob", config)
        .expect("create");
    room_joined(&mut bob, &room).await;
    alice.client.join_room(&room, "alice", None).expect("join");
    assert_eq!(room_joined(&mut alice, &room).await, "alice");

    let said = |who: &str| -> Vec<String> { (1..=10).map(|i| format!("{who} {i:02}")).collect() };
    let (from_alice, from_bob) = (said("alice"), said("bob"));
    for (a, b) in from_alice.iter().zip(&from_bob) {
        alice.client.send(&room, a).expect("send");
        bob.client.send(&room, b).expect("send");
    }
    let at_bob = bob.receive_all(&from_alice, WAIT).await;
    let at_alice = alice.receive_all(&from_bob, WAIT).await;
    assert!(at_bob.values().chain(at_alice.values()).all(|&n| n == 1));
    for (client, theirs) in [(&alice.client, &from_bob), (&bob.client, &from_alice)] {
        let history: Vec<String> = client
            .history(&room, None, 100)
            .expect("history")
            .into_iter()
            .filter(|m| m.direction == Direction::Incoming)
            .map(|m| m.body)
            .collect();
        assert_eq!(
            &history, theirs,
            "one sender's messages out of order or doubled"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_server_that_cannot_be_reached_fails_with_the_reason_and_can_be_retried() {
    init_logs();
    let (home, other) = federation::start_pair().await;
    let alice_jid = home.register("alice", PASSWORD).await;
    let bob_jid = other.register("bob", PASSWORD).await;
    other.stop().await;
    let dir = tempfile::tempdir().expect("tmp");
    let dir_bob = tempfile::tempdir().expect("tmp");
    let mut alice = account(&home, &alice_jid, dir.path());
    online(&mut alice).await;

    let id = alice.client.send(&bob_jid, "anyone there?").expect("send");
    alice
        .wait_for("the message failed", |e| {
            matches!(e, Event::MessageState { id: failed, state: DeliveryState::Failed, .. } if *failed == id)
        })
        .await;
    let sent = alice.client.message(&id).expect("read").expect("stored");
    let reason = sent.failure_reason.expect("a reason");
    assert!(reason.starts_with("RemoteServerNotFound"), "{reason}");

    // The server is back; the user taps "retry": bob gets it, once.
    other.restart().await;
    let again = alice.client.retry(&id).expect("retry");
    assert_eq!(
        (again.state, again.failure_reason),
        (DeliveryState::Queued, None)
    );
    assert!(matches!(
        alice.client.retry(&id),
        Err(jabberkit::Error::InvalidInput { .. })
    ));
    let mut bob = account(&other, &bob_jid, dir_bob.path());
    online(&mut bob).await;
    let got = bob.receive_all(&["anyone there?".into()], WAIT).await;
    assert_eq!(got.get("anyone there?"), Some(&1));
    alice.wait_states(&[id], DeliveryState::Delivered).await;
    let stored = stored_bodies(&bob.client, &alice_jid, Direction::Incoming);
    assert_eq!(stored.get("anyone there?"), Some(&1), "{stored:?}");
}

/// The link between the two servers is cut while a burst crosses it
/// (both directions reset, twice): every message reaches bob once, and
/// none is reported failed that bob got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_survives_cuts_of_the_link_between_the_servers() {
    init_logs();
    let (home, other, proxies) = federation::start_pair_with_proxies().await;
    let alice_jid = home.register("alice", PASSWORD).await;
    let bob_jid = other.register("bob", PASSWORD).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let mut alice = account(&home, &alice_jid, dirs[0].path());
    let mut bob = account(&other, &bob_jid, dirs[1].path());
    online(&mut alice).await;
    online(&mut bob).await;

    let bodies: Vec<String> = (1..=200).map(|i| format!("burst {i:03}")).collect();
    let mut ids = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        ids.push(alice.client.send(&bob_jid, body).expect("send"));
        if i % 70 == 35 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            proxies.iter().for_each(|p| p.reset_all());
        }
    }
    // A link cut while it was being set up can hang until the server's
    // s2s timeout (15 s on the test servers) before what waits on it is
    // bounced and sent again.
    let got = bob.receive_all(&bodies, WAIT * 3).await;
    let doubled: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "announced twice: {doubled:?}");
    let failed: Vec<_> = ids
        .iter()
        .filter_map(|id| alice.client.message(id).expect("read"))
        .filter(|m| m.state == DeliveryState::Failed)
        .map(|m| (m.body, m.failure_reason))
        .collect();
    assert!(
        failed.is_empty(),
        "reported failed although bob got them: {failed:?}"
    );
    let stored = stored_bodies(&bob.client, &alice_jid, Direction::Incoming);
    assert_eq!(stored.len(), bodies.len());
    println!(
        "200 messages across 2 cuts of the server-to-server link: {} connections through the proxies",
        proxies.iter().map(|p| p.connections_accepted()).sum::<usize>()
    );
}
