//! What handlers hand back to the session, and the IQ requests that still
//! wait for an answer.
//!
//! Handlers never touch the link: they return [`Out`]s and the session
//! sends them, registering each [`Out::Ask`] under its id. So a handler can
//! be driven in a unit test on scripted XML with no server, and no handler
//! needs another to send for it. A leaf module: handlers import it, it
//! imports no handler.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::Stanza;

use crate::archive::Page;

/// One of our IQ requests, remembered until its result or error arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    RosterFetch,
    RosterSet(BareJid),
    /// One page of the catch-up from our archive.
    Archive(Page),
    /// The set-up of a room we created (answered by the room).
    RoomConfig(BareJid),
    /// One page of a room's archive (answered by the room).
    RoomArchive(BareJid),
    /// What a room we enter for the first time offers (disco#info): with
    /// an archive, its recent messages come from there.
    RoomInfo(BareJid),
    /// A self-ping to our own occupant JID (XEP-0410).
    RoomPing(BareJid),
    /// All our bookmarks (XEP-0402).
    Bookmarks,
    /// All our bookmarks from private storage (XEP-0048 in XEP-0049),
    /// where the account has no PEP.
    LegacyBookmarks,
    /// One bookmark published (answered by our own account).
    BookmarkPublish,
    /// A kick, ban or room destruction we asked of `room` (`action` names
    /// it for the app).
    RoomAction {
        room: BareJid,
        action: &'static str,
    },
    /// Our server's services (disco#items), to find its upload service.
    UploadServices,
    /// What a service of our server is (disco#info).
    UploadInfo(Jid),
    /// A slot for message `id`'s file (XEP-0363), asked of `service`.
    UploadSlot {
        id: String,
        service: Jid,
    },
    /// A new password for our account (XEP-0077 §3.3).
    ChangePassword,
    /// Removing our account from its server (XEP-0077 §3.2).
    DeleteAccount,
    /// Enabling (or disabling) push notifications to `service`'s `node`.
    Push {
        service: String,
        node: String,
        enable: bool,
    },
}

/// The group chat rooms we are in right now, by bare JID: written by the
/// rooms handler; read by the send queue (a room's messages wait until we
/// are in it) and by `Client::rooms`.
pub(crate) type Joined = Arc<Mutex<HashSet<String>>>;

/// Whether `room` is in `joined`.
pub(crate) fn is_joined(joined: &Joined, room: &str) -> bool {
    joined
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(room)
}

/// Something a handler wants sent.
#[derive(Debug)]
pub(crate) enum Out {
    /// A stanza whose answer (if any) nobody waits for.
    Send(Stanza),
    /// An IQ request: its result is routed back by `id`.
    Ask {
        id: String,
        iq: Iq,
        request: Request,
    },
}

impl Out {
    pub(crate) fn send(stanza: impl Into<Stanza>) -> Self {
        Self::Send(stanza.into())
    }

    /// An IQ request with a fresh random id, built by `iq` from that id.
    pub(crate) fn ask(request: Request, iq: impl FnOnce(&str) -> Iq) -> Self {
        let id = uuid::Uuid::new_v4().to_string();
        let iq = iq(&id);
        Self::Ask { id, iq, request }
    }
}

/// Our IQ requests that still wait for their result, by id.
#[derive(Default)]
pub(crate) struct Requests {
    pending: HashMap<String, Request>,
}

impl Requests {
    pub(crate) fn insert(&mut self, id: String, request: Request) {
        self.pending.insert(id, request);
    }

    /// The request `id` would answer, still remembered.
    pub(crate) fn peek(&self, id: &str) -> Option<&Request> {
        self.pending.get(id)
    }

    /// The request `id` answers, if it is ours; it is forgotten.
    pub(crate) fn take(&mut self, id: &str) -> Option<Request> {
        self.pending.remove(id)
    }

    /// Pages asked on an earlier stream will never be answered.
    pub(crate) fn forget_archive_pages(&mut self) {
        self.pending
            .retain(|_, r| !matches!(r, Request::Archive(_)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_routed_once() {
        let mut r = Requests::default();
        r.insert("a".into(), Request::RosterFetch);
        assert_eq!(r.take("a"), Some(Request::RosterFetch));
        assert_eq!(r.take("a"), None);
    }

    #[test]
    fn a_new_stream_forgets_only_archive_pages() {
        let mut r = Requests::default();
        r.insert("a".into(), Request::Archive(Page::Latest(10)));
        r.insert("b".into(), Request::RosterFetch);
        r.forget_archive_pages();
        assert_eq!(r.take("a"), None);
        assert_eq!(r.take("b"), Some(Request::RosterFetch));
    }
}
