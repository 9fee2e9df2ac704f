//! Changes to the account on its server (XEP-0077 §3.3 and §3.2): a new
//! password, or the account's removal. Each waits for our server's answer
//! and hands it to the app's call; a session lost first answers
//! [`AccountError::Unknown`] (the server may have done it).
//!
//! A new password takes effect for logins only once the server confirmed
//! it. A removed account ends the session: nothing more can log in. A
//! server may reset the link right after removing the account, losing its
//! answer; the next login's refusal then stands for it.

use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::stanza_error::StanzaError;

use super::requests::{Out, Request};
use crate::error::AccountError;
use crate::model::Secret;
use crate::store::Store;

const NS_REGISTER: &str = "jabber:iq:register";

/// What the app asked of its account.
pub(crate) enum AccountCommand {
    ChangePassword {
        new: Secret,
        answer: oneshot::Sender<Result<(), AccountError>>,
    },
    Delete {
        answer: oneshot::Sender<Result<(), AccountError>>,
    },
}

/// A request sent, waiting for our server's answer.
struct Pending {
    /// The new password, for a change.
    new: Option<Secret>,
    answer: oneshot::Sender<Result<(), AccountError>>,
}

pub(crate) struct Account {
    own: BareJid,
    store: Arc<Store>,
    /// What logins use; changed once the server confirmed.
    password: Arc<watch::Sender<String>>,
    pending: Option<Pending>,
}

impl Account {
    pub(crate) fn new(
        own: BareJid,
        store: Arc<Store>,
        password: Arc<watch::Sender<String>>,
    ) -> Self {
        Account {
            own,
            store,
            password,
            pending: None,
        }
    }

    /// Sends the app's request if online; answers at once otherwise (or
    /// if one is already waiting: they would race on the server).
    pub(crate) fn on_command(&mut self, cmd: AccountCommand, online: bool) -> Option<Out> {
        let (new, answer) = match cmd {
            AccountCommand::ChangePassword { new, answer } => (Some(new), answer),
            AccountCommand::Delete { answer } => (None, answer),
        };
        if !online {
            let _ = answer.send(Err(AccountError::NotConnected));
            return None;
        }
        if self.pending.is_some() {
            let _ = answer.send(Err(AccountError::Refused {
                reason: "another change to the account is waiting for the server".into(),
            }));
            return None;
        }
        let out = match &new {
            Some(password) => {
                let query = Element::builder("query", NS_REGISTER)
                    .append(
                        Element::builder("username", NS_REGISTER)
                            .append(self.own.node().map(|n| n.as_str()).unwrap_or_default()),
                    )
                    .append(Element::builder("password", NS_REGISTER).append(password.expose()))
                    .build();
                Out::ask(Request::ChangePassword, |id| {
                    register_set(id, &self.own, query)
                })
            }
            None => {
                let query = Element::builder("query", NS_REGISTER)
                    .append(Element::builder("remove", NS_REGISTER))
                    .build();
                Out::ask(Request::DeleteAccount, |id| {
                    register_set(id, &self.own, query)
                })
            }
        };
        self.pending = Some(Pending { new, answer });
        Some(out)
    }

    /// Our server's answer. Returns whether the session must end (the
    /// account is gone).
    pub(crate) fn on_answer(&mut self, refused: Option<&StanzaError>) -> bool {
        let Some(Pending { new, answer }) = self.pending.take() else {
            return false;
        };
        if let Some(e) = refused {
            let reason = crate::inbound::error_reason(e);
            tracing::warn!("account change refused: {reason}");
            let _ = answer.send(Err(AccountError::Refused { reason }));
            return false;
        }
        let gone = match new {
            Some(password) => {
                tracing::info!("password changed");
                self.password.send_replace(password.expose().to_owned());
                false
            }
            None => {
                tracing::info!("account removed from the server");
                self.forget_login();
                true
            }
        };
        let _ = answer.send(Ok(()));
        gone
    }

    /// Whether a removal waits for its answer.
    pub(crate) fn removal_pending(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| p.new.is_none())
    }

    /// The removal's answer was lost with the stream, and the server then
    /// refused our login: the account is gone.
    pub(crate) fn removed(&mut self) {
        if let Some(Pending { answer, .. }) = self.pending.take() {
            tracing::info!("account removed from the server (its answer was lost with the link)");
            self.forget_login();
            let _ = answer.send(Ok(()));
        }
    }

    /// A removed account's FAST token must not log in again (ejabberd 24.12
    /// still accepts it).
    fn forget_login(&self) {
        if let Err(e) = self.store.set_fast_token(None) {
            tracing::error!("cannot forget the FAST token: {e}");
        }
    }

    /// The stream was lost before the answer: the app is told the outcome
    /// is unknown.
    pub(crate) fn stream_lost(&mut self) {
        if let Some(Pending { answer, .. }) = self.pending.take() {
            let _ = answer.send(Err(AccountError::Unknown {
                reason: "the connection was lost before the server answered".into(),
            }));
        }
    }
}

/// An IQ set of `query` to our own account's server.
fn register_set(id: &str, own: &BareJid, query: Element) -> Iq {
    let domain = BareJid::from_parts(None, own.domain());
    Iq::Set {
        from: None,
        to: Some(domain.into()),
        id: id.to_owned(),
        payload: query,
    }
}
