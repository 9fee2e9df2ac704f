//! The fast login against a real Prosody (mod_sasl2, sasl2_bind2,
//! sasl2_sm, sasl2_fast): a FAST token from the first password login
//! logs in later without the password, a refused token falls back to the
//! password on the same connection, a dropped link is resumed inline, and
//! a server without SASL2 still gets the classic login.

mod common;

use std::time::Duration;

use common::*;
use jabberkit::{FailureReason, TlsMode};
use jabberkit_testkit::proxy::FaultProxy;
use jabberkit_testkit::server::{ServerOptions, TestServer};

fn account(server: &TestServer, jid: &str, password: &str, dir: &std::path::Path) -> Account {
    let mut cfg = config(
        server,
        jid,
        server.direct_tls_addr(),
        TlsMode::DirectTls,
        dir,
    );
    cfg.password = password.to_owned();
    Account::new(cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_logs_in_with_the_fast_token_and_a_revoked_token_falls_back_to_the_password() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("alice", PASSWORD).await;
    let dir = tempfile::tempdir().expect("tmp");

    // The password login asks for a token and keeps it.
    online_then_gone(account(&server, &jid, PASSWORD, dir.path())).await;
    // The same store with a wrong password: only the token can log in.
    online_then_gone(account(&server, &jid, "not the password", dir.path())).await;

    // A password change revokes the tokens issued before it (Prosody
    // compares whole seconds: make sure the change comes later).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.register("alice", "a new password").await;
    // The refused token is dropped and the password tried on the same
    // connection: the old one fails for good, as a wrong password does.
    let reason = refused(account(&server, &jid, PASSWORD, dir.path())).await;
    assert!(
        matches!(reason, FailureReason::Authentication { .. }),
        "{reason:?}"
    );
    // With the new password: online, and a new token...
    online_then_gone(account(&server, &jid, "a new password", dir.path())).await;
    // ...that logs in without it again.
    online_then_gone(account(&server, &jid, "not the password", dir.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_never_sent_to_a_store_of_another_account_nor_survives_a_fresh_store() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("alice", PASSWORD).await;
    let (first, second) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    online_then_gone(account(&server, &jid, PASSWORD, first.path())).await;
    // Another installation (its own store) has no token: the wrong
    // password fails there.
    let reason = refused(account(&server, &jid, "not the password", second.path())).await;
    assert!(
        matches!(reason, FailureReason::Authentication { .. }),
        "{reason:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_link_is_resumed_inline_and_nothing_is_lost_or_doubled() {
    let server = TestServer::start().await;
    let Pair {
        alice,
        mut bob,
        alice_jid,
        bob_jid,
        dirs: _dirs,
    } = pair(&server).await;
    drop(alice);
    let proxy = FaultProxy::start(server.direct_tls_addr()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(
        &server,
        &alice_jid,
        proxy.addr(),
        TlsMode::DirectTls,
        dir.path(),
    );
    cfg.password = PASSWORD.to_owned();
    let mut alice = Account::new(cfg);
    online(&mut alice).await;
    online(&mut bob).await;

    for round in 0..3 {
        proxy.reset_all();
        let body = format!("after reset {round}");
        alice.client.send(&bob_jid, &body).expect("send");
        assert!(
            alice.wait_online().await,
            "round {round}: the session is resumed, not replaced"
        );
        let got = bob.receive_all(std::slice::from_ref(&body), WAIT).await;
        assert_eq!(got[&body], 1, "round {round}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stored = stored_bodies(&bob.client, &alice_jid, jabberkit::Direction::Incoming);
    for round in 0..3 {
        assert_eq!(stored.get(&format!("after reset {round}")), Some(&1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_sasl2_gets_the_classic_login() {
    init_logs();
    let server = TestServer::start_with(ServerOptions {
        no_sasl2: true,
        ..Default::default()
    })
    .await;
    let jid = server.register("alice", PASSWORD).await;
    let dir = tempfile::tempdir().expect("tmp");
    online_then_gone(account(&server, &jid, PASSWORD, dir.path())).await;
    // No token was issued: a wrong password cannot log in.
    let reason = refused(account(&server, &jid, "not the password", dir.path())).await;
    assert!(
        matches!(reason, FailureReason::Authentication { .. }),
        "{reason:?}"
    );
}
