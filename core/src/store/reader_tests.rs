//! UI reads go through their own connection: they never wait behind the
//! session's writes (a catch-up page, a roster replacement), and they see
//! only what is committed. Deterministic: the write is held open on
//! purpose; a read that waited for it would never return while it is held.
//! The latency figures are printed by `benches/store.rs`, not asserted.

use std::sync::mpsc;
use std::time::Duration;

use chrono::Utc;
use rusqlite::TransactionBehavior;

use super::*;

/// Far longer than any read takes, so only a read that is blocked hits it.
const BLOCKED: Duration = Duration::from_secs(10);

fn incoming<'a>(from: &'a str, body: &'a str, id: &'a str) -> NewIncoming<'a> {
    NewIncoming {
        file_url: None,
        from,
        remote_id: Some(id),
        origin_id: None,
        stanza_id: None,
        body,
        timestamp: Utc::now(),
        markable: false,
    }
}

#[test]
fn ui_reads_return_while_a_write_holds_the_writer_and_see_only_commits() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("s.sqlite3")).expect("open");
    store
        .insert_incoming(incoming("bob@example.test", "before", "m1"))
        .expect("insert");

    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (read_tx, read_rx) = mpsc::channel();
    let store = &store;
    std::thread::scope(|scope| {
        // The session's long write: the writer locked, a transaction open.
        scope.spawn(move || {
            let mut conn = store.conn();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .expect("begin");
            tx.execute(
                "UPDATE messages SET body = 'uncommitted' WHERE remote_id = 'm1'",
                [],
            )
            .expect("update");
            held_tx.send(()).expect("signal");
            release_rx.recv().expect("release");
            tx.commit().expect("commit");
        });
        held_rx.recv().expect("writer held");
        // What a UI reads meanwhile, from another thread.
        scope.spawn(move || {
            let history = store
                .history("bob@example.test", None, 10)
                .expect("history");
            let conversations = store.conversations().expect("conversations");
            let hits = store.search("before", 10).expect("search");
            let roster = store.roster().expect("roster");
            let _ = read_tx.send((history, conversations, hits, roster));
        });
        let read = read_rx.recv_timeout(BLOCKED);
        release_tx.send(()).expect("release");
        let (history, conversations, hits, roster) =
            read.expect("a UI read waited behind the session's write");
        assert_eq!(history[0].body, "before");
        assert_eq!(conversations[0].last_message.body, "before");
        assert_eq!(hits.len(), 1);
        assert!(roster.is_empty());
    });
    // Committed: the next read sees it.
    let history = store
        .history("bob@example.test", None, 10)
        .expect("history");
    assert_eq!(history[0].body, "uncommitted");
}

#[test]
fn the_reader_sees_a_write_as_soon_as_it_returns() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("s.sqlite3")).expect("open");
    for i in 0..50 {
        let id = format!("m{i}");
        let body = format!("body {i}");
        let m = store
            .insert_incoming(incoming("bob@example.test", &body, &id))
            .expect("insert")
            .expect("new");
        assert_eq!(store.message(&m.id).expect("read").expect("row").body, body);
        assert_eq!(store.unread("bob@example.test").expect("unread"), i + 1);
    }
}

#[test]
fn closing_the_store_leaves_no_wal_behind() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("s.sqlite3");
    let store = Store::open(&path).expect("open");
    store
        .insert_incoming(incoming("bob@example.test", "hello", "m1"))
        .expect("insert");
    assert_eq!(
        store
            .history("bob@example.test", None, 1)
            .expect("read")
            .len(),
        1
    );
    drop(store);
    let wal = dir.path().join("s.sqlite3-wal");
    assert!(!wal.exists(), "the WAL outlived the store");
}
