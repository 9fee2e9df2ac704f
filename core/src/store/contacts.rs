//! The contact list and contacts' presence (see "Contacts" and
//! "Presence" in the store's module doc).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::{column_error, corrupt, Store, StoreError};
use crate::model::{Change, Contact, ContactPresence, ResourcePresence, Show, Subscription};

/// The contact list (see "Contacts" in the module doc).
impl Store {
    /// Every contact, and everyone who asked to become one, by JID.
    pub fn roster(&self) -> Result<Vec<Contact>, StoreError> {
        let conn = self.read();
        // One snapshot for both reads: a roster push committed between
        // them would pair a contact's new name with its old groups.
        let conn = conn.unchecked_transaction()?;
        let mut groups: std::collections::HashMap<String, Vec<String>> = Default::default();
        let mut stmt =
            conn.prepare_cached("SELECT jid, name FROM roster_groups ORDER BY jid, name")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            groups
                .entry(row.get(0).map_err(column_error)?)
                .or_default()
                .push(row.get(1).map_err(column_error)?);
        }
        let mut stmt = conn.prepare_cached(
            "SELECT jid, name, subscription, ask, pending_in FROM roster_items ORDER BY jid",
        )?;
        let mut rows = stmt.query([])?;
        let mut contacts = Vec::new();
        while let Some(row) = rows.next()? {
            let jid: String = row.get(0).map_err(column_error)?;
            let subscription: String = row.get(2).map_err(column_error)?;
            let subscription = Subscription::parse(&subscription)
                .ok_or_else(|| corrupt(format!("contact {jid}: subscription {subscription:?}")))?;
            contacts.push(Contact {
                name: row.get(1).map_err(column_error)?,
                subscription,
                ask: row.get(3).map_err(column_error)?,
                pending_in: row.get(4).map_err(column_error)?,
                groups: groups.remove(&jid).unwrap_or_default(),
                jid,
            });
        }
        Ok(contacts)
    }

    /// One contact by bare JID.
    pub fn contact(&self, jid: &str) -> Result<Option<Contact>, StoreError> {
        Ok(self.roster()?.into_iter().find(|c| c.jid == jid))
    }

    /// The version of the stored roster, to send with the next fetch.
    pub fn roster_ver(&self) -> Result<Option<String>, StoreError> {
        let ver = self
            .read()
            .query_row("SELECT ver FROM roster_meta WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(ver.flatten())
    }

    /// The newest archive id (XEP-0313) a catch-up reached: the next one
    /// starts after it. `None` before the first catch-up.
    pub fn archive_last_id(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()
            .query_row("SELECT last_id FROM archive_meta WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Records how far a catch-up got in our archive.
    pub(crate) fn set_archive_last_id(&self, last_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO archive_meta (id, last_id) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id",
            [last_id],
        )?;
        Ok(())
    }

    /// Replaces the roster with a full fetch result. Unanswered requests
    /// stay, off the roster unless `contacts` lists them.
    pub fn replace_roster(
        &self,
        ver: Option<&str>,
        contacts: &[Contact],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM roster_items WHERE pending_in = 0", [])?;
        tx.execute("DELETE FROM roster_groups", [])?;
        tx.execute(
            "UPDATE roster_items SET name = NULL, subscription = 'none', ask = 0, on_roster = 0",
            [],
        )?;
        for c in contacts {
            upsert_contact(&tx, c)?;
        }
        set_roster_ver(&tx, ver)?;
        tx.commit()?;
        Ok(())
    }

    /// Applies a roster push and stores its version (if it has one).
    pub(crate) fn apply_roster_push(
        &self,
        ver: Option<&str>,
        changes: &[Change],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for change in changes {
            match change {
                Change::Set(c) => upsert_contact(&tx, c)?,
                Change::Remove(jid) => {
                    tx.execute("DELETE FROM roster_items WHERE jid = ?1", [jid])?;
                }
            }
        }
        if ver.is_some() {
            set_roster_ver(&tx, ver)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records that `jid` asks to see our presence (`true`), or that the
    /// request was answered or withdrawn (`false`, which forgets a
    /// requester who is not on the roster).
    pub(crate) fn set_pending_in(&self, jid: &str, pending: bool) -> Result<(), StoreError> {
        let conn = self.conn();
        if pending {
            conn.execute(
                "INSERT INTO roster_items (jid, pending_in, on_roster) VALUES (?1, 1, 0) \
                 ON CONFLICT (jid) DO UPDATE SET pending_in = 1",
                [jid],
            )?;
        } else {
            conn.execute(
                "DELETE FROM roster_items WHERE jid = ?1 AND on_roster = 0",
                [jid],
            )?;
            conn.execute(
                "UPDATE roster_items SET pending_in = 0 WHERE jid = ?1",
                [jid],
            )?;
        }
        Ok(())
    }
}

/// Contacts' availability (see "Presence" in the module doc).
impl Store {
    /// Every contact with a stored presence, available or not, by JID.
    pub fn presences(&self) -> Result<Vec<ContactPresence>, StoreError> {
        self.read_presence(None)
    }

    /// `jid`'s availability; `None` if nothing is stored (offline).
    pub fn presence(&self, jid: &str) -> Result<Option<ContactPresence>, StoreError> {
        Ok(self.read_presence(Some(jid))?.pop())
    }

    fn read_presence(&self, only: Option<&str>) -> Result<Vec<ContactPresence>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT jid, resource, show, status, priority FROM presence \
             WHERE ?1 IS NULL OR jid = ?1 ORDER BY jid",
        )?;
        let mut rows = stmt.query([only])?;
        let mut by_jid: Vec<(String, Vec<ResourcePresence>)> = Vec::new();
        while let Some(row) = rows.next()? {
            let jid: String = row.get(0).map_err(column_error)?;
            let show: String = row.get(2).map_err(column_error)?;
            let show = Show::parse(&show)
                .ok_or_else(|| corrupt(format!("presence of {jid}: show {show:?}")))?;
            let priority: i64 = row.get(4).map_err(column_error)?;
            let resource = ResourcePresence {
                resource: row.get(1).map_err(column_error)?,
                show,
                status: row.get(3).map_err(column_error)?,
                priority: i8::try_from(priority)
                    .map_err(|_| corrupt(format!("presence of {jid}: priority {priority}")))?,
            };
            match by_jid.last_mut() {
                Some((last, list)) if *last == jid => list.push(resource),
                _ => by_jid.push((jid, vec![resource])),
            }
        }
        Ok(by_jid
            .into_iter()
            .map(|(jid, list)| ContactPresence::aggregate(jid, list))
            .collect())
    }

    /// Records that `jid`'s resource is available (or changed).
    pub(crate) fn set_presence(
        &self,
        jid: &str,
        r: &ResourcePresence,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO presence (jid, resource, show, status, priority, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (jid, resource) DO UPDATE SET show = excluded.show, \
                     status = excluded.status, priority = excluded.priority, \
                     updated_at = excluded.updated_at",
            )?
            .execute(params![
                jid,
                r.resource,
                r.show.as_str(),
                r.status,
                r.priority,
                at.timestamp_millis()
            ])?;
        Ok(())
    }

    /// Records that `jid`'s resource went offline; all of them if `None`.
    pub(crate) fn remove_presence(
        &self,
        jid: &str,
        resource: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM presence WHERE jid = ?1 AND (?2 IS NULL OR resource = ?2)",
            params![jid, resource],
        )?;
        Ok(())
    }

    /// Forgets every stored presence (stale at the start of a fresh session).
    pub(crate) fn clear_presence(&self) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM presence", [])?;
        Ok(())
    }
}

/// Adds or updates a contact the server sent. A request it granted
/// (`from` or `both`) is answered; any other stays pending.
fn upsert_contact(tx: &Transaction<'_>, c: &Contact) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO roster_items (jid, name, subscription, ask, pending_in, on_roster) \
         VALUES (?1, ?2, ?3, ?4, 0, 1) \
         ON CONFLICT (jid) DO UPDATE SET name = excluded.name, \
             subscription = excluded.subscription, ask = excluded.ask, on_roster = 1, \
             pending_in = pending_in AND excluded.subscription NOT IN ('from', 'both')",
    )?
    .execute(params![c.jid, c.name, c.subscription.as_str(), c.ask])?;
    tx.prepare_cached("DELETE FROM roster_groups WHERE jid = ?1")?
        .execute([&c.jid])?;
    for group in &c.groups {
        tx.prepare_cached("INSERT OR IGNORE INTO roster_groups (jid, name) VALUES (?1, ?2)")?
            .execute([&c.jid, group])?;
    }
    Ok(())
}

fn set_roster_ver(tx: &Transaction<'_>, ver: Option<&str>) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO roster_meta (id, ver) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET ver = excluded.ver",
    )?
    .execute([ver])?;
    Ok(())
}
