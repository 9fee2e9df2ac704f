//! Reading rows back into model types. One place decides the column order
//! of a [`Message`], and every read of bad data on disk becomes
//! [`StoreError::Corrupt`], never a panic.

use chrono::DateTime;
use rusqlite::{Connection, Row, Rows};

use super::{corrupt, StoreError};
use crate::model::{Attachment, Message};

/// `SELECT` of every [`Message`] column from `messages AS m`, in the
/// order [`read_message`] expects, then any `extra` columns (starting at
/// [`MESSAGE_COLUMNS`]), followed by the rest of the query. `from` names
/// other tables to read from, `m` among them.
macro_rules! select_message {
    ($rest:literal) => {
        select_message!(extra: "", $rest)
    };
    (extra: $extra:literal, $rest:literal) => {
        select_message!(extra: $extra, from: "messages AS m", $rest)
    };
    (extra: $extra:literal, from: $from:literal, $rest:literal) => {
        concat!(
            "SELECT m.id, m.conversation, m.direction, m.sender, m.body, m.timestamp, ",
            "m.origin_id, m.stanza_id, m.state, m.failure_reason, m.corrected, m.mentions_me, ",
            "m.file_url, m.file_name, m.file_size, m.file_mime, m.file_path",
            $extra,
            " FROM ",
            $from,
            " ",
            $rest
        )
    };
}

/// How many columns [`select_message!`] reads before its extra ones.
pub(super) const MESSAGE_COLUMNS: usize = 17;

/// Reading a column failed: a type or range mismatch is bad data on disk,
/// anything else is SQLite's own error.
pub(super) fn column_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => corrupt(e.to_string()),
        other => StoreError::Sqlite(other),
    }
}

/// Reads a non-negative count that must fit a `u32`.
pub(super) fn read_count(row: &Row<'_>, column: usize, what: &str) -> Result<u32, StoreError> {
    let n: i64 = row.get(column).map_err(column_error)?;
    u32::try_from(n).map_err(|_| corrupt(format!("{what} {n}")))
}

pub(super) fn load_message(conn: &Connection, id: &str) -> Result<Option<Message>, StoreError> {
    let mut stmt = conn.prepare_cached(select_message!("WHERE m.id = ?1"))?;
    let mut rows = stmt.query([id])?;
    rows.next()?.map(read_message).transpose()
}

pub(super) fn read_messages(mut rows: Rows<'_>) -> Result<Vec<Message>, StoreError> {
    let mut messages = Vec::new();
    while let Some(row) = rows.next()? {
        messages.push(read_message(row)?);
    }
    Ok(messages)
}

/// Reads the columns of [`select_message!`]; anything malformed is
/// [`StoreError::Corrupt`], never a panic.
pub(super) fn read_message(row: &Row<'_>) -> Result<Message, StoreError> {
    let id: String = row.get(0).map_err(column_error)?;
    let direction: String = row.get(2).map_err(column_error)?;
    let direction = direction
        .parse()
        .map_err(|e| corrupt(format!("message {id}: {e}")))?;
    let millis: i64 = row.get(5).map_err(column_error)?;
    let timestamp = DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| corrupt(format!("message {id}: timestamp {millis} out of range")))?;
    let state: String = row.get(8).map_err(column_error)?;
    let state = state
        .parse()
        .map_err(|e| corrupt(format!("message {id}: {e}")))?;
    Ok(Message {
        conversation: row.get(1).map_err(column_error)?,
        direction,
        sender: row.get(3).map_err(column_error)?,
        body: row.get(4).map_err(column_error)?,
        timestamp,
        origin_id: row.get(6).map_err(column_error)?,
        stanza_id: row.get(7).map_err(column_error)?,
        state,
        failure_reason: row.get(9).map_err(column_error)?,
        corrected: row.get::<_, i64>(10).map_err(column_error)? != 0,
        mentions_me: row.get::<_, i64>(11).map_err(column_error)? != 0,
        attachment: read_attachment(row, &id)?,
        id,
    })
}

/// The file columns (12..17): a message carries a file when it has a name.
fn read_attachment(row: &Row<'_>, id: &str) -> Result<Option<Attachment>, StoreError> {
    let Some(name) = row.get::<_, Option<String>>(13).map_err(column_error)? else {
        return Ok(None);
    };
    let size = row
        .get::<_, Option<i64>>(14)
        .map_err(column_error)?
        .map(|n| u64::try_from(n).map_err(|_| corrupt(format!("message {id}: file size {n}"))))
        .transpose()?;
    Ok(Some(Attachment {
        url: row.get(12).map_err(column_error)?,
        name,
        size,
        mime_type: row.get(15).map_err(column_error)?,
        local_path: row.get(16).map_err(column_error)?,
    }))
}
