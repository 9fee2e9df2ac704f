//! The start of one run: the session's parts become its handlers, each
//! with its own state, and the inputs its loop waits on.

use tokio::sync::{mpsc, watch};
use tokio_xmpp::jid::BareJid;

use super::bookmarks::Bookmarks;
use super::catch_up::CatchUp;
use super::contacts::Contacts;
use super::ingest::Ingest;
use super::requests::Requests;
use super::room_actions::RoomActions;
use super::rooms::Rooms;
use super::send_queue::SendQueue;
use super::uploads::{UploadReport, Uploads};
use super::{Command, OwnPresence, Running, Session};
use crate::outbox::Report;

/// What the session loop waits on besides the link and the acks.
pub(super) struct Inputs {
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub own_presence: watch::Receiver<OwnPresence>,
    pub foreground: watch::Receiver<bool>,
    pub room_ping: std::time::Duration,
}

impl Session {
    /// The handlers of this run, each with its own state, and what the
    /// loop waits on besides the link. Acks reach the queue through
    /// `progress_tx`.
    pub(super) fn into_handlers(
        self,
        progress_tx: mpsc::UnboundedSender<Report>,
        upload_tx: mpsc::UnboundedSender<UploadReport>,
    ) -> (Running, Inputs) {
        let Session {
            link,
            own,
            store,
            hub,
            commands,
            own_presence,
            foreground,
            catch_up_first_login,
            joined_rooms,
            room_ping,
            room_first_visit,
            extra_ca_pem,
            password,
        } = self;
        let rooms = Rooms::new(
            own.clone(),
            store.clone(),
            hub.clone(),
            joined_rooms,
            room_first_visit,
        );
        let running = Running {
            requests: Requests::default(),
            queue: SendQueue::new(store.clone(), hub.clone(), progress_tx)
                .with_rooms(rooms.ready()),
            ingest: Ingest::new(own.clone(), store.clone(), hub.clone()),
            catch_up: CatchUp::new(
                own.clone(),
                store.clone(),
                hub.clone(),
                catch_up_first_login,
            ),
            rooms,
            room_actions: RoomActions::new(hub.clone()),
            bookmarks: Bookmarks::new(own.clone(), store.clone()),
            push: super::push::Push::new(store.clone(), hub.clone()),
            account: super::account::Account::new(own.clone(), store.clone(), password),
            account_gone: false,
            uploads: Uploads::new(
                BareJid::from_parts(None, own.domain()).into(),
                store.clone(),
                hub.clone(),
                extra_ca_pem,
                upload_tx,
            ),
            contacts: Contacts::new(own.clone(), store, hub.clone()),
            link,
            own,
            hub,
            online: false,
        };
        let inputs = Inputs {
            commands,
            own_presence,
            foreground,
            room_ping,
        };
        (running, inputs)
    }
}
