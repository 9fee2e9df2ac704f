//! What the app asks of a room beyond being in it: invitations (sent and
//! declined), the subject, kicks, bans, destroying it. Sent at once (the
//! client refuses these offline with `Error::NotConnected`) and not
//! queued: acting on a room later, after the user moved on, would
//! surprise them more than being told to retry. The room's refusal comes
//! back as [`Event::RoomActionFailed`]; its success shows as what the
//! room then tells everyone (a presence, a subject).
//!
//! Invitations that arrive are announced here too, as
//! [`Event::RoomInvite`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::Message;

use super::requests::{Out, Request, Requests};
use crate::events::EventHub;
use crate::model::{Event, Secret};
use crate::muc::{self, admin};

/// One thing the app asks of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoomAction {
    Invite {
        room: BareJid,
        to: BareJid,
        reason: Option<String>,
    },
    /// XEP-0249: to `to` itself, with the room's password.
    InviteDirect {
        room: BareJid,
        to: BareJid,
        password: Option<String>,
        reason: Option<String>,
    },
    Decline {
        room: BareJid,
        /// As the invitation named them: a full occupant JID, maybe.
        to: Jid,
        reason: Option<String>,
    },
    Subject {
        room: BareJid,
        subject: String,
    },
    Kick {
        room: BareJid,
        nick: String,
        reason: Option<String>,
    },
    Ban {
        room: BareJid,
        jid: BareJid,
        reason: Option<String>,
    },
    Destroy {
        room: BareJid,
        reason: Option<String>,
    },
}

pub(crate) struct RoomActions {
    hub: Arc<EventHub>,
    /// Our messages to rooms (subject changes, invitations, declines) by
    /// id, with the action's name: a refusal comes back as a message
    /// error with that id. Forgotten with the session, or once
    /// [`REMEMBERED`] newer ones were sent (a room answers at once: a
    /// success sends nothing back, so nothing else would forget them).
    /// Each with who would refuse it (the room, or a direct invitee).
    sent: HashMap<String, (BareJid, BareJid, &'static str)>,
    /// The ids of `sent`, oldest first.
    order: VecDeque<String>,
}

/// How many of our messages to rooms are remembered for a refusal.
const REMEMBERED: usize = 64;

impl RoomActions {
    pub(crate) fn new(hub: Arc<EventHub>) -> Self {
        Self {
            hub,
            sent: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// What to send for `action`.
    pub(crate) fn act(&mut self, action: RoomAction) -> Out {
        let ask = |room: BareJid, name: &'static str, iq: &dyn Fn(&str) -> Iq| {
            Out::ask(Request::RoomAction { room, action: name }, iq)
        };
        match action {
            RoomAction::Invite { room, to, reason } => {
                let msg = muc::invite(&room, &to, reason.as_deref());
                self.track(msg, room, "invite")
            }
            RoomAction::InviteDirect {
                room,
                to,
                password,
                reason,
            } => {
                let msg = muc::invite_direct(&room, &to, password.as_deref(), reason.as_deref());
                // A refusal comes from the invitee's side, not the room.
                self.track_answered_by(msg, to, room, "invite")
            }
            RoomAction::Decline { room, to, reason } => {
                let msg = muc::decline(&room, &to, reason.as_deref());
                self.track(msg, room, "decline_invitation")
            }
            RoomAction::Subject { room, subject } => {
                let msg = admin::subject(&room, &subject);
                self.track(msg, room, "set_subject")
            }
            RoomAction::Kick { room, nick, reason } => ask(room.clone(), "kick", &|id| {
                admin::kick(&room, &nick, reason.as_deref(), id)
            }),
            RoomAction::Ban { room, jid, reason } => ask(room.clone(), "ban", &|id| {
                admin::ban(&room, &jid, reason.as_deref(), id)
            }),
            RoomAction::Destroy { room, reason } => ask(room.clone(), "destroy_room", &|id| {
                admin::destroy(&room, reason.as_deref(), id)
            }),
        }
    }

    /// Sends `msg` to `room` with a fresh id, remembered until the room
    /// refuses it (or the session ends).
    fn track(&mut self, msg: Message, room: BareJid, action: &'static str) -> Out {
        self.track_answered_by(msg, room.clone(), room, action)
    }

    /// As `track`, for a message whose refusal comes from `answerer`.
    fn track_answered_by(
        &mut self,
        mut msg: Message,
        answerer: BareJid,
        room: BareJid,
        action: &'static str,
    ) -> Out {
        let id = uuid::Uuid::new_v4().to_string();
        msg.id = Some(tokio_xmpp::parsers::message::Id(id.clone()));
        self.sent.insert(id.clone(), (answerer, room, action));
        self.order.push_back(id);
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.sent.remove(&old);
            }
        }
        Out::send(msg)
    }

    /// Takes the room's answer to one of our actions; gives back any
    /// other IQ.
    pub(crate) fn on_answer(&mut self, requests: &mut Requests, iq: Iq) -> Result<(), Box<Iq>> {
        let (id, from) = match &iq {
            Iq::Result { id, from, .. } | Iq::Error { id, from, .. } => (id, from),
            _ => return Err(Box::new(iq)),
        };
        let Some(Request::RoomAction { room, action }) = requests.peek(id).cloned() else {
            return Err(Box::new(iq));
        };
        if from.as_ref().map(Jid::to_bare).as_ref() != Some(&room) {
            return Err(Box::new(iq));
        }
        requests.take(id);
        if let Iq::Error { error, .. } = iq {
            self.failed(&room, action, &error);
        }
        Ok(())
    }

    /// Whether the error `msg` answers one of our messages to a room
    /// (then the refusal is announced).
    pub(crate) fn on_error(&mut self, msg: &Message) -> bool {
        let Some(id) = msg.id.as_ref() else {
            return false;
        };
        let from = msg.from.as_ref().map(Jid::to_bare);
        if self.sent.get(&id.0).map(|(answerer, _, _)| answerer) != from.as_ref() || from.is_none()
        {
            return false;
        }
        let Some((_, room, action)) = self.sent.remove(&id.0) else {
            return false;
        };
        let error = msg
            .payloads
            .iter()
            .find_map(|p| tokio_xmpp::parsers::stanza_error::StanzaError::try_from(p.clone()).ok());
        match error {
            Some(error) => self.failed(&room, action, &error),
            None => self.hub.emit(Event::RoomActionFailed {
                room: room.to_string(),
                action: action.into(),
                condition: "undefined-condition".into(),
                text: None,
            }),
        }
        true
    }

    /// Announces the invitation `msg` carries, or the decline of one of
    /// ours; false if it carries neither.
    pub(crate) fn on_invitation(&self, msg: &Message) -> bool {
        if let Some(declined) = muc::declined(msg) {
            tracing::info!(room = %declined.room, from = %declined.from, "our invitation was declined");
            self.hub.emit(Event::RoomInviteDeclined {
                room: declined.room.to_string(),
                from: declined.from.to_string(),
                reason: declined.reason,
            });
            return true;
        }
        let Some(invitation) = muc::invitation(msg) else {
            return false;
        };
        tracing::info!(room = %invitation.room, from = %invitation.from, "invited to a room");
        self.hub.emit(Event::RoomInvite {
            room: invitation.room.to_string(),
            from: invitation.from.to_string(),
            password: invitation.password.map(Secret::new),
            reason: invitation.reason,
        });
        true
    }

    fn failed(
        &self,
        room: &BareJid,
        action: &str,
        error: &tokio_xmpp::parsers::stanza_error::StanzaError,
    ) {
        let condition = muc::condition_name(&error.defined_condition);
        tracing::warn!(%room, action, condition, "the room refused");
        self.hub.emit(Event::RoomActionFailed {
            room: room.to_string(),
            action: action.to_owned(),
            condition,
            text: error.texts.values().next().cloned(),
        });
    }
}

#[cfg(test)]
mod tests;
