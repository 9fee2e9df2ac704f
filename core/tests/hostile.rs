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

/// What a fake server saw of the client's `<auth>`: the mechanism and the
/// decoded initial message.
#[derive(Debug)]
struct AuthSeen {
    mechanism: String,
    initial: String,
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn unb64(text: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The text content of the first `<tag ...>…</tag>` in `xml`.
fn content<'a>(xml: &'a str, tag: &str) -> &'a str {
    let start = xml.find(&format!("<{tag}")).expect("element");
    let open_end = start + xml[start..].find('>').expect("open tag end") + 1;
    let close = xml[open_end..]
        .find(&format!("</{tag}>"))
        .map_or(open_end, |i| open_end + i);
    &xml[open_end..close]
}

/// A fake SCRAM exchange: the server-first message for the client's nonce,
/// and what the server puts in `<success/>`.
type Scram = (fn(&str) -> String, &'static str);

/// A server over direct TLS offering `mechanisms` (and the channel-binding
/// types of `binding`, XEP-0440, when given); it reports the client's
/// `<auth>`, then plays `scram` (if given: the server-first message for the
/// client's nonce, and what to put in `<success/>`) or fails the login.
async fn offering(
    mechanisms: &'static [&'static str],
    scram: Option<Scram>,
    seen: mpsc::UnboundedSender<AuthSeen>,
) -> FakeServer {
    offering_binding(mechanisms, "", scram, seen).await
}

async fn offering_binding(
    mechanisms: &'static [&'static str],
    binding: &'static str,
    scram: Option<Scram>,
    seen: mpsc::UnboundedSender<AuthSeen>,
) -> FakeServer {
    FakeServer::start(move |conn| {
        let seen = seen.clone();
        async move {
            let Ok(mut tls) = conn.accept_tls().await else {
                return;
            };
            read_header(&mut tls).await;
            tls.write(HEADER).await;
            let offered: String = mechanisms
                .iter()
                .map(|m| format!("<mechanism>{m}</mechanism>"))
                .collect();
            tls.write(&format!(
                "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
                 {offered}</mechanisms>{binding}</stream:features>"
            ))
            .await;
            let Some(text) = tls.read_until("</auth>").await else {
                let _ = seen.send(AuthSeen {
                    mechanism: "none".into(),
                    initial: String::new(),
                });
                return;
            };
            let at = text.find("mechanism=").expect("mechanism") + 11;
            let mechanism = text[at..]
                .split(['\'', '"'])
                .next()
                .unwrap_or("")
                .to_owned();
            let initial = unb64(content(&text, "auth"));
            tls.consume();
            let _ = seen.send(AuthSeen {
                mechanism,
                initial: initial.clone(),
            });
            let Some((server_first, success)) = scram else {
                tls.write(
                    "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>",
                )
                .await;
                return;
            };
            let nonce = initial.split(",r=").nth(1).unwrap_or("").to_owned();
            tls.write(&format!(
                "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</challenge>",
                b64(&server_first(&nonce))
            ))
            .await;
            if tls.read_until("</response>").await.is_none() {
                return;
            }
            tls.consume();
            tls.write(&format!(
                "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</success>",
                b64(success)
            ))
            .await;
            // A client that believed it would now restart the stream.
            if tls.read_until("<stream:stream").await.is_some() {
                let _ = seen.send(AuthSeen {
                    mechanism: "restarted the stream after an unproven success".into(),
                    initial: String::new(),
                });
            }
        }
    })
    .await
}

/// Connects over direct TLS and returns the first verdict: `Failed` or
/// `Reconnecting`.
async fn verdict(fake: &FakeServer, allow_plain: bool) -> (Account, ConnectionState) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(fake, TlsMode::DirectTls, dir.path());
    cfg.allow_plain = allow_plain;
    verdict_of(cfg).await
}

/// Connects with `cfg` and returns the first verdict: `Failed` or
/// `Reconnecting`.
async fn verdict_of(cfg: ClientConfig) -> (Account, ConnectionState) {
    let mut account = Account::new(cfg);
    account.client.connect().expect("connect");
    let Event::ConnectionState(state) = account
        .wait_for("a verdict", |e| {
            matches!(
                e,
                Event::ConnectionState(
                    ConnectionState::Failed { .. } | ConnectionState::Reconnecting { .. }
                )
            )
        })
        .await
    else {
        unreachable!()
    };
    (account, state)
}

fn refused_because(state: &ConnectionState, why: &str) -> bool {
    matches!(state, ConnectionState::Failed { reason: FailureReason::Authentication { detail } } if detail.contains(why))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_without_plus_is_used_on_tls_1_3_and_plain_is_never_sent_unasked() {
    init_logs();
    let (seen, mut auths) = mpsc::unbounded_channel();
    let fake = offering(&["PLAIN", "SCRAM-SHA-1"], None, seen).await;
    let (_alice, state) = verdict(&fake, true).await;
    let auth = auths.recv().await.expect("an auth");
    assert_eq!(auth.mechanism, "SCRAM-SHA-1", "{auth:?}");
    // We hold tls-exporter data the server did not offer to use: "y".
    assert!(auth.initial.starts_with("y,,n=alice,r="), "{auth:?}");
    assert!(matches!(state, ConnectionState::Failed { .. }), "{state:?}");

    let (seen, mut auths) = mpsc::unbounded_channel();
    let fake = offering(&["PLAIN", "ANONYMOUS"], None, seen).await;
    let (_alice, state) = verdict(&fake, false).await;
    assert!(refused_because(&state, "PLAIN"), "{state:?}");
    let auth = auths.recv().await.expect("the server's report");
    assert_eq!(auth.mechanism, "none", "the password went out: {auth:?}");

    // -PLUS offered, checking only the certificate's hash (a server behind
    // a TLS-terminating proxy): bound with tls-server-end-point.
    let (seen, mut auths) = mpsc::unbounded_channel();
    let fake = offering_binding(
        &["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"],
        "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>\
         <channel-binding type='tls-server-end-point'/></sasl-channel-binding>",
        None,
        seen,
    )
    .await;
    let (_alice, _) = verdict(&fake, false).await;
    let auth = auths.recv().await.expect("an auth");
    assert_eq!(auth.mechanism, "SCRAM-SHA-1-PLUS", "{auth:?}");
    assert!(
        auth.initial
            .starts_with("p=tls-server-end-point,,n=alice,r="),
        "{auth:?}"
    );

    // -PLUS offered, but only with a binding type we cannot produce
    // (rustls has no tls-unique): SCRAM without binding, flagged "n" (not
    // "y", which a binding server must reject as a downgrade).
    let (seen, mut auths) = mpsc::unbounded_channel();
    let fake = offering_binding(
        &["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"],
        "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>\
         <channel-binding type='tls-unique'/></sasl-channel-binding>",
        None,
        seen,
    )
    .await;
    let (_alice, _) = verdict(&fake, false).await;
    let auth = auths.recv().await.expect("an auth");
    assert_eq!(auth.mechanism, "SCRAM-SHA-1", "{auth:?}");
    assert!(auth.initial.starts_with("n,,n=alice,r="), "{auth:?}");

    // Allowed for the account, and no SCRAM offered: PLAIN.
    let (seen, mut auths) = mpsc::unbounded_channel();
    let fake = offering(&["PLAIN", "ANONYMOUS"], None, seen).await;
    let (_alice, _) = verdict(&fake, true).await;
    assert_eq!(auths.recv().await.expect("an auth").mechanism, "PLAIN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_prove_it_knows_the_password_is_refused() {
    init_logs();
    let (seen, mut auths) = mpsc::unbounded_channel();
    let fake = offering(
        &["SCRAM-SHA-1"],
        Some((
            |nonce| format!("r={nonce}fake,s={},i=4096", b64("salt")),
            "v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )),
        seen,
    )
    .await;
    let (_alice, state) = verdict(&fake, false).await;
    assert!(refused_because(&state, "not the real server"), "{state:?}");
    assert_eq!(
        auths.recv().await.expect("an auth").mechanism,
        "SCRAM-SHA-1"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Ok(after) = auths.try_recv() {
        panic!("{after:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_asking_for_endless_hashing_is_refused_at_once() {
    init_logs();
    let (seen, _auths) = mpsc::unbounded_channel();
    let fake = offering(
        &["SCRAM-SHA-256"],
        Some((
            |nonce| format!("r={nonce}fake,s={},i=4294967295", b64("salt")),
            "v=AAAA",
        )),
        seen,
    )
    .await;
    let started = std::time::Instant::now();
    let (_alice, state) = verdict(&fake, false).await;
    assert!(refused_because(&state, "iterations"), "{state:?}");
    assert!(started.elapsed() < WAIT, "it hashed before refusing");
}

/// XEP-0474: the server's first SCRAM message hashes what it offered
/// (here SCRAM-SHA-256-PLUS too, stripped from the features on the way):
/// the client stops before proving it knows the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_first_message_naming_stripped_mechanisms_is_a_downgrade() {
    init_logs();
    let (seen, _auths) = mpsc::unbounded_channel();
    let fake = offering(
        &["SCRAM-SHA-1"],
        Some((
            |nonce| {
                let offered = ring::digest::digest(
                    &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
                    b"SCRAM-SHA-1\x1eSCRAM-SHA-256-PLUS",
                );
                format!(
                    "r={nonce}fake,s={},i=4096,h={}",
                    b64("salt"),
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, offered)
                )
            },
            "v=AAAA",
        )),
        seen,
    )
    .await;
    let (_alice, state) = verdict(&fake, false).await;
    assert!(
        matches!(&state, ConnectionState::Failed { reason: FailureReason::Downgrade { detail } } if detail.contains("XEP-0474")),
        "{state:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_scram_login_a_server_offering_less_is_refused_as_a_downgrade() {
    init_logs();
    let server = jabberkit_testkit::server::TestServer::start().await;
    let jid = server.register("alice", common::PASSWORD).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (seen, mut auths) = mpsc::unbounded_channel();
    let fake = offering(&["PLAIN"], None, seen).await;

    // The real server: a SCRAM login is pinned.
    let mut cfg = common::config(
        &server,
        &jid,
        server.direct_tls_addr(),
        TlsMode::DirectTls,
        dir.path(),
    );
    cfg.allow_plain = true;
    let mut alice = Account::new(cfg.clone());
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    alice.client.disconnect().await;
    drop(alice);

    // The same account, the same store, an impostor offering only PLAIN
    // (which the app allows for servers that never had SCRAM).
    cfg.server = Some(fake.addr().to_string());
    cfg.extra_ca_pem = Some(format!("{}\n{}", server.ca_pem(), fake.ca_pem()));
    // The store holds a FAST token: the first attempt sends its proof with
    // the stream header (bound to that TLS session, useless to replay),
    // finds no SASL2 and retries reading the features first.
    let mut alice = Account::new(cfg);
    alice.client.connect().expect("connect");
    let Event::ConnectionState(state) = alice
        .wait_for("the verdict", |e| {
            matches!(e, Event::ConnectionState(ConnectionState::Failed { .. }))
        })
        .await
    else {
        unreachable!()
    };
    assert!(
        matches!(&state, ConnectionState::Failed { reason: FailureReason::Downgrade { detail } } if detail.contains("PLAIN")),
        "{state:?}"
    );
    let auth = auths.recv().await.expect("the server's report");
    assert_eq!(auth.mechanism, "none", "the password went out: {auth:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_bound_to_another_account_is_refused() {
    init_logs();
    let fake = FakeServer::start(|conn| async move {
        let Some(mut tls) = logged_in(conn).await else {
            return;
        };
        tls.write(
            "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
        )
        .await;
        if bind(&mut tls, "mallory@example.test/x").await.is_none() {
            return;
        }
        // Keep the stream open: the client must leave on its own.
        let _ = tls.read_until("</stream:stream>").await;
    })
    .await;
    let (_alice, state) = verdict(&fake, true).await;
    assert!(refused_because(&state, "mallory@example.test"), "{state:?}");
}

/// TLS, a PLAIN login and the stream restart: the client now waits for
/// the post-login features.
async fn logged_in(conn: Conn) -> Option<Conn> {
    let mut tls = conn.accept_tls().await.ok()?;
    read_header(&mut tls).await;
    tls.write(HEADER).await;
    tls.write(
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>",
    )
    .await;
    tls.read_until("</auth>").await?;
    tls.consume();
    tls.write("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .await;
    read_header(&mut tls).await;
    tls.write(HEADER).await;
    Some(tls)
}

const BIND_AND_SM: &str = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
    <sm xmlns='urn:xmpp:sm:3'/></stream:features>";

/// Answers the client's bind request with `jid`.
async fn bind(tls: &mut Conn, jid: &str) -> Option<()> {
    let request = tls.read_until("</iq>").await?;
    let at = request.find("id=")? + 4;
    let id = request[at..].split(['\'', '"']).next()?.to_owned();
    tls.consume();
    tls.write(&format!(
        "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <jid>{jid}</jid></bind></iq>"
    ))
    .await;
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_offers_no_binding_is_retried_not_a_crash() {
    init_logs();
    let fake = FakeServer::start(|conn| async move {
        let Some(mut tls) = logged_in(conn).await else {
            return;
        };
        tls.write("<stream:features/>").await;
        let _ = tls.read_until("</stream:stream>").await;
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&fake, TlsMode::DirectTls, dir.path());
    cfg.allow_plain = true;
    let mut alice = Account::new(cfg);
    alice.client.connect().expect("connect");
    // tokio-xmpp 6.0 panicked its worker here: the app saw a plain
    // disconnect and no retry (vendor/README.md, tokio-xmpp patch 4).
    wait_retried(&mut alice, 2).await;
    alice.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_in_answer_to_a_resumption_is_retried_not_a_crash() {
    init_logs();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = attempts.clone();
    let fake = FakeServer::start(move |conn| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            let Some(mut tls) = logged_in(conn).await else {
                return;
            };
            tls.write(BIND_AND_SM).await;
            if n == 0 {
                // A first session with resumable stream management...
                if bind(&mut tls, &format!("{JID}/x")).await.is_none()
                    || tls.read_until("<enable").await.is_none()
                {
                    return;
                }
                tls.consume();
                tls.write("<enabled xmlns='urn:xmpp:sm:3' id='s1' resume='true'/>")
                    .await;
                // ...that breaks once the client is online.
                tokio::time::sleep(Duration::from_millis(300)).await;
                return;
            }
            // Asked to resume, the server answers as if asked to enable.
            if tls.read_until("<resume").await.is_some() {
                tls.consume();
                tls.write("<enabled xmlns='urn:xmpp:sm:3' id='s2' resume='true'/>")
                    .await;
            }
            let _ = tls.read_until("</stream:stream>").await;
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&fake, TlsMode::DirectTls, dir.path());
    cfg.allow_plain = true;
    let mut alice = Account::new(cfg);
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    // The backoff counts the short first session too (connection/streak.rs).
    wait_retried(&mut alice, 3).await;
    assert!(
        attempts.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "the client kept trying"
    );
    alice.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_login_sends_the_fast_token_with_the_stream_header_in_one_flight() {
    init_logs();
    let server = jabberkit_testkit::server::TestServer::start().await;
    let jid = server.register("alice", common::PASSWORD).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = common::config(
        &server,
        &jid,
        server.direct_tls_addr(),
        TlsMode::DirectTls,
        dir.path(),
    );
    // The password login over SASL2 gets a FAST token.
    let mut alice = Account::new(cfg.clone());
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    alice.client.disconnect().await;
    drop(alice);

    // A server that says nothing until the client has spoken: the header
    // and the token's <authenticate/> must come unprompted.
    let (seen, mut firsts) = mpsc::unbounded_channel();
    let fake = FakeServer::start(move |conn| {
        let seen = seen.clone();
        async move {
            let Ok(mut tls) = conn.accept_tls().await else {
                return;
            };
            let first =
                tokio::time::timeout(Duration::from_secs(3), tls.read_until("</authenticate>"))
                    .await
                    .ok()
                    .flatten();
            let _ = seen.send(first.unwrap_or_default());
        }
    })
    .await;
    cfg.server = Some(fake.addr().to_string());
    cfg.extra_ca_pem = Some(format!("{}\n{}", server.ca_pem(), fake.ca_pem()));
    let alice = Account::new(cfg);
    alice.client.connect().expect("connect");
    let first = tokio::time::timeout(WAIT, firsts.recv())
        .await
        .expect("in time")
        .expect("a report");
    assert!(first.contains("<stream:stream"), "no header: {first}");
    assert!(
        first.contains("mechanism='HT-SHA-256-EXPR'")
            || first.contains("mechanism=\"HT-SHA-256-EXPR\""),
        "no FAST authenticate before the features: {first}"
    );
    assert!(first.contains("urn:xmpp:fast:0"), "{first}");
    assert!(
        !first.contains(&b64(common::PASSWORD)),
        "the password went out"
    );
    alice.client.disconnect().await;
}

/// The pin is what stops a downgrade: when it cannot be read, the client
/// does not log in (with any mechanism) and keeps retrying until it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_pin_that_cannot_be_read_stops_the_login_until_it_can() {
    init_logs();
    let server = jabberkit_testkit::server::TestServer::start().await;
    let jid = server.register("alice", common::PASSWORD).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = common::config(
        &server,
        &jid,
        server.direct_tls_addr(),
        TlsMode::DirectTls,
        dir.path(),
    );
    let mut alice = Account::new(cfg.clone());
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    alice.client.disconnect().await;
    drop(alice);

    // The pin's table becomes unreadable (a damaged store, say). The FAST
    // token goes too: a token login sends no password and is bound to the
    // connection, so the pin does not stop it.
    let file = dir.path().join(jabberkit::STORE_FILE);
    let db = rusqlite::Connection::open(&file).expect("open the store");
    db.execute_batch(
        "UPDATE login_agent SET fast_mechanism = NULL, fast_token = NULL, fast_expiry = NULL",
    )
    .expect("forget the token");
    let pin: String = db
        .query_row("SELECT mechanism FROM login_pin", [], |r| r.get(0))
        .expect("the first login pinned its mechanism");
    db.execute_batch("ALTER TABLE login_pin RENAME TO login_pin_away")
        .expect("hide the pin");

    let mut alice = Account::new(cfg);
    alice.client.connect().expect("connect");
    alice
        .wait_for("a retry", |e| {
            matches!(
                e,
                Event::ConnectionState(ConnectionState::Reconnecting { .. })
            )
        })
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, alice.events.recv()).await {
        assert!(
            !matches!(
                e,
                Event::ConnectionState(
                    ConnectionState::Online { .. } | ConnectionState::Failed { .. }
                )
            ),
            "logged in (or gave up) without its pin: {e:?}"
        );
    }

    // Readable again: the next retry logs in, and the pin is unchanged.
    db.execute_batch("ALTER TABLE login_pin_away RENAME TO login_pin")
        .expect("restore the pin");
    alice.wait_online().await;
    let after: String = db
        .query_row("SELECT mechanism FROM login_pin", [], |r| r.get(0))
        .expect("pin");
    assert_eq!(after, pin);
}

/// Stream management offered, but `<enable/>` answered with `<failed/>`:
/// the session has no acks, so a message written on it is settled as sent
/// and not written again on the next session (before, the features' offer
/// left it waiting for an ack that never came, and the next session sent
/// it again: a copy per reconnect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_management_refused_at_enable_means_no_acks_and_no_resends() {
    init_logs();
    let (copies_tx, mut copies) = mpsc::unbounded_channel::<usize>();
    let sessions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let fake = FakeServer::start(move |conn| {
        let copies_tx = copies_tx.clone();
        let n = sessions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            let Some(mut tls) = logged_in(conn).await else {
                return;
            };
            tls.write(BIND_AND_SM).await;
            if bind(&mut tls, &format!("{JID}/x{n}")).await.is_none()
                || tls.read_until("<enable").await.is_none()
            {
                return;
            }
            tls.consume();
            tls.write("<failed xmlns='urn:xmpp:sm:3'/>").await;
            while tls.read_until("only-once").await.is_some() {
                tls.consume();
                let _ = copies_tx.send(n);
                if n == 0 {
                    // The first session breaks once the message is out.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    return;
                }
            }
        }
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = config(&fake, TlsMode::DirectTls, dir.path());
    cfg.allow_plain = true;
    let mut alice = Account::new(cfg);
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    let id = alice
        .client
        .send("bob@example.test", "only-once")
        .expect("send");
    assert_eq!(copies.recv().await, Some(0), "written on the first session");
    alice.wait_online().await;
    let again = tokio::time::timeout(Duration::from_secs(3), copies.recv()).await;
    assert!(again.is_err(), "written again on session {again:?}");
    let m = alice.client.message(&id).expect("read").expect("stored");
    assert_eq!(m.state, jabberkit::DeliveryState::Sent, "{m:?}");
    alice.client.disconnect().await;
}
