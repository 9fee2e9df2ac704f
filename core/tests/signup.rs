//! Signing up from the app (XEP-0077) against a real server: a new
//! account that then logs in, a taken username, a certificate that does
//! not verify (nothing sent), and unusable input.

mod common;

use common::*;
use jabberkit::{sign_up, SignUpError, TlsMode};
use jabberkit_testkit::server::TestServer;

fn new_account(server: &TestServer, user: &str, dir: &std::path::Path) -> jabberkit::ClientConfig {
    let jid = format!("{user}@{}", server.domain());
    config(
        server,
        &jid,
        server.direct_tls_addr(),
        TlsMode::DirectTls,
        dir,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_account_is_created_then_logs_in_and_its_name_is_then_taken() {
    init_logs();
    let server = TestServer::start().await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let cfg = new_account(&server, "carol", dirs[0].path());

    sign_up(&cfg).await.expect("signed up");
    let mut carol = Account::new(cfg.clone());
    online(&mut carol).await;

    let mut again = new_account(&server, "carol", dirs[1].path());
    again.password = "another password".into();
    assert_eq!(sign_up(&again).await, Err(SignUpError::UsernameTaken));
    // The first password still logs in: the second sign-up changed nothing.
    carol.client.disconnect().await;
    online_then_gone(Account::new(cfg)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_to_an_unverified_server_and_bad_input_is_refused() {
    init_logs();
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = new_account(&server, "dave", dir.path());
    cfg.extra_ca_pem = None;
    assert!(
        matches!(sign_up(&cfg).await, Err(SignUpError::Certificate { .. })),
        "the test CA is not trusted without extra_ca_pem"
    );
    // Nothing was created: with the CA, the name is free.
    let mut cfg = new_account(&server, "dave", dir.path());
    sign_up(&cfg).await.expect("signed up");

    cfg.password = String::new();
    assert!(matches!(
        sign_up(&cfg).await,
        Err(SignUpError::InvalidInput { .. })
    ));
    cfg.password = PASSWORD.into();
    cfg.jid = server.domain().to_owned();
    assert!(matches!(
        sign_up(&cfg).await,
        Err(SignUpError::InvalidInput { .. })
    ));
}
