//! Opening a store file: reopening, upgrading an older schema, refusing a
//! newer one, reading damaged rows back as errors, and one store shared by
//! several threads.

use std::path::Path;

use rusqlite::Connection;

use super::*;

#[test]
fn reopened_file_store_keeps_messages_and_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/store.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
        store.enqueue_outgoing(outgoing("m2", ALICE, 2)).unwrap();
        store.advance_state("m1", DeliveryState::Acked).unwrap();
        store
            .insert_incoming(NewIncoming {
                file_url: None,
                stanza_id: Some("s1"),
                ..incoming(BOB, 3)
            })
            .unwrap()
            .unwrap();
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.count_messages().unwrap(), 3);
    assert_eq!(ids(&store.outbox().unwrap()), ["m2"]);
    assert_eq!(
        store.message("m1").unwrap().unwrap().state,
        DeliveryState::Acked
    );
    assert_eq!(store.conversations().unwrap().len(), 2);
    // Dedup survives the restart.
    let again = NewIncoming {
        file_url: None,
        stanza_id: Some("s1"),
        ..incoming(BOB, 3)
    };
    assert_eq!(store.insert_incoming(again).unwrap(), None);
    let foreign_keys: bool = store
        .conn()
        .query_row("PRAGMA foreign_keys", [], |row| row.get(0))
        .unwrap();
    assert!(foreign_keys);
}

/// The schema, normalised so that only meaningful differences count.
fn schema(path: &Path) -> Vec<(String, String, String, String)> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        .unwrap();
    let rows = stmt
        .query_map([], |row| {
            let sql: Option<String> = row.get(3)?;
            let sql = sql
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, sql))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows
}

fn user_version_of(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn upgraded_schema_equals_fresh_schema_and_keeps_data() {
    for from in 1..SCHEMA_VERSION {
        upgrade_from(from);
    }
}

/// Upgrades a store written by a build with only the first `from`
/// migrations, and checks it against a fresh one.
fn upgrade_from(from: u32) {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.sqlite");
    let fresh = dir.path().join("fresh.sqlite");

    let old_id = "written-by-version-1";
    {
        let store = Store::open_at_version(&old, from).unwrap();
        assert_eq!(user_version_of(&old), i64::from(from));
        // What a build with only 001 wrote (its code knew no later columns).
        store
            .conn()
            .execute_batch(&format!(
                "INSERT INTO messages (id, seq, conversation, direction, sender, body, \
                 timestamp, origin_id, stanza_id, remote_id, state) \
                 VALUES ('{old_id}', 1, '{ALICE}', 'in', '{ALICE}', 'hello', 1700000001000, \
                 NULL, NULL, 'r1', 'received'); \
                 INSERT INTO conversations (peer, last_message_id, last_timestamp, last_seq) \
                 VALUES ('{ALICE}', '{old_id}', 1700000001000, 1);"
            ))
            .unwrap();
    }
    drop(Store::open(&fresh).unwrap());

    let store = Store::open(&old).unwrap();
    assert_eq!(schema(&old), schema(&fresh));
    assert_eq!(user_version_of(&old), i64::from(SCHEMA_VERSION));
    let kept = store.message(old_id).unwrap().unwrap();
    assert_eq!(kept.conversation, ALICE);
    assert_eq!(kept.failure_reason, None);
    assert_eq!(store.conversations().unwrap()[0].last_message.id, old_id);

    // The upgraded store works: dedup still holds and the outbox exists.
    let again = NewIncoming {
        file_url: None,
        remote_id: Some("r1"),
        ..incoming(ALICE, 1)
    };
    assert_eq!(store.insert_incoming(again).unwrap(), None);
    store.enqueue_outgoing(outgoing("m1", ALICE, 2)).unwrap();
    assert_eq!(ids(&store.outbox().unwrap()), ["m1"]);

    // Messages from before search existed are found (the backfill), and
    // the ones written since are too.
    assert_eq!(hit_ids(&store, "hello"), [old_id]);
    assert_eq!(hit_ids(&store, "hi"), ["m1"]);
    assert_fts_in_sync(&store);
    // What was there before unread counts existed counts as read; what
    // arrives afterwards does not.
    assert_eq!(store.unread(ALICE).unwrap(), 0);
    store.insert_incoming(incoming(ALICE, 3)).unwrap().unwrap();
    assert_eq!(store.unread(ALICE).unwrap(), 1);
    // The contact list starts empty and works.
    assert_eq!(store.roster().unwrap(), []);
    assert_eq!(store.roster_ver().unwrap(), None);
    store
        .replace_roster(Some("v1"), &[contact(BOB, Subscription::Both)])
        .unwrap();
    assert_eq!(store.roster().unwrap(), [contact(BOB, Subscription::Both)]);
    // Presence starts empty and works.
    assert_eq!(store.presences().unwrap(), []);
    store
        .set_presence(BOB, &resource("phone", Show::Away, 0), at(4))
        .unwrap();
    assert_eq!(store.presence(BOB).unwrap().unwrap().show, Some(Show::Away));
    // The archive position starts unknown and works.
    assert_eq!(store.archive_last_id().unwrap(), None);
    store.set_archive_last_id("A1").unwrap();
    assert_eq!(store.archive_last_id().unwrap().as_deref(), Some("A1"));
}

#[test]
fn database_from_a_newer_version_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE messages (id TEXT PRIMARY KEY, future_column BLOB);
             INSERT INTO messages VALUES ('keep-me', x'00ff');
             PRAGMA user_version = 999;",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();

    match Store::open(&path) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!(found, 999);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }

    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!dir.path().join("future.sqlite-wal").exists());
}

#[test]
fn malformed_row_is_reported_as_corrupt() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    store
        .conn()
        .execute("UPDATE messages SET state = 'bogus' WHERE id = 'm1'", [])
        .unwrap();
    assert!(matches!(
        store.message("m1"),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(store.outbox(), Err(StoreError::Corrupt { .. })));

    store
        .conn()
        .execute(
            "UPDATE messages SET state = 'queued', timestamp = 'yesterday' WHERE id = 'm1'",
            [],
        )
        .unwrap();
    assert!(matches!(
        store.message("m1"),
        Err(StoreError::Corrupt { .. })
    ));
    store
        .conn()
        .execute(
            "UPDATE messages SET timestamp = 9223372036854775807 WHERE id = 'm1'",
            [],
        )
        .unwrap();
    assert!(matches!(
        store.conversations(),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn store_is_shared_across_threads() {
    let store = std::sync::Arc::new(store());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let id = format!("t{t}-{i}");
                    store.enqueue_outgoing(outgoing(&id, ALICE, i)).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(store.count_messages().unwrap(), 100);
    assert_eq!(store.outbox().unwrap().len(), 100);
}
