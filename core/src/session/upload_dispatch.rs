//! The session's side of file uploads: answers to the uploads handler's
//! requests (from our server, or from its upload service, which is not
//! our server) and the reports of its transfer tasks.

use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::iq::Iq;

use super::blocking::off_worker;
use super::requests::Request;
use super::uploads::UploadReport;
use super::Running;

impl Running {
    /// An IQ answer to one of the uploads handler's requests, if it is
    /// one and comes from whom it was asked of; any other IQ is returned.
    pub(super) async fn on_upload_answer(&mut self, iq: Iq) -> Option<Iq> {
        let (id, from) = match &iq {
            Iq::Result { id, from, .. } | Iq::Error { id, from, .. } => (id, from),
            _ => return Some(iq),
        };
        let domain = Jid::from(tokio_xmpp::jid::BareJid::from_parts(
            None,
            self.own.domain(),
        ));
        let asked = match self.requests.peek(id) {
            Some(Request::UploadServices) => domain.clone(),
            Some(Request::UploadInfo(jid)) => jid.clone(),
            Some(Request::UploadSlot { service, .. }) => service.clone(),
            _ => return Some(iq),
        };
        // No `from`: our own server answered for our account.
        let answerer = from.clone().unwrap_or_else(|| domain.clone());
        if answerer != asked {
            tracing::warn!(%answerer, %asked, "upload answer from the wrong sender ignored");
            return None;
        }
        let request = self.requests.take(id)?;
        let out = match (request, iq) {
            (Request::UploadServices, Iq::Result { payload, .. }) => {
                self.uploads.on_services(payload)
            }
            (Request::UploadServices, _) => self.uploads.on_services(None),
            (Request::UploadInfo(jid), Iq::Result { payload, .. }) => {
                self.uploads.on_info(jid, payload)
            }
            (Request::UploadInfo(jid), _) => self.uploads.on_info(jid, None),
            (Request::UploadSlot { id, .. }, Iq::Result { payload, .. }) => {
                off_worker(|| self.uploads.on_slot(id, payload));
                Vec::new()
            }
            (Request::UploadSlot { id, .. }, Iq::Error { error, .. }) => {
                off_worker(|| self.uploads.on_slot_refused(id, &error));
                Vec::new()
            }
            _ => Vec::new(),
        };
        self.send(out).await;
        None
    }

    /// A transfer task's (or a retry timer's) report: a finished file's
    /// message goes out now if we are online (it waits in the send queue
    /// otherwise); after a pause, uploads start again.
    pub(super) async fn on_upload_report(&mut self, report: UploadReport) {
        let (queued, again) = off_worker(|| self.uploads.on_report(report));
        if !self.online {
            return;
        }
        if let Some(message) = queued {
            let push = self.queue.entry(&message.id);
            self.push(push).await;
        }
        if again {
            let out = off_worker(|| self.uploads.start_all());
            self.send(out).await;
        }
    }
}
