//! Channel binding against a real server: a login bound to the TLS
//! connection (SCRAM-*-PLUS) wherever the server can check one of the
//! binding types we can produce (XEP-0440 lists them).

mod common;

use common::{init_logs, Account};
use jabberkit::{ConnectionState, Event, FailureReason, TlsMode};
use jabberkit_testkit::server::{ServerKind, ServerOptions, TestServer};

/// The mechanism the store pinned after the login.
fn pinned(dir: &std::path::Path) -> String {
    let db = rusqlite::Connection::open(dir.join(jabberkit::STORE_FILE)).expect("store");
    db.query_row("SELECT mechanism FROM login_pin", [], |r| r.get(0))
        .expect("a pin")
}

async fn login_over(server: &TestServer, tls: TlsMode) -> String {
    let jid = server.register("alice", common::PASSWORD).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let via = match tls {
        TlsMode::DirectTls => server.direct_tls_addr(),
        _ => server.starttls_addr(),
    };
    let mut alice = Account::new(common::config(server, &jid, via, tls, dir.path()));
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    alice.client.disconnect().await;
    drop(alice);
    pinned(dir.path())
}

/// A Prosody limited to TLS 1.2; `None` (the test skips, and says so) on
/// an ejabberd run.
async fn tls12_prosody() -> Option<TestServer> {
    if ServerKind::from_env() == ServerKind::Ejabberd {
        eprintln!("skipped: needs a Prosody limited to TLS 1.2");
        return None;
    }
    init_logs();
    Some(
        TestServer::start_with(ServerOptions {
            tls12: true,
            ..Default::default()
        })
        .await,
    )
}

/// TLS 1.2 has no tls-exporter (RFC 9266 needs TLS 1.3), and rustls has no
/// tls-unique: the certificate's hash (tls-server-end-point, RFC 5929) is
/// what binds the login there. Before, such a login went unbound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_tls_1_2_the_login_is_bound_to_the_server_certificate() {
    let Some(server) = tls12_prosody().await else {
        return;
    };
    let mechanism = login_over(&server, TlsMode::DirectTls).await;
    assert!(mechanism.ends_with("-PLUS"), "unbound: {mechanism}");
}

/// FAST on TLS 1.2, where Prosody offers only `HT-SHA-256-UNIQ` (rustls
/// has no tls-unique) and `-NONE`: no token is asked for, since its proof
/// could not be bound (`HT-SHA-256-ENDP`, the certificate's hash, would
/// be; Prosody 13 does not offer it, ejabberd does). A later login with a
/// wrong password is refused: there is no token to get in with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_tls_1_2_no_unbound_fast_token_is_asked_for() {
    let Some(server) = tls12_prosody().await else {
        return;
    };
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
    let db = rusqlite::Connection::open(dir.path().join(jabberkit::STORE_FILE)).expect("store");
    let token: Option<String> = db
        .query_row("SELECT fast_mechanism FROM login_agent", [], |r| r.get(0))
        .expect("the agent row");
    assert_eq!(token, None);

    let mut wrong = cfg;
    wrong.password = "not the password".to_owned();
    let mut alice = Account::new(wrong);
    alice.client.connect().expect("connect");
    alice
        .wait_for("refused", |e| {
            matches!(
                e,
                Event::ConnectionState(ConnectionState::Failed {
                    reason: FailureReason::Authentication { .. }
                })
            )
        })
        .await;
}

/// On TLS 1.3, with both types listed, tls-exporter is used (and the
/// login is bound either way). On the test ejabberd, whose passwords are
/// stored for SCRAM-SHA-512 only, this is a SCRAM-SHA-512-PLUS login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_tls_1_3_the_login_is_bound() {
    init_logs();
    let server = TestServer::start().await;
    let mechanism = login_over(&server, TlsMode::StartTls).await;
    assert!(mechanism.ends_with("-PLUS"), "unbound: {mechanism}");
}
