//! One-to-one chat through the core against a real Prosody: both TLS
//! modes, receipts, history across restarts, and the failures that must
//! stop for good (wrong password, untrusted certificate).

mod common;

use std::time::Duration;

use common::*;
use jabberkit::{
    ConnectionState, DeliveryState, Direction, Event, FailureReason, TlsMode, TypingState,
};
use jabberkit_testkit::proxy::FaultProxy;
use jabberkit_testkit::server::TestServer;

async fn chat_both_ways(tls: TlsMode) {
    init_logs();
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let addr = match tls {
        TlsMode::StartTls => server.starttls_addr(),
        TlsMode::DirectTls => server.direct_tls_addr(),
    };
    let (da, db) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let mut alice = Account::new(config(&server, &alice_jid, addr, tls, da.path()));
    let mut bob_config = config(&server, &bob_jid, addr, tls, db.path());
    // One of the two names the server by host name, resolved by the OS.
    bob_config.server = Some(format!("localhost:{}", addr.port()));
    let mut bob = Account::new(bob_config);
    alice.client.connect().expect("connect");
    bob.client.connect().expect("connect");
    assert!(
        !alice.wait_online().await,
        "a first login is a fresh session"
    );
    bob.wait_online().await;

    let hello = alice.client.send(&bob_jid, "hello bob").expect("send");
    let got = bob.receive_all(&["hello bob".to_string()], WAIT).await;
    assert_eq!(got["hello bob"], 1);
    // Typing notifications (XEP-0085) reach the peer as events, never as
    // messages (sent once bob is surely available: he just got a message).
    alice
        .client
        .set_typing(&bob_jid, TypingState::Composing)
        .expect("typing");
    let typing = bob
        .wait_for("typing", |e| matches!(e, Event::Typing { .. }))
        .await;
    assert!(
        matches!(&typing, Event::Typing { from, state: TypingState::Composing } if *from == alice_jid),
        "{typing:?}"
    );
    let reply = bob.client.send(&alice_jid, "hi alice ✓").expect("send");
    alice.receive_all(&["hi alice ✓".to_string()], WAIT).await;

    // Receipts (XEP-0184) move both messages to delivered.
    alice
        .wait_states(std::slice::from_ref(&hello), DeliveryState::Delivered)
        .await;
    bob.wait_states(std::slice::from_ref(&reply), DeliveryState::Delivered)
        .await;

    let history = alice.client.history(&bob_jid, None, 10).expect("history");
    let bodies: Vec<_> = history
        .iter()
        .map(|m| (m.direction, m.body.as_str()))
        .collect();
    assert_eq!(
        bodies,
        vec![
            (Direction::Outgoing, "hello bob"),
            (Direction::Incoming, "hi alice ✓")
        ]
    );
    assert_eq!(history[1].sender, bob_jid);
    let conversations = alice.client.conversations().expect("conversations");
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].with, bob_jid);
    // One unread incoming message until the conversation is marked read.
    assert_eq!(conversations[0].unread, 1);
    assert_eq!(alice.client.mark_read(&bob_jid).expect("mark read"), 1);
    assert_eq!(
        alice.client.conversations().expect("conversations")[0].unread,
        0
    );
    // Received messages are searchable at once, by word prefix, accents ignored.
    let hits = alice.client.search("ALICE ✓", 10).expect("search");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].message.body, "hi alice ✓");
    assert!(hits[0].snippet.contains("[alice]"), "{}", hits[0].snippet);
    assert!(alice.client.search("hel", 10).expect("search")[0]
        .message
        .body
        .starts_with("hello"));
    alice.client.disconnect().await;
    assert_eq!(alice.client.state(), ConnectionState::Disconnected);
    bob.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_chat_both_ways_over_starttls() {
    chat_both_ways(TlsMode::StartTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_accounts_chat_both_ways_over_direct_tls() {
    chat_both_ways(TlsMode::DirectTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_restart_of_the_client_on_the_same_store() {
    init_logs();
    let server = TestServer::start().await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let (da, db) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let addr = server.starttls_addr();
    let mut bob = Account::new(config(
        &server,
        &bob_jid,
        addr,
        TlsMode::StartTls,
        db.path(),
    ));
    bob.client.connect().expect("connect");
    bob.wait_online().await;
    {
        let mut alice = Account::new(config(
            &server,
            &alice_jid,
            addr,
            TlsMode::StartTls,
            da.path(),
        ));
        alice.client.connect().expect("connect");
        alice.wait_online().await;
        let ids: Vec<_> = (0..5)
            .map(|i| alice.client.send(&bob_jid, &format!("m{i}")).expect("send"))
            .collect();
        alice.wait_states(&ids, DeliveryState::Acked).await;
        bob.client.send(&alice_jid, "answer").expect("send");
        alice.receive_all(&["answer".into()], WAIT).await;
        alice.client.disconnect().await;
    }
    // A new Client on the same store, not even connected, sees it all.
    let alice = Account::new(config(
        &server,
        &alice_jid,
        addr,
        TlsMode::StartTls,
        da.path(),
    ));
    let history = alice.client.history(&bob_jid, None, 100).expect("history");
    let bodies: Vec<_> = history.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["m0", "m1", "m2", "m3", "m4", "answer"]);
    // Paging backwards from the oldest of the last two.
    let last_two = alice.client.history(&bob_jid, None, 2).expect("history");
    let before = alice
        .client
        .history(&bob_jid, Some(&last_two[0].id), 2)
        .expect("history");
    let bodies: Vec<_> = before.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["m2", "m3"]);
    bob.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_fails_for_good_without_further_attempts() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("carol", PASSWORD).await;
    let proxy = FaultProxy::start(server.starttls_addr()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(&server, &jid, proxy.addr(), TlsMode::StartTls, dir.path());
    cfg.password = "wrong".into();
    let mut carol = Account::new(cfg);
    carol.client.connect().expect("connect");
    let ev = carol
        .wait_for("failed", |e| {
            matches!(e, Event::ConnectionState(ConnectionState::Failed { .. }))
        })
        .await;
    assert!(
        matches!(
            ev,
            Event::ConnectionState(ConnectionState::Failed {
                reason: FailureReason::Authentication { .. }
            })
        ),
        "{ev:?}"
    );
    // Even a network change does not bring it back: only connect() does.
    carol.client.network_available(false);
    carol.client.network_available(true);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(proxy.connections_accepted(), 1, "retried a wrong password");
    assert!(matches!(
        carol.client.state(),
        ConnectionState::Failed { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_fails_for_good_before_any_credentials() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("dave", PASSWORD).await;
    for (tls, upstream) in [
        (TlsMode::DirectTls, server.direct_tls_addr()),
        (TlsMode::StartTls, server.starttls_addr()),
    ] {
        let proxy = FaultProxy::start(upstream).await;
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = config(&server, &jid, proxy.addr(), tls, dir.path());
        cfg.extra_ca_pem = None; // the server's CA is not trusted
        let mut dave = Account::new(cfg);
        dave.client.connect().expect("connect");
        let ev = dave
            .wait_for("failed", |e| {
                matches!(e, Event::ConnectionState(ConnectionState::Failed { .. }))
            })
            .await;
        let Event::ConnectionState(ConnectionState::Failed {
            reason: FailureReason::Certificate { detail },
        }) = ev
        else {
            panic!("{tls:?}: expected a certificate failure, got {ev:?}")
        };
        assert!(detail.to_lowercase().contains("certificate"), "{detail}");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            proxy.connections_accepted(),
            1,
            "{tls:?}: retried an untrusted certificate"
        );
        // The handshake never completed, so nothing past it — no SASL, no
        // password — went up the wire: only the TLS ClientHello and an alert.
        assert!(
            proxy.bytes_up() < 2048,
            "{tls:?}: {} bytes sent",
            proxy.bytes_up()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_an_account_that_does_not_exist_fails_with_the_servers_reason() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("frank", PASSWORD).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut frank = Account::new(config(
        &server,
        &jid,
        server.starttls_addr(),
        TlsMode::StartTls,
        dir.path(),
    ));
    frank.client.connect().expect("connect");
    frank.wait_online().await;
    let id = frank
        .client
        .send("nobody@example.test", "anyone there?")
        .expect("send");
    frank
        .wait_for("failed", |e| {
            matches!(e, Event::MessageState { id: got, conversation, state: DeliveryState::Failed }
                if *got == id && conversation == "nobody@example.test")
        })
        .await;
    let msg = frank.client.message(&id).expect("read").expect("stored");
    assert_eq!(msg.state, DeliveryState::Failed);
    assert!(msg.failure_reason.is_some(), "{msg:?}");
    // A failed message is not retried on the next session.
    frank.client.disconnect().await;
    frank.client.connect().expect("connect");
    frank.wait_online().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        frank
            .client
            .message(&id)
            .expect("read")
            .expect("stored")
            .state,
        DeliveryState::Failed
    );
}
