//! Catch-up from our archive after a fresh session (XEP-0313 + RSM; the
//! rules are in [`crate::archive`]): page by page, forward from the last
//! archive id a previous catch-up reached, or a bounded recent window on a
//! first login. Live traffic keeps flowing meanwhile.
//!
//! This file pages and keeps the position; storing a page is ingest's job:
//! the session takes each finished page from here ([`CatchUp::take_page`]),
//! hands it to ingest, and reports back whether it was stored.

use std::sync::Arc;

use chrono::Utc;
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::message::Message;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, StanzaError};

use super::requests::{Out, Request};
use crate::archive::{self, Archived, Page};
use crate::events::EventHub;
use crate::model::Event;
use crate::store::Store;

/// A catch-up in progress.
struct Run {
    /// The query id every page of it carries: results with another are
    /// refused.
    queryid: String,
    /// Archived messages received so far.
    fetched: u32,
    /// The current page's messages, stored together when it ends: one
    /// transaction per page, and the archive position moves only with it.
    page: Vec<Archived>,
}

pub(crate) struct CatchUp {
    own: BareJid,
    store: Arc<Store>,
    hub: Arc<EventHub>,
    /// See `ClientConfig::catch_up_first_login`.
    first_login: u32,
    run: Option<Run>,
}

impl CatchUp {
    pub(crate) fn new(
        own: BareJid,
        store: Arc<Store>,
        hub: Arc<EventHub>,
        first_login: u32,
    ) -> Self {
        Self {
            own,
            store,
            hub,
            first_login,
            run: None,
        }
    }

    /// Starts catching up (a run on an earlier stream is abandoned): the
    /// query for the first page, or nothing if there is nothing to fetch.
    pub(crate) fn start(&mut self) -> Option<Out> {
        let page = match self.store.archive_last_id() {
            Ok(Some(last)) => Page::After(last),
            Ok(None) if self.first_login > 0 => {
                // Until the recent window is stored, the archive's start is
                // the position: a session lost before then must not let the
                // next one take a newer window, skipping what came between
                // (200 messages to a new device whose first sessions kept
                // dying were lost that way in the fault tests).
                if let Err(e) = self.store.set_archive_last_id("") {
                    tracing::error!("cannot record the archive position: {e}");
                }
                Page::Latest(self.first_login)
            }
            Ok(None) => Page::Latest(0),
            Err(e) => {
                tracing::error!("cannot read the archive position: {e}");
                return None;
            }
        };
        self.run = Some(Run {
            queryid: uuid::Uuid::new_v4().to_string(),
            fetched: 0,
            page: Vec::new(),
        });
        if page == Page::Latest(0) {
            self.end();
            return None;
        }
        self.query(page)
    }

    /// One archived message, from a `<result/>`: kept for its page if our
    /// server sent it for our query; refused otherwise.
    pub(crate) fn on_result(&mut self, msg: Message) {
        let Some(run) = self.run.as_mut() else {
            tracing::warn!(from = ?msg.from, "dropped an archive result while not catching up");
            return;
        };
        let queryid = run.queryid.as_str();
        let Some(result) = archive::result(&self.own, msg, |q| q == queryid, Utc::now()) else {
            return;
        };
        run.fetched += 1;
        if !matches!(result.message, Archived::Skip) {
            run.page.push(result.message);
        }
    }

    /// The messages of the page that just ended, to be stored.
    pub(crate) fn take_page(&mut self) -> Vec<Archived> {
        self.run
            .as_mut()
            .map(|run| std::mem::take(&mut run.page))
            .unwrap_or_default()
    }

    /// A page ended (`<fin/>`) and its messages were `stored` (or not): the
    /// position moves on, and the query for the next page comes back, or
    /// nothing when the catch-up is over.
    pub(crate) fn on_page_end(
        &mut self,
        page: Page,
        stored: bool,
        fin: Option<Element>,
    ) -> Option<Out> {
        if !stored {
            tracing::warn!("catch-up stopped: the store failed; the next session retries");
            self.end();
            return None;
        }
        let end = match archive::fin(fin) {
            Ok(end) => end,
            Err(e) => {
                tracing::warn!("{e}; catch-up stopped");
                self.end();
                return None;
            }
        };
        // An empty archive on a first login: next time, from its start.
        let first_empty = matches!(page, Page::Latest(_)) && end.last.is_none();
        if let Some(last) = end.last.as_deref().or(first_empty.then_some("")) {
            if let Err(e) = self.store.set_archive_last_id(last) {
                tracing::error!("cannot record the archive position: {e}");
            }
        }
        let next = match (&page, end.last) {
            // A first login only wants the recent window.
            (Page::Latest(_), _) => None,
            (_, _) if end.complete => None,
            // An empty page, or a server repeating itself: nothing after.
            (Page::After(after), Some(last)) if *after != last => Some(Page::After(last)),
            _ => None,
        };
        match next {
            Some(next) => {
                if let Some(run) = &self.run {
                    self.hub.emit(Event::CatchUp {
                        fetched: run.fetched,
                        complete: false,
                    });
                }
                self.query(next)
            }
            None => {
                self.end();
                None
            }
        }
    }

    /// The server refused a page. If the id we start after is gone from
    /// the archive (expired), the recent window replaces it.
    pub(crate) fn on_page_refused(&mut self, page: Page, error: StanzaError) -> Option<Out> {
        tracing::warn!(
            ?page,
            "archive query refused: {:?}",
            error.defined_condition
        );
        if matches!(page, Page::After(_))
            && error.defined_condition == DefinedCondition::ItemNotFound
            && self.first_login > 0
        {
            return self.query(Page::Latest(self.first_login));
        }
        self.end();
        None
    }

    fn query(&self, page: Page) -> Option<Out> {
        let run = self.run.as_ref()?;
        let out = Out::ask(Request::Archive(page.clone()), |id| {
            archive::query(id, &run.queryid, &page)
        });
        tracing::debug!(?page, "asking our archive for a page");
        Some(out)
    }

    fn end(&mut self) {
        if let Some(run) = self.run.take() {
            tracing::debug!(fetched = run.fetched, "catch-up done");
            self.hub.emit(Event::CatchUp {
                fetched: run.fetched,
                complete: true,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::session::fixture::OWN;

    fn catch_up(
        first_login: u32,
    ) -> (
        CatchUp,
        Arc<Store>,
        tokio::sync::mpsc::UnboundedReceiver<Event>,
    ) {
        let f = crate::session::fixture::fixture();
        (
            CatchUp::new(f.own, f.store.clone(), f.hub, first_login),
            f.store,
            f.events,
        )
    }

    fn queryid(out: &Out) -> (String, Page) {
        let Out::Ask {
            iq,
            request: Request::Archive(page),
            ..
        } = out
        else {
            panic!("not an archive query: {out:?}")
        };
        let xml = String::from(&Element::from(iq.clone()));
        let start = xml.find("queryid=").expect("queryid") + "queryid=".len() + 1;
        let id = xml[start..]
            .split(['\'', '"'])
            .next()
            .expect("id")
            .to_owned();
        (id, page.clone())
    }

    fn result(queryid: &str, archive_id: &str, body: &str) -> Message {
        let xml = format!(
            "<message xmlns='jabber:client' to='{OWN}/phone'>\
             <result xmlns='urn:xmpp:mam:2' queryid='{queryid}' id='{archive_id}'>\
             <forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-01-01T10:00:00Z'/>\
             <message xmlns='jabber:client' type='chat' from='bob@example.test/d' to='{OWN}' id='{archive_id}-m'>\
             <body>{body}</body></message></forwarded></result></message>"
        );
        Message::try_from(xml.parse::<Element>().expect("xml")).expect("message")
    }

    fn fin(last: &str, complete: bool) -> Element {
        format!(
            "<fin xmlns='urn:xmpp:mam:2' complete='{complete}'><set xmlns='http://jabber.org/protocol/rsm'>\
             <first>x</first><last>{last}</last></set></fin>"
        )
        .parse()
        .expect("xml")
    }

    #[test]
    fn a_first_login_asks_for_the_recent_window_and_stops_after_it() {
        let (mut c, store, mut events) = catch_up(50);
        let first = c.start().expect("a query");
        let (qid, page) = queryid(&first);
        assert_eq!(page, Page::Latest(50));
        c.on_result(result(&qid, "A1", "one"));
        // Another query's result is refused.
        c.on_result(result("not-ours", "A2", "forged"));
        let items = c.take_page();
        assert_eq!(items.len(), 1);
        assert!(c.on_page_end(page, true, Some(fin("A1", false))).is_none());
        assert_eq!(
            store.archive_last_id().expect("read").as_deref(),
            Some("A1")
        );
        let progress: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
            .filter_map(|e| match e {
                Event::CatchUp { fetched, complete } => Some((fetched, complete)),
                _ => None,
            })
            .collect();
        assert_eq!(progress, vec![(1, true)]);
    }

    #[test]
    fn a_first_window_lost_with_its_session_is_fetched_from_the_start() {
        let (mut c, store, _events) = catch_up(50);
        let (qid, page) = queryid(&c.start().expect("a query"));
        assert_eq!(page, Page::Latest(50));
        c.on_result(result(&qid, "A1", "one"));
        // The session is lost before the page ends: the next one pages the
        // whole archive forward instead of a newer window.
        let (_, page) = queryid(&c.start().expect("a query"));
        assert_eq!(page, Page::After(String::new()));
        assert!(c.on_page_end(page, true, Some(fin("A7", true))).is_none());
        assert_eq!(
            store.archive_last_id().expect("read").as_deref(),
            Some("A7")
        );
    }

    #[test]
    fn a_later_session_pages_forward_until_complete() {
        let (mut c, store, _events) = catch_up(50);
        store.set_archive_last_id("A1").expect("position");
        let (qid, page) = queryid(&c.start().expect("a query"));
        assert_eq!(page, Page::After("A1".into()));
        c.on_result(result(&qid, "A2", "two"));
        let _ = c.take_page();
        let next = c
            .on_page_end(page, true, Some(fin("A2", false)))
            .expect("next page");
        let (qid2, page2) = queryid(&next);
        assert_eq!(qid2, qid, "one query id per catch-up");
        assert_eq!(page2, Page::After("A2".into()));
        assert!(c.on_page_end(page2, true, Some(fin("A2", true))).is_none());
    }

    #[test]
    fn a_page_the_store_could_not_keep_ends_the_run_without_moving_on() {
        let (mut c, store, _events) = catch_up(50);
        store.set_archive_last_id("A1").expect("position");
        let (_, page) = queryid(&c.start().expect("a query"));
        assert!(c.on_page_end(page, false, Some(fin("A9", false))).is_none());
        assert_eq!(
            store.archive_last_id().expect("read").as_deref(),
            Some("A1")
        );
    }
}
