//! The contact list (RFC 6121): who the user knows, and who gave whom
//! permission to see presence. XMPP wants both sides to agree before either
//! sees the other online; this module holds the pure parts of that, tested
//! on raw XML: the stanzas we send, and what the roster IQs we receive mean.
//!
//! A roster push may change who we show presence to, so it is trusted only
//! from our own account (no `from`, or `from` = our bare JID). Anyone can
//! send us an `<iq type='set'>` with a roster payload; clients that applied
//! it let strangers add, rename or delete contacts (a known CVE class).

use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::roster::{self, Ask, Group, Item, Roster};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use crate::model::{Change, Contact, Subscription};

/// What an incoming roster `set` means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Push {
    /// Apply the changes, store `ver`, then send `reply` (an empty result).
    Accept {
        ver: Option<String>,
        changes: Vec<Change>,
        reply: Iq,
    },
    /// Send `reply` (an error) and change nothing.
    Reject(Iq),
}

/// `<iq type='get'><query xmlns='jabber:iq:roster' ver='…'/></iq>`. An
/// empty `ver` (nothing stored) still tells the server we support
/// versioning, so it can answer later fetches with no items at all.
pub(crate) fn fetch(id: &str, stored_ver: Option<String>) -> Iq {
    Iq::from_get(
        id,
        Roster {
            ver: Some(stored_ver.unwrap_or_default()),
            items: Vec::new(),
        },
    )
}

/// A roster `set` of one item: add, or rename and regroup (`name` and
/// `groups` replace what the server has), or remove.
pub(crate) fn set(
    id: &str,
    jid: BareJid,
    name: Option<String>,
    groups: Vec<String>,
    remove: bool,
) -> Iq {
    let subscription = if remove {
        roster::Subscription::Remove
    } else {
        roster::Subscription::None
    };
    Iq::from_set(
        id,
        Roster {
            ver: None,
            items: vec![Item {
                jid,
                name,
                subscription,
                ask: Ask::None,
                groups: groups.into_iter().map(Group).collect(),
                approved: None,
            }],
        },
    )
}

/// A subscription presence (`subscribe`, `subscribed`, `unsubscribed`…) to `to`.
pub(crate) fn presence(to: BareJid, type_: PresenceType) -> Presence {
    Presence::new(type_).with_to(Jid::from(to))
}

/// A full roster, as a fetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fetched {
    pub ver: Option<String>,
    pub contacts: Vec<Contact>,
}

/// The roster in a fetch result: `None` when the result has no payload (the
/// server says our stored version is current), else every item.
pub(crate) fn fetched(payload: Option<Element>) -> Result<Option<Fetched>, String> {
    let Some(payload) = payload else {
        return Ok(None);
    };
    let roster = Roster::try_from(payload).map_err(|e| format!("malformed roster: {e}"))?;
    let contacts = roster
        .items
        .into_iter()
        .filter_map(|item| match change(item) {
            Change::Set(c) => Some(c),
            Change::Remove(_) => None,
        })
        .collect();
    Ok(Some(Fetched {
        ver: roster.ver,
        contacts,
    }))
}

/// Whether `payload` is a roster query (so a `set` carrying it is a push).
pub(crate) fn is_roster(payload: &Element) -> bool {
    payload.is("query", tokio_xmpp::parsers::ns::ROSTER)
}

/// Decides on a roster push (`iq` is a `set` with a roster payload).
pub(crate) fn push(own: &BareJid, iq: Iq) -> Push {
    let Iq::Set {
        from, id, payload, ..
    } = iq
    else {
        return Push::Reject(error(None, String::new(), DefinedCondition::BadRequest));
    };
    if from.as_ref().is_some_and(|f| f.as_str() != own.as_str()) {
        tracing::warn!(
            ?from,
            "rejected a roster push not sent by our own server (spoofing?)"
        );
        return Push::Reject(error(from, id, DefinedCondition::ServiceUnavailable));
    }
    let roster = match Roster::try_from(payload) {
        Ok(roster) if !roster.items.is_empty() => roster,
        _ => return Push::Reject(error(from, id, DefinedCondition::BadRequest)),
    };
    Push::Accept {
        ver: roster.ver,
        changes: roster.items.into_iter().map(change).collect(),
        reply: Iq::Result {
            from: None,
            to: from,
            id,
            payload: None,
        },
    }
}

fn change(item: Item) -> Change {
    let jid = item.jid.to_string();
    let subscription = match item.subscription {
        roster::Subscription::Remove => return Change::Remove(jid),
        roster::Subscription::None => Subscription::None,
        roster::Subscription::To => Subscription::To,
        roster::Subscription::From => Subscription::From,
        roster::Subscription::Both => Subscription::Both,
    };
    Change::Set(Contact {
        jid,
        name: item.name.filter(|n| !n.is_empty()),
        groups: item.groups.into_iter().map(|Group(g)| g).collect(),
        subscription,
        ask: item.ask == Ask::Subscribe,
        pending_in: false,
    })
}

fn error(to: Option<Jid>, id: String, condition: DefinedCondition) -> Iq {
    let error = Iq::from_error(
        id,
        StanzaError::new(ErrorType::Cancel, condition, "en", "roster push refused"),
    );
    match to {
        Some(to) => error.with_to(to),
        None => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> BareJid {
        "me@example.test".parse().expect("jid")
    }

    fn iq(xml: &str) -> Iq {
        let el: Element = xml.parse().expect("xml");
        Iq::try_from(el).expect("iq")
    }

    fn push_from(from: &str, item: &str) -> Iq {
        let from = if from.is_empty() {
            String::new()
        } else {
            format!(" from='{from}'")
        };
        iq(&format!(
            "<iq xmlns='jabber:client' type='set' id='p1'{from} to='me@example.test/phone'>\
             <query xmlns='jabber:iq:roster' ver='v2'>{item}</query></iq>"
        ))
    }

    const BOB: &str = "<item jid='bob@example.test' name='Bob' subscription='to' ask='subscribe'>\
                       <group>Friends</group><group>Work</group></item>";

    #[test]
    fn push_from_our_server_is_applied_and_answered_with_an_empty_result() {
        for from in ["", "me@example.test"] {
            let Push::Accept {
                ver,
                changes,
                reply,
            } = push(&own(), push_from(from, BOB))
            else {
                panic!("rejected a push from {from:?}")
            };
            assert_eq!(ver.as_deref(), Some("v2"));
            assert_eq!(
                changes,
                vec![Change::Set(Contact {
                    jid: "bob@example.test".into(),
                    name: Some("Bob".into()),
                    groups: vec!["Friends".into(), "Work".into()],
                    subscription: Subscription::To,
                    ask: true,
                    pending_in: false,
                })]
            );
            assert!(
                matches!(reply, Iq::Result { ref id, payload: None, .. } if id == "p1"),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn spoofed_push_from_another_jid_is_refused() {
        for from in [
            "eve@example.test",
            "me@example.test/other",
            "example.test",
            "eve@evil.test/x",
        ] {
            let Push::Reject(reply) = push(&own(), push_from(from, BOB)) else {
                panic!("accepted a push from {from}")
            };
            let Iq::Error { id, to, error, .. } = reply else {
                panic!("not an error: {reply:?}")
            };
            assert_eq!(id, "p1");
            assert_eq!(to.map(|t| t.to_string()).as_deref(), Some(from));
            assert_eq!(
                error.defined_condition,
                DefinedCondition::ServiceUnavailable
            );
        }
    }

    #[test]
    fn remove_push_and_pushes_without_items() {
        let Push::Accept { changes, .. } = push(
            &own(),
            push_from("", "<item jid='bob@example.test' subscription='remove'/>"),
        ) else {
            panic!("rejected")
        };
        assert_eq!(changes, vec![Change::Remove("bob@example.test".into())]);
        assert!(matches!(push(&own(), push_from("", "")), Push::Reject(_)));
    }

    #[test]
    fn fetch_results_replace_or_keep_the_roster() {
        // No payload: our version is current.
        assert_eq!(fetched(None), Ok(None));
        let full: Element = format!("<query xmlns='jabber:iq:roster' ver='v7'>{BOB}</query>")
            .parse()
            .expect("xml");
        let Fetched { ver, contacts } = fetched(Some(full)).expect("parsed").expect("roster");
        assert_eq!(ver.as_deref(), Some("v7"));
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].jid, "bob@example.test");
        // An empty query is an empty roster, not "unchanged".
        let empty: Element = "<query xmlns='jabber:iq:roster' ver='v8'/>"
            .parse()
            .expect("xml");
        assert_eq!(
            fetched(Some(empty)),
            Ok(Some(Fetched {
                ver: Some("v8".into()),
                contacts: Vec::new()
            }))
        );
        let junk: Element = "<query xmlns='jabber:iq:roster'><item/></query>"
            .parse()
            .expect("xml");
        assert!(fetched(Some(junk)).is_err());
    }

    #[test]
    fn fetch_sends_the_stored_version_or_an_empty_one() {
        let xml = |iq: Iq| String::from(&Element::from(iq));
        assert!(xml(fetch("f1", Some("v3".into()))).contains("ver='v3'"));
        assert!(xml(fetch("f1", None)).contains("ver=''"));
        let remove = xml(set(
            "s1",
            "bob@example.test".parse().expect("jid"),
            None,
            Vec::new(),
            true,
        ));
        assert!(remove.contains("subscription='remove'"), "{remove}");
        let update = xml(set(
            "s2",
            "bob@example.test".parse().expect("jid"),
            Some("Bob".into()),
            vec!["Work".into(), "Friends".into()],
            false,
        ));
        assert!(update.contains("name='Bob'"), "{update}");
        assert!(
            update.contains("<group>Work</group><group>Friends</group>"),
            "{update}"
        );
        assert!(!update.contains("subscription="), "{update}");
    }
}
