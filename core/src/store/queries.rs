//! What a UI reads: a conversation's history, the conversation list, unread
//! counts, full-text search, one message. All on the reader connection, so
//! none of it waits behind the session's writes.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{
    column_error, corrupt, load_message, read_count, read_message, read_messages, Store,
    StoreError, MESSAGE_COLUMNS,
};
use crate::model::{Conversation, ConversationKind, Message, SearchHit};

/// Where a conversation stands in the list: its last message's timestamp
/// (ms) and store sequence number; the list is ordered by it, descending.
pub(crate) type ActivityKey = (i64, i64);

impl Store {
    /// Up to `limit` of the newest messages with `with` that are older than
    /// the message `before` (exclusive; `None`: the newest), oldest first.
    /// Pass the first message of a page as `before` to get the previous
    /// page. An unknown `before`, or one from another conversation, gives an
    /// empty page.
    pub fn history(
        &self,
        with: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.read();
        let (timestamp, seq) = match before {
            None => (i64::MAX, i64::MAX),
            Some(before) => {
                let anchor = conn
                    .prepare_cached(
                        "SELECT timestamp, seq FROM messages WHERE id = ?1 AND conversation = ?2",
                    )?
                    .query_row([before, with], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?;
                match anchor {
                    Some(anchor) => anchor,
                    None => return Ok(Vec::new()),
                }
            }
        };
        let mut stmt = conn.prepare_cached(select_message!(
            "WHERE m.conversation = ?1 AND (m.timestamp, m.seq) < (?2, ?3) \
             ORDER BY m.timestamp DESC, m.seq DESC LIMIT ?4"
        ))?;
        let rows = stmt.query(params![with, timestamp, seq, limit])?;
        let mut page = read_messages(rows)?;
        page.reverse();
        Ok(page)
    }
    /// Every conversation with its newest message and unread count, most
    /// recent activity first.
    pub fn conversations(&self) -> Result<Vec<Conversation>, StoreError> {
        Ok(self
            .ranked_conversations(None)?
            .into_iter()
            .map(|(conversation, _)| conversation)
            .collect())
    }
    /// Like [`Store::conversations`] (or only the one with `only`), each
    /// with the key the list is ordered by, descending: the conversation
    /// list keeps it to place a changed entry without re-reading the rest.
    pub(crate) fn ranked_conversations(
        &self,
        only: Option<&str>,
    ) -> Result<Vec<(Conversation, ActivityKey)>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(select_message!(
            // The kind: a room, an occupant of one (only their keys hold a
            // resource), or a one-to-one chat.
            extra: ", c.unread, c.last_timestamp, c.last_seq, \
                    CASE WHEN EXISTS (SELECT 1 FROM rooms AS r WHERE r.jid = c.peer) THEN 1 \
                    WHEN instr(c.peer, '/') > 0 THEN 2 ELSE 0 END",
            "JOIN conversations AS c ON c.last_message_id = m.id \
             WHERE ?1 IS NULL OR c.peer = ?1 \
             ORDER BY c.last_timestamp DESC, c.last_seq DESC"
        ))?;
        let mut rows = stmt.query([only])?;
        let mut summaries = Vec::new();
        while let Some(row) = rows.next()? {
            let last_message = read_message(row)?;
            let unread = read_count(row, MESSAGE_COLUMNS, "unread count")?;
            let key = (
                row.get(MESSAGE_COLUMNS + 1).map_err(column_error)?,
                row.get(MESSAGE_COLUMNS + 2).map_err(column_error)?,
            );
            let kind = match row
                .get::<_, i64>(MESSAGE_COLUMNS + 3)
                .map_err(column_error)?
            {
                1 => ConversationKind::Room,
                2 => ConversationKind::RoomPrivate,
                _ => ConversationKind::Chat,
            };
            summaries.push((
                Conversation {
                    with: last_message.conversation.clone(),
                    kind,
                    last_message,
                    unread,
                },
                key,
            ));
        }
        Ok(summaries)
    }
    /// How many incoming messages of the conversation with `conversation`
    /// are unread; 0 for an unknown conversation.
    #[cfg(test)]
    pub fn unread(&self, conversation: &str) -> Result<u32, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached("SELECT unread FROM conversations WHERE peer = ?1")?;
        let mut rows = stmt.query([conversation])?;
        match rows.next()? {
            Some(row) => read_count(row, 0, "unread count"),
            None => Ok(0),
        }
    }
    /// Up to `limit` messages, from every conversation, whose body matches
    /// every word of `query`, best match first (bm25; newer first on a tie)
    /// among the newest [`SEARCH_WINDOW`] matches: ranking every match of
    /// a common word in a big store would take hundreds of milliseconds,
    /// and what a user looks for is usually recent.
    ///
    /// `query` is what the user typed, never an FTS5 expression: words are
    /// separated by whitespace and matched case- and accent-insensitively,
    /// the last one as a prefix so results follow typing. Quotes, `*`,
    /// `OR`, `NEAR(`… are plain text. A blank query finds nothing.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>, StoreError> {
        let Some(expression) = fts_expression(query) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.read();
        // Newest-first walks of the index are cheap: find where the window
        // starts, then rank only inside it.
        let oldest: i64 = conn
            .prepare_cached(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 \
                 ORDER BY rowid DESC LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![expression, SEARCH_WINDOW - 1], |row| row.get(0))
            .optional()?
            .unwrap_or(0);
        let mut stmt = conn.prepare_cached(SEARCH_SQL)?;
        let mut rows = stmt.query(params![expression, limit, oldest])?;
        let mut hits = Vec::new();
        while let Some(row) = rows.next()? {
            hits.push(SearchHit {
                message: read_message(row)?,
                snippet: row.get(MESSAGE_COLUMNS).map_err(column_error)?,
            });
        }
        Ok(hits)
    }
    /// One message by our id.
    pub fn message(&self, id: &str) -> Result<Option<Message>, StoreError> {
        load_message(&self.read(), id)
    }
    /// Time of the newest message received from `sender` (a bare JID).
    pub fn last_received_from(&self, sender: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        // Walks the conversation index from the newest end and stops at the
        // first match: cheap however long the conversation is.
        let ms: Option<i64> = self
            .read()
            .query_row(
                "SELECT timestamp FROM messages \
                 WHERE conversation = ?1 AND direction = 'in' AND sender = ?1 \
                 ORDER BY timestamp DESC, seq DESC LIMIT 1",
                [sender],
                |row| row.get(0),
            )
            .optional()?;
        ms.map(|ms| {
            DateTime::<Utc>::from_timestamp_millis(ms)
                .ok_or_else(|| corrupt(format!("timestamp {ms}")))
        })
        .transpose()
    }
    /// How many messages are stored.
    #[cfg(any(test, feature = "store-api"))]
    pub fn count_messages(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .read()
            .query_row("SELECT count(*) FROM messages", [], |row| row.get(0))?;
        u64::try_from(n).map_err(|_| corrupt(format!("message count {n}")))
    }
}

/// The search query: full-text matches joined to their messages. The
/// auxiliary functions need the table's own name; an alias will not do.
/// How many of the newest matches [`Store::search`] ranks.
pub(super) const SEARCH_WINDOW: u32 = 500;

pub(super) const SEARCH_SQL: &str = select_message!(
    extra: ", snippet(messages_fts, 0, '[', ']', '…', 10)",
    "JOIN messages_fts ON messages_fts.rowid = m.seq \
     WHERE messages_fts MATCH ?1 AND messages_fts.rowid >= ?3 \
     ORDER BY messages_fts.rank, m.timestamp DESC, m.seq DESC \
     LIMIT ?2"
);

/// Turns what the user typed into an FTS5 expression that cannot be a
/// syntax error: every word becomes a quoted string (so operators, `*`,
/// `:` and parentheses are just text), the words are ANDed, and the last
/// one matches as a prefix. `None` when there is no word.
pub(super) fn fts_expression(query: &str) -> Option<String> {
    // FTS5 reads the expression as a C string: a NUL would cut it short,
    // inside a quote, so control characters separate words like spaces.
    let words: Vec<&str> = query
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let (last, rest) = words.split_last()?;
    let mut expression = String::new();
    for word in rest {
        push_fts_string(&mut expression, word);
        expression.push(' ');
    }
    push_fts_string(&mut expression, last);
    expression.push('*');
    Some(expression)
}

/// Appends `word` as an FTS5 string: in double quotes, quotes doubled.
fn push_fts_string(out: &mut String, word: &str) {
    out.push('"');
    out.push_str(&word.replace('"', "\"\""));
    out.push('"');
}
