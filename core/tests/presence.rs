//! Availability (RFC 6121 §4) against a real Prosody: a contact's show and
//! status reach us and are stored, going offline is seen, and the stored
//! presence survives a restart until the next fresh session replaces it.

mod common;

use common::*;
use jabberkit::{ConnectionState, Contact, Event, Show, Subscription, TlsMode};
use jabberkit_testkit::server::TestServer;

/// Waits (on RosterChanged events) until `jid` is a contact both ways.
async fn wait_both(a: &mut Account, jid: &str) {
    let both = |r: &[Contact]| {
        r.iter()
            .any(|c| c.jid == jid && c.subscription == Subscription::Both)
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !both(&a.client.roster().expect("roster")) {
        match tokio::time::timeout_at(deadline, a.events.recv()).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("events closed"),
            Err(_) => panic!("timed out waiting for {jid} both ways"),
        }
    }
}

/// Waits for the presence event of `from` with `show` (and `status`).
async fn wait_presence(a: &mut Account, from: &str, show: Option<Show>, status: Option<&str>) {
    a.wait_for(&format!("{from} {show:?} {status:?}"), |e| {
        matches!(e, Event::Presence { from: f, show: s, status: t }
            if f == from && *s == show && t.as_deref() == status)
    })
    .await;
}

/// Waits until the server's CSI module holds back stanzas for `full_jid`
/// (mod_csi_simple's session state is `inactive`, past its flush grace).
async fn wait_server_holds(server: &TestServer, full_jid: &str) {
    let query = format!("> (prosody.full_sessions['{full_jid}'] or {{}}).state");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let out = server.shell(&query).await;
        if out.contains("inactive") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never held {full_jid}'s stanzas: {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Mutual subscription, as in roster.rs.
async fn befriend(alice: &mut Account, bob: &mut Account) {
    let (alice_jid, bob_jid) = (alice.client.jid(), bob.client.jid());
    alice.client.add_contact(&bob_jid, None).expect("add");
    bob.wait_for("request", |e| {
        matches!(e, Event::SubscriptionRequest { .. })
    })
    .await;
    bob.client.approve(&alice_jid).expect("approve");
    alice
        .wait_for("bob's request", |e| {
            matches!(e, Event::SubscriptionRequest { .. })
        })
        .await;
    alice.client.approve(&bob_jid).expect("approve");
    wait_both(alice, &bob_jid).await;
    wait_both(bob, &alice_jid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_presence_is_seen_stored_and_refreshed_by_a_fresh_session() {
    let server = TestServer::start().await;
    let Pair {
        mut alice,
        mut bob,
        alice_jid,
        bob_jid,
        dirs,
    } = pair(&server).await;
    online(&mut alice).await;
    online(&mut bob).await;

    befriend(&mut alice, &mut bob).await;

    // A change while online goes out at once.
    bob.client
        .set_presence(Show::Away, Some("lunch"))
        .expect("set");
    wait_presence(&mut alice, &bob_jid, Some(Show::Away), Some("lunch")).await;
    let stored = alice.client.presence(&bob_jid).expect("read").expect("bob");
    assert_eq!(stored.show, Some(Show::Away));
    assert_eq!(stored.status.as_deref(), Some("lunch"));
    assert_eq!(stored.resources.len(), 1, "{stored:?}");
    assert_eq!(stored.resources[0].resource, "desk");
    // Our own presence never shows as a contact's.
    assert!(alice.client.presence(&alice_jid).expect("read").is_none());

    // bob leaves: offline.
    bob.client.disconnect().await;
    wait_presence(&mut alice, &bob_jid, None, None).await;
    assert_eq!(alice.client.presence(&bob_jid).expect("read"), None);

    // bob's client remembered "away": his next session starts with it.
    bob.client.connect().expect("connect");
    wait_presence(&mut alice, &bob_jid, Some(Show::Away), Some("lunch")).await;

    // alice restarts: bob shows before connecting...
    alice.client.disconnect().await;
    drop(alice);
    let mut alice = open(&server, &format!("{alice_jid}/phone"), dirs[0].path());
    assert_eq!(
        alice.client.presence(&bob_jid).expect("read"),
        Some(stored.clone())
    );
    // ...the fresh session forgets it (stale), then the server sends it again.
    alice.client.connect().expect("connect");
    wait_presence(&mut alice, &bob_jid, None, None).await;
    wait_presence(&mut alice, &bob_jid, Some(Show::Away), Some("lunch")).await;
    assert_eq!(alice.client.presence(&bob_jid).expect("read"), Some(stored));
    assert_eq!(alice.client.presences().expect("read").len(), 1);

    alice.client.disconnect().await;
    bob.client.disconnect().await;
}

/// XEP-0352 against Prosody's mod_csi_simple: in the background the server
/// holds a contact's presence change back; back in the foreground it
/// arrives at once. Proves the indication reaches the server well-formed
/// (a malformed one would end the stream) and only when it should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_background_the_server_holds_presence_until_foreground() {
    init_logs();
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    // Anything alice sends flushes the server's queue (it is awake anyway),
    // so her keepalive must not fire during the test.
    let mut cfg = config(
        &server,
        &format!("{alice_jid}/phone"),
        server.starttls_addr(),
        TlsMode::StartTls,
        dirs[0].path(),
    );
    cfg.keepalive_idle = std::time::Duration::from_secs(60);
    let mut alice = Account::new(cfg);
    let mut bob = open(&server, &format!("{bob_jid}/desk"), dirs[1].path());
    online(&mut alice).await;
    online(&mut bob).await;
    befriend(&mut alice, &mut bob).await;
    // bob's initial presence may have come with the subscription.
    while alice.client.presence(&bob_jid).expect("read").is_none() {
        alice
            .wait_for("bob online", |e| matches!(e, Event::Presence { .. }))
            .await;
    }

    alice.client.set_foreground(false);
    // The indication goes out with a ping, whose answer and acks make the
    // server flush once and then hold again after its grace period (1 s in
    // the test server's config, 5 s by default): wait for the server to say
    // it holds, instead of guessing how long that takes on a loaded machine.
    wait_server_holds(&server, &format!("{alice_jid}/phone")).await;
    bob.client
        .set_presence(Show::Away, Some("held"))
        .expect("set");
    let early = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        alice.wait_for("held presence", |e| matches!(e, Event::Presence { .. })),
    )
    .await;
    assert!(early.is_err(), "presence arrived while inactive: {early:?}");
    assert_eq!(
        alice.client.state(),
        ConnectionState::Online { resumed: false }
    );

    alice.client.set_foreground(true);
    wait_presence(&mut alice, &bob_jid, Some(Show::Away), Some("held")).await;

    // Remembered across sessions: a new connection in the background is
    // inactive from the start.
    alice.client.set_foreground(false);
    alice.client.disconnect().await;
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    // A session started in the background still finishes its setup: it
    // tells the server it is inactive only after the catch-up (sent at
    // once, Prosody held the answers it had queued until the foreground).
    alice
        .wait_for("the catch-up", |e| {
            matches!(e, Event::CatchUp { complete: true, .. })
        })
        .await;
    // The server holds for this session: the indication went out on the
    // new connection without the app repeating it. (Whether a presence is
    // then held is the first half's check; here the server's own stream
    // acks can flush it, so it is not asserted twice.)
    wait_server_holds(&server, &format!("{alice_jid}/phone")).await;
    bob.client
        .set_presence(Show::DoNotDisturb, None)
        .expect("set");
    alice.client.set_foreground(true);
    wait_presence(&mut alice, &bob_jid, Some(Show::DoNotDisturb), None).await;

    alice.client.disconnect().await;
    bob.client.disconnect().await;
}
