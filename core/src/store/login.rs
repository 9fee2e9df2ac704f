//! What the account's logins have proven: the mechanism a later login
//! must not fall below.

use rusqlite::OptionalExtension;

use super::{Store, StoreError};

impl Store {
    /// The pinned SASL mechanism's name, if any login succeeded yet.
    pub(crate) fn login_pin(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()
            .query_row("SELECT mechanism FROM login_pin WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Pins `mechanism` (the caller only ever raises it).
    pub(crate) fn pin_login(&self, mechanism: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO login_pin (id, mechanism) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET mechanism = excluded.mechanism",
            [mechanism],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[test]
    fn the_pin_is_kept_and_replaced() {
        let store = Store::open_in_memory().expect("store");
        assert_eq!(store.login_pin().expect("read"), None);
        store.pin_login("SCRAM-SHA-1").expect("pin");
        store.pin_login("SCRAM-SHA-256-PLUS").expect("pin");
        assert_eq!(
            store.login_pin().expect("read").as_deref(),
            Some("SCRAM-SHA-256-PLUS")
        );
    }
}
