//! Sending files: the message is stored at once with the file's name,
//! size and path; the session uploads the file (XEP-0363) and then sends
//! the message with its link.

use std::path::Path;

use super::{parse_recipient, Client};
use crate::error::Error;
use crate::model::{Event, Message};
use crate::session::Command;
use crate::store::NewOutgoingFile;

impl Client {
    /// Queues the file at `path` for `to` (like [`Client::send`]: a
    /// contact, a joined room, or a room's occupant) and returns its
    /// message at once, `Queued`, its [`Message::attachment`] naming the
    /// file (no link yet). The session uploads it to our server's upload
    /// service (XEP-0363) when online, reporting [`Event::Transfer`]; once
    /// it is there, [`Event::MessageUpdated`] brings the message with its
    /// link (also its body) and it goes out like any message
    /// ([`Event::MessageState`]). An app kill or a lost link costs at most
    /// the upload under way: it starts again with a new slot.
    ///
    /// The file must stay at `path` until the message is `Acked` (apps
    /// copy a shared file into their own storage first). `mime_type`
    /// (e.g. `image/jpeg`) is guessed from the name's extension if `None`.
    ///
    /// Errors: [`Error::InvalidInput`] for a bad recipient, or a path that
    /// is not a readable, non-empty regular file. A server without an
    /// upload service, or a file larger than it takes, fails the message
    /// (`Failed`, with the reason).
    pub fn send_file(
        &self,
        to: &str,
        path: &str,
        mime_type: Option<&str>,
    ) -> Result<Message, Error> {
        let to = parse_recipient(&self.inner.store, to)?;
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::invalid(format!("cannot read the file {path:?}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::invalid(format!("{path:?} is not a regular file")));
        }
        if meta.len() == 0 {
            return Err(Error::invalid(format!("the file {path:?} is empty")));
        }
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::invalid(format!("{path:?} names no file")))?;
        let mime = mime_type
            .map(str::to_owned)
            .or_else(|| guess_mime(&name).map(str::to_owned));
        let id = uuid::Uuid::new_v4().to_string();
        let own = self.inner.own.to_string();
        let stored = self.inner.store.enqueue_file(NewOutgoingFile {
            id: &id,
            own_jid: &own,
            to: to.as_str(),
            path,
            name: &name,
            size: meta.len(),
            mime_type: mime.as_deref(),
            timestamp: chrono::Utc::now(),
        })?;
        self.inner.hub.emit(Event::Message(stored.clone()));
        if let Some(session) = self.inner.lock_session().as_ref() {
            // If the session just ended, the upload waits for the next one.
            let _ = session.commands.send(Command::Upload);
        }
        Ok(stored)
    }
}

/// The media type of common file names, by extension.
fn guess_mime(name: &str) -> Option<&'static str> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "m4a" => "audio/mp4",
        "mp3" => "audio/mpeg",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "zip" => "application/zip",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn common_types_are_guessed_from_the_extension() {
        assert_eq!(super::guess_mime("IMG_1.JPG"), Some("image/jpeg"));
        assert_eq!(super::guess_mime("note.txt"), Some("text/plain"));
        assert_eq!(super::guess_mime("archive.tar.xz"), None);
        assert_eq!(super::guess_mime("noext"), None);
    }
}
