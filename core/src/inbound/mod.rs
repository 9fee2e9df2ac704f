//! What an incoming stanza means for us, decided without side effects so it
//! can be tested on raw XML.
//!
//! Hostile input is expected here: a stanza-id is trusted only when our own
//! server stamped it (`by` = our bare JID), since anyone can put one in a
//! message to make us drop it as a "duplicate". Likewise a carbon (XEP-0280)
//! is unwrapped only when our own server sent it (`from` = our bare JID):
//! anyone can wrap a forged message in `<received/>`, and clients that
//! skipped this check let strangers inject messages "from" anyone.

use chrono::{DateTime, Utc};

use crate::model::TypingState;
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::chatstates::ChatState;
use tokio_xmpp::parsers::delay::Delay;
use tokio_xmpp::parsers::displayed_markers::Displayed;
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::message_correct::Replace;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::oob::Oob;
use tokio_xmpp::parsers::receipts::{Received, Request};
use tokio_xmpp::parsers::stanza_error::StanzaError;
use tokio_xmpp::parsers::stanza_id::{OriginId, StanzaId};

mod carbons;
mod iq;

use carbons::classify_carbon;
pub(crate) use iq::answer_iq;

/// A chat message worth storing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chat {
    /// Full JID of the sender (receipts go back there).
    pub from: Jid,
    pub remote_id: Option<String>,
    pub origin_id: Option<String>,
    pub stanza_id: Option<String>,
    pub body: String,
    pub timestamp: DateTime<Utc>,
    pub wants_receipt: bool,
    /// The sender wants read markers (XEP-0333 `<markable/>`).
    pub markable: bool,
    /// XEP-0308: this corrects the sender's message with this `@id`.
    pub replace: Option<String>,
    /// The file it carries (see [`Ids::file_of`]).
    pub file_url: Option<String>,
}

/// A message one of our other devices sent, seen as a carbon or in the
/// archive: stored as ours, never sent from here.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OwnCopy {
    /// The peer's bare JID: the conversation.
    pub to: BareJid,
    pub origin_id: Option<String>,
    /// The stanza's `@id`.
    pub remote_id: Option<String>,
    pub body: String,
    pub timestamp: DateTime<Utc>,
    /// XEP-0308: this corrects our message with this `@id`.
    pub replace: Option<String>,
    /// The file it carries (see [`Ids::file_of`]).
    pub file_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inbound {
    Chat(Chat),
    /// XEP-0280: a chat message another of our devices received. Stored like
    /// [`Inbound::Chat`], but that device answers its receipt request.
    CarbonReceived(Chat),
    /// XEP-0280: a message another of our devices sent; ours too.
    CarbonSent(OwnCopy),
    /// XEP-0184: `from` confirms our message `id` arrived.
    Receipt {
        /// Full: a room occupant is told from another by the resource.
        from: Jid,
        id: String,
    },
    /// XEP-0333: `from` displayed our message `id` and all before it.
    Displayed {
        /// Full, as for a receipt.
        from: Jid,
        id: String,
    },
    /// XEP-0333 via a carbon: another device of ours displayed the
    /// conversation with `with`, so it is read here too.
    ReadElsewhere {
        with: BareJid,
    },
    /// XEP-0085: what `from` is doing in our conversation.
    Typing {
        from: BareJid,
        state: TypingState,
    },
    /// The server or the peer bounced our message `id` (type='error').
    Bounce {
        from: BareJid,
        id: String,
        reason: String,
    },
    Ignore,
}

pub(crate) fn classify_message(own: &BareJid, mut msg: Message, now: DateTime<Utc>) -> Inbound {
    if msg.type_ == MessageType::Error {
        let (Some(from), Some(id)) = (msg.from.clone(), msg.id.clone()) else {
            return Inbound::Ignore;
        };
        let reason = match msg.extract_valid_payload::<StanzaError>() {
            Some(e) => error_reason(&e),
            None => "bounced without a reason".to_owned(),
        };
        return Inbound::Bounce {
            from: from.to_bare(),
            id: id.0,
            reason,
        };
    }
    // Only the wrappers: a peer's `<private/>` hint is not a carbon.
    let wrapped = |p: &Element| p.is("received", ns::CARBONS) || p.is("sent", ns::CARBONS);
    if msg.payloads.iter().any(wrapped) {
        return classify_carbon(own, msg, now);
    }
    if !matches!(msg.type_, MessageType::Chat | MessageType::Normal) {
        return Inbound::Ignore;
    }
    let Some(from) = msg.from.clone() else {
        return Inbound::Ignore;
    };
    if from.to_bare() == *own {
        // Our other devices reach us only through carbons.
        return Inbound::Ignore;
    }
    let Some(body) = body_of(&msg) else {
        if let Some(Received { id }) = msg.extract_valid_payload::<Received>() {
            return Inbound::Receipt { from, id };
        }
        if let Some(Displayed { id }) = msg.extract_valid_payload::<Displayed>() {
            return Inbound::Displayed { from, id: id.0 };
        }
        return match msg.extract_valid_payload::<ChatState>() {
            Some(state) => Inbound::Typing {
                from: from.to_bare(),
                state: typing_state(state),
            },
            None => Inbound::Ignore,
        };
    };
    let ids = ids_of(own, std::mem::take(&mut msg.payloads));
    let remote_id = msg.id.map(|id| id.0);
    Inbound::Chat(Chat {
        replace: ids.replace_of(remote_id.as_deref()),
        file_url: ids.file_of(&body),
        from,
        remote_id,
        origin_id: ids.origin_id,
        stanza_id: ids.stanza_id,
        body,
        timestamp: clamp(ids.delay, now),
        wants_receipt: ids.wants_receipt,
        markable: ids.markable,
    })
}

/// A stanza error as a reason to show or log: its condition, then its
/// text if it has one (`RemoteServerNotFound: …`).
pub(crate) fn error_reason(e: &StanzaError) -> String {
    match e.texts.values().next() {
        Some(text) => format!("{:?}: {text}", e.defined_condition),
        None => format!("{:?}", e.defined_condition),
    }
}

/// The non-empty body of a message.
pub(crate) fn body_of(msg: &Message) -> Option<String> {
    msg.get_best_body_cloned(vec![])
        .map(|(_, b)| b)
        .filter(|b| !b.is_empty())
}

/// What a chat message's payloads say about its identity and time.
#[derive(Default)]
pub(crate) struct Ids {
    pub stanza_id: Option<String>,
    pub origin_id: Option<String>,
    pub delay: Option<DateTime<Utc>>,
    pub wants_receipt: bool,
    pub markable: bool,
    /// XEP-0308 `<replace id=…/>`.
    pub replace: Option<String>,
    /// XEP-0066 out-of-band link (HTTPS only).
    pub link: Option<String>,
}

impl Ids {
    /// The message this one corrects, unless it names itself: a message
    /// "correcting" its own id would make a receiver chase it forever (a
    /// crash bug in another client), so it is taken as a new message.
    pub(crate) fn replace_of(&self, remote_id: Option<&str>) -> Option<String> {
        let replace = self.replace.as_deref()?;
        if Some(replace) == remote_id || Some(replace) == self.origin_id.as_deref() {
            tracing::warn!(id = replace, "ignored a message that corrects itself");
            return None;
        }
        Some(replace.to_owned())
    }

    /// The file a message with `body` carries: its out-of-band link when
    /// the body is that link and nothing else (XEP-0363 §4, as every
    /// client that shares files does). A link beside other text stays
    /// text, so no words are hidden behind a file.
    pub(crate) fn file_of(&self, body: &str) -> Option<String> {
        self.link.clone().filter(|link| body.trim() == link)
    }
}

pub(crate) fn ids_of(own: &BareJid, payloads: Vec<Element>) -> Ids {
    let mut ids = Ids::default();
    for payload in payloads {
        if let Ok(sid) = StanzaId::try_from(payload.clone()) {
            if sid.by == *own && ids.stanza_id.is_none() {
                ids.stanza_id = Some(sid.id);
            }
        } else if let Ok(oid) = OriginId::try_from(payload.clone()) {
            ids.origin_id.get_or_insert(oid.id);
        } else if let Ok(d) = Delay::try_from(payload.clone()) {
            ids.delay.get_or_insert(d.stamp.0.with_timezone(&Utc));
        } else if let Ok(r) = Replace::try_from(payload.clone()) {
            ids.replace.get_or_insert(r.id.0);
        } else if let Ok(oob) = Oob::try_from(payload.clone()) {
            // Plain HTTP would let the network read and swap the file.
            if oob.url.starts_with("https://") {
                ids.link.get_or_insert(oob.url);
            }
        } else if payload.is("markable", ns::DISPLAYED_MARKERS) {
            ids.markable = true;
        } else if Request::try_from(payload).is_ok() {
            ids.wants_receipt = true;
        }
    }
    ids
}

/// Whether `msg` carries a room invitation (XEP-0045 mediated or XEP-0249
/// direct): no chat message, though it may have a body (the server's
/// prose). `muc::invitation` reads it.
pub(crate) fn carries_invitation(msg: &Message) -> bool {
    msg.payloads.iter().any(|p| {
        (p.is("x", "http://jabber.org/protocol/muc#user")
            && p.get_child("invite", "http://jabber.org/protocol/muc#user")
                .is_some())
            || p.is("x", "jabber:x:conference")
    })
}

/// A delay stamp from the future would sort a message after everything
/// else forever: never trust it past "now".
pub(crate) fn clamp(delay: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    delay.map_or(now, |d| d.min(now))
}

fn typing_state(state: ChatState) -> TypingState {
    match state {
        ChatState::Active => TypingState::Active,
        ChatState::Composing => TypingState::Composing,
        ChatState::Paused => TypingState::Paused,
        ChatState::Inactive => TypingState::Inactive,
        ChatState::Gone => TypingState::Gone,
    }
}

/// XEP-0085 notification telling `to` what we are doing; bodyless, so
/// servers neither archive nor store it offline.
pub(crate) fn typing_for(to: BareJid, state: TypingState) -> Message {
    let state = match state {
        TypingState::Active => ChatState::Active,
        TypingState::Composing => ChatState::Composing,
        TypingState::Paused => ChatState::Paused,
        TypingState::Inactive => ChatState::Inactive,
        TypingState::Gone => ChatState::Gone,
    };
    Message::chat(Jid::from(to)).with_payload(state)
}

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;
