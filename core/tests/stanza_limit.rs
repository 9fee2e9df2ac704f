//! A message bigger than the server accepts (XEP-0478): it fails with a
//! reason instead of closing the stream and blocking the queue forever.

mod common;

use common::{init_logs, online, pair};
use jabberkit::{ConnectionState, DeliveryState, Direction, Event};
use jabberkit_testkit::server::{ServerOptions, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_too_large_for_the_server_fails_and_the_rest_go_on() {
    init_logs();
    let server = TestServer::start_with(ServerOptions {
        stanza_limit: Some(10_000),
        ..ServerOptions::default()
    })
    .await;
    let mut p = pair(&server).await;
    online(&mut p.alice).await;
    online(&mut p.bob).await;

    // Within what `send` accepts (64 KiB), beyond what this server does.
    let big = p
        .alice
        .client
        .send(&p.bob.jid, &"x".repeat(20_000))
        .expect("send");
    let small = p
        .alice
        .client
        .send(&p.bob.jid, "after the big one")
        .expect("send");
    let failed = p
        .alice
        .wait_for("the big one failed", |e| {
            matches!(e, Event::MessageState { id, state: DeliveryState::Failed, .. } if *id == big)
                || matches!(e, Event::ConnectionState(ConnectionState::Suspended))
        })
        .await;
    assert!(matches!(failed, Event::MessageState { .. }), "{failed:?}");
    let m = p.alice.client.message(&big).expect("read").expect("stored");
    assert!(
        m.failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("10000")),
        "{m:?}"
    );
    common::wait_message(&mut p.bob, "after the big one", Direction::Incoming).await;
    p.alice
        .wait_states(&[small], DeliveryState::Delivered)
        .await;
    assert!(matches!(
        p.alice.client.state(),
        ConnectionState::Online { resumed: false }
    ));
    p.alice.client.disconnect().await;
    p.bob.client.disconnect().await;
}
