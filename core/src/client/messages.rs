//! Messages and conversations: sending, reading, correcting, and the
//! lists the core keeps for a UI.

use super::{check_body, parse_bare, parse_recipient, Client};
use crate::error::Error;
use crate::lists::{self, ConversationList, Timeline};
use crate::model::{Conversation, Event, Message, SearchHit, TypingState};
use crate::session::Command;
use crate::store::{CorrectError, NewOutgoing};

impl Client {
    /// Queues a chat message to `to` (a bare JID: a contact, or a room
    /// joined with [`Client::join_room`]; or a room's occupant,
    /// `room@service/nick`, privately) and returns its id at once. The
    /// message is stored before this returns, so it survives an app kill;
    /// it is sent as soon as the account is online, and its progress
    /// arrives as [`Event::MessageState`] (in a room, `Delivered` once the
    /// room sent it back to everyone).
    pub fn send(&self, to: &str, body: &str) -> Result<String, Error> {
        let to = parse_recipient(&self.inner.store, to)?;
        check_body(body)?;
        let id = uuid::Uuid::new_v4().to_string();
        let own = self.inner.own.to_string();
        let stored = self.inner.store.enqueue_outgoing(NewOutgoing {
            id: &id,
            own_jid: &own,
            to: to.as_str(),
            body,
            timestamp: chrono::Utc::now(),
        })?;
        self.inner.hub.emit(Event::Message(stored));
        if let Some(session) = self.inner.lock_session().as_ref() {
            // If the session just ended, the entry waits for the next one.
            let _ = session.commands.send(Command::Queued(id.clone()));
        }
        Ok(id)
    }

    /// Sends a failed message of ours again (the user tapped "retry"): it
    /// is queued like a new one, in its place in the conversation, and
    /// keeps its id, so a peer that got it after all sees it once. Returns
    /// it queued; its progress arrives as [`Event::MessageState`].
    ///
    /// Errors: [`Error::InvalidInput`] for an unknown id, or a message that
    /// is not ours or has not failed.
    pub fn retry(&self, id: &str) -> Result<Message, Error> {
        let Some(message) = self.inner.store.retry_failed(id)? else {
            return Err(Error::invalid(format!(
                "message {id:?} is not a failed message of ours"
            )));
        };
        self.inner.hub.emit(Event::MessageState {
            id: message.id.clone(),
            conversation: message.conversation.clone(),
            state: message.state,
        });
        if let Some(session) = self.inner.lock_session().as_ref() {
            // If the session just ended, the entry waits for the next one.
            let _ = session.commands.send(Command::Queued(id.to_owned()));
        }
        Ok(message)
    }

    /// Tells `with` that we are typing, paused, or left (XEP-0085). Sent
    /// only while online (a stale "typing…" is worse than none); never stored.
    pub fn set_typing(&self, with: &str, state: TypingState) -> Result<(), Error> {
        let with = parse_bare(with)?;
        if let Some(session) = self.inner.lock_session().as_ref() {
            let _ = session.commands.send(Command::Typing(with, state));
        }
        Ok(())
    }
    /// Up to `limit` messages exchanged with `with`, older than the message
    /// `before` (the newest when `None`), oldest first.
    pub fn history(
        &self,
        with: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, Error> {
        let with = parse_recipient(&self.inner.store, with)?;
        Ok(self.inner.store.history(with.as_str(), before, limit)?)
    }

    /// One entry per conversation, most recent activity first.
    pub fn conversations(&self) -> Result<Vec<Conversation>, Error> {
        Ok(self.inner.store.conversations()?)
    }

    /// Messages whose body contains every word of `query` (the last one as a
    /// prefix, for search-as-you-type), best match first, with a snippet
    /// that brackets the matches. Any text is a valid query.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>, Error> {
        Ok(self.inner.store.search(query, limit)?)
    }

    /// Marks the conversation with `with` as read; returns how many messages
    /// were unread. If there were any, `with` is told (XEP-0333 chat
    /// marker: its messages show as read there) and so are our other
    /// devices, which mark the conversation read too. The marker goes out
    /// now if connected, or when the current session next comes online.
    pub fn mark_read(&self, with: &str) -> Result<u32, Error> {
        let with = parse_recipient(&self.inner.store, with)?;
        let was = self.inner.store.mark_read(with.as_str())?;
        if was > 0 {
            self.inner.hub.emit(Event::ConversationRead {
                with: with.to_string(),
            });
            if let Some(id) = self.inner.store.newest_markable(with.as_str())? {
                // Persisted: it goes out with the next session if there is
                // none now, and survives an app kill.
                let marker = self.inner.store.queue_marker(with.as_str(), &id)?;
                if let Some(session) = self.inner.lock_session().as_ref() {
                    let _ = session.commands.send(Command::Queued(marker.id));
                }
            }
        }
        Ok(was)
    }

    /// Corrects our last message in its conversation (XEP-0308): the
    /// stored body becomes `body` and the peer (and our other devices) get
    /// the correction, reliably like a message. Returns the updated message,
    /// also announced as [`Event::MessageCorrected`] (lists and timelines
    /// follow it).
    ///
    /// Errors: [`Error::InvalidInput`] for an unknown id, a message that is
    /// not ours, not the last we sent in that conversation, or failed, and
    /// for a body `send` would refuse.
    pub fn correct(&self, id: &str, body: &str) -> Result<Message, Error> {
        check_body(body)?;
        match self.inner.store.correct_outgoing(id, body) {
            Ok((message, correction_id)) => {
                self.inner
                    .hub
                    .emit(Event::MessageCorrected(message.clone()));
                if let Some(session) = self.inner.lock_session().as_ref() {
                    let _ = session.commands.send(Command::Queued(correction_id));
                }
                Ok(message)
            }
            Err(CorrectError::Store(e)) => Err(e.into()),
            Err(e) => Err(Error::invalid(format!(
                "cannot correct message {id:?}: {e}"
            ))),
        }
    }

    /// The conversation list, kept up to date by the core: its first
    /// batch is the whole list, then changes as messages are stored, sent,
    /// corrected and read. Needs no connection; drop it to stop it.
    pub fn conversation_list(&self) -> ConversationList {
        let inner = &self.inner;
        lists::conversation_list(&inner.runtime, inner.store.clone(), &inner.hub)
    }

    /// The conversation with `with` (a bare JID) as a timeline kept up to
    /// date by the core: its first batch is the newest `page` messages
    /// (at least 1), then changes; older pages load with
    /// [`Timeline::paginator`]. Drop it to stop it.
    pub fn timeline(&self, with: &str, page: u32) -> Result<Timeline, Error> {
        let with = parse_recipient(&self.inner.store, with)?;
        let inner = &self.inner;
        Ok(lists::timeline(
            &inner.runtime,
            inner.store.clone(),
            &inner.hub,
            with.to_string(),
            page.max(1),
        ))
    }

    /// One stored message.
    pub fn message(&self, id: &str) -> Result<Option<Message>, Error> {
        Ok(self.inner.store.message(id)?)
    }
}
