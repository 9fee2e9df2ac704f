//! The contact list, presence and the archive position.

use super::*;
use crate::model::Change;

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
