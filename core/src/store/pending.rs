//! Receipts and read markers waiting for our server's ack: the part of the
//! send queue that is not a message (messages wait in the outbox,
//! corrections on their message row). See migration 008.

use rusqlite::{params, TransactionBehavior};

use super::{corrupt, Store, StoreError};

/// What a pending stanza says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingKind {
    /// XEP-0184: we received `about`.
    Receipt,
    /// XEP-0333: we displayed `about` and everything before it.
    Marker,
}

impl PendingKind {
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "receipt" => Ok(Self::Receipt),
            "marker" => Ok(Self::Marker),
            other => Err(corrupt(format!("pending stanza kind {other:?}"))),
        }
    }
}

/// A receipt or marker that must reach the server once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingStanza {
    /// The stanza's @id, the same on every retry.
    pub id: String,
    pub kind: PendingKind,
    /// Full JID for a receipt, bare JID for a marker.
    pub recipient: String,
    /// The message's @id as its sender sent it.
    pub about: String,
}

impl Store {
    /// Queues a receipt for `about` to `recipient` (the sender's full JID)
    /// in `conversation`. `None` if the same receipt is already waiting.
    pub(crate) fn queue_receipt(
        &self,
        recipient: &str,
        conversation: &str,
        about: &str,
    ) -> Result<Option<PendingStanza>, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let added = self.conn().execute(
            "INSERT INTO pending_stanzas (id, kind, recipient, conversation, about) \
             VALUES (?1, 'receipt', ?2, ?3, ?4) \
             ON CONFLICT (recipient, about) WHERE kind = 'receipt' DO NOTHING",
            params![id, recipient, conversation, about],
        )?;
        Ok((added == 1).then(|| PendingStanza {
            id,
            kind: PendingKind::Receipt,
            recipient: recipient.to_owned(),
            about: about.to_owned(),
        }))
    }

    /// Queues a marker telling `peer` we displayed `about`; it replaces a
    /// marker still waiting for that conversation (the newest says it all).
    pub(crate) fn queue_marker(
        &self,
        peer: &str,
        about: &str,
    ) -> Result<PendingStanza, StoreError> {
        let id = uuid::Uuid::new_v4().to_string();
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM pending_stanzas WHERE kind = 'marker' AND conversation = ?1",
            [peer],
        )?;
        tx.execute(
            "INSERT INTO pending_stanzas (id, kind, recipient, conversation, about) \
             VALUES (?1, 'marker', ?2, ?2, ?3)",
            params![id, peer, about],
        )?;
        tx.commit()?;
        Ok(PendingStanza {
            id,
            kind: PendingKind::Marker,
            recipient: peer.to_owned(),
            about: about.to_owned(),
        })
    }

    /// Everything waiting, oldest first.
    pub(crate) fn pending_stanzas(&self) -> Result<Vec<PendingStanza>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, recipient, about FROM pending_stanzas ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, recipient, about) = row?;
            out.push(PendingStanza {
                id,
                kind: PendingKind::parse(&kind)?,
                recipient,
                about,
            });
        }
        Ok(out)
    }

    /// One waiting stanza, if it still waits.
    #[cfg(test)]
    pub(crate) fn pending_stanza(&self, id: &str) -> Result<Option<PendingStanza>, StoreError> {
        use rusqlite::OptionalExtension;
        let row = self
            .conn()
            .query_row(
                "SELECT kind, recipient, about FROM pending_stanzas WHERE id = ?1",
                [id],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(kind, recipient, about)| {
            Ok(PendingStanza {
                id: id.to_owned(),
                kind: PendingKind::parse(&kind)?,
                recipient,
                about,
            })
        })
        .transpose()
    }

    /// The server acked stanza `id`: it no longer waits.
    pub(crate) fn pending_acked(&self, id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM pending_stanzas WHERE id = ?1", [id])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::open_in_memory().expect("store")
    }

    #[test]
    fn a_receipt_waits_once_until_acked() {
        let s = store();
        let r = s
            .queue_receipt("bob@example.test/desk", "bob@example.test", "m1")
            .expect("queue")
            .expect("new");
        assert_eq!(r.kind, PendingKind::Receipt);
        // The same message again (the sender retried): still one receipt.
        assert!(s
            .queue_receipt("bob@example.test/desk", "bob@example.test", "m1")
            .expect("queue")
            .is_none());
        assert_eq!(s.pending_stanzas().expect("read"), vec![r.clone()]);
        s.pending_acked(&r.id).expect("ack");
        assert!(s.pending_stanzas().expect("read").is_empty());
        // Acked, then the sender retried: it gets a new receipt.
        assert!(s
            .queue_receipt("bob@example.test/desk", "bob@example.test", "m1")
            .expect("queue")
            .is_some());
    }

    #[test]
    fn a_newer_marker_replaces_the_waiting_one_of_its_conversation() {
        let s = store();
        let first = s.queue_marker("bob@example.test", "m1").expect("queue");
        let carol = s.queue_marker("carol@example.test", "c1").expect("queue");
        let second = s.queue_marker("bob@example.test", "m2").expect("queue");
        assert_eq!(
            s.pending_stanzas().expect("read"),
            vec![carol, second.clone()]
        );
        assert!(s.pending_stanza(&first.id).expect("read").is_none());
        // A late ack of the replaced one changes nothing.
        s.pending_acked(&first.id).expect("ack");
        assert_eq!(s.pending_stanza(&second.id).expect("read"), Some(second));
    }

    #[test]
    fn waiting_stanzas_survive_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.sqlite3");
        let marker = {
            let s = Store::open(&path).expect("open");
            s.queue_marker("bob@example.test", "m1").expect("queue")
        };
        let s = Store::open(&path).expect("reopen");
        assert_eq!(s.pending_stanzas().expect("read"), vec![marker]);
    }
}
