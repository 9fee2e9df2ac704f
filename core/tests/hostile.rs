//! The login against a scripted fake server, for what a real one will not
//! do: what the client says before TLS, which TLS it asks for, and which
//! failures it retries (a captive portal, a server that cannot check the
//! password right now) or gives up on for good.

mod common;

use std::time::Duration;

use common::{init_logs, Account, WAIT};
use jabberkit::{ClientConfig, ConnectionState, Event, FailureReason, TlsMode};
use jabberkit_testkit::fake::{Conn, FakeServer};
use tokio::sync::mpsc;

const JID: &str = "alice@example.test";

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' id='fake' from='example.test' \
    version='1.0'>";

const STARTTLS_FEATURES: &str = "<stream:features>\
    <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";

const SASL_FEATURES: &str = "<stream:features>\
    <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
    <mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>\
    </stream:features>";

fn config(fake: &FakeServer, tls: TlsMode, dir: &std::path::Path) -> ClientConfig {
    let mut cfg = ClientConfig::new(JID, "a password", dir);
    cfg.server = Some(fake.addr().to_string());
    cfg.tls = tls;
    cfg.extra_ca_pem = Some(fake.ca_pem().to_owned());
    cfg.min_retry_delay = Duration::from_millis(100);
    cfg.max_retry_delay = Duration::from_millis(300);
    cfg.connect_timeout = Duration::from_secs(5);
    cfg
}

/// Reads the client's stream header (through its closing `>`).
async fn read_header(conn: &mut Conn) -> String {
    let text = conn
        .read_until("<stream:stream")
        .await
        .expect("a stream header");
    let mut text = text;
    while !text[text.find("<stream:stream").expect("header")..].contains('>') {
        text = conn.read_until(">").await.expect("the header's end");
    }
    conn.consume();
    text
}

/// Waits until the client has retried `attempts` times, and checks it
/// never gave up for good meanwhile.
async fn wait_retried(account: &mut Account, attempts: u32) {
    let event = account
        .wait_for("retries", |e| match e {
            Event::ConnectionState(ConnectionState::Failed { .. }) => true,
            Event::ConnectionState(ConnectionState::Reconnecting { attempt, .. }) => {
                *attempt >= attempts
            }
            _ => false,
        })
        .await;
    assert!(
        matches!(
            event,
            Event::ConnectionState(ConnectionState::Reconnecting { .. })
        ),
        "gave up: {event:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plaintext_header_before_starttls_does_not_name_the_account() {
    init_logs();
    let (seen, mut headers) = mpsc::unbounded_channel();
    let fake = FakeServer::start(move |mut conn| {
        let seen = seen.clone();
        async move {
            let plain = read_header(&mut conn).await;
            conn.write(HEADER).await;
            conn.write(STARTTLS_FEATURES).await;
            conn.read_until("<starttls").await.expect("starttls");
            conn.write("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                .await;
            let mut tls = conn.accept_tls().await.expect("TLS");
            let encrypted = read_header(&mut tls).await;
            let _ = seen.send((plain, encrypted));
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = Account::new(config(&fake, TlsMode::StartTls, dir.path()));
    alice.client.connect().expect("connect");
    let (plain, encrypted) = tokio::time::timeout(WAIT, headers.recv())
        .await
        .expect("in time")
        .expect("headers");
    assert!(
        plain.contains("to='example.test'") || plain.contains("to=\"example.test\""),
        "{plain}"
    );
    assert!(
        !plain.contains("alice"),
        "the plaintext header names the account: {plain}"
    );
    assert!(
        encrypted.contains(JID),
        "inside TLS the header says who asks: {encrypted}"
    );
    alice.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_tls_asks_for_the_xmpp_client_protocol() {
    init_logs();
    let (seen, mut alpn) = mpsc::unbounded_channel();
    let fake = FakeServer::start(move |conn| {
        let seen = seen.clone();
        async move {
            if let Ok(tls) = conn.accept_tls().await {
                let _ = seen.send(tls.alpn.clone());
            }
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = Account::new(config(&fake, TlsMode::DirectTls, dir.path()));
    alice.client.connect().expect("connect");
    let negotiated = tokio::time::timeout(WAIT, alpn.recv())
        .await
        .expect("in time")
        .expect("a TLS connection");
    assert_eq!(negotiated.as_deref(), Some(&b"xmpp-client"[..]));
    alice.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captive_portal_answering_http_is_retried_not_fatal() {
    init_logs();
    let fake = FakeServer::start(|mut conn| async move {
        // Whatever the client said (a TLS hello, a stream header), the
        // portal answers with a redirect and hangs up.
        let _ = conn.read_until("").await;
        conn.write(
            "HTTP/1.1 302 Found\r\nLocation: http://portal.example/\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
    })
    .await;
    for tls in [TlsMode::DirectTls, TlsMode::StartTls] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut alice = Account::new(config(&fake, tls, dir.path()));
        alice.client.connect().expect("connect");
        wait_retried(&mut alice, 3).await;
        alice.client.disconnect().await;
    }
}

/// A server that offers SASL over TLS, then fails the login with
/// `condition`.
async fn failing_login(condition: &'static str) -> FakeServer {
    FakeServer::start(move |conn| async move {
        let Ok(mut tls) = conn.accept_tls().await else {
            return;
        };
        read_header(&mut tls).await;
        tls.write(HEADER).await;
        tls.write(SASL_FEATURES).await;
        if tls.read_until("<auth").await.is_some() {
            tls.write(&format!(
                "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{condition}/></failure>"
            ))
            .await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_auth_failure_is_retried_and_a_refused_password_is_not() {
    init_logs();
    let fake = failing_login("temporary-auth-failure").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut alice = Account::new(config(&fake, TlsMode::DirectTls, dir.path()));
    alice.client.connect().expect("connect");
    wait_retried(&mut alice, 3).await;
    alice.client.disconnect().await;

    let fake = failing_login("not-authorized").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut alice = Account::new(config(&fake, TlsMode::DirectTls, dir.path()));
    alice.client.connect().expect("connect");
    let failed = alice
        .wait_for("the verdict", |e| {
            matches!(
                e,
                Event::ConnectionState(
                    ConnectionState::Failed { .. } | ConnectionState::Reconnecting { .. }
                )
            )
        })
        .await;
    assert!(
        matches!(
            failed,
            Event::ConnectionState(ConnectionState::Failed {
                reason: FailureReason::Authentication { .. }
            })
        ),
        "{failed:?}"
    );
}
