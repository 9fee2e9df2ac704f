//! Two sessions that ask for the same resource, against a real server: it
//! keeps the newer one and ends the older one's stream with `<conflict/>`
//! (RFC 6120 §7.7.2.2). The older one must come back under another
//! resource, not take its own back: otherwise the two throw each other out
//! for as long as both run.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use jabberkit::{Event, TlsMode};
use jabberkit_testkit::server::TestServer;

/// How long both sessions must then stay as they are.
const CALM: Duration = Duration::from_secs(8);

fn account(server: &TestServer, jid: &str, dir: &Path) -> Account {
    Account::new(config(
        server,
        jid,
        server.direct_tls_addr(),
        TlsMode::DirectTls,
        dir,
    ))
}

/// The connection states `a` and `b` went through during `period`.
async fn states_during(a: &mut Account, b: &mut Account, period: Duration) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::sleep(period);
    tokio::pin!(deadline);
    loop {
        let (who, event) = tokio::select! {
            _ = &mut deadline => return seen,
            e = a.events.recv() => ("older", e),
            e = b.events.recv() => ("newer", e),
        };
        match event {
            Some(Event::ConnectionState(state)) => seen.push(format!("{who}: {state:?}")),
            Some(_) => {}
            None => panic!("the {who} client's events ended"),
        }
    }
}

/// Both online; then the older one is thrown out, comes back, and both
/// stay online through [`CALM`].
async fn the_older_gives_way(mut older: Account, mut newer: Account) {
    older.client.connect().expect("connect");
    older.wait_online().await;
    newer.client.connect().expect("connect");
    newer.wait_online().await;
    let resumed = older.wait_online().await;
    assert!(!resumed, "the session the server ended was resumed");
    let changes = states_during(&mut older, &mut newer, CALM).await;
    assert!(
        changes.is_empty(),
        "the two sessions kept taking the resource from each other: {changes:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_taken_by_another_session_is_left_to_it() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("alice", PASSWORD).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let phone = format!("{jid}/phone");
    the_older_gives_way(
        account(&server, &phone, dirs[0].path()),
        account(&server, &phone, dirs[1].path()),
    )
    .await;
}

/// A store copied to a second device (a restored backup) carries the
/// first one's user-agent id, from which a Bind2 server names the
/// resource: both would bind the same one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_store_logs_in_as_another_installation_once_thrown_out() {
    init_logs();
    let server = TestServer::start().await;
    let jid = server.register("alice", PASSWORD).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    // A first login keeps an id and a FAST token in the store...
    online_then_gone(account(&server, &jid, dirs[0].path())).await;
    // ...which is copied whole.
    for entry in std::fs::read_dir(dirs[0].path()).expect("store dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dirs[1].path().join(entry.file_name())).expect("copy");
    }
    the_older_gives_way(
        account(&server, &jid, dirs[0].path()),
        account(&server, &jid, dirs[1].path()),
    )
    .await;
}
