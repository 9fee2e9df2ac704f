//! Availability (RFC 6121 §4): ours, and our contacts'. The pure parts,
//! tested on raw XML: the presence we broadcast and what an incoming
//! `<presence/>` means (XMPP's `chat` reads as online). How a contact's
//! resources add up to the one status a UI shows is a rule of the domain:
//! `ContactPresence::aggregate` in `model`.

use tokio_xmpp::jid::BareJid;
use tokio_xmpp::parsers::presence::{self, Presence, Type as PresenceType};

use crate::model::{ResourcePresence, Show};

/// What an incoming `<presence/>` without a subscription type means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Update {
    /// `from`'s `resource` is available (or changed its show or status).
    Available {
        from: BareJid,
        resource: ResourcePresence,
    },
    /// `from`'s `resource` went offline; all of them if `None` (a
    /// presence from the bare JID).
    Unavailable {
        from: BareJid,
        resource: Option<String>,
    },
}

/// The availability news in `p`, if any: not from ourselves (our other
/// devices), not an error, probe or subscription presence.
pub(crate) fn update(own: &BareJid, p: &Presence) -> Option<Update> {
    let full = p.from.as_ref()?;
    let from = full.to_bare();
    if from == *own {
        return None;
    }
    let resource = full.resource().map(|r| r.to_string());
    match p.type_ {
        PresenceType::None => Some(Update::Available {
            resource: ResourcePresence {
                resource: resource.unwrap_or_default(),
                show: show_from_xmpp(p.show.as_ref()),
                status: status_of(p),
                priority: p.priority.0,
            },
            from,
        }),
        PresenceType::Unavailable => Some(Update::Unavailable { from, resource }),
        _ => None,
    }
}

/// The status text: the one without a language, else any.
fn status_of(p: &Presence) -> Option<String> {
    p.statuses
        .iter()
        .find(|(lang, _)| lang.0.is_empty())
        .or_else(|| p.statuses.iter().next())
        .map(|(_, s)| s.clone())
        .filter(|s| !s.is_empty())
}

/// Our broadcast presence (no `to`: the server sends it to every contact
/// allowed to see it).
pub(crate) fn ours(show: Show, status: Option<&str>) -> Presence {
    // Our capabilities ride along: see `disco`.
    let mut p = Presence::available().with_payload(crate::disco::caps());
    p.show = show_to_xmpp(show);
    if let Some(status) = status {
        p.set_status("", status);
    }
    p
}

fn show_from_xmpp(show: Option<&presence::Show>) -> Show {
    match show {
        None | Some(presence::Show::Chat) => Show::Online,
        Some(presence::Show::Away) => Show::Away,
        Some(presence::Show::Dnd) => Show::DoNotDisturb,
        Some(presence::Show::Xa) => Show::ExtendedAway,
    }
}

fn show_to_xmpp(show: Show) -> Option<presence::Show> {
    match show {
        Show::Online => None,
        Show::Away => Some(presence::Show::Away),
        Show::DoNotDisturb => Some(presence::Show::Dnd),
        Show::ExtendedAway => Some(presence::Show::Xa),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::minidom::Element;

    fn own() -> BareJid {
        "me@example.test".parse().expect("jid")
    }

    fn parse(xml: &str) -> Presence {
        let el: Element = xml.parse().expect("xml");
        Presence::try_from(el).expect("presence")
    }

    #[test]
    fn available_presence_carries_show_status_and_priority() {
        let p = parse(
            "<presence xmlns='jabber:client' from='bob@example.test/phone'>\
             <show>xa</show><status xml:lang='de'>Mittag</status><status>lunch</status>\
             <priority>5</priority></presence>",
        );
        assert_eq!(
            update(&own(), &p),
            Some(Update::Available {
                from: "bob@example.test".parse().expect("jid"),
                resource: ResourcePresence {
                    resource: "phone".into(),
                    show: Show::ExtendedAway,
                    status: Some("lunch".into()),
                    priority: 5,
                },
            })
        );
        let chat = parse(
            "<presence xmlns='jabber:client' from='bob@example.test'><show>chat</show></presence>",
        );
        assert!(matches!(
            update(&own(), &chat),
            Some(Update::Available { resource, .. })
                if resource.show == Show::Online && resource.resource.is_empty() && resource.status.is_none()
        ));
    }

    #[test]
    fn unavailable_is_per_resource_or_for_all() {
        let p = parse(
            "<presence xmlns='jabber:client' type='unavailable' from='bob@example.test/phone'/>",
        );
        assert!(matches!(
            update(&own(), &p),
            Some(Update::Unavailable { resource: Some(r), .. }) if r == "phone"
        ));
        let p =
            parse("<presence xmlns='jabber:client' type='unavailable' from='bob@example.test'/>");
        assert!(matches!(
            update(&own(), &p),
            Some(Update::Unavailable { resource: None, .. })
        ));
    }

    #[test]
    fn own_errors_and_subscriptions_are_not_availability() {
        for xml in [
            "<presence xmlns='jabber:client' from='me@example.test/laptop'/>",
            "<presence xmlns='jabber:client'/>",
            "<presence xmlns='jabber:client' type='error' from='bob@example.test'/>",
            "<presence xmlns='jabber:client' type='subscribe' from='bob@example.test'/>",
            "<presence xmlns='jabber:client' type='probe' from='bob@example.test'/>",
        ] {
            assert_eq!(update(&own(), &parse(xml)), None, "{xml}");
        }
    }

    #[test]
    fn our_presence_round_trips_and_names_are_stable() {
        for show in [
            Show::Online,
            Show::Away,
            Show::DoNotDisturb,
            Show::ExtendedAway,
        ] {
            assert_eq!(Show::parse(show.as_str()), Some(show));
            let p = ours(show, Some("lunch"));
            assert_eq!(p.type_, PresenceType::None);
            assert_eq!(p.to, None);
            assert_eq!(show_from_xmpp(p.show.as_ref()), show);
            assert_eq!(status_of(&p).as_deref(), Some("lunch"));
        }
        assert_eq!(ours(Show::Online, None).show, None);
        assert_eq!(Show::parse("chat"), None);
    }
}
