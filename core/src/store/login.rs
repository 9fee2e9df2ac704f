//! What the account's logins have proven and obtained: the mechanism a
//! later login must not fall below, this installation's user-agent id and
//! the FAST token of a fast reconnect.

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

/// A stored FAST token: mechanism, secret, expiry (Unix seconds).
pub(crate) type StoredToken = (String, String, i64);

impl Store {
    /// This installation's user-agent id, created (a random UUID) on first use.
    pub(crate) fn agent_id(&self) -> Result<String, StoreError> {
        // Read first: every login asks, and the writer may be busy with a
        // catch-up page.
        let known: Option<String> = self
            .read()
            .query_row("SELECT agent_id FROM login_agent WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?;
        if let Some(id) = known {
            return Ok(id);
        }
        let fresh = uuid::Uuid::new_v4().to_string();
        let conn = self.conn();
        conn.execute(
            "INSERT INTO login_agent (id, agent_id) VALUES (1, ?1) ON CONFLICT (id) DO NOTHING",
            [&fresh],
        )?;
        Ok(
            conn.query_row("SELECT agent_id FROM login_agent WHERE id = 1", [], |row| {
                row.get(0)
            })?,
        )
    }

    /// Replaces the user-agent id with a fresh one and forgets the FAST
    /// token, which servers tie to the old id. For a store copied to a
    /// second device (a restored backup): both would log in as one
    /// installation and take the same resource from each other.
    pub(crate) fn renew_agent_id(&self) -> Result<String, StoreError> {
        self.agent_id()?;
        let fresh = uuid::Uuid::new_v4().to_string();
        self.conn().execute(
            "UPDATE login_agent SET agent_id = ?1, fast_mechanism = NULL, fast_token = NULL, \
             fast_expiry = NULL WHERE id = 1",
            [&fresh],
        )?;
        Ok(fresh)
    }

    /// The FAST token, if one is kept.
    pub(crate) fn fast_token(&self) -> Result<Option<StoredToken>, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT fast_mechanism, fast_token, fast_expiry FROM login_agent \
                 WHERE id = 1 AND fast_token IS NOT NULL",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?)
    }

    /// Keeps a token (replacing any), or forgets it with `None`.
    pub(crate) fn set_fast_token(&self, token: Option<&StoredToken>) -> Result<(), StoreError> {
        self.agent_id()?;
        let (mechanism, secret, expiry) = match token {
            Some((m, s, e)) => (Some(m.as_str()), Some(s.as_str()), Some(*e)),
            None => (None, None, None),
        };
        self.conn().execute(
            "UPDATE login_agent SET fast_mechanism = ?1, fast_token = ?2, fast_expiry = ?3 \
             WHERE id = 1",
            rusqlite::params![mechanism, secret, expiry],
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

    #[test]
    fn the_agent_id_is_stable_and_the_token_kept_replaced_and_forgotten() {
        let store = Store::open_in_memory().expect("store");
        let id = store.agent_id().expect("id");
        assert_eq!(store.agent_id().expect("id"), id);
        assert_eq!(store.fast_token().expect("read"), None);
        let token = ("HT-SHA-256-EXPR".to_owned(), "secret".to_owned(), 42);
        store.set_fast_token(Some(&token)).expect("keep");
        assert_eq!(store.fast_token().expect("read"), Some(token));
        store.set_fast_token(None).expect("forget");
        assert_eq!(store.fast_token().expect("read"), None);
        assert_eq!(store.agent_id().expect("id"), id);
    }

    #[test]
    fn a_renewed_agent_id_is_new_and_drops_the_token() {
        let store = Store::open_in_memory().expect("store");
        let id = store.agent_id().expect("id");
        let token = ("HT-SHA-256-EXPR".to_owned(), "secret".to_owned(), 42);
        store.set_fast_token(Some(&token)).expect("keep");
        let fresh = store.renew_agent_id().expect("renew");
        assert_ne!(fresh, id);
        assert_eq!(store.agent_id().expect("id"), fresh);
        assert_eq!(store.fast_token().expect("read"), None);
    }
}
