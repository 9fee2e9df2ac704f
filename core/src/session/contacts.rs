//! Contacts and presence for one session (RFC 6121; the decisions are in
//! [`crate::roster`] and [`crate::presence`]): the roster fetch with the
//! stored version, pushes from our server, the app's roster changes and
//! answers to subscription requests, our availability, and contacts'
//! presence kept in the store as a cache.
//!
//! Every change is stored before its event, so an app that re-reads the
//! roster or presence on an event sees the change.

use std::sync::Arc;

use tokio_xmpp::jid::BareJid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};

use super::requests::{Out, Request};
use crate::events::EventHub;
use crate::model::{Event, Show};
use crate::presence::{self, Update};
use crate::roster::{self, Push};
use crate::store::{Store, StoreError};

/// What the app asked to do with a contact (see `Client::add_contact`…).
pub(crate) enum RosterCommand {
    Add(BareJid, Option<String>),
    /// Name and groups, without asking for permission again.
    Update(BareJid, Option<String>, Vec<String>),
    Approve(BareJid),
    Deny(BareJid),
    Remove(BareJid),
}

/// Our show and status text.
pub(crate) type OwnPresence = (Show, Option<String>);

pub(crate) struct Contacts {
    own: BareJid,
    store: Arc<Store>,
    hub: Arc<EventHub>,
    /// What this session last broadcast; `None` before the first time.
    sent_presence: Option<OwnPresence>,
}

impl Contacts {
    pub(crate) fn new(own: BareJid, store: Arc<Store>, hub: Arc<EventHub>) -> Self {
        Self {
            own,
            store,
            hub,
            sent_presence: None,
        }
    }

    /// A fresh session: the roster fetch (before presence, RFC 6121 §2.2:
    /// the server then knows we want its pushes, and the presence answers
    /// arrive for known contacts). The server sends every contact's
    /// presence again after our initial one, so what we stored is stale.
    pub(crate) fn fresh_session(&mut self) -> Out {
        let ver = self.store.roster_ver().unwrap_or_else(|e| {
            tracing::warn!("cannot read the roster version: {e}");
            None
        });
        tracing::debug!(?ver, "fetching the roster");
        let fetch = Out::ask(Request::RosterFetch, |id| roster::fetch(id, ver));
        self.forget_stale_presence();
        self.sent_presence = None;
        fetch
    }

    /// Our availability, unless it is what this session last sent.
    pub(crate) fn presence(&mut self, want: OwnPresence) -> Option<Out> {
        if self.sent_presence.as_ref() == Some(&want) {
            return None;
        }
        tracing::debug!(show = want.0.as_str(), "sending our presence");
        let stanza = presence::ours(want.0, want.1.as_deref());
        self.sent_presence = Some(want);
        Some(Out::send(stanza))
    }

    /// The result of our roster fetch.
    pub(crate) fn on_fetched(&self, payload: Option<Element>) {
        match roster::fetched(payload) {
            Ok(None) => tracing::debug!("stored roster is current"),
            Ok(Some(roster::Fetched { ver, contacts })) => {
                tracing::debug!(count = contacts.len(), ?ver, "roster fetched");
                match self.store.replace_roster(ver.as_deref(), &contacts) {
                    Ok(()) => self.hub.emit(Event::RosterChanged),
                    Err(e) => tracing::error!("cannot store the roster: {e}"),
                }
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }

    /// A roster push (only our own account's are applied); the answer to
    /// send back.
    pub(crate) fn on_push(&self, iq: Iq) -> Out {
        match roster::push(&self.own, iq) {
            Push::Accept {
                ver,
                changes,
                reply,
            } => {
                match self.store.apply_roster_push(ver.as_deref(), &changes) {
                    Ok(()) => self.hub.emit(Event::RosterChanged),
                    Err(e) => tracing::error!("cannot store a roster push: {e}"),
                }
                Out::send(reply)
            }
            Push::Reject(reply) => Out::send(reply),
        }
    }

    /// A presence from anyone: a contact's availability, or a subscription
    /// request (or its withdrawal).
    pub(crate) fn on_presence(&self, p: Presence) {
        if let Some(update) = presence::update(&self.own, &p) {
            self.on_availability(update);
            return;
        }
        let Some(from) = p.from.map(|f| f.to_bare()) else {
            return;
        };
        if from == self.own {
            return;
        }
        let pending = match p.type_ {
            PresenceType::Subscribe => true,
            // The requester withdrew.
            PresenceType::Unsubscribe => false,
            _ => return,
        };
        if let Err(e) = self.store.set_pending_in(from.as_str(), pending) {
            tracing::error!(%from, "cannot store a subscription request: {e}");
            return;
        }
        if pending {
            self.hub.emit(Event::SubscriptionRequest {
                from: from.to_string(),
            });
        }
        self.hub.emit(Event::RosterChanged);
    }

    /// What to send for the app's roster change or answer.
    pub(crate) fn on_command(&self, cmd: RosterCommand) -> Vec<Out> {
        let subscription = |jid: BareJid, type_| Out::send(roster::presence(jid, type_));
        match cmd {
            RosterCommand::Add(jid, name) => vec![
                roster_set(jid.clone(), name, Vec::new(), false),
                subscription(jid, PresenceType::Subscribe),
            ],
            RosterCommand::Approve(jid) => {
                let mut out = vec![subscription(jid.clone(), PresenceType::Subscribed)];
                self.answered(&jid);
                // Permission both ways is what users mean by "accept".
                let subscribed = match self.store.contact(jid.as_str()) {
                    Ok(c) => c.is_some_and(|c| c.subscription.is_to() || c.ask),
                    Err(e) => {
                        tracing::warn!(%jid, "cannot read a contact: {e}");
                        false
                    }
                };
                if !subscribed {
                    out.push(subscription(jid, PresenceType::Subscribe));
                }
                out
            }
            RosterCommand::Deny(jid) => {
                let out = vec![subscription(jid.clone(), PresenceType::Unsubscribed)];
                self.answered(&jid);
                out
            }
            RosterCommand::Update(jid, name, groups) => vec![roster_set(jid, name, groups, false)],
            RosterCommand::Remove(jid) => vec![roster_set(jid, None, Vec::new(), true)],
        }
    }

    /// The user answered `jid`'s request.
    fn answered(&self, jid: &BareJid) {
        match self.store.set_pending_in(jid.as_str(), false) {
            Ok(()) => self.hub.emit(Event::RosterChanged),
            Err(e) => tracing::error!(%jid, "cannot record an answered request: {e}"),
        }
    }

    /// Clears the stored presence; every contact shown available goes offline.
    fn forget_stale_presence(&self) {
        let stale = self.store.presences().unwrap_or_else(|e| {
            tracing::warn!("cannot read the stored presence: {e}");
            Vec::new()
        });
        if let Err(e) = self.store.clear_presence() {
            tracing::error!("cannot clear the stored presence: {e}");
            return;
        }
        for c in stale {
            self.hub.emit(Event::Presence {
                from: c.jid,
                show: None,
                status: None,
            });
        }
    }

    /// Stores a contact's resource coming or going; announces the contact
    /// if what the UI shows for it changed.
    fn on_availability(&self, update: Update) {
        let (Update::Available { from, .. } | Update::Unavailable { from, .. }) = &update;
        let from = from.as_str();
        let shown = |jid: &str| -> Result<(Option<Show>, Option<String>), StoreError> {
            Ok(self
                .store
                .presence(jid)?
                .map_or((None, None), |c| (c.show, c.status)))
        };
        let changed = (|| {
            let before = shown(from)?;
            match &update {
                Update::Available { resource, .. } => {
                    self.store
                        .set_presence(from, resource, chrono::Utc::now())?
                }
                Update::Unavailable { resource, .. } => {
                    self.store.remove_presence(from, resource.as_deref())?
                }
            }
            let after = shown(from)?;
            Ok::<_, StoreError>((before != after).then_some(after))
        })();
        match changed {
            Ok(Some((show, status))) => self.hub.emit(Event::Presence {
                from: from.to_owned(),
                show,
                status,
            }),
            Ok(None) => {}
            Err(e) => tracing::error!(%from, "cannot store a presence: {e}"),
        }
    }
}

/// A roster set (add, rename, regroup or remove `jid`); the server pushes
/// the change itself, the result only matters if it is an error.
fn roster_set(jid: BareJid, name: Option<String>, groups: Vec<String>, remove: bool) -> Out {
    Out::ask(Request::RosterSet(jid.clone()), |id| {
        roster::set(id, jid, name, groups, remove)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_xmpp::Stanza;

    fn contacts() -> (
        Contacts,
        Arc<Store>,
        tokio::sync::mpsc::UnboundedReceiver<Event>,
    ) {
        let f = crate::session::fixture::fixture();
        (
            Contacts::new(f.own, f.store.clone(), f.hub),
            f.store,
            f.events,
        )
    }

    fn iq(xml: &str) -> Iq {
        Iq::try_from(xml.parse::<Element>().expect("xml")).expect("iq")
    }

    #[test]
    fn a_push_from_our_server_is_stored_before_roster_changed() {
        let (c, store, mut events) = contacts();
        let reply = c.on_push(iq(
            "<iq xmlns='jabber:client' type='set' id='p1'><query xmlns='jabber:iq:roster' ver='v2'>\
             <item jid='bob@example.test' name='Bob' subscription='both'/></query></iq>",
        ));
        assert!(
            matches!(reply, Out::Send(Stanza::Iq(Iq::Result { .. }))),
            "{reply:?}"
        );
        let changed = std::iter::from_fn(|| events.try_recv().ok())
            .any(|e| matches!(e, Event::RosterChanged));
        assert!(changed);
        let roster = store.roster().expect("roster");
        assert_eq!(roster.len(), 1);
        assert_eq!(roster[0].name.as_deref(), Some("Bob"));
    }

    #[test]
    fn a_push_from_a_stranger_is_refused_and_not_stored() {
        let (c, store, _events) = contacts();
        let reply = c.on_push(iq(
            "<iq xmlns='jabber:client' type='set' id='p1' from='mallory@example.test/x'>\
             <query xmlns='jabber:iq:roster'><item jid='bob@example.test' subscription='both'/></query></iq>",
        ));
        assert!(
            matches!(reply, Out::Send(Stanza::Iq(Iq::Error { .. }))),
            "{reply:?}"
        );
        assert!(store.roster().expect("roster").is_empty());
    }

    #[test]
    fn our_presence_goes_out_only_when_it_changes() {
        let (mut c, _store, _events) = contacts();
        assert!(c.presence((Show::Online, None)).is_some());
        assert!(c.presence((Show::Online, None)).is_none());
        assert!(c.presence((Show::Away, Some("lunch".into()))).is_some());
        // A fresh session sends it again.
        let _ = c.fresh_session();
        assert!(c.presence((Show::Away, Some("lunch".into()))).is_some());
    }

    #[test]
    fn adding_a_contact_sets_the_roster_then_asks_for_permission() {
        let (c, _store, _events) = contacts();
        let out = c.on_command(RosterCommand::Add(
            "bob@example.test".parse().expect("jid"),
            None,
        ));
        assert!(
            matches!(&out[0], Out::Ask { request: Request::RosterSet(j), .. } if j.as_str() == "bob@example.test")
        );
        assert!(
            matches!(&out[1], Out::Send(Stanza::Presence(p)) if p.type_ == PresenceType::Subscribe)
        );
    }
}
