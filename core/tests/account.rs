//! The account on its server (XEP-0077) through the core: a new password
//! is what later logins use, the old one is refused; a removed account
//! ends the session and can no longer log in. Against Prosody, and
//! ejabberd in CI's second-server step.

mod common;

use common::*;
use jabberkit::{AccountError, ConnectionState, Event, FailureReason, TlsMode};
use std::time::Duration;

use jabberkit_testkit::proxy::{FaultProxy, Mode};
use jabberkit_testkit::server::{ServerKind, ServerOptions, TestServer};

fn with_password(server: &TestServer, jid: &str, password: &str, dir: &std::path::Path) -> Account {
    let mut cfg = config(
        server,
        jid,
        server.direct_tls_addr(),
        TlsMode::DirectTls,
        dir,
    );
    cfg.password = password.into();
    Account::new(cfg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_password_is_used_by_later_logins_and_the_old_one_is_refused() {
    // On Prosody without SASL2 every login is a password login (no FAST
    // token to stand in for it), so the client's relogin proves it uses
    // the new password.
    let server = TestServer::start_with(ServerOptions {
        no_sasl2: ServerKind::from_env() == ServerKind::Prosody,
        ..ServerOptions::default()
    })
    .await;
    let Pair {
        mut alice,
        alice_jid,
        dirs,
        ..
    } = pair(&server).await;
    // Offline: nothing is sent.
    assert_eq!(
        alice.client.change_password("horse battery staple 2").await,
        Err(AccountError::NotConnected)
    );
    online(&mut alice).await;
    assert!(matches!(
        alice.client.change_password("").await,
        Err(AccountError::InvalidInput { .. })
    ));
    alice
        .client
        .change_password("horse battery staple 2")
        .await
        .expect("changed");

    // The same client logs in again (its FAST token may be revoked: then
    // with the new password).
    alice.client.disconnect().await;
    alice.client.connect().expect("connect");
    alice.wait_online().await;
    alice.client.disconnect().await;

    // A device with the old password is refused; with the new one, in.
    let old = tempfile::tempdir().expect("tmp");
    let reason = refused(with_password(&server, &alice_jid, PASSWORD, old.path())).await;
    assert!(
        matches!(reason, FailureReason::Authentication { .. }),
        "{reason:?}"
    );
    let new = tempfile::tempdir().expect("tmp");
    online_then_gone(with_password(
        &server,
        &alice_jid,
        "horse battery staple 2",
        new.path(),
    ))
    .await;
    drop(dirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_account_ends_the_session_and_can_no_longer_log_in() {
    let server = TestServer::start().await;
    let Pair {
        mut alice,
        alice_jid,
        dirs: _dirs,
        ..
    } = pair(&server).await;
    online(&mut alice).await;
    alice.client.delete_account().await.expect("removed");
    alice
        .wait_for("disconnected", |e| {
            matches!(e, Event::ConnectionState(ConnectionState::Disconnected))
        })
        .await;
    // Not reconnecting: the state stays.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(alice.client.state(), ConnectionState::Disconnected);
    assert_eq!(
        alice.client.delete_account().await,
        Err(AccountError::NotConnected)
    );
    // This client cannot log back in either: its FAST token is forgotten
    // (ejabberd 24.12 would still accept it).
    alice.client.connect().expect("connect");
    match alice
        .wait_for("refused", |e| {
            matches!(e, Event::ConnectionState(ConnectionState::Failed { .. }))
        })
        .await
    {
        Event::ConnectionState(ConnectionState::Failed { reason }) => assert!(
            matches!(reason, FailureReason::Authentication { .. }),
            "{reason:?}"
        ),
        _ => unreachable!(),
    }

    let other = tempfile::tempdir().expect("tmp");
    let reason = refused(with_password(&server, &alice_jid, PASSWORD, other.path())).await;
    assert!(
        matches!(reason, FailureReason::Authentication { .. }),
        "{reason:?}"
    );
}

/// The server removes the account, but its answer is lost with the link
/// (here: cut while the answer is on its way back). The next login is
/// refused: the call still says the account is gone, and the session ends
/// disconnected, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_whose_answer_is_lost_is_still_reported_done() {
    if ServerKind::from_env() == ServerKind::Ejabberd {
        // ejabberd 24.12 still accepts the removed account's FAST token
        // (the session it binds is then closed at once): the login is not
        // refused, so the outcome stays `Unknown` there.
        eprintln!("skipped: ejabberd lets a removed account's FAST token log in");
        return;
    }
    let server = TestServer::start().await;
    let Pair {
        alice_jid, dirs, ..
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
    // 1 s each way: the request reaches the server after 1 s, its answer
    // would be back after 2 s; the link is cut at 1.5 s.
    proxy.set_mode(Mode::Delay(Duration::from_secs(1)));
    let client = alice.client.clone();
    let removal = tokio::spawn(async move { client.delete_account().await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.set_mode(Mode::Pass);
    proxy.reset_all();
    assert_eq!(removal.await.expect("task"), Ok(()));
    alice
        .wait_for("disconnected", |e| {
            matches!(e, Event::ConnectionState(ConnectionState::Disconnected))
        })
        .await;
    assert_eq!(alice.client.state(), ConnectionState::Disconnected);
}
