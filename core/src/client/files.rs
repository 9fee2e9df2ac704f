//! Files: sending (the message is stored at once with the file's name,
//! size and path; the session uploads the file, XEP-0363, then sends the
//! message with its link) and downloading a message's file, which needs
//! no XMPP session (plain HTTPS, on the client's runtime).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{parse_recipient, Client, Inner};
use crate::error::Error;
use crate::model::{Attachment, Event, Message, TransferProgress};
use crate::session::Command;
use crate::store::NewOutgoingFile;
use crate::transfer;

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

/// The largest file `download` takes (a link can name anything).
pub const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

/// Attempts at a download that fails for a passing reason.
const DOWNLOAD_ATTEMPTS: u32 = 3;

impl Client {
    /// Downloads message `id`'s file into the directory `dir` and returns
    /// at once. Progress arrives as [`Event::Transfer`]; at the end
    /// [`Event::MessageUpdated`] brings the message with
    /// `attachment.local_path` set, or [`Event::DownloadFailed`] says why
    /// (a passing network failure is tried again first). The file gets the
    /// attachment's name (`name (1).ext` if taken); it is written as
    /// `NAME.part` and renamed once complete and flushed, so a cut download
    /// never looks finished. The link is fetched over verified HTTPS only,
    /// redirects included, and at most [`MAX_DOWNLOAD_BYTES`] are taken.
    ///
    /// Errors: [`Error::InvalidInput`] for an unknown message, one without
    /// a file link, a download of it already under way, or a `dir` that is
    /// not a directory.
    pub fn download(&self, id: &str, dir: &str) -> Result<(), Error> {
        let message = self
            .inner
            .store
            .message(id)?
            .ok_or_else(|| Error::invalid(format!("no message {id:?}")))?;
        let (url, name) = match &message.attachment {
            Some(Attachment {
                url: Some(url),
                name,
                ..
            }) => (url.clone(), name.clone()),
            _ => {
                return Err(Error::invalid(format!(
                    "message {id:?} carries no file link"
                )))
            }
        };
        if !Path::new(dir).is_dir() {
            return Err(Error::invalid(format!("{dir:?} is not a directory")));
        }
        if !self
            .inner
            .downloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned())
        {
            return Err(Error::invalid(format!(
                "message {id:?} is being downloaded"
            )));
        }
        let inner = self.inner.clone();
        let (id, dir) = (id.to_owned(), PathBuf::from(dir));
        self.inner.runtime.spawn(async move {
            let result = fetch(&inner, &id, &message.conversation, &url, &dir, &name).await;
            inner
                .downloads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            let event = match result {
                Ok(m) => Event::MessageUpdated(m),
                Err(reason) => {
                    tracing::warn!(%id, "download failed: {reason}");
                    Event::DownloadFailed {
                        id,
                        conversation: message.conversation,
                        reason,
                    }
                }
            };
            inner.hub.emit(event);
        });
        Ok(())
    }
}

/// One download with its retries; the stored message on success.
async fn fetch(
    inner: &Inner,
    id: &str,
    conversation: &str,
    url: &str,
    dir: &Path,
    name: &str,
) -> Result<Message, String> {
    // Here, not in `download`: reading the system's roots takes a while,
    // and `download` runs on the app's thread.
    let tls = crate::connection::https_config(inner.config.extra_ca_pem.as_deref())
        .map(Arc::new)
        .map_err(|e| format!("cannot set up TLS for the download: {e}"))?;
    let part = dir.join(format!("{name}.part"));
    let progress = |done: u64, total: Option<u64>| {
        inner.hub.emit(Event::Transfer {
            id: id.to_owned(),
            conversation: conversation.to_owned(),
            progress: TransferProgress { done, total },
        })
    };
    let mut attempt = 0;
    let size = loop {
        attempt += 1;
        match transfer::get_file(tls.clone(), url, &part, MAX_DOWNLOAD_BYTES, progress).await {
            Ok(size) => break size,
            Err(e) if e.is_transient() && attempt < DOWNLOAD_ATTEMPTS => {
                tracing::info!(%id, attempt, "download failed, trying again: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(1 << attempt)).await;
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e.to_string());
            }
        }
    };
    let path = free_name(dir, name);
    tokio::fs::rename(&part, &path)
        .await
        .map_err(|e| format!("cannot name the file {}: {e}", path.display()))?;
    let path = path.to_string_lossy().into_owned();
    let store = inner.store.clone();
    let (id, stored) = (id.to_owned(), path.clone());
    tokio::task::spawn_blocking(move || store.set_local_file(&id, &stored, size))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the message is gone; the file stays at {path}"))
}

/// `dir/name`, or `dir/name (1).ext`, … if taken.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    (1..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|p| !p.exists())
        .expect("some name is free")
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
