//! Full-text search: what it finds, how it ranks, what input it survives,
//! and that the index follows every change.

use rusqlite::params;

use super::*;
use crate::store::queries::{fts_expression, SEARCH_SQL, SEARCH_WINDOW};

/// Stores an incoming message from `from` with `body`.
fn said(store: &Store, from: &str, body: &str, secs: i64) -> Message {
    store
        .insert_incoming(NewIncoming {
            file_url: None,
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
        file_url: None,
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
