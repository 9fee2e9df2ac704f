//! The test Prosody's push notifications (XEP-0357), end to end and
//! without the client library: Alice enables push on the test app server
//! over a bare XMPP stream, goes away (logged out, or her connection lost
//! while stream management keeps her session), Bob writes to her, and the
//! app server (`TestServer::push_notifications`) gets a notification that
//! says who wrote what. What the client tests in `core/` rely on.

use std::time::{Duration, Instant};

use jabberkit_testkit::raw::RawClient;
use jabberkit_testkit::server::{PushNotification, ServerKind, ServerOptions, TestServer};

const PASSWORD: &str = "secret";

#[tokio::test]
async fn an_offline_account_is_pushed_the_message_with_its_sender() {
    let server = prosody().await;
    let mut alice = RawClient::login(&server, "alice", PASSWORD).await;
    enable_push(&server, &mut alice, "n1", Some("s3cret")).await;
    alice.close().await;
    assert_eq!(server.push_notifications(), Vec::new());

    let mut bob = RawClient::login(&server, "bob", PASSWORD).await;
    send_chat(&mut bob, "alice@example.test", "are you there?").await;

    let pushed = wait_for_pushes(&server, 1).await;
    assert_eq!(
        pushed,
        vec![PushNotification {
            from: "example.test".into(),
            node: "n1".into(),
            secret: Some("s3cret".into()),
            count: Some(1),
            sender: Some(bob.jid().to_string()),
            body: Some("are you there?".into()),
            failed: false,
        }]
    );
}

#[tokio::test]
async fn a_hibernated_session_is_pushed_what_is_queued_for_it() {
    let server = prosody().await;
    let mut alice = RawClient::login(&server, "alice", PASSWORD).await;
    alice
        .send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .await;
    let enabled = alice
        .read_until(|got| got.contains("<enabled") || got.contains("<failed"))
        .await;
    assert!(
        enabled.contains("<enabled"),
        "no stream management: {enabled}"
    );
    enable_push(&server, &mut alice, "phone", None).await;
    // Acknowledge the one stanza since (the enable result): Prosody pushes
    // for whatever is unacknowledged when the session hibernates, even an
    // IQ result (a notification without sender or body).
    alice.send("<a xmlns='urn:xmpp:sm:3' h='1'/>").await;
    // The connection is lost, not closed: the session hibernates.
    drop(alice);
    wait_for_hibernation(&server).await;

    let mut bob = RawClient::login(&server, "bob", PASSWORD).await;
    send_chat(&mut bob, "alice@example.test", "wake up").await;

    let pushed = wait_for_pushes(&server, 1).await;
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0].node, "phone");
    assert_eq!(pushed[0].secret, None);
    assert_eq!(pushed[0].sender.as_deref(), Some(bob.jid()));
    assert_eq!(pushed[0].body.as_deref(), Some("wake up"));
}

#[tokio::test]
async fn the_server_drops_a_registration_after_three_errors() {
    let server = prosody().await;
    let mut alice = RawClient::login(&server, "alice", PASSWORD).await;
    enable_push(&server, &mut alice, "fail-1", None).await;
    alice.close().await;

    let mut bob = RawClient::login(&server, "bob", PASSWORD).await;
    for i in 1..=3 {
        send_chat(&mut bob, "alice@example.test", &format!("try {i}")).await;
        let pushed = wait_for_pushes(&server, i).await;
        assert!(pushed.iter().all(|p| p.failed), "{pushed:?}");
    }
    send_chat(&mut bob, "alice@example.test", "try 4").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        server.push_notifications().len(),
        3,
        "pushed after the registration was dropped: {}",
        server.log_tail(10)
    );
}

#[tokio::test]
#[should_panic(expected = "Prosody only")]
async fn ejabberd_has_no_push_sink() {
    let server = TestServer::start_with(ServerOptions {
        kind: ServerKind::Ejabberd,
        ..ServerOptions::default()
    })
    .await;
    server.push_service();
}

/// A Prosody with alice and bob (push is Prosody's only).
async fn prosody() -> TestServer {
    let server = TestServer::start_with(ServerOptions {
        kind: ServerKind::Prosody,
        ..ServerOptions::default()
    })
    .await;
    server.register("alice", PASSWORD).await;
    server.register("bob", PASSWORD).await;
    assert_eq!(server.push_service(), "push.example.test");
    server
}

/// XEP-0357 §5: push to the test app server on `node`, with `secret` in
/// the publish options.
async fn enable_push(
    server: &TestServer,
    client: &mut RawClient,
    node: &str,
    secret: Option<&str>,
) {
    let options = match secret {
        Some(secret) => format!(
            "<x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             <field var='secret'><value>{secret}</value></field></x>"
        ),
        None => String::new(),
    };
    client
        .iq_result(
            "push",
            &format!(
                "<iq type='set' id='push'><enable xmlns='urn:xmpp:push:0' jid='{}' node='{node}'>\
                 {options}</enable></iq>",
                server.push_service()
            ),
        )
        .await;
}

async fn send_chat(client: &mut RawClient, to: &str, body: &str) {
    client
        .send(&format!(
            "<message to='{to}' type='chat' id='{}'><body>{body}</body></message>",
            next_id()
        ))
        .await;
}

/// An id unique enough for one test.
fn next_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("m{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The notifications once there are at least `n` (within 10 s).
async fn wait_for_pushes(server: &TestServer, n: usize) -> Vec<PushNotification> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pushed = server.push_notifications();
        if pushed.len() >= n {
            return pushed;
        }
        assert!(
            Instant::now() < deadline,
            "{} push notification(s) after 10 s, want {n}: {pushed:?}\n{}",
            pushed.len(),
            server.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until Prosody has noticed the lost connection and hibernates the
/// session (a message sent before would simply go to the live session).
async fn wait_for_hibernation(server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(server.dir().join("prosody-debug.log"))
        .unwrap_or_default()
        .contains("going into hibernation")
    {
        assert!(Instant::now() < deadline, "no hibernation within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
