//! The schema's numbered migrations and the code that applies them (see
//! "Conventions" in the module doc).

use rusqlite::{Connection, TransactionBehavior};

use super::{corrupt, StoreError};

/// Numbered migrations; entry `i` brings the schema to version `i + 1`.
/// Append only: a released migration is never edited.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_initial", include_str!("migrations/001_initial.sql")),
    ("002_outbox", include_str!("migrations/002_outbox.sql")),
    (
        "003_search_and_unread",
        include_str!("migrations/003_search_and_unread.sql"),
    ),
    ("004_roster", include_str!("migrations/004_roster.sql")),
    ("005_presence", include_str!("migrations/005_presence.sql")),
    ("006_archive", include_str!("migrations/006_archive.sql")),
    (
        "007_markers_and_corrections",
        include_str!("migrations/007_markers_and_corrections.sql"),
    ),
    (
        "008_pending_stanzas",
        include_str!("migrations/008_pending_stanzas.sql"),
    ),
    (
        "009_login_pin",
        include_str!("migrations/009_login_pin.sql"),
    ),
    (
        "010_fast_login",
        include_str!("migrations/010_fast_login.sql"),
    ),
    ("011_rooms", include_str!("migrations/011_rooms.sql")),
    (
        "012_room_position",
        include_str!("migrations/012_room_position.sql"),
    ),
    ("013_mentions", include_str!("migrations/013_mentions.sql")),
    (
        "014_room_floor",
        include_str!("migrations/014_room_floor.sql"),
    ),
    (
        "015_send_queue",
        include_str!("migrations/015_send_queue.sql"),
    ),
    ("016_files", include_str!("migrations/016_files.sql")),
    ("017_push", include_str!("migrations/017_push.sql")),
];

/// The schema version this build writes and understands.
pub(super) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(super) fn user_version(conn: &Connection) -> Result<u32, StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    u32::try_from(version).map_err(|_| corrupt(format!("schema version {version}")))
}

/// Applies the migrations after the current `user_version`, up to
/// `version`, each in its own transaction.
pub(super) fn migrate(conn: &mut Connection, version: u32) -> Result<(), StoreError> {
    for (step, (name, sql)) in (1..=version).zip(MIGRATIONS) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Read under the write lock: another process may have migrated.
        if user_version(&tx)? >= step {
            continue;
        }
        tx.execute_batch(sql).inspect_err(|e| {
            tracing::error!(migration = name, error = %e, "message store migration failed");
        })?;
        tx.pragma_update(None, "user_version", step)?;
        tx.commit()?;
        tracing::info!(migration = name, version = step, "message store migrated");
    }
    Ok(())
}
