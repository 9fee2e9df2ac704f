//! The account's push registrations (migration 017): one the app wants
//! enabled, and any it replaced or turned off, until our server confirmed
//! their disabling.

use rusqlite::{params, TransactionBehavior};

use super::{Store, StoreError};
use crate::model::Secret;

/// A push registration and what we want of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PushRow {
    pub service: String,
    pub node: String,
    pub secret: Option<Secret>,
    /// Enable it (`true`) or disable it, then forget it.
    pub wanted: bool,
}

impl Store {
    /// The app wants pushes to `service`/`node`: any other registration is
    /// to be disabled.
    pub(crate) fn want_push(
        &self,
        service: &str,
        node: &str,
        secret: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("UPDATE push_registrations SET wanted = 0", [])?;
        tx.execute(
            "INSERT INTO push_registrations (service, node, secret, wanted) \
             VALUES (?1, ?2, ?3, 1) \
             ON CONFLICT (service, node) DO UPDATE SET secret = excluded.secret, wanted = 1",
            params![service, node, secret],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The app wants no pushes: every registration is to be disabled.
    pub(crate) fn want_no_push(&self) -> Result<(), StoreError> {
        self.conn()
            .execute("UPDATE push_registrations SET wanted = 0", [])?;
        Ok(())
    }

    /// Every registration, enabled first.
    pub(crate) fn push_registrations(&self) -> Result<Vec<PushRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT service, node, secret, wanted FROM push_registrations \
             ORDER BY wanted DESC, service, node",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(PushRow {
                service: row.get(0)?,
                node: row.get(1)?,
                secret: row.get::<_, Option<String>>(2)?.map(Secret::new),
                wanted: row.get::<_, i64>(3)? != 0,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Our server confirmed that `service`/`node` is disabled: forgotten,
    /// unless the app wants it again meanwhile.
    pub(crate) fn push_disabled(&self, service: &str, node: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM push_registrations WHERE service = ?1 AND node = ?2 AND wanted = 0",
            params![service, node],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_registration_replaces_the_old_one_which_is_disabled_first() {
        let store = Store::open_in_memory().unwrap();
        store
            .want_push("push.example.org", "n1", Some("s1"))
            .unwrap();
        store.want_push("push.example.org", "n2", None).unwrap();
        let rows = store.push_registrations().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].node.as_str(), rows[0].wanted), ("n2", true));
        assert_eq!((rows[1].node.as_str(), rows[1].wanted), ("n1", false));
        assert_eq!(rows[1].secret.as_ref().map(Secret::expose), Some("s1"));
        store.push_disabled("push.example.org", "n1").unwrap();
        // Only a registration to disable is forgotten.
        store.push_disabled("push.example.org", "n2").unwrap();
        let rows = store.push_registrations().unwrap();
        assert_eq!(rows.len(), 1);
        store.want_no_push().unwrap();
        assert!(!store.push_registrations().unwrap()[0].wanted);
    }
}
