use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;

use super::queries::{fts_expression, SEARCH_SQL, SEARCH_WINDOW};
use super::*;
use crate::model::Change;
use crate::model::{Contact, ResourcePresence, Show, Subscription};

const ME: &str = "me@example.org";
const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn outgoing<'a>(id: &'a str, to: &'a str, secs: i64) -> NewOutgoing<'a> {
    NewOutgoing {
        id,
        own_jid: ME,
        to,
        body: "hi",
        timestamp: at(secs),
    }
}

fn incoming(from: &str, secs: i64) -> NewIncoming<'_> {
    NewIncoming {
        markable: false,
        from,
        remote_id: None,
        origin_id: None,
        stanza_id: None,
        body: "hello",
        timestamp: at(secs),
    }
}

fn ids(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

fn bodies(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

fn store() -> Store {
    Store::open_in_memory().unwrap()
}

#[test]
fn enqueued_messages_are_stored_queued_and_listed_in_outbox_order() {
    let store = store();
    let first = store.enqueue_outgoing(outgoing("m1", ALICE, 10)).unwrap();
    store.enqueue_outgoing(outgoing("m2", BOB, 5)).unwrap();
    store.enqueue_outgoing(outgoing("m3", ALICE, 7)).unwrap();

    assert_eq!(first.state, DeliveryState::Queued);
    assert_eq!(first.direction, Direction::Outgoing);
    assert_eq!(first.origin_id.as_deref(), Some("m1"));
    assert_eq!(first.sender, ME);
    assert_eq!(first.conversation, ALICE);
    assert_eq!(first.timestamp, at(10));
    assert_eq!(store.message("m1").unwrap(), Some(first));
    // Outbox order is enqueue order, not timestamp order.
    assert_eq!(ids(&store.outbox().unwrap()), ["m1", "m2", "m3"]);
}

#[test]
fn enqueueing_the_same_id_twice_is_an_error_and_changes_nothing() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    assert!(store.enqueue_outgoing(outgoing("m1", BOB, 2)).is_err());
    assert_eq!(store.count_messages().unwrap(), 1);
    assert_eq!(ids(&store.outbox().unwrap()), ["m1"]);
    assert_eq!(store.conversations().unwrap().len(), 1);
}

#[test]
fn timestamps_keep_millisecond_precision() {
    let store = store();
    let ts = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
    let stored = store
        .enqueue_outgoing(NewOutgoing {
            timestamp: ts + chrono::Duration::microseconds(456),
            ..outgoing("m1", ALICE, 0)
        })
        .unwrap();
    assert_eq!(stored.timestamp, ts);
}

#[test]
fn state_only_moves_forward() {
    use DeliveryState::*;
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();

    let sent = store.advance_state("m1", Sent).unwrap().unwrap();
    assert_eq!(sent.state, Sent);
    assert_eq!(store.advance_state("m1", Sent).unwrap(), None);
    assert_eq!(store.advance_state("m1", Queued).unwrap(), None);
    assert_eq!(store.advance_state("m1", Received).unwrap(), None);
    assert_eq!(
        store.advance_state("m1", Delivered).unwrap().unwrap().state,
        Delivered
    );
    assert_eq!(store.advance_state("m1", Acked).unwrap(), None);
    assert_eq!(store.advance_state("m1", Failed).unwrap(), None);
    assert_eq!(store.fail("m1", "too late").unwrap(), None);
    assert_eq!(store.message("m1").unwrap().unwrap().state, Delivered);

    assert_eq!(store.advance_state("unknown", Sent).unwrap(), None);
}

#[test]
fn state_rules() {
    use DeliveryState::*;
    let all = [Queued, Sent, Acked, Delivered, Failed, Received];
    let allowed: Vec<_> = all
        .iter()
        .flat_map(|&from| all.iter().map(move |&to| (from, to)))
        .filter(|&(from, to)| from.can_advance_to(to))
        .collect();
    assert_eq!(
        allowed,
        [
            (Queued, Sent),
            (Queued, Acked),
            (Queued, Delivered),
            (Queued, Failed),
            (Sent, Acked),
            (Sent, Delivered),
            (Sent, Failed),
            (Acked, Delivered),
            (Acked, Failed),
        ]
    );
    for state in all {
        assert_eq!(state.as_str().parse::<DeliveryState>(), Ok(state));
    }
    assert!("bogus".parse::<DeliveryState>().is_err());
    for direction in [Direction::Incoming, Direction::Outgoing] {
        assert_eq!(direction.as_str().parse::<Direction>(), Ok(direction));
    }
}

#[test]
fn sent_message_stays_in_outbox_until_acked() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    store.enqueue_outgoing(outgoing("m2", ALICE, 2)).unwrap();

    store
        .advance_state("m1", DeliveryState::Sent)
        .unwrap()
        .unwrap();
    assert_eq!(ids(&store.outbox().unwrap()), ["m1", "m2"]);

    store
        .advance_state("m1", DeliveryState::Acked)
        .unwrap()
        .unwrap();
    assert_eq!(ids(&store.outbox().unwrap()), ["m2"]);
    assert_eq!(store.note_attempt("m1").unwrap(), None);
}

#[test]
fn receipt_before_ack_takes_message_out_of_outbox() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    store.advance_state("m1", DeliveryState::Sent).unwrap();
    let delivered = store.mark_delivered(ALICE, "m1").unwrap().unwrap();
    assert_eq!(delivered.state, DeliveryState::Delivered);
    assert!(store.outbox().unwrap().is_empty());
}

#[test]
fn failed_message_leaves_outbox_and_keeps_its_reason() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    store.enqueue_outgoing(outgoing("m2", ALICE, 2)).unwrap();
    store.advance_state("m1", DeliveryState::Sent).unwrap();

    let failed = store.fail("m1", "service-unavailable").unwrap().unwrap();
    assert_eq!(failed.state, DeliveryState::Failed);
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("service-unavailable")
    );
    assert_eq!(store.message("m1").unwrap(), Some(failed));
    assert_eq!(ids(&store.outbox().unwrap()), ["m2"]);
    // Failed is final.
    assert_eq!(
        store.advance_state("m1", DeliveryState::Acked).unwrap(),
        None
    );
    assert_eq!(store.mark_delivered(ALICE, "m1").unwrap(), None);
}

#[test]
fn attempts_and_errors_are_counted_on_the_outbox_entry() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    assert_eq!(store.note_attempt("m1").unwrap(), Some(1));
    assert_eq!(store.note_attempt("m1").unwrap(), Some(2));
    assert!(store.note_error("m1", "connection lost").unwrap());
    assert!(!store.note_error("unknown", "x").unwrap());
    assert_eq!(store.note_attempt("unknown").unwrap(), None);

    let (attempts, error): (i64, Option<String>) = store
        .conn()
        .query_row(
            "SELECT attempts, last_error FROM outbox WHERE message_id = 'm1'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((attempts, error.as_deref()), (2, Some("connection lost")));
    // Still queued: a recoverable error does not change the state.
    assert_eq!(
        store.message("m1").unwrap().unwrap().state,
        DeliveryState::Queued
    );
}

#[test]
fn incoming_message_is_stored_as_received() {
    let store = store();
    let stored = store
        .insert_incoming(NewIncoming {
            remote_id: Some("r1"),
            origin_id: Some("o1"),
            stanza_id: Some("s1"),
            ..incoming(ALICE, 3)
        })
        .unwrap()
        .unwrap();
    assert_eq!(stored.direction, Direction::Incoming);
    assert_eq!(stored.state, DeliveryState::Received);
    assert_eq!(stored.conversation, ALICE);
    assert_eq!(stored.sender, ALICE);
    assert_eq!(stored.origin_id.as_deref(), Some("o1"));
    assert_eq!(stored.stanza_id.as_deref(), Some("s1"));
    assert_eq!(stored.timestamp, at(3));
    assert_eq!(store.message(&stored.id).unwrap(), Some(stored.clone()));
    // Incoming messages never change state.
    assert_eq!(
        store
            .advance_state(&stored.id, DeliveryState::Delivered)
            .unwrap(),
        None
    );
    assert!(store.outbox().unwrap().is_empty());
}

#[test]
fn duplicate_stanza_id_is_stored_once() {
    let store = store();
    let first = NewIncoming {
        stanza_id: Some("s1"),
        remote_id: Some("r1"),
        ..incoming(ALICE, 1)
    };
    assert!(store.insert_incoming(first).unwrap().is_some());
    // Same server stanza-id, even with other client ids (e.g. from MAM).
    let again = NewIncoming {
        stanza_id: Some("s1"),
        remote_id: Some("r2"),
        body: "copy",
        ..incoming(ALICE, 2)
    };
    assert_eq!(store.insert_incoming(again).unwrap(), None);
    assert_eq!(store.count_messages().unwrap(), 1);
    // The duplicate did not touch the conversation either.
    let conversations = store.conversations().unwrap();
    assert_eq!(conversations[0].last_message.body, "hello");
}

#[test]
fn duplicate_origin_id_from_same_sender_is_stored_once() {
    let store = store();
    let live = NewIncoming {
        origin_id: Some("o1"),
        remote_id: Some("r1"),
        ..incoming(ALICE, 1)
    };
    assert!(store.insert_incoming(live).unwrap().is_some());
    // The archive copy carries a stanza-id the live one lacked.
    let from_archive = NewIncoming {
        stanza_id: Some("s9"),
        ..live
    };
    assert_eq!(store.insert_incoming(from_archive).unwrap(), None);
    // Another client's origin-id may collide with it: not a duplicate.
    let other_sender = NewIncoming {
        origin_id: Some("o1"),
        ..incoming(BOB, 1)
    };
    assert!(store.insert_incoming(other_sender).unwrap().is_some());
    assert_eq!(store.count_messages().unwrap(), 2);
}

#[test]
fn duplicate_remote_id_without_origin_id_is_stored_once() {
    let store = store();
    let first = NewIncoming {
        remote_id: Some("r1"),
        ..incoming(ALICE, 1)
    };
    assert!(store.insert_incoming(first).unwrap().is_some());
    assert_eq!(store.insert_incoming(first).unwrap(), None);
    // Without any id there is nothing to dedup on.
    assert!(store.insert_incoming(incoming(ALICE, 2)).unwrap().is_some());
    assert!(store.insert_incoming(incoming(ALICE, 2)).unwrap().is_some());
    assert_eq!(store.count_messages().unwrap(), 3);
}

#[test]
fn own_message_echoed_back_with_its_origin_id_is_a_duplicate() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    let echo = NewIncoming {
        origin_id: Some("m1"),
        ..incoming(ME, 1)
    };
    assert_eq!(store.insert_incoming(echo).unwrap(), None);
    assert_eq!(store.count_messages().unwrap(), 1);
}

#[test]
fn receipt_from_another_jid_changes_nothing() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    store.advance_state("m1", DeliveryState::Acked).unwrap();

    assert_eq!(store.mark_delivered(BOB, "m1").unwrap(), None);
    assert_eq!(store.mark_delivered(ALICE, "unknown").unwrap(), None);
    assert_eq!(
        store.message("m1").unwrap().unwrap().state,
        DeliveryState::Acked
    );

    // Nor does a "receipt" for a message the peer sent us.
    let theirs = store.insert_incoming(incoming(ALICE, 2)).unwrap().unwrap();
    assert_eq!(store.mark_delivered(ALICE, &theirs.id).unwrap(), None);

    assert_eq!(
        store.mark_delivered(ALICE, "m1").unwrap().unwrap().state,
        DeliveryState::Delivered
    );
}

#[test]
fn history_pages_backwards_oldest_first_with_stable_ties() {
    let store = store();
    // Five messages, three of them in the same millisecond, inserted out of
    // timestamp order, plus noise in another conversation.
    store.enqueue_outgoing(outgoing("a", ALICE, 1)).unwrap();
    store.enqueue_outgoing(outgoing("d", ALICE, 5)).unwrap();
    store.enqueue_outgoing(outgoing("e", ALICE, 5)).unwrap();
    store.enqueue_outgoing(outgoing("x", BOB, 3)).unwrap();
    store.enqueue_outgoing(outgoing("f", ALICE, 5)).unwrap();
    store.enqueue_outgoing(outgoing("b", ALICE, 2)).unwrap();

    let newest = store.history(ALICE, None, 2).unwrap();
    assert_eq!(ids(&newest), ["e", "f"]);
    let older = store.history(ALICE, Some("e"), 2).unwrap();
    assert_eq!(ids(&older), ["b", "d"]);
    let oldest = store.history(ALICE, Some("b"), 2).unwrap();
    assert_eq!(ids(&oldest), ["a"]);
    assert!(store.history(ALICE, Some("a"), 2).unwrap().is_empty());

    assert_eq!(
        ids(&store.history(ALICE, None, 100).unwrap()),
        ["a", "b", "d", "e", "f"]
    );
    assert!(store.history(ALICE, None, 0).unwrap().is_empty());
    // An anchor from another conversation, or an unknown one: empty page.
    assert!(store.history(ALICE, Some("x"), 10).unwrap().is_empty());
    assert!(store.history(ALICE, Some("nope"), 10).unwrap().is_empty());
    assert!(store
        .history("nobody@example.org", None, 10)
        .unwrap()
        .is_empty());
}

#[test]
fn history_query_uses_the_conversation_index() {
    let store = store();
    let conn = store.conn();
    let plan: Vec<String> = conn
        .prepare(&format!(
            "EXPLAIN QUERY PLAN {}",
            select_message!(
                "WHERE m.conversation = ?1 AND (m.timestamp, m.seq) < (?2, ?3) \
                 ORDER BY m.timestamp DESC, m.seq DESC LIMIT ?4"
            )
        ))
        .unwrap()
        .query_map(params![ALICE, 1_i64, 1_i64, 10_i64], |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("USING INDEX messages_by_conversation (conversation=? AND"),
        "{plan}"
    );
    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
}

#[test]
fn conversations_are_ordered_by_last_activity() {
    let store = store();
    store.enqueue_outgoing(outgoing("a1", ALICE, 10)).unwrap();
    store.insert_incoming(incoming(BOB, 20)).unwrap().unwrap();
    assert_eq!(
        store
            .conversations()
            .unwrap()
            .iter()
            .map(|c| c.with.as_str())
            .collect::<Vec<_>>(),
        [BOB, ALICE]
    );

    store.enqueue_outgoing(outgoing("a2", ALICE, 30)).unwrap();
    // Archive backfill of an old message does not move Bob to the top.
    store
        .insert_incoming(NewIncoming {
            body: "old",
            ..incoming(BOB, 5)
        })
        .unwrap()
        .unwrap();
    let conversations = store.conversations().unwrap();
    assert_eq!(conversations.len(), 2);
    assert_eq!(conversations[0].with, ALICE);
    assert_eq!(conversations[0].last_message.id, "a2");
    assert_eq!(conversations[1].with, BOB);
    assert_eq!(bodies(&[conversations[1].last_message.clone()]), ["hello"]);

    // Same timestamp: the later insert is the last message.
    store.enqueue_outgoing(outgoing("a3", ALICE, 30)).unwrap();
    assert_eq!(store.conversations().unwrap()[0].last_message.id, "a3");
}

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

fn resource(name: &str, show: Show, priority: i8) -> ResourcePresence {
    ResourcePresence {
        resource: name.into(),
        show,
        status: Some(format!("{name} status")),
        priority,
    }
}

#[test]
fn presence_is_kept_per_resource_and_added_up_per_contact() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
    assert_eq!(store.presence(BOB).unwrap(), None);
    store
        .set_presence(BOB, &resource("phone", Show::Away, 0), at(1))
        .unwrap();
    store
        .set_presence(BOB, &resource("laptop", Show::Online, 0), at(2))
        .unwrap();
    store
        .set_presence(ALICE, &resource("", Show::DoNotDisturb, -1), at(3))
        .unwrap();
    let bob = store.presence(BOB).unwrap().unwrap();
    assert_eq!(bob.show, Some(Show::Online));
    assert_eq!(bob.status.as_deref(), Some("laptop status"));
    assert_eq!(
        bob.resources,
        [
            resource("laptop", Show::Online, 0),
            resource("phone", Show::Away, 0)
        ]
    );
    // An update replaces the resource's row.
    store
        .set_presence(BOB, &resource("laptop", Show::ExtendedAway, 0), at(4))
        .unwrap();
    assert_eq!(store.presence(BOB).unwrap().unwrap().show, Some(Show::Away));
    let all: Vec<_> = store
        .presences()
        .unwrap()
        .into_iter()
        .map(|c| c.jid)
        .collect();
    assert_eq!(all, [ALICE, BOB]);
    assert_eq!(
        store.presence(ALICE).unwrap().unwrap().resources[0].priority,
        -1
    );

    // One resource leaves, then all of them (bare-JID unavailable).
    store.remove_presence(BOB, Some("laptop")).unwrap();
    assert_eq!(store.presence(BOB).unwrap().unwrap().resources.len(), 1);
    store
        .set_presence(BOB, &resource("laptop", Show::Online, 0), at(5))
        .unwrap();
    store.remove_presence(BOB, None).unwrap();
    assert_eq!(store.presence(BOB).unwrap(), None);
    store.clear_presence().unwrap();
    assert_eq!(store.presences().unwrap(), []);
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

#[test]
fn last_received_from_a_sender_ignores_our_own_messages_and_other_senders() {
    let store = store();
    assert_eq!(store.last_received_from(ALICE).unwrap(), None);
    store.insert_incoming(incoming(ALICE, 3)).unwrap().unwrap();
    store
        .insert_incoming(NewIncoming {
            remote_id: Some("later"),
            ..incoming(ALICE, 7)
        })
        .unwrap()
        .unwrap();
    store.enqueue_outgoing(outgoing("mine", ALICE, 9)).unwrap();
    assert_eq!(store.last_received_from(ALICE).unwrap(), Some(at(7)));
}

// Search.

/// Stores an incoming message from `from` with `body`.
fn said(store: &Store, from: &str, body: &str, secs: i64) -> Message {
    store
        .insert_incoming(NewIncoming {
            body,
            ..incoming(from, secs)
        })
        .unwrap()
        .unwrap()
}

fn hit_bodies(store: &Store, query: &str) -> Vec<String> {
    store
        .search(query, 100)
        .unwrap()
        .into_iter()
        .map(|hit| hit.message.body)
        .collect()
}

fn hit_ids(store: &Store, query: &str) -> Vec<String> {
    store
        .search(query, 100)
        .unwrap()
        .into_iter()
        .map(|hit| hit.message.id)
        .collect()
}

/// FTS5's own check that the index matches the messages table exactly.
fn assert_fts_in_sync(store: &Store) {
    store
        .conn()
        .execute(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
            [],
        )
        .unwrap();
}

#[test]
fn bundled_sqlite_has_fts5() {
    let store = store();
    let conn = store.conn();
    let enabled: bool = conn
        .query_row(
            "SELECT sqlite_compileoption_used('ENABLE_FTS5')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(enabled);
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts' AND sql LIKE '%fts5%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);
}

#[test]
fn search_finds_words_ignoring_case_and_accents() {
    let store = store();
    said(&store, ALICE, "Un café au lait, s'il te plaît", 1);
    said(&store, BOB, "Meet at the CAFE?", 2);
    store
        .enqueue_outgoing(NewOutgoing {
            body: "no coffee for me",
            ..outgoing("m1", ALICE, 3)
        })
        .unwrap();

    assert_eq!(
        hit_bodies(&store, "cafe"),
        ["Meet at the CAFE?", "Un café au lait, s'il te plaît"]
    );
    assert_eq!(hit_bodies(&store, "CAFÉ").len(), 2);
    assert_eq!(
        hit_bodies(&store, "plait"),
        ["Un café au lait, s'il te plaît"]
    );
    // Outgoing messages are searchable too.
    assert_eq!(hit_ids(&store, "coffee"), ["m1"]);
    assert!(hit_bodies(&store, "tea").is_empty());
}

#[test]
fn search_matches_every_word_and_the_last_one_as_a_prefix() {
    let store = store();
    said(&store, ALICE, "the coffee shop opens late", 1);
    said(&store, ALICE, "a latte at the coffee shop", 2);
    said(&store, ALICE, "tea shop", 3);

    // Search-as-you-type: the word being typed is a prefix.
    let mut found = hit_bodies(&store, "coffee lat");
    found.sort();
    assert_eq!(
        found,
        ["a latte at the coffee shop", "the coffee shop opens late"]
    );
    assert!(hit_bodies(&store, "caf").is_empty());
    assert_eq!(hit_bodies(&store, "t").len(), 3);
    // Every word must match; only the last one is a prefix.
    assert_eq!(hit_bodies(&store, "tea sh"), ["tea shop"]);
    assert!(hit_bodies(&store, "cof shop").is_empty());
    assert!(hit_bodies(&store, "tea coffee").is_empty());
}

#[test]
fn search_ranks_better_matches_first_and_newer_on_a_tie() {
    let store = store();
    let once = said(
        &store,
        ALICE,
        "we could talk about the weather, the news, or maybe coffee",
        1,
    );
    let twice = said(&store, BOB, "coffee? coffee!", 2);
    let old_same = said(&store, ALICE, "coffee time", 3);
    let new_same = said(&store, BOB, "coffee time", 4);

    assert_eq!(
        hit_ids(&store, "coffee"),
        [twice.id, new_same.id, old_same.id, once.id]
    );
    // The limit keeps the best.
    let best = store.search("coffee", 1).unwrap();
    assert_eq!(best.len(), 1);
    assert_eq!(best[0].message.body, "coffee? coffee!");
    assert!(store.search("coffee", 0).unwrap().is_empty());
}

#[test]
fn search_ranks_only_the_newest_matches() {
    let store = store();
    // The best match of all is the oldest, outside the window.
    let oldest = said(&store, ALICE, "tea tea tea tea and crumpets", 0);
    for i in 0..SEARCH_WINDOW {
        said(
            &store,
            BOB,
            "a long sentence that mentions tea only once",
            1 + i64::from(i),
        );
    }
    let hits = store.search("tea", 5).unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|h| h.message.id != oldest.id));
    // Inside the window, ranking still applies.
    let newest_best = said(&store, ALICE, "tea tea", 10_000);
    assert_eq!(
        store.search("tea", 1).unwrap()[0].message.id,
        newest_best.id
    );
    // A rarer word's old match is found.
    assert_eq!(hit_ids(&store, "tea crumpets"), [oldest.id]);
}

#[test]
fn search_snippets_bracket_the_matches() {
    let store = store();
    let short = said(&store, ALICE, "Un café au lait", 1);
    let long_body = "one two three four five six seven eight nine ten eleven \
                     twelve needle fourteen fifteen sixteen seventeen eighteen \
                     nineteen twenty twenty-one twenty-two twenty-three";
    said(&store, BOB, long_body, 2);

    let hits = store.search("cafe", 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].message, short);
    assert_eq!(hits[0].snippet, "Un [café] au lait");

    let hits = store.search("needle", 10).unwrap();
    assert_eq!(hits.len(), 1);
    let snippet = &hits[0].snippet;
    assert!(snippet.contains("[needle]"), "{snippet}");
    assert!(
        snippet.starts_with('…') && snippet.ends_with('…'),
        "{snippet}"
    );
    let words = snippet.trim_matches('…').split_whitespace().count();
    assert!(words <= 10, "{snippet}");

    // A prefix match brackets the whole word.
    assert_eq!(
        store.search("lai", 10).unwrap()[0].snippet,
        "Un café au [lait]"
    );
}

#[test]
fn search_treats_any_input_as_plain_words() {
    let store = store();
    said(
        &store,
        ALICE,
        r#"she said "yes" or NEAR(no) -- it's 50:50 (maybe)"#,
        1,
    );
    said(&store, BOB, "plain message", 2);

    let hostile = [
        "\"",
        "\"\"",
        "\"\"\"",
        "\"unterminated",
        "*",
        "**",
        "a*b",
        "NEAR(",
        "NEAR(a b",
        "NEAR(a b, 2)",
        "OR",
        "a OR",
        "OR b",
        "AND",
        "NOT",
        "a NOT",
        "-",
        "-a",
        "--",
        ":",
        "body:",
        "body:yes",
        "{body}:yes",
        "-body:yes",
        "(",
        ")",
        "()",
        "(a OR b",
        "^",
        "^yes",
        "+",
        "yes +",
        "'",
        "it''s",
        "'; DROP TABLE messages; --",
        "\\",
        "a\0b",
        "\0",
        "\u{1}\u{7f}",
        "…",
        "☕",
        "\t\n\r",
    ];
    for query in hostile {
        if let Err(e) = store.search(query, 10) {
            panic!("{query:?} failed: {e}");
        }
    }
    assert_eq!(store.count_messages().unwrap(), 2);

    // The punctuation is part of the text, not of the query language.
    let quoted = [
        "\"yes\"",
        "OR",
        "NEAR(no",
        "it's",
        "50:50",
        "(maybe)",
        "-- said",
        "SHE yes* no",
    ];
    for query in quoted {
        assert_eq!(hit_bodies(&store, query).len(), 1, "{query:?}");
    }
    assert_eq!(hit_bodies(&store, "plain\0message"), ["plain message"]);
}

#[test]
fn blank_search_finds_nothing() {
    let store = store();
    said(&store, ALICE, "anything", 1);
    for query in ["", " ", "\t\n", "\0"] {
        assert!(store.search(query, 10).unwrap().is_empty(), "{query:?}");
    }
}

#[test]
fn search_follows_inserts_and_state_changes() {
    let store = store();
    assert!(hit_bodies(&store, "hello").is_empty());
    said(&store, ALICE, "hello there", 1);
    assert_eq!(hit_bodies(&store, "hello"), ["hello there"]);
    store
        .enqueue_outgoing(NewOutgoing {
            body: "hello back",
            ..outgoing("m1", ALICE, 2)
        })
        .unwrap();
    store.advance_state("m1", DeliveryState::Sent).unwrap();
    store.fail("m1", "remote-server-not-found").unwrap();
    // A duplicate adds nothing to the index.
    let first = NewIncoming {
        remote_id: Some("r1"),
        body: "hello again",
        ..incoming(BOB, 3)
    };
    store.insert_incoming(first).unwrap().unwrap();
    assert_eq!(store.insert_incoming(first).unwrap(), None);

    assert_eq!(
        hit_bodies(&store, "hello"),
        ["hello again", "hello back", "hello there"]
    );
    let failed = &store.search("back", 10).unwrap()[0].message;
    assert_eq!(failed.state, DeliveryState::Failed);
    assert_fts_in_sync(&store);
}

#[test]
fn search_index_follows_edits_and_deletes_of_messages() {
    // No API edits or deletes messages yet; the triggers must already cope.
    let store = store();
    let old = said(&store, ALICE, "first draft", 1);
    said(&store, ALICE, "latest", 2);
    store
        .conn()
        .execute(
            "UPDATE messages SET body = 'second version' WHERE id = ?1",
            [&old.id],
        )
        .unwrap();
    assert!(hit_bodies(&store, "draft").is_empty());
    assert_eq!(hit_bodies(&store, "second"), ["second version"]);
    assert_fts_in_sync(&store);

    store
        .conn()
        .execute("DELETE FROM messages WHERE id = ?1", [&old.id])
        .unwrap();
    assert!(hit_bodies(&store, "second").is_empty());
    assert_eq!(hit_bodies(&store, "latest"), ["latest"]);
    assert_fts_in_sync(&store);
}

#[test]
fn reopened_store_is_still_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    {
        let store = Store::open(&path).unwrap();
        said(&store, ALICE, "remember the milk", 1);
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(hit_bodies(&store, "milk"), ["remember the milk"]);
}

#[test]
fn search_query_uses_the_full_text_index() {
    let store = store();
    let conn = store.conn();
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {SEARCH_SQL}"))
        .unwrap()
        .query_map(params!["\"coffee\"*", 10_i64, 0_i64], |row| row.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join("\n");
    // FTS5 answers the MATCH (its index string holds an M) and the window's
    // rowid bound (`>`), then each hit is one lookup of its message by seq.
    assert!(
        plan.lines()
            .any(|l| l.starts_with("SCAN messages_fts VIRTUAL TABLE INDEX")
                && l.contains(":M")
                && l.contains('>')),
        "{plan}"
    );
    assert!(plan.contains("SEARCH m USING INDEX"), "{plan}");
    assert!(plan.contains("(seq=?)"), "{plan}");
    assert!(
        !plan
            .lines()
            .any(|l| l == "SCAN m" || l.starts_with("SCAN m ")),
        "{plan}"
    );
}

#[test]
fn fts_expression_quotes_every_word_and_prefixes_the_last() {
    assert_eq!(fts_expression(""), None);
    assert_eq!(fts_expression(" \t\0 "), None);
    assert_eq!(fts_expression("caf").as_deref(), Some(r#""caf"*"#));
    assert_eq!(
        fts_expression(r#" say "hi" OR NEAR( "#).as_deref(),
        Some(r#""say" """hi""" "OR" "NEAR("*"#)
    );
}

// Unread counts.

#[test]
fn unread_counts_only_new_incoming_messages() {
    let store = store();
    assert_eq!(store.unread(ALICE).unwrap(), 0);
    let first = NewIncoming {
        stanza_id: Some("s1"),
        ..incoming(ALICE, 1)
    };
    store.insert_incoming(first).unwrap().unwrap();
    store.insert_incoming(incoming(ALICE, 2)).unwrap().unwrap();
    // Neither a copy nor our own messages count.
    assert_eq!(store.insert_incoming(first).unwrap(), None);
    store.enqueue_outgoing(outgoing("m1", ALICE, 3)).unwrap();
    store.enqueue_outgoing(outgoing("m2", BOB, 4)).unwrap();
    let echo = NewIncoming {
        origin_id: Some("m1"),
        ..incoming(ME, 5)
    };
    assert_eq!(store.insert_incoming(echo).unwrap(), None);

    assert_eq!(store.unread(ALICE).unwrap(), 2);
    assert_eq!(store.unread(BOB).unwrap(), 0);
    assert_eq!(store.unread(ME).unwrap(), 0);
    let unread: Vec<(String, u32)> = store
        .conversations()
        .unwrap()
        .into_iter()
        .map(|c| (c.with, c.unread))
        .collect();
    assert_eq!(unread, [(BOB.to_owned(), 0), (ALICE.to_owned(), 2)]);
}

#[test]
fn mark_read_resets_the_count_and_returns_it() {
    let store = store();
    store.insert_incoming(incoming(ALICE, 1)).unwrap().unwrap();
    store.insert_incoming(incoming(ALICE, 2)).unwrap().unwrap();
    store.insert_incoming(incoming(BOB, 3)).unwrap().unwrap();

    assert_eq!(store.mark_read(ALICE).unwrap(), 2);
    assert_eq!(store.unread(ALICE).unwrap(), 0);
    assert_eq!(store.mark_read(ALICE).unwrap(), 0);
    // Other conversations keep theirs; unknown ones have none.
    assert_eq!(store.unread(BOB).unwrap(), 1);
    assert_eq!(store.mark_read("nobody@example.org").unwrap(), 0);

    store.insert_incoming(incoming(ALICE, 4)).unwrap().unwrap();
    let conversations = store.conversations().unwrap();
    assert_eq!(conversations[0].with, ALICE);
    assert_eq!(conversations[0].unread, 1);
    assert_eq!(conversations[1].unread, 1);
}

#[test]
fn unread_count_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store.insert_incoming(incoming(ALICE, 1)).unwrap().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.unread(ALICE).unwrap(), 1);
    assert_eq!(store.conversations().unwrap()[0].unread, 1);
}

#[test]
fn malformed_unread_count_is_reported_as_corrupt() {
    let store = store();
    store.insert_incoming(incoming(ALICE, 1)).unwrap().unwrap();
    store
        .conn()
        .execute("UPDATE conversations SET unread = -1", [])
        .unwrap();
    assert!(matches!(
        store.unread(ALICE),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.mark_read(ALICE),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.conversations(),
        Err(StoreError::Corrupt { .. })
    ));
}

fn copy<'a>(
    origin_id: Option<&'a str>,
    remote_id: Option<&'a str>,
    secs: i64,
) -> NewOutgoingCopy<'a> {
    NewOutgoingCopy {
        own_jid: ME,
        to: ALICE,
        origin_id,
        remote_id,
        body: "from my laptop",
        timestamp: at(secs),
    }
}

#[test]
fn outgoing_copy_is_stored_acked_outside_the_outbox_and_updates_the_conversation() {
    let store = store();
    store.insert_incoming(incoming(ALICE, 1)).unwrap().unwrap();
    let m = store
        .insert_outgoing_copy(copy(Some("o1"), Some("r1"), 2))
        .unwrap()
        .unwrap();
    assert_eq!(m.direction, Direction::Outgoing);
    assert_eq!(m.state, DeliveryState::Acked);
    assert_eq!((m.conversation.as_str(), m.sender.as_str()), (ALICE, ME));
    assert_eq!(m.origin_id.as_deref(), Some("o1"));
    assert_eq!(m.timestamp, at(2));
    assert!(store.outbox().unwrap().is_empty());
    let conversations = store.conversations().unwrap();
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].last_message, m);
    // Our own words do not count as unread.
    assert_eq!(conversations[0].unread, 1);
    assert_eq!(
        bodies(&store.history(ALICE, None, 10).unwrap()),
        ["hello", "from my laptop"]
    );
    // Only its receipt can move it on.
    assert_eq!(
        store.mark_delivered(ALICE, &m.id).unwrap().map(|m| m.state),
        Some(DeliveryState::Delivered)
    );
}

#[test]
fn outgoing_copy_is_stored_once_by_origin_id_or_stanza_id() {
    let store = store();
    assert!(store
        .insert_outgoing_copy(copy(Some("o1"), Some("r1"), 1))
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .insert_outgoing_copy(copy(Some("o1"), Some("r1"), 1))
            .unwrap(),
        None
    );
    // Without an origin-id the stanza @id is the key.
    assert!(store
        .insert_outgoing_copy(copy(None, Some("r2"), 2))
        .unwrap()
        .is_some());
    assert_eq!(
        store
            .insert_outgoing_copy(copy(None, Some("r2"), 2))
            .unwrap(),
        None
    );
    assert_eq!(store.count_messages().unwrap(), 2);
}

#[test]
fn copy_of_a_message_we_sent_from_here_is_a_duplicate() {
    let store = store();
    store.enqueue_outgoing(outgoing("m1", ALICE, 1)).unwrap();
    assert_eq!(
        store
            .insert_outgoing_copy(copy(Some("m1"), Some("m1"), 1))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .insert_outgoing_copy(copy(None, Some("m1"), 1))
            .unwrap(),
        None
    );
    assert_eq!(store.count_messages().unwrap(), 1);
    // The original stays in the outbox, untouched.
    assert_eq!(ids(&store.outbox().unwrap()), ["m1"]);
}

#[test]
fn peer_reusing_our_origin_id_does_not_hide_our_copy() {
    // Dedup is per sender: a peer cannot make us drop our own message.
    let store = store();
    let theirs = NewIncoming {
        origin_id: Some("o1"),
        ..incoming(ALICE, 1)
    };
    store.insert_incoming(theirs).unwrap().unwrap();
    assert!(store
        .insert_outgoing_copy(copy(Some("o1"), None, 2))
        .unwrap()
        .is_some());
}

fn contact(jid: &str, subscription: Subscription) -> Contact {
    Contact {
        jid: jid.into(),
        name: None,
        groups: Vec::new(),
        subscription,
        ask: false,
        pending_in: false,
    }
}

#[test]
fn fetched_roster_replaces_the_stored_one_with_its_version() {
    let store = store();
    let bob = Contact {
        name: Some("Bob".into()),
        groups: vec!["Friends".into(), "Work".into()],
        ask: true,
        ..contact(BOB, Subscription::None)
    };
    store
        .replace_roster(Some("v1"), &[bob.clone(), contact(ALICE, Subscription::To)])
        .unwrap();
    assert_eq!(store.roster_ver().unwrap().as_deref(), Some("v1"));
    assert_eq!(
        store.roster().unwrap(),
        [contact(ALICE, Subscription::To), bob]
    );
    // A later fetch is the whole roster: bob is gone, alice changed.
    store
        .replace_roster(Some("v2"), &[contact(ALICE, Subscription::Both)])
        .unwrap();
    assert_eq!(
        store.roster().unwrap(),
        [contact(ALICE, Subscription::Both)]
    );
    assert_eq!(store.roster_ver().unwrap().as_deref(), Some("v2"));
    assert_fk_clean(&store);
}

#[test]
fn pushes_add_change_and_remove_one_contact() {
    let store = store();
    store
        .replace_roster(Some("v1"), &[contact(ALICE, Subscription::To)])
        .unwrap();
    let bob = Contact {
        groups: vec!["Work".into()],
        ..contact(BOB, Subscription::From)
    };
    store
        .apply_roster_push(Some("v2"), &[Change::Set(bob.clone())])
        .unwrap();
    assert_eq!(
        store.roster().unwrap(),
        [contact(ALICE, Subscription::To), bob]
    );
    // A push without a version keeps the stored one.
    store
        .apply_roster_push(None, &[Change::Remove(ALICE.into())])
        .unwrap();
    assert_eq!(store.roster_ver().unwrap().as_deref(), Some("v2"));
    assert_eq!(store.roster().unwrap().len(), 1);
    store
        .apply_roster_push(Some("v3"), &[Change::Remove(BOB.into())])
        .unwrap();
    assert_eq!(store.roster().unwrap(), []);
    assert_eq!(store.roster_ver().unwrap().as_deref(), Some("v3"));
    assert_fk_clean(&store);
}

#[test]
fn unanswered_requests_survive_fetches_until_answered() {
    let store = store();
    // A stranger asks: listed, off the roster.
    store.set_pending_in(BOB, true).unwrap();
    let pending_bob = Contact {
        pending_in: true,
        ..contact(BOB, Subscription::None)
    };
    assert_eq!(store.roster().unwrap(), std::slice::from_ref(&pending_bob));
    store
        .replace_roster(Some("v1"), &[contact(ALICE, Subscription::To)])
        .unwrap();
    assert_eq!(
        store.roster().unwrap(),
        [contact(ALICE, Subscription::To), pending_bob.clone()]
    );
    // Denied: a stranger is forgotten.
    store.set_pending_in(BOB, false).unwrap();
    assert_eq!(store.roster().unwrap(), [contact(ALICE, Subscription::To)]);
    // A contact asks: a push that does not grant it keeps the request, one
    // that grants it (from/both) answers it.
    store.set_pending_in(ALICE, true).unwrap();
    store
        .apply_roster_push(None, &[Change::Set(contact(ALICE, Subscription::To))])
        .unwrap();
    assert!(store.contact(ALICE).unwrap().unwrap().pending_in);
    store
        .apply_roster_push(None, &[Change::Set(contact(ALICE, Subscription::Both))])
        .unwrap();
    assert_eq!(
        store.contact(ALICE).unwrap(),
        Some(contact(ALICE, Subscription::Both))
    );
    // Answering a contact keeps the contact.
    store.set_pending_in(ALICE, true).unwrap();
    store.set_pending_in(ALICE, false).unwrap();
    assert_eq!(
        store.roster().unwrap(),
        [contact(ALICE, Subscription::Both)]
    );
}

#[test]
fn roster_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store
            .replace_roster(Some("v9"), &[contact(ALICE, Subscription::Both)])
            .unwrap();
        store.set_pending_in(BOB, true).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.roster_ver().unwrap().as_deref(), Some("v9"));
    assert_eq!(store.roster().unwrap().len(), 2);
}

#[test]
fn archive_position_is_replaced_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.archive_last_id().unwrap(), None);
        store.set_archive_last_id("A1").unwrap();
        store.set_archive_last_id("A2").unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.archive_last_id().unwrap().as_deref(), Some("A2"));
    let rows: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM archive_meta", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn archived_copy_of_a_live_message_is_a_duplicate_and_not_unread_twice() {
    let store = store();
    // Live: the server's stanza-id and the sender's origin-id.
    let live = NewIncoming {
        origin_id: Some("o1"),
        stanza_id: Some("A1"),
        ..incoming(ALICE, 3)
    };
    store.insert_incoming(live).unwrap().unwrap();
    // From the archive: the archive id is the same stanza-id.
    let by_archive_id = NewIncoming {
        stanza_id: Some("A1"),
        ..incoming(ALICE, 3)
    };
    assert_eq!(store.insert_incoming(by_archive_id).unwrap(), None);
    // A copy that came without the stanza-id (offline storage): origin-id.
    let by_origin_id = NewIncoming {
        origin_id: Some("o1"),
        stanza_id: Some("A-other"),
        ..incoming(ALICE, 3)
    };
    assert_eq!(store.insert_incoming(by_origin_id).unwrap(), None);
    assert_eq!(store.unread(ALICE).unwrap(), 1);
    assert_eq!(store.count_messages().unwrap(), 1);
}

#[test]
fn malformed_subscription_is_reported_as_corrupt() {
    let store = store();
    store
        .replace_roster(None, &[contact(ALICE, Subscription::To)])
        .unwrap();
    // Bypass the CHECK as a damaged or foreign file could.
    let conn = store.conn();
    conn.execute_batch(
        "PRAGMA ignore_check_constraints = ON; \
         UPDATE roster_items SET subscription = 'sideways';",
    )
    .unwrap();
    drop(conn);
    assert!(matches!(store.roster(), Err(StoreError::Corrupt { .. })));
}

fn assert_fk_clean(store: &Store) {
    let orphans: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM roster_groups WHERE jid NOT IN (SELECT jid FROM roster_items)",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
}
