//! Group chat rooms: which rooms we are in (to rejoin them after a fresh
//! session), who is in them, and the messages of their occupants.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::batch::{insert_received_in, Received};
use super::{Message, Store, StoreError};
use crate::model::{Occupant, Room};

/// A room message from another occupant, as the room sent it.
#[derive(Debug, Clone, Copy)]
pub struct NewRoomMessage<'a> {
    /// The room's bare JID: the conversation.
    pub room: &'a str,
    /// The occupant's full JID, `room@service/nick`.
    pub sender: &'a str,
    pub remote_id: Option<&'a str>,
    pub origin_id: Option<&'a str>,
    /// XEP-0359 stanza-id stamped by the room (`by` = the room; the caller
    /// checks).
    pub stanza_id: Option<&'a str>,
    pub body: &'a str,
    pub timestamp: chrono::DateTime<chrono::Utc>,
    /// It names our nickname in the room.
    pub mentions_me: bool,
    /// The file it carries: an out-of-band link (XEP-0066).
    pub file_url: Option<&'a str>,
}

/// What joining needs to remember.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoomEntry {
    pub jid: String,
    pub nick: String,
    pub password: Option<String>,
    pub autojoin: bool,
}

impl Store {
    /// Remembers (or updates) a room we join.
    pub(crate) fn upsert_room(&self, entry: &RoomEntry) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO rooms (jid, nick, password, autojoin) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (jid) DO UPDATE SET nick = excluded.nick, \
             password = excluded.password, autojoin = excluded.autojoin",
            params![entry.jid, entry.nick, entry.password, entry.autojoin],
        )?;
        Ok(())
    }

    /// The rooms to join on a fresh session.
    pub(crate) fn autojoin_rooms(&self) -> Result<Vec<RoomEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT jid, nick, password, autojoin FROM rooms WHERE autojoin ORDER BY jid",
        )?;
        let rows = stmt.query_map([], entry_of)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// What we remember of room `jid`, if anything.
    pub(crate) fn room_entry(&self, jid: &str) -> Result<Option<RoomEntry>, StoreError> {
        // The read connection: the app asks too (`invite_direct`).
        Ok(self
            .read()
            .query_row(
                "SELECT jid, nick, password, autojoin FROM rooms WHERE jid = ?1",
                [jid],
                entry_of,
            )
            .optional()?)
    }

    /// Stops rejoining `jid` (left, banned, destroyed); its history stays.
    pub(crate) fn stop_autojoin(&self, jid: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute("UPDATE rooms SET autojoin = 0 WHERE jid = ?1", [jid])?;
        conn.execute("DELETE FROM room_occupants WHERE room = ?1", [jid])?;
        Ok(())
    }

    pub(crate) fn set_subject(&self, jid: &str, subject: Option<&str>) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE rooms SET subject = ?2 WHERE jid = ?1",
            params![jid, subject],
        )?;
        Ok(())
    }

    /// Every room we know, with whether we are in it now (`joined` is the
    /// session's knowledge, passed in).
    pub(crate) fn rooms(&self, joined: &dyn Fn(&str) -> bool) -> Result<Vec<Room>, StoreError> {
        let conn = self.read();
        let mut stmt =
            conn.prepare("SELECT jid, nick, autojoin, subject FROM rooms ORDER BY jid")?;
        let rows = stmt.query_map([], |row| {
            let jid: String = row.get(0)?;
            Ok(Room {
                joined: joined(&jid),
                jid,
                nick: row.get(1)?,
                autojoin: row.get(2)?,
                subject: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the newest stored message of `room` was said: a rejoin asks
    /// for what came after.
    pub(crate) fn last_activity(
        &self,
        room: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let millis: Option<i64> = self.read().query_row(
            "SELECT max(timestamp) FROM messages WHERE conversation = ?1",
            [room],
            |row| row.get(0),
        )?;
        Ok(millis.and_then(chrono::DateTime::from_timestamp_millis))
    }

    /// The room's stanza-id of the newest message stored from its archive
    /// or live (others' messages carry one): a rejoin pages the room's
    /// archive after it.
    pub(crate) fn last_room_stanza_id(&self, room: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT stanza_id FROM messages WHERE conversation = ?1 AND stanza_id IS NOT NULL \
                 ORDER BY timestamp DESC, seq DESC LIMIT 1",
                [room],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// When a message of `room` was stored as said: the one the room
    /// stamped `stanza_id`, or the one `sender` sent with `key` (origin-id
    /// or `@id`). `None` when neither is stored.
    pub(crate) fn room_message_time(
        &self,
        room: &str,
        stanza_id: Option<&str>,
        sender: &str,
        key: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let conn = self.read();
        // Two lookups, each on its own unique index.
        let mut millis: Option<i64> = None;
        if let Some(stanza_id) = stanza_id {
            millis = conn
                .prepare_cached(
                    "SELECT timestamp FROM messages WHERE stanza_id = ?1 AND conversation = ?2",
                )?
                .query_row([stanza_id, room], |row| row.get(0))
                .optional()?;
        }
        if let (None, Some(key)) = (millis, key) {
            millis = conn
                .prepare_cached(
                    "SELECT timestamp FROM messages WHERE sender = ?1 \
                     AND coalesce(origin_id, remote_id) = ?2 AND conversation = ?3",
                )?
                .query_row([sender, key, room], |row| row.get(0))
                .optional()?;
        }
        Ok(millis.and_then(DateTime::from_timestamp_millis))
    }

    /// No message the room's archive gives after the one it stamped
    /// `stanza_id` may sort before this: the newest time among `room`'s
    /// messages stored up to that one (ours carry our send time, earlier
    /// than the room's; others' our receipt time, later). `None` if that
    /// message is not stored.
    pub(crate) fn room_floor(
        &self,
        room: &str,
        stanza_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let millis: Option<i64> = self.read().query_row(
            "SELECT max(m.timestamp) FROM messages AS m, \
             (SELECT seq FROM messages WHERE stanza_id = ?2 AND conversation = ?1) AS anchor \
             WHERE m.conversation = ?1 AND m.seq <= anchor.seq",
            params![room, stanza_id],
            |row| row.get(0),
        )?;
        Ok(millis.and_then(DateTime::from_timestamp_millis))
    }

    /// Records the room's stanza-id of our own message, once the room
    /// sent it back (kept if it already has one).
    pub(crate) fn set_stanza_id(&self, id: &str, stanza_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE OR IGNORE messages SET stanza_id = ?2 WHERE id = ?1 AND stanza_id IS NULL",
            params![id, stanza_id],
        )?;
        Ok(())
    }

    /// Where `room`'s archive catch-up resumes (see migration 012).
    pub(crate) fn room_position(&self, room: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()
            .query_row(
                "SELECT archive_after FROM rooms WHERE jid = ?1",
                [room],
                |row| row.get(0),
            )
            .optional()?
            .flatten())
    }

    /// `room`'s messages up to the one the room stamped `stanza_id` are
    /// all stored, none later than `floor`: a catch-up resumes after it,
    /// and sorts nothing before `floor` (see migration 014; it only grows).
    pub(crate) fn set_room_position(
        &self,
        room: &str,
        stanza_id: &str,
        floor: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE rooms SET archive_after = ?2, \
             archive_floor = max(coalesce(archive_floor, ?3, 0), coalesce(?3, 0)) WHERE jid = ?1",
            params![room, stanza_id, floor.map(|f| f.timestamp_millis())],
        )?;
        Ok(())
    }

    /// The floor recorded with `room`'s position, if any.
    pub(crate) fn room_position_floor(
        &self,
        room: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let millis: Option<i64> = self
            .read()
            .query_row(
                "SELECT archive_floor FROM rooms WHERE jid = ?1",
                [room],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        Ok(millis
            .filter(|m| *m > 0)
            .and_then(DateTime::from_timestamp_millis))
    }

    /// When we first entered `room`, if ever.
    pub(crate) fn room_joined_at(&self, room: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let millis: Option<i64> = self
            .read()
            .query_row(
                "SELECT joined_at FROM rooms WHERE jid = ?1",
                [room],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        Ok(millis.and_then(DateTime::from_timestamp_millis))
    }

    /// Records when we first entered `room` (later entries keep it: a
    /// catch-up with no position starts there, so a visit cut short before
    /// its catch-up finished leaves no gap).
    pub(crate) fn set_room_joined_at(
        &self,
        room: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE rooms SET joined_at = ?2 WHERE jid = ?1 AND joined_at IS NULL",
            params![room, at.timestamp_millis()],
        )?;
        Ok(())
    }

    /// Whether `jid` is a room we know (its messages go out as groupchat).
    pub(crate) fn is_room(&self, jid: &str) -> Result<bool, StoreError> {
        Ok(self
            .read()
            .query_row("SELECT 1 FROM rooms WHERE jid = ?1", [jid], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Sets one occupant (joined or changed), or removes them (`None`).
    pub(crate) fn set_occupant(
        &self,
        room: &str,
        nick: &str,
        occupant: Option<&Occupant>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        match occupant {
            Some(o) => conn.execute(
                "INSERT INTO room_occupants (room, nick, role, affiliation, jid) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (room, nick) DO UPDATE SET \
                 role = excluded.role, affiliation = excluded.affiliation, jid = excluded.jid",
                params![room, nick, o.role, o.affiliation, o.jid],
            )?,
            None => conn.execute(
                "DELETE FROM room_occupants WHERE room = ?1 AND nick = ?2",
                params![room, nick],
            )?,
        };
        Ok(())
    }

    /// Forgets who was in `room` (a join rebuilds the list).
    pub(crate) fn clear_occupants(&self, room: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM room_occupants WHERE room = ?1", [room])?;
        Ok(())
    }

    pub(crate) fn occupants(&self, room: &str) -> Result<Vec<Occupant>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(
            "SELECT nick, role, affiliation, jid FROM room_occupants WHERE room = ?1 ORDER BY nick",
        )?;
        let rows = stmt.query_map([room], |row| {
            Ok(Occupant {
                nick: row.get(0)?,
                role: row.get(1)?,
                affiliation: row.get(2)?,
                jid: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores a message of another occupant once (by the room's stanza-id,
    /// or by sender and origin-id / stanza `@id`); `Ok(None)` for a copy.
    pub fn insert_room_message(
        &self,
        m: NewRoomMessage<'_>,
    ) -> Result<Option<Message>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = insert_received_in(
            &tx,
            Received {
                file_url: m.file_url,
                conversation: m.room,
                sender: m.sender,
                remote_id: m.remote_id,
                origin_id: m.origin_id,
                stanza_id: m.stanza_id,
                body: m.body,
                timestamp: m.timestamp,
                markable: false,
                mentions_me: m.mentions_me,
            },
        )?;
        tx.commit()?;
        Ok(stored)
    }
}

fn entry_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<RoomEntry> {
    Ok(RoomEntry {
        jid: row.get(0)?,
        nick: row.get(1)?,
        password: row.get(2)?,
        autojoin: row.get(3)?,
    })
}

#[cfg(test)]
mod tests;
