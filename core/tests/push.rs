//! Push notifications (XEP-0357) through the core against a real Prosody
//! (`mod_cloud_notify`) and a test app server (`push.example.test`, which
//! writes down every notification): a sleeping device is notified and then
//! gets the message once; a replaced registration is disabled on the
//! server, a turned-off one sends nothing; one the server dropped after
//! errors is enabled again by the next session. Prosody only (the test
//! app server is a Prosody module).

mod common;

use std::time::Duration;

use common::*;
use jabberkit::{Direction, Event, TlsMode};
use jabberkit_testkit::proxy::{FaultProxy, Mode};
use jabberkit_testkit::server::{PushNotification, ServerKind, ServerOptions, TestServer};

async fn prosody() -> TestServer {
    TestServer::start_with(ServerOptions {
        kind: ServerKind::Prosody,
        ..ServerOptions::default()
    })
    .await
}

/// Waits until the app server's notifications satisfy `done`; returns them.
async fn notified(
    server: &TestServer,
    what: &str,
    done: impl Fn(&[PushNotification]) -> bool,
) -> Vec<PushNotification> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = server.push_notifications();
        if done(&got) {
            return got;
        }
        assert!(tokio::time::Instant::now() < deadline, "no {what}: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the app server has `count` notifications; returns them.
async fn pushes(server: &TestServer, count: usize) -> Vec<PushNotification> {
    notified(server, &format!("{count} notifications"), |got| {
        got.len() >= count
    })
    .await
}

/// Waits for the notification of "wake up".
async fn wake_up(server: &TestServer) -> PushNotification {
    let is_it = |p: &PushNotification| p.body.as_deref() == Some("wake up");
    let got = notified(server, "notification of it", |got| got.iter().any(is_it)).await;
    got.into_iter().find(is_it).expect("found above")
}

/// Waits for our server's answer about `node`.
async fn push_changed(a: &mut Account, node: &str) -> (bool, Option<String>) {
    match a
        .wait_for(
            "the push answer",
            |e| matches!(e, Event::PushChanged { node: n, .. } if n == node),
        )
        .await
    {
        Event::PushChanged {
            enabled, refused, ..
        } => (enabled, refused),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_device_is_notified_then_gets_the_message_once() {
    let server = prosody().await;
    let Pair {
        mut bob,
        alice_jid,
        dirs,
        ..
    } = pair(&server).await;
    let proxy = FaultProxy::start(server.starttls_addr()).await;
    let mut alice = Account::new(config(
        &server,
        &format!("{alice_jid}/phone"),
        proxy.addr(),
        TlsMode::StartTls,
        dirs[0].path(),
    ));
    online(&mut alice).await;
    online(&mut bob).await;
    let service = server.push_service();
    alice
        .client
        .enable_push(&service, "n1", Some("s3cret"))
        .expect("enable");
    assert_eq!(push_changed(&mut alice, "n1").await, (true, None));

    // The phone sleeps: its connection is gone and it cannot come back yet;
    // the server keeps the session (stream management) and notifies.
    proxy.set_mode(Mode::Refuse);
    proxy.reset_all();
    bob.client.send(&alice_jid, "wake up").expect("send");
    // Prosody may first push for what the lost stream had not acked yet
    // (without sender or body); then for Bob's message.
    let got = wake_up(&server).await;
    assert_eq!(got.node, "n1");
    assert_eq!(got.secret.as_deref(), Some("s3cret"));
    assert!(
        got.sender
            .as_deref()
            .is_some_and(|s| s.starts_with(&bob.jid)),
        "{got:?}"
    );

    // Woken, it connects again and gets the message, once.
    proxy.set_mode(Mode::Pass);
    let got = alice.receive_all(&["wake up".to_string()], WAIT).await;
    assert_eq!(got["wake up"], 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        stored_bodies(&alice.client, &bob.jid, Direction::Incoming)["wake up"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_registration_is_disabled_and_a_turned_off_one_sends_nothing() {
    let server = prosody().await;
    let Pair {
        mut alice,
        mut bob,
        alice_jid,
        dirs: _dirs,
        ..
    } = pair(&server).await;
    online(&mut alice).await;
    online(&mut bob).await;
    let service = server.push_service();
    alice
        .client
        .enable_push(&service, "old", None)
        .expect("enable");
    assert_eq!(push_changed(&mut alice, "old").await, (true, None));
    // A new token: the old registration is disabled on the server.
    alice
        .client
        .enable_push(&service, "new", None)
        .expect("enable");
    let mut answers = Vec::new();
    while answers.len() < 2 {
        if let Event::PushChanged {
            node,
            enabled,
            refused,
            ..
        } = alice
            .wait_for("the push answers", |e| {
                matches!(e, Event::PushChanged { .. })
            })
            .await
        {
            assert_eq!(refused, None);
            answers.push((node, enabled));
        }
    }
    answers.sort();
    assert_eq!(
        answers,
        [("new".to_owned(), true), ("old".to_owned(), false)]
    );

    alice.client.disconnect().await;
    bob.client.send(&alice_jid, "one").expect("send");
    let got = pushes(&server, 1).await;
    assert_eq!(got[0].node, "new", "{got:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        server.push_notifications().iter().all(|p| p.node == "new"),
        "the replaced registration was notified"
    );

    // Turned off while offline: the next session disables it.
    alice.client.disable_push().expect("disable");
    alice.client.connect().expect("connect");
    assert_eq!(push_changed(&mut alice, "new").await, (false, None));
    alice.client.disconnect().await;
    let before = server.push_notifications().len();
    bob.client.send(&alice_jid, "two").expect("send");
    // The same path notified within a fraction of a second above.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        server.push_notifications().len(),
        before,
        "notified after disable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_the_server_dropped_is_enabled_again_by_the_next_session() {
    let server = prosody().await;
    let Pair {
        mut alice,
        mut bob,
        alice_jid,
        dirs: _dirs,
        ..
    } = pair(&server).await;
    online(&mut alice).await;
    online(&mut bob).await;
    // The test app server answers notifications to `fail…` nodes with an
    // error; after 3, Prosody drops the registration.
    alice
        .client
        .enable_push(&server.push_service(), "fail-1", None)
        .expect("enable");
    assert_eq!(push_changed(&mut alice, "fail-1").await, (true, None));
    alice.client.disconnect().await;
    for n in 1..=3 {
        bob.client.send(&alice_jid, &format!("m{n}")).expect("send");
        pushes(&server, n).await;
    }
    bob.client.send(&alice_jid, "m4").expect("send");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        server.push_notifications().len(),
        3,
        "not dropped after 3 errors"
    );

    // The next session enables it again: notifications resume.
    alice.client.connect().expect("connect");
    assert_eq!(push_changed(&mut alice, "fail-1").await, (true, None));
    alice.client.disconnect().await;
    bob.client.send(&alice_jid, "m5").expect("send");
    let got = pushes(&server, 4).await;
    assert_eq!(got[3].body.as_deref(), Some("m5"));
}
