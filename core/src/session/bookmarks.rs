//! The account's bookmarks (XEP-0402) kept in step with the rooms this
//! device is in. Fetched on every fresh session: rooms another device of
//! the account joined are entered here, those it left are left. Followed
//! live through PEP notifications (our capabilities ask for them, see
//! `disco`). Published when the app joins, creates or leaves a room here;
//! offline, on the next fresh session (remembered in memory only: after
//! an app kill, the server's bookmarks win).
//!
//! An account without PEP (the fetch is refused with
//! `service-unavailable` or `feature-not-implemented`) falls back to XEP-0048 bookmarks in private XML
//! storage (`bookmarks::legacy`): read on each fresh session, written
//! whole on each change, not followed live.
//!
//! What a bookmark means for this device is an [`Effect`]; the session
//! hands it to the rooms handler (handlers do not call each other).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tokio_xmpp::jid::BareJid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::Message;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, StanzaError};

use super::requests::{Out, Request};
use crate::bookmarks::{self, legacy, Bookmark, Change};
use crate::store::{RoomEntry, Store};

/// What a bookmark change asks of this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    Enter(RoomEntry),
    Leave(BareJid),
}

pub(crate) struct Bookmarks {
    own: BareJid,
    store: Arc<Store>,
    /// Rooms joined or left here while offline.
    unpublished: HashSet<String>,
    /// Those of this session's start, until the server takes PEP
    /// bookmarks (else they go again to private storage).
    offline_changes: HashSet<String>,
    /// The account has no PEP: private storage instead (see the module).
    legacy: bool,
    /// What we published, by room, oldest first, until the server
    /// announces it back: an echo of our own older publication must not
    /// undo a newer local change.
    echoes: HashMap<BareJid, VecDeque<Bookmark>>,
    /// What the server holds, as last fetched, announced or published:
    /// a rejoin after every fresh session publishes nothing new.
    known: HashMap<BareJid, Bookmark>,
}

impl Bookmarks {
    pub(crate) fn new(own: BareJid, store: Arc<Store>) -> Self {
        Self {
            own,
            store,
            unpublished: HashSet::new(),
            offline_changes: HashSet::new(),
            legacy: false,
            echoes: HashMap::new(),
            known: HashMap::new(),
        }
    }

    /// A fresh session: publish what changed here while offline, then
    /// read what the other devices did.
    pub(crate) fn fresh_session(&mut self) -> Vec<Out> {
        self.echoes.clear();
        if self.legacy {
            // One document: read it before writing it whole.
            return vec![Out::ask(Request::LegacyBookmarks, legacy::fetch)];
        }
        self.offline_changes = self.unpublished.clone();
        let mut out: Vec<Out> = std::mem::take(&mut self.unpublished)
            .iter()
            .filter_map(|room| self.publish(room))
            .collect();
        out.push(Out::ask(Request::Bookmarks, bookmarks::fetch));
        // Asked at once too (tiny): if PEP is refused, its answer comes
        // next, still before the rooms let us in, so a rejoin does not
        // write over what another device changed.
        out.push(Out::ask(Request::LegacyBookmarks, legacy::fetch));
        out
    }

    /// We entered `room` (so its password is right), or the app left it.
    pub(crate) fn changed_here(&mut self, room: &str, online: bool) -> Option<Out> {
        if !online {
            self.unpublished.insert(room.to_owned());
            return None;
        }
        self.publish(room)
    }

    fn publish(&mut self, room: &str) -> Option<Out> {
        let entry = match self.store.room_entry(room) {
            Ok(entry) => entry?,
            Err(e) => {
                tracing::warn!(room, "cannot read the room to bookmark it: {e}");
                return None;
            }
        };
        let bookmark = Bookmark {
            room: entry.jid.parse().ok()?,
            nick: Some(entry.nick),
            password: entry.password,
            autojoin: entry.autojoin,
        };
        if self.known.get(&bookmark.room) == Some(&bookmark) {
            return None;
        }
        tracing::debug!(room, autojoin = bookmark.autojoin, "publishing a bookmark");
        self.known.insert(bookmark.room.clone(), bookmark.clone());
        if self.legacy {
            let all: Vec<Bookmark> = self.known.values().cloned().collect();
            return Some(Out::ask(Request::BookmarkPublish, move |id| {
                legacy::publish(&all, id)
            }));
        }
        self.echoes
            .entry(bookmark.room.clone())
            .or_default()
            .push_back(bookmark.clone());
        Some(Out::ask(Request::BookmarkPublish, |id| {
            bookmarks::publish(&bookmark, id)
        }))
    }

    /// The answer to our fetch: what to enter and leave.
    pub(crate) fn on_fetched(&mut self, payload: Option<Element>) -> Vec<Effect> {
        self.offline_changes.clear();
        let found = bookmarks::fetched(payload);
        tracing::debug!(count = found.len(), "bookmarks fetched");
        self.known = found.iter().map(|b| (b.room.clone(), b.clone())).collect();
        found
            .into_iter()
            .filter_map(|b| self.apply(Change::Set(b)))
            .collect()
    }

    /// Our PEP bookmarks could not be read: a new account has none yet
    /// (`item-not-found`); `service-unavailable` or
    /// `feature-not-implemented` mean no PEP here, so private storage
    /// instead, from now on.
    pub(crate) fn on_fetch_refused(&mut self, error: &StanzaError) {
        let no_pep = matches!(
            error.defined_condition,
            DefinedCondition::ServiceUnavailable | DefinedCondition::FeatureNotImplemented
        );
        if !no_pep {
            // A new account has no node yet (`item-not-found`); anything
            // else is PEP's own refusal, not its absence.
            tracing::debug!(condition = ?error.defined_condition, "no PEP bookmarks read");
            self.offline_changes.clear();
            return;
        }
        tracing::info!(
            condition = ?error.defined_condition,
            "no PEP bookmarks here: private storage (XEP-0048) instead"
        );
        self.legacy = true;
        // What was published to PEP meanwhile did not get there; the
        // answer from private storage (asked already) comes next.
        self.unpublished.extend(self.offline_changes.drain());
    }

    /// The answer to a private storage fetch: what to enter and leave,
    /// and the write of what changed here while offline (it wins).
    pub(crate) fn on_legacy_fetched(
        &mut self,
        payload: Option<Element>,
    ) -> (Vec<Effect>, Vec<Out>) {
        if !self.legacy {
            // PEP holds the bookmarks here.
            return (Vec::new(), Vec::new());
        }
        let found = legacy::fetched(payload);
        tracing::debug!(count = found.len(), "legacy bookmarks fetched");
        self.known = found.iter().map(|b| (b.room.clone(), b.clone())).collect();
        let effects = found
            .into_iter()
            .filter(|b| !self.unpublished.contains(b.room.as_str()))
            .filter_map(|b| self.apply(Change::Set(b)))
            .collect();
        // One write for them all: the last carries every change.
        let out = std::mem::take(&mut self.unpublished)
            .iter()
            .filter_map(|room| self.publish(room))
            .last();
        (effects, out.into_iter().collect())
    }

    /// If `msg` announces a change of our bookmarks: what to enter and
    /// leave (our own publications come back too, and change nothing).
    pub(crate) fn on_message(&mut self, msg: &Message) -> Option<Vec<Effect>> {
        let changes = bookmarks::changes(&self.own, msg)?;
        let changes: Vec<Change> = changes.into_iter().filter(|c| !self.echo(c)).collect();
        for change in &changes {
            match change {
                Change::Set(b) => self.known.insert(b.room.clone(), b.clone()),
                Change::Removed(room) => self.known.remove(room),
            };
        }
        Some(changes.into_iter().filter_map(|c| self.apply(c)).collect())
    }

    /// Whether `change` is one of our own publications coming back.
    fn echo(&mut self, change: &Change) -> bool {
        let Change::Set(b) = change else {
            return false;
        };
        let Some(queue) = self.echoes.get_mut(&b.room) else {
            return false;
        };
        let Some(at) = queue.iter().position(|p| p == b) else {
            return false;
        };
        queue.drain(..=at);
        true
    }

    fn apply(&self, change: Change) -> Option<Effect> {
        let room = match &change {
            Change::Set(b) => b.room.clone(),
            Change::Removed(room) => room.clone(),
        };
        let local = match self.store.room_entry(room.as_str()) {
            Ok(local) => local,
            Err(e) => {
                tracing::warn!(%room, "cannot read the room: {e}");
                return None;
            }
        };
        let was_in = local.as_ref().is_some_and(|l| l.autojoin);
        let Change::Set(b) = change else {
            if !was_in {
                return None;
            }
            self.stored(self.store.stop_autojoin(room.as_str()), &room)?;
            return Some(Effect::Leave(room));
        };
        let nick = b
            .nick
            .or_else(|| local.as_ref().map(|l| l.nick.clone()))
            .or_else(|| self.own.node().map(|n| n.to_string()))?;
        let entry = RoomEntry {
            jid: room.to_string(),
            nick,
            password: b
                .password
                .or_else(|| local.as_ref().and_then(|l| l.password.clone())),
            autojoin: b.autojoin,
        };
        if local.as_ref() == Some(&entry) {
            return None;
        }
        self.stored(self.store.upsert_room(&entry), &room)?;
        match (entry.autojoin, was_in) {
            (true, _) => Some(Effect::Enter(entry)),
            (false, true) => Some(Effect::Leave(room)),
            (false, false) => None,
        }
    }

    fn stored(&self, r: Result<(), crate::store::StoreError>, room: &BareJid) -> Option<()> {
        r.map_err(|e| tracing::warn!(%room, "cannot store a bookmark: {e}"))
            .ok()
    }
}

#[cfg(test)]
mod tests;
