//! IQs: answers to our requests, each routed to the handler that asked
//! (an upload service's, a room's and a room action's first, as they come
//! from elsewhere than our server), and requests from others (roster
//! pushes, pings, what we do not support).

use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;

use super::blocking::off_worker;
use super::requests::{Out, Request};
use super::Running;
use crate::{inbound, roster};

impl Running {
    pub(super) async fn on_iq(&mut self, iq: Iq) {
        let Some(iq) = self.on_account_answer(iq) else {
            return;
        };
        let Some(iq) = self.on_upload_answer(iq).await else {
            return;
        };
        let Some(iq) = self.on_room_answer(iq).await else {
            return;
        };
        if let Err(iq) = self.room_actions.on_answer(&mut self.requests, iq) {
            self.on_our_iq(*iq).await;
        }
    }

    async fn on_our_iq(&mut self, iq: Iq) {
        match iq {
            Iq::Result {
                id, from, payload, ..
            } if self.is_our_server(from.as_ref()) => {
                if let Some(request) = self.requests.take(&id) {
                    self.on_result(request, payload).await;
                }
            }
            Iq::Error {
                id, from, error, ..
            } if self.is_our_server(from.as_ref()) => match self.requests.take(&id) {
                Some(Request::Archive(page)) => {
                    let next = self.catch_up.on_page_refused(page, error);
                    self.send_or_settle(next).await;
                }
                Some(Request::Bookmarks) => self.bookmarks.on_fetch_refused(&error),
                Some(Request::Push {
                    service,
                    node,
                    enable,
                }) => off_worker(|| self.push.on_answer(service, node, enable, Some(&error))),
                // No private storage either (or PEP is used): nothing to do.
                Some(Request::LegacyBookmarks) => {
                    tracing::debug!("no private bookmarks: {:?}", error.defined_condition)
                }
                Some(request) => {
                    tracing::warn!(%id, ?request, "refused: {:?}", error.defined_condition);
                }
                None => {}
            },
            Iq::Set { ref payload, .. } if roster::is_roster(payload) => {
                let reply = off_worker(|| self.contacts.on_push(iq));
                self.send(Some(reply)).await;
            }
            iq => {
                if let Some(reply) = inbound::answer_iq(iq) {
                    self.send(Some(Out::send(reply))).await;
                }
            }
        }
    }

    async fn on_result(&mut self, request: Request, payload: Option<Element>) {
        match request {
            Request::RosterFetch => off_worker(|| self.contacts.on_fetched(payload)),
            // The server pushes the change itself.
            Request::RosterSet(_) => {}
            // Answered by the room, routed by `Rooms::on_answer`.
            Request::RoomConfig(_)
            | Request::RoomArchive(_)
            | Request::RoomPing(_)
            | Request::RoomInfo(_)
            | Request::RoomAction { .. } => {}
            // Routed by `on_account_answer`.
            Request::ChangePassword | Request::DeleteAccount => {}
            // Routed by `on_upload_answer`.
            Request::UploadServices | Request::UploadInfo(_) | Request::UploadSlot { .. } => {}
            Request::Push {
                service,
                node,
                enable,
            } => off_worker(|| self.push.on_answer(service, node, enable, None)),
            Request::BookmarkPublish => {}
            Request::Bookmarks => {
                let effects = off_worker(|| self.bookmarks.on_fetched(payload));
                self.on_bookmarks(effects).await;
            }
            Request::LegacyBookmarks => {
                let (effects, out) = off_worker(|| self.bookmarks.on_legacy_fetched(payload));
                self.send(out).await;
                self.on_bookmarks(effects).await;
            }
            Request::Archive(page) => {
                // The page's messages are stored before the position moves.
                let items = self.catch_up.take_page();
                let stored = off_worker(|| self.ingest.archived(&items));
                let next = self.catch_up.on_page_end(page, stored, payload);
                self.send_or_settle(next).await;
            }
        }
    }

    /// The next archive page, or, when the catch-up is over, the session
    /// has settled.
    pub(super) async fn send_or_settle(&mut self, next: Option<Out>) {
        match next {
            Some(next) => self.send(Some(next)).await,
            None => self.link.settled().await,
        }
    }

    /// Results come from our server: no `from`, our bare or our full JID.
    fn is_our_server(&self, from: Option<&tokio_xmpp::jid::Jid>) -> bool {
        from.is_none_or(|f| f.to_bare() == self.own)
    }

    /// Our server's answer to a password change or an account removal
    /// (it answers from its domain, as it was asked there).
    fn on_account_answer(&mut self, iq: Iq) -> Option<Iq> {
        let (id, from, refused) = match &iq {
            Iq::Result { id, from, .. } => (id, from, None),
            Iq::Error {
                id, from, error, ..
            } => (id, from, Some(error)),
            _ => return Some(iq),
        };
        if !matches!(
            self.requests.peek(id),
            Some(Request::ChangePassword | Request::DeleteAccount)
        ) {
            return Some(iq);
        }
        let ours = from
            .as_ref()
            .is_none_or(|f| f.to_bare() == self.own || f.as_str() == self.own.domain().as_str());
        if !ours {
            tracing::warn!(?from, "account answer from someone else ignored");
            return None;
        }
        self.requests.take(id);
        if self.account.on_answer(refused) {
            self.account_gone = true;
        }
        None
    }
}
