//! Ingest: every message and every word about our messages that arrives —
//! live, as a carbon of another device, or from the archive — is stored
//! once here and then announced. One path for all three, so dedup (the
//! store's unique indexes), corrections and read state behave the same
//! whichever way a message came in.
//!
//! Events go out only after the store has the change, so an app that
//! re-reads on an event always sees it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_xmpp::jid::BareJid;

use crate::archive::Archived;
use crate::events::EventHub;
use crate::inbound::{Chat, OwnCopy};
use crate::model::Event;
use crate::store::{CorrectionTarget, NewIncoming, NewOutgoingCopy, PageItem, Store};

pub(crate) struct Ingest {
    own: BareJid,
    store: Arc<Store>,
    hub: Arc<EventHub>,
}

impl Ingest {
    pub(crate) fn new(own: BareJid, store: Arc<Store>, hub: Arc<EventHub>) -> Self {
        Self { own, store, hub }
    }

    /// Stores a live incoming chat message and announces it if it is new.
    /// `false` only if it could not be stored (then no receipt may go out).
    pub(crate) fn live(&self, chat: &Chat) -> bool {
        let from = chat.from.to_bare().to_string();
        self.chat_at(chat, self.live_timestamp(&from, chat.timestamp))
    }

    /// A private message from a room's occupant: its own conversation,
    /// keyed by the occupant's full JID, never merged into the room or
    /// into another occupant's thread (so one cannot pass as another).
    pub(crate) fn private(&self, chat: &Chat) {
        let from = chat.from.to_string();
        if let Some(replaced) = &chat.replace {
            if self.correction(&from, &from, replaced, &chat.body) {
                return;
            }
        }
        match self
            .store
            .insert_incoming(incoming_row(chat, &from, chat.timestamp))
        {
            Ok(Some(m)) => self.hub.emit(Event::Message(m)),
            Ok(None) => tracing::debug!(%from, "duplicate private message dropped"),
            Err(e) => tracing::error!(%from, "cannot store a private message: {e}"),
        }
    }

    /// Stores a message another device of ours sent (a carbon or an
    /// archive entry) and announces it if it is new.
    pub(crate) fn own_copy(&self, copy: &OwnCopy) {
        let to = &copy.to;
        if let Some(replaced) = &copy.replace {
            if self.correction(to.as_str(), self.own.as_str(), replaced, &copy.body) {
                return;
            }
        }
        let stored = self.store.insert_outgoing_copy(self.copy_row(copy));
        match stored {
            Ok(Some(m)) => self.hub.emit(Event::Message(m)),
            Ok(None) => tracing::debug!(%to, "duplicate copy of our own message dropped"),
            Err(e) => tracing::error!(%to, "cannot store a copy of our own message: {e}"),
        }
    }

    /// Stores one page of archived messages, in order, in one transaction
    /// per run between corrections (each correction applies to what came
    /// before it). `false` if the store failed: the page is fetched again
    /// on a later session.
    pub(crate) fn archived(&self, page: &[Archived]) -> bool {
        let mut run: Vec<&Archived> = Vec::new();
        for item in page {
            let correction = match item {
                Archived::Incoming(chat) => chat.replace.is_some(),
                Archived::Outgoing(copy) => copy.replace.is_some(),
                Archived::Skip => continue,
            };
            if !correction {
                run.push(item);
                continue;
            }
            if !self.run(&std::mem::take(&mut run)) {
                return false;
            }
            match item {
                // Its archive time, not the live ordering rule: an archived
                // message is older than what arrived live since.
                Archived::Incoming(chat) => {
                    if !self.chat_at(chat, chat.timestamp) {
                        return false;
                    }
                }
                Archived::Outgoing(copy) => self.own_copy(copy),
                Archived::Skip => {}
            }
        }
        self.run(&run)
    }

    /// XEP-0184: `from` received our message `id`.
    pub(crate) fn receipt(&self, from: &str, id: &str) {
        match self.store.mark_delivered(from, id) {
            Ok(Some(m)) => self.hub.emit(Event::MessageState {
                id: m.id,
                conversation: m.conversation,
                state: m.state,
            }),
            Ok(None) => {}
            Err(e) => tracing::error!(%id, "cannot record a receipt: {e}"),
        }
    }

    /// XEP-0333: `from` displayed our message `id` and all before it.
    pub(crate) fn displayed(&self, from: &str, id: &str) {
        match self.store.mark_displayed(from, id) {
            Ok(read) => {
                for m in read {
                    self.hub.emit(Event::MessageState {
                        id: m.id,
                        conversation: m.conversation,
                        state: m.state,
                    });
                }
            }
            Err(e) => tracing::error!(%id, "cannot record a read marker: {e}"),
        }
    }

    /// Another device of ours read the conversation with `with`.
    pub(crate) fn read_elsewhere(&self, with: &BareJid) {
        match self.store.mark_read(with.as_str()) {
            Ok(_) => self.hub.emit(Event::ConversationRead {
                with: with.to_string(),
            }),
            Err(e) => tracing::error!(%with, "cannot mark a conversation read: {e}"),
        }
    }

    /// Stores an incoming chat message at `timestamp` and announces it if
    /// it is new. `false` only if it could not be stored.
    fn chat_at(&self, chat: &Chat, timestamp: DateTime<Utc>) -> bool {
        let from = chat.from.to_bare().to_string();
        if let Some(replaced) = &chat.replace {
            if self.correction(&from, &from, replaced, &chat.body) {
                return true;
            }
        }
        match self
            .store
            .insert_incoming(incoming_row(chat, &from, timestamp))
        {
            Ok(Some(m)) => self.hub.emit(Event::Message(m)),
            Ok(None) => tracing::debug!(%from, "duplicate message dropped"),
            Err(e) => {
                tracing::error!(%from, "cannot store an incoming message: {e}");
                return false;
            }
        }
        true
    }

    /// Stores archived messages that correct nothing in one transaction
    /// and announces the new ones.
    fn run(&self, run: &[&Archived]) -> bool {
        let froms: Vec<String> = run
            .iter()
            .map(|item| match item {
                Archived::Incoming(chat) => chat.from.to_bare().to_string(),
                _ => String::new(),
            })
            .collect();
        let items: Vec<PageItem<'_>> = run
            .iter()
            .zip(&froms)
            .filter_map(|(item, from)| match item {
                Archived::Incoming(chat) => {
                    Some(PageItem::Incoming(incoming_row(chat, from, chat.timestamp)))
                }
                Archived::Outgoing(copy) => Some(PageItem::OwnCopy(self.copy_row(copy))),
                Archived::Skip => None,
            })
            .collect();
        match self.store.insert_page(&items) {
            Ok(stored) => {
                for m in stored.into_iter().flatten() {
                    self.hub.emit(Event::Message(m));
                }
                true
            }
            Err(e) => {
                tracing::error!(count = items.len(), "cannot store archived messages: {e}");
                false
            }
        }
    }

    /// Applies an XEP-0308 correction by `sender` in the conversation with
    /// `peer`. `false` when `sender` has no such message here: the caller
    /// then stores the correction as a message of its own, as the XEP says.
    fn correction(&self, peer: &str, sender: &str, replaced: &str, body: &str) -> bool {
        match self.store.apply_correction(peer, sender, replaced, body) {
            Ok(Some(CorrectionTarget::Changed(m))) => {
                self.hub.emit(Event::MessageCorrected(*m));
                true
            }
            Ok(Some(CorrectionTarget::Unchanged)) => true,
            Ok(None) => false,
            Err(e) => {
                tracing::error!(%peer, "cannot apply a correction: {e}");
                false
            }
        }
    }

    /// A live message's time: its delay stamp (if any), but never before
    /// what this sender already sent us. XMPP delivers one sender's messages
    /// in order, while delay stamps from a resumed session are rounded to
    /// the second and would sort a newer message before an older one.
    fn live_timestamp(&self, from: &str, stamped: DateTime<Utc>) -> DateTime<Utc> {
        match self.store.last_received_from(from) {
            Ok(Some(last)) => stamped.max(last),
            Ok(None) => stamped,
            Err(e) => {
                tracing::warn!("cannot read the last message time: {e}");
                stamped
            }
        }
    }

    fn copy_row<'a>(&'a self, copy: &'a OwnCopy) -> NewOutgoingCopy<'a> {
        NewOutgoingCopy {
            file_url: copy.file_url.as_deref(),
            own_jid: self.own.as_str(),
            to: copy.to.as_str(),
            origin_id: copy.origin_id.as_deref(),
            remote_id: copy.remote_id.as_deref(),
            body: &copy.body,
            timestamp: copy.timestamp,
        }
    }
}

fn incoming_row<'a>(chat: &'a Chat, from: &'a str, timestamp: DateTime<Utc>) -> NewIncoming<'a> {
    NewIncoming {
        file_url: chat.file_url.as_deref(),
        from,
        remote_id: chat.remote_id.as_deref(),
        origin_id: chat.origin_id.as_deref(),
        stanza_id: chat.stanza_id.as_deref(),
        body: &chat.body,
        timestamp,
        markable: chat.markable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::{classify_message, Inbound};
    use crate::model::Direction;
    use tokio_xmpp::minidom::Element;
    use tokio_xmpp::parsers::message::Message;

    use crate::session::fixture::OWN;

    fn ingest() -> (
        Ingest,
        Arc<Store>,
        tokio::sync::mpsc::UnboundedReceiver<Event>,
    ) {
        let f = crate::session::fixture::fixture();
        (
            Ingest::new(f.own, f.store.clone(), f.hub),
            f.store,
            f.events,
        )
    }

    fn classify(xml: &str) -> Inbound {
        let el: Element = xml.parse().expect("xml");
        let msg = Message::try_from(el).expect("message");
        classify_message(&OWN.parse().expect("jid"), msg, Utc::now())
    }

    fn chat(xml: &str) -> Chat {
        match classify(xml) {
            Inbound::Chat(chat) => chat,
            other => panic!("not a chat: {other:?}"),
        }
    }

    fn messages(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> Vec<Event> {
        std::iter::from_fn(|| events.try_recv().ok())
            .filter(|e| !matches!(e, Event::ConnectionState(_)))
            .collect()
    }

    #[test]
    fn a_message_is_stored_before_it_is_announced_and_announced_once() {
        let (ingest, store, mut events) = ingest();
        let hello = chat(
            "<message xmlns='jabber:client' type='chat' id='m1' from='bob@example.test/desk' to='alice@example.test'>\
             <body>hello</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>",
        );
        assert!(ingest.live(&hello));
        assert!(ingest.live(&hello));
        let got = messages(&mut events);
        assert_eq!(got.len(), 1, "{got:?}");
        let Event::Message(m) = &got[0] else {
            panic!("{got:?}")
        };
        // Readable the moment it is announced.
        assert_eq!(
            store.message(&m.id).expect("read").expect("row").body,
            "hello"
        );
        assert_eq!(m.direction, Direction::Incoming);
    }

    #[test]
    fn a_correction_from_the_sender_replaces_the_body_in_place() {
        let (ingest, store, mut events) = ingest();
        assert!(ingest.live(&chat(
            "<message xmlns='jabber:client' type='chat' id='m1' from='bob@example.test/desk'><body>helo</body></message>"
        )));
        assert!(ingest.live(&chat(
            "<message xmlns='jabber:client' type='chat' id='m2' from='bob@example.test/desk'><body>hello</body>\
             <replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>"
        )));
        let got = messages(&mut events);
        assert!(
            matches!(&got[1], Event::MessageCorrected(m) if m.body == "hello"),
            "{got:?}"
        );
        let history = store
            .history("bob@example.test", None, 10)
            .expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].body, "hello");
    }

    #[test]
    fn an_archived_page_is_stored_once_in_order_with_its_corrections() {
        let (ingest, store, mut events) = ingest();
        let at = |xml: &str| Archived::Incoming(chat(xml));
        let page = vec![
            at("<message xmlns='jabber:client' type='chat' id='a1' from='bob@example.test/d'><body>one</body></message>"),
            at("<message xmlns='jabber:client' type='chat' id='a2' from='bob@example.test/d'><body>tow</body></message>"),
            at("<message xmlns='jabber:client' type='chat' id='a3' from='bob@example.test/d'><body>two</body>\
                <replace xmlns='urn:xmpp:message-correct:0' id='a2'/></message>"),
            at("<message xmlns='jabber:client' type='chat' id='a4' from='bob@example.test/d'><body>three</body></message>"),
            Archived::Skip,
        ];
        assert!(ingest.archived(&page));
        assert!(ingest.archived(&page));
        let bodies: Vec<_> = store
            .history("bob@example.test", None, 10)
            .expect("history")
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(bodies, vec!["one", "two", "three"]);
        let new = messages(&mut events)
            .into_iter()
            .filter(|e| matches!(e, Event::Message(_)))
            .count();
        assert_eq!(new, 3);
    }
}
