//! Our files on their way to the server's upload service (XEP-0363): the
//! service is found once per run (disco#items of our server, then
//! disco#info of each item), each file gets a slot and is PUT over HTTPS
//! in its own task, and a finished upload puts its message in the send
//! queue (`Store::upload_done`). An HTTP transfer does not need the XMPP
//! stream, so it goes on while the stream is down; only slots are asked
//! online. What fails for a passing reason is tried again with a growing
//! pause, at most [`MAX_ATTEMPTS`] times; the rest fails the message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_rustls::rustls;
use tokio_xmpp::jid::Jid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::stanza_error::StanzaError;

use super::requests::{Out, Request};
use crate::events::EventHub;
use crate::model::{DeliveryState, Event, Message, TransferProgress};
use crate::store::{Store, Upload};
use crate::transfer::{self, TransferError};
use crate::upload::{self, Refusal, Service, Slot};

/// Attempts at one file (across sessions) before its message fails.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// What an upload task (or a retry timer) tells the session.
#[derive(Debug)]
pub(crate) enum UploadReport {
    Progress {
        id: String,
        conversation: String,
        done: u64,
        total: u64,
    },
    Done {
        id: String,
        url: String,
    },
    Failed {
        id: String,
        error: TransferError,
    },
    /// The pause after a passing failure is over.
    Again(String),
}

/// Where finding the upload service is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Discovery {
    NotAsked,
    /// Waiting for this many disco#info answers (0: for the items).
    Asking(usize),
    Found(Service),
    /// Our server has none: files fail at once.
    Absent,
}

/// One upload under way in this run.
enum Stage {
    /// A slot is asked (its answer comes on this stream or never).
    Slot,
    /// The file is going out over HTTP.
    Http(AbortHandle),
    /// Pausing after a passing failure.
    Pause(AbortHandle),
}

pub(crate) struct Uploads {
    domain: Jid,
    store: Arc<Store>,
    hub: Arc<EventHub>,
    /// Built on first use: the roots are read once per run.
    tls: Option<Arc<rustls::ClientConfig>>,
    extra_ca_pem: Option<String>,
    discovery: Discovery,
    stages: HashMap<String, Stage>,
    reports: mpsc::UnboundedSender<UploadReport>,
}

impl Drop for Uploads {
    // The run ends (disconnect, failure): the next one starts the files
    // again from the store with new slots.
    fn drop(&mut self) {
        for stage in self.stages.values() {
            if let Stage::Http(task) | Stage::Pause(task) = stage {
                task.abort();
            }
        }
    }
}

impl Uploads {
    pub(crate) fn new(
        domain: Jid,
        store: Arc<Store>,
        hub: Arc<EventHub>,
        extra_ca_pem: Option<String>,
        reports: mpsc::UnboundedSender<UploadReport>,
    ) -> Self {
        Uploads {
            domain,
            store,
            hub,
            tls: None,
            extra_ca_pem,
            discovery: Discovery::NotAsked,
            stages: HashMap::new(),
            reports,
        }
    }

    /// A fresh stream: slot requests asked on the old one are never
    /// answered (their files are asked again); transfers go on. The
    /// service is looked for once per run, when there is a file to send.
    pub(crate) fn fresh_session(&mut self) -> Vec<Out> {
        self.stages.retain(|_, s| !matches!(s, Stage::Slot));
        if matches!(self.discovery, Discovery::Asking(_)) {
            self.discovery = Discovery::NotAsked;
        }
        self.start_all()
    }

    /// Starts every upload in the store that is not under way: finds the
    /// service first if needed. Call online only.
    pub(crate) fn start_all(&mut self) -> Vec<Out> {
        let uploads = match self.store.uploads() {
            Ok(u) => u,
            Err(e) => {
                tracing::error!("cannot read the uploads: {e}");
                return Vec::new();
            }
        };
        let waiting: Vec<Upload> = uploads
            .into_iter()
            .filter(|u| !self.stages.contains_key(&u.message.id))
            .collect();
        if waiting.is_empty() {
            return Vec::new();
        }
        match self.discovery.clone() {
            Discovery::NotAsked => {
                self.discovery = Discovery::Asking(0);
                let domain = self.domain.clone();
                vec![Out::ask(Request::UploadServices, |id| {
                    upload::items_query(id, domain)
                })]
            }
            Discovery::Asking(_) => Vec::new(),
            Discovery::Found(service) => waiting
                .into_iter()
                .filter_map(|u| self.ask_slot(&service, u))
                .collect(),
            Discovery::Absent => {
                for u in waiting {
                    self.fail(&u.message.id, "the server offers no file upload (XEP-0363)");
                }
                Vec::new()
            }
        }
    }

    /// Our server's list of services: each is asked what it is.
    pub(crate) fn on_services(&mut self, payload: Option<Element>) -> Vec<Out> {
        let items = upload::items_of(payload);
        if items.is_empty() {
            tracing::info!("our server lists no services: no file upload");
            self.discovery = Discovery::Absent;
            return self.start_all();
        }
        self.discovery = Discovery::Asking(items.len());
        items
            .into_iter()
            .map(|jid| {
                let to = jid.clone();
                Out::ask(Request::UploadInfo(jid), |id| upload::info_query(id, to))
            })
            .collect()
    }

    /// What a service said it is (`None`: it did not answer with info).
    pub(crate) fn on_info(&mut self, jid: Jid, payload: Option<Element>) -> Vec<Out> {
        let Discovery::Asking(left) = self.discovery else {
            return Vec::new();
        };
        if let Some(service) = upload::service_of(jid, payload) {
            tracing::info!(service = %service.jid, max = ?service.max_size, "upload service found");
            self.discovery = Discovery::Found(service);
            return self.start_all();
        }
        if left <= 1 {
            tracing::info!("no upload service among our server's services");
            self.discovery = Discovery::Absent;
            return self.start_all();
        }
        self.discovery = Discovery::Asking(left - 1);
        Vec::new()
    }

    fn ask_slot(&mut self, service: &Service, u: Upload) -> Option<Out> {
        let m = &u.message;
        let (name, size) = file_of(m)?;
        if let Some(max) = service.max_size.filter(|max| size > *max) {
            self.fail(&m.id, &too_large(Some(max)));
            return None;
        }
        self.stages.insert(m.id.clone(), Stage::Slot);
        let mime = m.attachment.as_ref().and_then(|a| a.mime_type.clone());
        let request = Request::UploadSlot {
            id: m.id.clone(),
            service: service.jid.clone(),
        };
        let to = service.jid.clone();
        Some(Out::ask(request, |id| {
            upload::slot_request(id, to, &name, size, mime.as_deref())
        }))
    }

    /// The slot for message `id`'s file: the HTTP transfer starts.
    pub(crate) fn on_slot(&mut self, id: String, payload: Option<Element>) {
        let Some(slot) = upload::slot_of(payload) else {
            self.fail(&id, "the upload service gave an unusable slot (not HTTPS)");
            return;
        };
        let upload = match self.store.upload(&id) {
            Ok(Some(u)) => u,
            Ok(None) => {
                self.stages.remove(&id);
                return;
            }
            Err(e) => {
                tracing::error!(%id, "cannot read the upload: {e}");
                self.stages.remove(&id);
                return;
            }
        };
        let tls = match self.tls() {
            Ok(tls) => tls,
            Err(reason) => return self.fail(&id, &reason),
        };
        let task = tokio::spawn(transfer_task(
            tls,
            slot,
            upload.message,
            self.reports.clone(),
        ));
        self.stages.insert(id, Stage::Http(task.abort_handle()));
    }

    /// The service refused a slot for message `id`'s file.
    pub(crate) fn on_slot_refused(&mut self, id: String, error: &StanzaError) {
        match upload::refusal_of(error) {
            Refusal::TooLarge(max) => self.fail(&id, &too_large(max)),
            Refusal::Later(text) => self.pause(id, &text),
            Refusal::Refused(text) => {
                self.fail(&id, &format!("the upload service refused the file: {text}"))
            }
        }
    }

    /// A report from a transfer task or a timer. Returns the message that
    /// joined the send queue, if one did (the caller pushes it), and
    /// whether uploads should be started again (a pause ended).
    pub(crate) fn on_report(&mut self, report: UploadReport) -> (Option<Message>, bool) {
        match report {
            UploadReport::Progress {
                id,
                conversation,
                done,
                total,
            } => {
                // Only a transfer still under way (not one given up meanwhile).
                if matches!(self.stages.get(&id), Some(Stage::Http(_))) {
                    self.hub.emit(Event::Transfer {
                        id,
                        conversation,
                        progress: TransferProgress {
                            done,
                            total: Some(total),
                        },
                    });
                }
                (None, false)
            }
            UploadReport::Done { id, url } => {
                self.stages.remove(&id);
                match self.store.upload_done(&id, &url) {
                    Ok(Some(m)) => {
                        tracing::info!(%id, "file uploaded");
                        self.hub.emit(Event::MessageUpdated(m.clone()));
                        (Some(m), false)
                    }
                    Ok(None) => (None, false),
                    Err(e) => {
                        // It stays to do: the next run uploads it again.
                        tracing::error!(%id, "cannot record a finished upload: {e}");
                        (None, false)
                    }
                }
            }
            UploadReport::Failed { id, error } if error.is_transient() => {
                self.pause(id, &error.to_string());
                (None, false)
            }
            UploadReport::Failed { id, error } => {
                self.fail(&id, &format!("the upload failed: {error}"));
                (None, false)
            }
            UploadReport::Again(id) => {
                self.stages.remove(&id);
                (None, true)
            }
        }
    }

    /// A passing failure: counted, then tried again after a pause that
    /// grows with the attempts (2 s, 4 s, … at most a minute).
    fn pause(&mut self, id: String, error: &str) {
        let attempts = match self.store.note_upload_failure(&id, error) {
            Ok(Some(n)) => n,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(%id, "cannot count an upload failure: {e}");
                MAX_ATTEMPTS
            }
        };
        if attempts >= MAX_ATTEMPTS {
            return self.fail(
                &id,
                &format!("the upload failed {attempts} times; last: {error}"),
            );
        }
        tracing::info!(%id, attempts, "upload failed, trying again: {error}");
        let wait = Duration::from_secs(2u64.saturating_pow(attempts).min(60));
        let reports = self.reports.clone();
        let again = id.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let _ = reports.send(UploadReport::Again(again));
        });
        self.stages.insert(id, Stage::Pause(timer.abort_handle()));
    }

    fn fail(&mut self, id: &str, reason: &str) {
        self.stages.remove(id);
        tracing::warn!(%id, "file not sent: {reason}");
        match self.store.upload_failed(id, reason) {
            Ok(Some(m)) => self.hub.emit(Event::MessageState {
                id: m.id,
                conversation: m.conversation,
                state: DeliveryState::Failed,
            }),
            Ok(None) => {}
            Err(e) => tracing::error!(%id, "cannot record a failed upload: {e}"),
        }
    }

    fn tls(&mut self) -> Result<Arc<rustls::ClientConfig>, String> {
        if let Some(tls) = &self.tls {
            return Ok(tls.clone());
        }
        let tls = crate::connection::https_config(self.extra_ca_pem.as_deref())
            .map(Arc::new)
            .map_err(|e| format!("cannot set up TLS for the upload: {e}"))?;
        self.tls = Some(tls.clone());
        Ok(tls)
    }
}

/// The name and size of message `m`'s file, if it has one to upload.
fn file_of(m: &Message) -> Option<(String, u64)> {
    let a = m.attachment.as_ref()?;
    Some((a.name.clone(), a.size?))
}

fn too_large(max: Option<u64>) -> String {
    match max {
        Some(max) => format!("the file is larger than the server takes ({max} bytes)"),
        None => "the file is larger than the server takes".to_owned(),
    }
}

/// One HTTP upload; its progress and end are reported to the session.
async fn transfer_task(
    tls: Arc<rustls::ClientConfig>,
    slot: Slot,
    message: Message,
    reports: mpsc::UnboundedSender<UploadReport>,
) {
    let id = message.id.clone();
    let Some(a) = message.attachment else {
        return;
    };
    let (Some(path), Some(size)) = (a.local_path, a.size) else {
        let error = TransferError::File("the message names no file".into());
        let _ = reports.send(UploadReport::Failed { id, error });
        return;
    };
    let progress = {
        let (reports, id) = (reports.clone(), id.clone());
        let conversation = message.conversation.clone();
        // At most about 100 reports a file.
        let step = (size / 100).max(64 * 1024);
        let last = std::sync::atomic::AtomicU64::new(0);
        move |done: u64| {
            let seen = last.load(std::sync::atomic::Ordering::Relaxed);
            if done == size || done >= seen + step {
                last.store(done, std::sync::atomic::Ordering::Relaxed);
                let _ = reports.send(UploadReport::Progress {
                    id: id.clone(),
                    conversation: conversation.clone(),
                    done,
                    total: size,
                });
            }
        }
    };
    let result = transfer::put_file(
        tls,
        &slot.put,
        &slot.headers,
        &path,
        size,
        a.mime_type.as_deref(),
        progress,
    )
    .await;
    let _ = reports.send(match result {
        Ok(()) => UploadReport::Done { id, url: slot.get },
        Err(error) => UploadReport::Failed { id, error },
    });
}
