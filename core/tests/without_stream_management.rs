//! A server without stream management (XEP-0198), as some in the field:
//! nothing is ever acked, and nothing may be sent again and again because
//! of it.

mod common;

use std::time::Duration;

use common::{config, init_logs, online, Account, PASSWORD, WAIT};
use jabberkit::{DeliveryState, TlsMode};
use jabberkit_testkit::proxy::FaultProxy;
use jabberkit_testkit::server::{ServerOptions, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_go_once_and_nothing_is_resent_in_a_loop() {
    init_logs();
    let server = TestServer::start_with(ServerOptions {
        no_stream_management: true,
        ..ServerOptions::default()
    })
    .await;
    let proxy = FaultProxy::start(server.starttls_addr()).await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let dirs = [
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    ];
    let mut alice = Account::new(config(
        &server,
        &alice_jid,
        proxy.addr(),
        TlsMode::StartTls,
        dirs[0].path(),
    ));
    let mut bob = common::open(&server, &bob_jid, dirs[1].path());
    online(&mut alice).await;
    online(&mut bob).await;

    let bodies: Vec<String> = (0..5).map(|i| format!("no acks {i}")).collect();
    let ids: Vec<String> = bodies
        .iter()
        .map(|b| alice.client.send(&bob_jid, b).expect("send"))
        .collect();
    let seen = bob.receive_all(&bodies, WAIT).await;
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    // Bob's receipts are all that says they arrived.
    alice.wait_states(&ids, DeliveryState::Delivered).await;

    // Idle now: only keepalives may cross (a resend loop would be
    // megabytes).
    let before = proxy.bytes_up();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = proxy.bytes_up() - before;
    println!("bytes sent in 3 s of idle without stream management: {idle}");
    assert!(idle < 4096, "{idle} bytes sent while idle");

    alice.client.disconnect().await;
    bob.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_to_an_offline_contact_are_sent_once_across_sessions() {
    init_logs();
    let server = TestServer::start_with(ServerOptions {
        no_stream_management: true,
        ..ServerOptions::default()
    })
    .await;
    let alice_jid = server.register("alice", PASSWORD).await;
    let bob_jid = server.register("bob", PASSWORD).await;
    let dirs = [
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    ];
    let mut alice = common::open(&server, &alice_jid, dirs[0].path());
    online(&mut alice).await;
    // Bob is offline: no receipt will ever say these arrived.
    let ids: Vec<String> = (0..5)
        .map(|i| {
            alice
                .client
                .send(&bob_jid, &format!("while away {i}"))
                .expect("send")
        })
        .collect();
    alice.wait_states(&ids, DeliveryState::Sent).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Two more sessions: nothing is sent again.
    for _ in 0..2 {
        alice.client.disconnect().await;
        alice.client.connect().expect("connect");
        alice.wait_online().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    alice.client.disconnect().await;

    // The server archived every copy it got: another device of alice's
    // counts them in its first catch-up.
    let mut laptop = Account::new(config(
        &server,
        &format!("{alice_jid}/laptop"),
        server.starttls_addr(),
        TlsMode::StartTls,
        dirs[1].path(),
    ));
    laptop.client.connect().expect("connect");
    let done = laptop
        .wait_for("the catch-up", |e| {
            matches!(e, jabberkit::Event::CatchUp { complete: true, .. })
        })
        .await;
    let jabberkit::Event::CatchUp { fetched, .. } = done else {
        unreachable!()
    };
    println!("copies the server archived of 5 messages: {fetched}");
    assert_eq!(fetched, 5, "each message reached the server once");
    laptop.client.disconnect().await;
}
