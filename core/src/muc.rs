//! Group chat (XEP-0045) on the wire, decided without side effects so it
//! can be tested on raw XML: the presence that joins a room, what a
//! presence or a groupchat message from a room means, and the owner form
//! that sets a new room up.
//!
//! Trust: only what comes from a room we are in is read as that room's,
//! and a room message's stanza-id is taken only when the room stamped it
//! (`by` = the room), as our own archive's are only when our server did.

use chrono::{DateTime, Utc};
use tokio_xmpp::jid::{BareJid, FullJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::muc::muc::History;
use tokio_xmpp::parsers::muc::user::{MucUser, Status};
use tokio_xmpp::parsers::muc::Muc;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, StanzaError};

use crate::inbound::{body_of, clamp, ids_of};
use crate::model::{Occupant, RoomConfig, RoomError};

const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
const DATA_FORMS: &str = "jabber:x:data";

/// How much of a room's past a join asks for (legacy XEP-0045 history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Since {
    /// A first join: the last few messages, for context.
    Recent(u32),
    /// A rejoin: what was said after our newest stored message of the room.
    After(DateTime<Utc>),
    /// Nothing: the room's archive will be paged instead (it keeps the
    /// order and the stamps; mixing both reorders messages of one second).
    Nothing,
}

/// The presence that enters `room` as `nick`.
pub(crate) fn join(
    room: &BareJid,
    nick: &str,
    password: Option<&str>,
    since: Since,
) -> Option<Presence> {
    let to = room.with_resource_str(nick).ok()?;
    let history = match since {
        Since::Recent(n) => History::new().with_maxstanzas(n),
        Since::After(t) => {
            History::new().with_since(tokio_xmpp::parsers::date::DateTime(t.fixed_offset()))
        }
        Since::Nothing => History::new().with_maxstanzas(0),
    };
    let mut x = Muc::new().with_history(history);
    if let Some(password) = password {
        x = x.with_password(password.to_owned());
    }
    Some(Presence::available().with_to(to).with_payload(x))
}

/// The presence that leaves `room`.
pub(crate) fn leave(room: &BareJid, nick: &str) -> Option<Presence> {
    Some(Presence::unavailable().with_to(room.with_resource_str(nick).ok()?))
}

/// What a presence from a room we are in (or joining) means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RoomPresence {
    /// Our own presence came back: we are in, as `nick` (the room may have
    /// changed it). `created`: the room did not exist and is ours now,
    /// locked until configured.
    /// Our own presence: we are in, as `me` (our role and affiliation).
    Joined {
        nick: String,
        created: bool,
        me: Occupant,
    },
    /// Another occupant arrived or changed.
    Occupant(Occupant),
    /// Another occupant left.
    Gone { nick: String },
    /// We are out: left, kicked, banned, or the room was destroyed
    /// (`error` says which; `None` when we left).
    Out { error: Option<RoomError> },
    /// The room refused our join (or a change).
    Refused {
        error: RoomError,
        text: Option<String>,
    },
}

/// Reads a presence from `room`; `sent_password` tells a missing password
/// from a wrong one (the room says `not-authorized` for both).
pub(crate) fn classify_presence(p: &Presence, sent_password: bool) -> Option<RoomPresence> {
    let from = p.from.as_ref()?.try_as_full().ok()?;
    let nick = from.resource().as_str().to_owned();
    if p.type_ == PresenceType::Error {
        let error = p
            .payloads
            .iter()
            .find_map(|e| StanzaError::try_from(e.clone()).ok());
        let (error, text) = match error {
            Some(e) => (
                refusal(&e.defined_condition, sent_password, &nick),
                e.texts.values().next().cloned(),
            ),
            None => (
                RoomError::Other {
                    condition: "undefined-condition".into(),
                },
                None,
            ),
        };
        return Some(RoomPresence::Refused { error, text });
    }
    let user = p
        .payloads
        .iter()
        .find_map(|e| MucUser::try_from(e.clone()).ok())?;
    let own = user.status.contains(&Status::SelfPresence);
    if p.type_ == PresenceType::Unavailable {
        // A destroyed room is gone for everyone; ejabberd leaves out the
        // self-presence status (110) on our own copy.
        let destroyed = matches!(sent_away(&user, p), Some(RoomError::Destroyed { .. }));
        if own || destroyed {
            return Some(RoomPresence::Out {
                error: sent_away(&user, p),
            });
        }
        return Some(RoomPresence::Gone { nick });
    }
    let item = user.items.first();
    let occupant = |nick: String| Occupant {
        nick,
        role: item.map_or("none".into(), |i| format!("{:?}", i.role).to_lowercase()),
        affiliation: item.map_or("none".into(), |i| {
            format!("{:?}", i.affiliation).to_lowercase()
        }),
        jid: item
            .and_then(|i| i.jid.as_ref())
            .map(|j| j.to_bare().to_string()),
    };
    if own {
        return Some(RoomPresence::Joined {
            me: occupant(nick.clone()),
            nick,
            created: user.status.contains(&Status::RoomHasBeenCreated),
        });
    }
    item?;
    Some(RoomPresence::Occupant(occupant(nick)))
}

fn refusal(condition: &DefinedCondition, sent_password: bool, nick: &str) -> RoomError {
    match condition {
        DefinedCondition::NotAuthorized if sent_password => RoomError::WrongPassword,
        DefinedCondition::NotAuthorized => RoomError::PasswordRequired,
        DefinedCondition::Forbidden => RoomError::Banned,
        DefinedCondition::RegistrationRequired => RoomError::MembersOnly,
        DefinedCondition::Conflict => RoomError::NicknameInUse {
            suggestion: another_nick(nick),
        },
        DefinedCondition::ItemNotFound => RoomError::NotFound,
        DefinedCondition::ServiceUnavailable => RoomError::Full,
        other => RoomError::Other {
            condition: condition_name(other),
        },
    }
}

/// Whether `body` names `nick` as a word (any case): `kim` in "hi Kim!"
/// and "@kim:", not in "kimono".
pub(crate) fn mentions(body: &str, nick: &str) -> bool {
    let (body, nick) = (body.to_lowercase(), nick.to_lowercase());
    if nick.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    body.match_indices(&nick).any(|(at, _)| {
        !word(body[..at].chars().next_back()) && !word(body[at + nick.len()..].chars().next())
    })
}

/// A nickname to try when `nick` is taken: its number raised, or a 2
/// added (`kim` → `kim2`, `kim2` → `kim3`).
pub(crate) fn another_nick(nick: &str) -> String {
    let stem = nick.trim_end_matches(|c: char| c.is_ascii_digit());
    match nick[stem.len()..]
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_add(1))
    {
        Some(n) if !stem.is_empty() => format!("{stem}{n}"),
        _ => format!("{nick}2"),
    }
}

pub(crate) fn condition_name(condition: &DefinedCondition) -> String {
    // The element name, e.g. `not-allowed`.
    let el: Element = StanzaError::new(
        tokio_xmpp::parsers::stanza_error::ErrorType::Cancel,
        condition.clone(),
        "en",
        "",
    )
    .into();
    el.children()
        .next()
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|| "undefined-condition".into())
}

/// Why our own unavailable presence came: kicked (307), banned (301),
/// the room destroyed, or our own leave (`None`).
fn sent_away(user: &MucUser, p: &Presence) -> Option<RoomError> {
    let reason = user
        .items
        .first()
        .and_then(|i| i.reason.as_ref())
        .map(|r| r.0.clone());
    if user.status.contains(&Status::Banned) {
        return Some(RoomError::Banned);
    }
    if user.status.contains(&Status::Kicked) {
        return Some(RoomError::Kicked { reason });
    }
    let destroyed = p
        .payloads
        .iter()
        .filter(|e| e.is("x", tokio_xmpp::parsers::ns::MUC_USER))
        .find_map(|x| x.get_child("destroy", tokio_xmpp::parsers::ns::MUC_USER));
    if let Some(destroy) = destroyed {
        return Some(RoomError::Destroyed {
            reason: destroy
                .get_child("reason", tokio_xmpp::parsers::ns::MUC_USER)
                .map(|r| r.text()),
        });
    }
    if user.status.contains(&Status::RemovalFromRoom)
        || user.status.contains(&Status::ConfigMembersOnly)
    {
        return Some(RoomError::MembersOnly);
    }
    if user.status.contains(&Status::ServiceShutdown) {
        return Some(RoomError::Other {
            condition: "system-shutdown".into(),
        });
    }
    None
}

/// A groupchat message from a room.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RoomMessage {
    /// Someone said something (possibly us: compare `nick`).
    Said(Said),
    /// The subject changed (`None`: cleared).
    Subject(Option<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Said {
    pub from: FullJid,
    pub remote_id: Option<String>,
    pub origin_id: Option<String>,
    /// Stamped by the room (`by` = the room).
    pub stanza_id: Option<String>,
    pub body: String,
    pub timestamp: DateTime<Utc>,
    /// XEP-0308: corrects the sender's message with this id.
    pub replace: Option<String>,
    /// The file it carries (see `inbound::Ids::file_of`).
    pub file_url: Option<String>,
}

pub(crate) fn classify_message(
    room: &BareJid,
    mut msg: Message,
    now: DateTime<Utc>,
) -> Option<RoomMessage> {
    if msg.type_ != MessageType::Groupchat {
        return None;
    }
    let from = msg.from.as_ref()?;
    if from.to_bare() != *room {
        return None;
    }
    let Some(body) = body_of(&msg) else {
        // A subject change has a subject and no body (XEP-0045 §8.1).
        return msg
            .subjects
            .values()
            .next()
            .map(|s| RoomMessage::Subject(Some(s.clone()).filter(|s| !s.is_empty())));
    };
    // The room's own notices (from the bare room JID) are not anyone's words.
    let from = from.try_as_full().ok()?.clone();
    let ids = ids_of(room, std::mem::take(&mut msg.payloads));
    let remote_id = msg.id.map(|id| id.0);
    Some(RoomMessage::Said(Said {
        replace: ids.replace_of(remote_id.as_deref()),
        file_url: ids.file_of(&body),
        from,
        remote_id,
        origin_id: ids.origin_id,
        stanza_id: ids.stanza_id,
        body,
        timestamp: clamp(ids.delay, now),
    }))
}

/// Whether `msg` is a room's own traffic (a groupchat message, or an
/// answer of its archive) rather than a private message or an error.
pub(crate) fn is_room_traffic(msg: &Message) -> bool {
    msg.type_ == MessageType::Groupchat || crate::archive::is_result(msg)
}

/// The IQ asking `room`'s archive (XEP-0313 on the room JID) for the page
/// after the room's stanza-id `after`, tagged with `queryid`.
pub(crate) fn archive_query(room: &BareJid, id: &str, queryid: &str, after: &str) -> Iq {
    crate::archive::query(id, queryid, &crate::archive::Page::After(after.to_owned()))
        .with_to(Jid::from(room.clone()))
}

/// The IQ asking `room`'s archive for its newest `max` messages (a first
/// visit's window).
pub(crate) fn archive_latest(room: &BareJid, id: &str, queryid: &str, max: u32) -> Iq {
    crate::archive::query(id, queryid, &crate::archive::Page::Latest(max))
        .with_to(Jid::from(room.clone()))
}

/// The disco#info query to `room`: what it offers (an archive?).
pub(crate) fn info_query(room: &BareJid, id: &str) -> Iq {
    Iq::from_get(
        id.to_owned(),
        tokio_xmpp::parsers::disco::DiscoInfoQuery { node: None },
    )
    .with_to(Jid::from(room.clone()))
}

/// The IQ asking `room`'s archive for what it has since `start` (a rejoin
/// with no stored stanza-id of the room to page after).
pub(crate) fn archive_query_since(
    room: &BareJid,
    id: &str,
    queryid: &str,
    start: DateTime<Utc>,
) -> Iq {
    let form = Element::builder("x", DATA_FORMS)
        .attr(
            tokio_xmpp::minidom::rxml::xml_ncname!("type").into(),
            "submit",
        )
        .append(field("FORM_TYPE", tokio_xmpp::parsers::ns::MAM))
        .append(field(
            "start",
            &start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ))
        .build();
    let set = Element::builder("set", tokio_xmpp::parsers::ns::RSM)
        .append(
            Element::builder("max", tokio_xmpp::parsers::ns::RSM)
                .append(crate::archive::PAGE_SIZE.to_string())
                .build(),
        )
        .build();
    let query = Element::builder("query", tokio_xmpp::parsers::ns::MAM)
        .attr(
            tokio_xmpp::minidom::rxml::xml_ncname!("queryid").into(),
            queryid,
        )
        .append(form)
        .append(set)
        .build();
    set_to(room, id, query)
}

/// A message of `room`'s archive, if the room itself sent it (anyone can
/// wrap a forged message in `<result/>`) for our query `queryid`. The
/// archive id is the room's stanza-id, so what also came live is stored
/// once.
pub(crate) fn archived(
    room: &BareJid,
    msg: Message,
    queryid: &str,
    now: DateTime<Utc>,
) -> Option<RoomMessage> {
    if msg.from.as_ref().map(|f| f.as_str()) != Some(room.as_str()) {
        tracing::warn!(from = ?msg.from, "dropped a room archive result not sent by the room");
        return None;
    }
    let el = msg
        .payloads
        .into_iter()
        .find(|p| p.is("result", tokio_xmpp::parsers::ns::MAM))?;
    let result = tokio_xmpp::parsers::mam::Result_::try_from(el).ok()?;
    if result.queryid.as_ref().map(|q| q.0.as_str()) != Some(queryid) {
        return None;
    }
    let stamp = result
        .forwarded
        .delay
        .map(|d| d.stamp.0.with_timezone(&Utc));
    match classify_message(room, result.forwarded.message, now)? {
        RoomMessage::Said(mut said) => {
            // The archive's own id and time: a live copy had the same id,
            // and a replayed message is as old as the archive says.
            said.stanza_id = Some(result.id);
            if let Some(stamp) = stamp {
                said.timestamp = said.timestamp.min(stamp);
            }
            Some(RoomMessage::Said(said))
        }
        RoomMessage::Subject(_) => None,
    }
}

/// The owner form that sets a new (locked) room up as `config` says, or
/// accepts the defaults (an instant room) when it says nothing.
pub(crate) fn configure(room: &BareJid, config: &RoomConfig, id: &str) -> Iq {
    let flag = |b: bool| if b { "1" } else { "0" };
    let mut form = Element::builder("x", DATA_FORMS)
        .attr(
            tokio_xmpp::minidom::rxml::xml_ncname!("type").into(),
            "submit",
        )
        .append(field(
            "FORM_TYPE",
            "http://jabber.org/protocol/muc#roomconfig",
        ))
        .append(field(
            "muc#roomconfig_persistentroom",
            flag(config.persistent),
        ))
        .append(field(
            "muc#roomconfig_membersonly",
            flag(config.members_only),
        ))
        .append(field(
            "muc#roomconfig_passwordprotectedroom",
            flag(config.password.is_some()),
        ));
    if let Some(password) = &config.password {
        form = form.append(field("muc#roomconfig_roomsecret", password));
    }
    if let Some(name) = &config.name {
        form = form.append(field("muc#roomconfig_roomname", name));
    }
    let query = Element::builder("query", MUC_OWNER)
        .append(form.build())
        .build();
    set_to(room, id, query)
}

/// An IQ set to `room` carrying `payload`.
fn set_to(room: &BareJid, id: &str, payload: Element) -> Iq {
    Iq::Set {
        from: None,
        to: Some(Jid::from(room.clone())),
        id: id.to_owned(),
        payload,
    }
}

/// One `<field var=…><value>…</value></field>` of a submitted data form.
fn field(var: &str, value: &str) -> Element {
    Element::builder("field", DATA_FORMS)
        .attr(tokio_xmpp::minidom::rxml::xml_ncname!("var").into(), var)
        .append(Element::builder("value", DATA_FORMS).append(value).build())
        .build()
}

pub(crate) mod admin;
mod invitation;
#[cfg(test)]
mod tests;

pub(crate) use invitation::{decline, declined, invitation, invite, invite_direct};
