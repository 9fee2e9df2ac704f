//! Catching up after time offline (XEP-0313 Message Archive Management,
//! paged with XEP-0059 Result Set Management), decided without side
//! effects so it can be tested on raw XML.
//!
//! After every fresh (not resumed) session the session asks our own archive
//! for what it has after the newest archive id we stored, page by page,
//! until the server says the result set is complete. A first login (no
//! stored id) only fetches the most recent window (`before` the end); the
//! window counts what the server archived, and Prosody archives receipts
//! too, so it holds fewer messages than its size. If the archive was empty
//! then, the next catch-up starts at its beginning (stored as an empty id).
//!
//! Hostile input is expected: an archived message is accepted only when
//! our own server sent it (`from` absent or our bare JID) for a query id we
//! issued, since anyone can wrap a forged message in `<result/>` to inject
//! history. The archive id is the server's stanza-id of the inner message,
//! so a message that also arrived live, as a carbon or from offline storage
//! is stored once (the store's unique indexes drop the copy).
//!
//! Unread counts: an archived incoming message counts as unread only when
//! it was not stored before (a copy changes nothing), like a live one.

use chrono::{DateTime, Utc};

use crate::inbound::{self, Chat, OwnCopy};
use tokio_xmpp::jid::BareJid;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::data_forms::{DataForm, DataFormType};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::mam::{Fin, Query, QueryId, Result_};
use tokio_xmpp::parsers::message::{Message, MessageType};
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::rsm::SetQuery;

/// How many messages we ask for per page; the server may grant fewer
/// (Prosody: `max_archive_query_results`, 50 by default). Not more: a page
/// arrives as one burst, and Prosody ends stream resumption for a session
/// with more than `smacks_max_queue_size` (500) unacked stanzas ("Too many
/// unacked stanzas remaining, session can't be resumed"): with pages of
/// 1000, a link reset mid-catch-up on a loaded machine cost a fresh session.
/// A page is held in memory until it is stored.
pub(crate) const PAGE_SIZE: usize = 250;

/// Which page of the archive to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Page {
    /// The next page after this archive id (oldest first); after an empty
    /// id, the first page of the whole archive (it was empty when we last
    /// looked).
    After(String),
    /// The `max` most recent messages: a first login's window.
    Latest(u32),
}

/// The IQ asking our own archive for `page`, tagged with `queryid`.
pub(crate) fn query(id: &str, queryid: &str, page: &Page) -> Iq {
    let set = match page {
        Page::After(after) => SetQuery {
            max: Some(PAGE_SIZE),
            after: Some(after.clone()).filter(|a| !a.is_empty()),
            before: None,
            index: None,
        },
        Page::Latest(max) => SetQuery {
            max: Some(*max as usize),
            after: None,
            // An empty `<before/>`: the last page.
            before: Some(String::new()),
            index: None,
        },
    };
    let query = Query {
        queryid: Some(QueryId(queryid.to_owned())),
        node: None,
        form: Some(DataForm::new(DataFormType::Submit, ns::MAM, vec![])),
        set: Some(set),
        flip_page: false,
    };
    Iq::from_set(id.to_owned(), query)
}

/// One archived message, as it should be stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Archived {
    /// Someone wrote to us. `stanza_id` is the archive id; no receipt is
    /// sent (the sender's device is long gone, or already got one).
    Incoming(Chat),
    /// One of our devices wrote it.
    Outgoing(OwnCopy),
    /// Nothing to store (no body, group chat, notes to self…).
    Skip,
}

/// An archive result we accepted: its query, its archive id, its message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArchiveResult {
    pub queryid: String,
    pub archive_id: String,
    pub message: Archived,
}

/// Whether `msg` carries an archive result (trusted or not).
pub(crate) fn is_result(msg: &Message) -> bool {
    msg.payloads.iter().any(|p| p.is("result", ns::MAM))
}

/// The archived message inside `msg`, if our server sent it for one of
/// `ours` (the query ids we issued); `None` for anything else.
pub(crate) fn result(
    own: &BareJid,
    msg: Message,
    ours: impl Fn(&str) -> bool,
    now: DateTime<Utc>,
) -> Option<ArchiveResult> {
    if msg
        .from
        .as_ref()
        .is_some_and(|f| f.as_str() != own.as_str())
    {
        tracing::warn!(from = ?msg.from, "dropped an archive result not sent by our own server (spoofing?)");
        return None;
    }
    let el = msg.payloads.into_iter().find(|p| p.is("result", ns::MAM))?;
    let result = match Result_::try_from(el) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("dropped a malformed archive result: {e}");
            return None;
        }
    };
    let queryid = result.queryid.map(|q| q.0)?;
    if !ours(&queryid) {
        // Usually the rest of a page of an earlier catch-up that a lost
        // session cut short (a page can be a thousand of these), so quiet.
        tracing::debug!(%queryid, "dropped an archive result for a query that is not current");
        return None;
    }
    let archive_id = result.id;
    let forwarded = result.forwarded;
    let stamp = forwarded.delay.map(|d| d.stamp.0.with_timezone(&Utc));
    let message = archived(own, forwarded.message, &archive_id, stamp, now);
    Some(ArchiveResult {
        queryid,
        archive_id,
        message,
    })
}

fn archived(
    own: &BareJid,
    mut inner: Message,
    archive_id: &str,
    stamp: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Archived {
    if !matches!(inner.type_, MessageType::Chat | MessageType::Normal) {
        return Archived::Skip;
    }
    // An invitation (its body is the server's prose) is no chat message;
    // one that came while offline is announced from offline storage.
    if inbound::carries_invitation(&inner) {
        return Archived::Skip;
    }
    let Some(body) = inbound::body_of(&inner) else {
        return Archived::Skip;
    };
    let Some(from) = inner.from.clone() else {
        return Archived::Skip;
    };
    let to = inner.to.clone();
    let from_us = from.to_bare() == *own;
    let to_us = to.as_ref().is_none_or(|t| t.to_bare() == *own);
    let ids = inbound::ids_of(own, std::mem::take(&mut inner.payloads));
    // The archive's stamp is when the server got it; an inner delay (sent
    // from an offline queue) is older and more precise about the sender.
    let timestamp = inbound::clamp(ids.delay.or(stamp), now);
    let remote_id = inner.id.map(|id| id.0);
    let replace = ids.replace_of(remote_id.as_deref());
    let file_url = ids.file_of(&body);
    match (from_us, to_us, to) {
        (false, true, _) => Archived::Incoming(Chat {
            markable: ids.markable,
            replace,
            from,
            remote_id,
            origin_id: ids.origin_id,
            stanza_id: Some(archive_id.to_owned()),
            body,
            timestamp,
            wants_receipt: false,
            file_url,
        }),
        (true, false, Some(to)) => Archived::Outgoing(OwnCopy {
            to: to.to_bare(),
            origin_id: ids.origin_id,
            remote_id,
            body,
            timestamp,
            replace,
            file_url,
        }),
        // Notes to self, or addressed to someone else: not supported.
        _ => Archived::Skip,
    }
}

/// The end of one page: the last archive id it held (where the next page
/// starts) and whether the server has nothing after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageEnd {
    pub last: Option<String>,
    pub complete: bool,
}

/// Reads the `<fin/>` of a query's IQ result.
pub(crate) fn fin(payload: Option<Element>) -> Result<PageEnd, String> {
    let el = payload.ok_or("archive query result without <fin/>")?;
    let fin = Fin::try_from(el).map_err(|e| format!("malformed archive <fin/>: {e}"))?;
    Ok(PageEnd {
        last: fin.set.last,
        complete: fin.complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> BareJid {
        "me@example.test".parse().expect("jid")
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .expect("ts")
            .with_timezone(&Utc)
    }

    fn wrapped(outer_from: Option<&str>, queryid: &str, inner: &str) -> Message {
        let from = outer_from
            .map(|f| format!(" from='{f}'"))
            .unwrap_or_default();
        let xml = format!(
            "<message xmlns='jabber:client'{from} to='me@example.test/phone'>\
             <result xmlns='urn:xmpp:mam:2' queryid='{queryid}' id='A1'>\
             <forwarded xmlns='urn:xmpp:forward:0'>\
             <delay xmlns='urn:xmpp:delay' stamp='2025-12-31T23:00:00Z'/>{inner}</forwarded></result></message>"
        );
        let el: Element = xml.parse().expect("xml");
        Message::try_from(el).expect("message")
    }

    const FROM_BOB: &str = "<message xmlns='jabber:client' from='bob@example.test/pc' \
        to='me@example.test' type='chat' id='r1'><body>hi</body>\
        <origin-id xmlns='urn:xmpp:sid:0' id='o1'/><request xmlns='urn:xmpp:receipts'/></message>";

    #[test]
    fn incoming_archived_message_uses_archive_id_and_forwarded_stamp() {
        for outer in [None, Some("me@example.test")] {
            let r = result(&own(), wrapped(outer, "q1", FROM_BOB), |q| q == "q1", now())
                .expect("accepted");
            assert_eq!(r.queryid, "q1");
            assert_eq!(r.archive_id, "A1");
            let Archived::Incoming(c) = r.message else {
                panic!("not incoming: {:?}", r.message)
            };
            assert_eq!(c.from.to_string(), "bob@example.test/pc");
            assert_eq!(c.stanza_id.as_deref(), Some("A1"));
            assert_eq!(c.origin_id.as_deref(), Some("o1"));
            assert_eq!(c.remote_id.as_deref(), Some("r1"));
            assert!(!c.wants_receipt);
            assert_eq!(c.timestamp.to_rfc3339(), "2025-12-31T23:00:00+00:00");
        }
    }

    #[test]
    fn archived_message_from_us_is_outgoing() {
        let inner = "<message xmlns='jabber:client' from='me@example.test/laptop' \
            to='bob@example.test' type='chat' id='o9'><body>yo</body>\
            <origin-id xmlns='urn:xmpp:sid:0' id='o9'/></message>";
        let r = result(&own(), wrapped(None, "q", inner), |_| true, now()).expect("accepted");
        assert_eq!(
            r.message,
            Archived::Outgoing(OwnCopy {
                file_url: None,
                replace: None,
                to: "bob@example.test".parse().expect("jid"),
                origin_id: Some("o9".into()),
                remote_id: Some("o9".into()),
                body: "yo".into(),
                timestamp: "2025-12-31T23:00:00Z".parse().expect("ts"),
            })
        );
    }

    #[test]
    fn an_archived_invitation_is_no_chat_message() {
        let inner = "<message xmlns='jabber:client' from='tea@conference.example.test' \
            to='me@example.test'><body>bob invited you to the room</body>\
            <x xmlns='http://jabber.org/protocol/muc#user'><invite from='bob@example.test'/></x></message>";
        let r = result(&own(), wrapped(None, "q", inner), |_| true, now()).expect("accepted");
        assert_eq!(r.message, Archived::Skip);
    }

    #[test]
    fn result_from_another_jid_or_unknown_query_is_refused() {
        for outer in ["eve@example.test", "me@example.test/other", "example.test"] {
            let m = wrapped(Some(outer), "q1", FROM_BOB);
            assert_eq!(result(&own(), m, |_| true, now()), None, "{outer}");
        }
        let m = wrapped(None, "forged", FROM_BOB);
        assert_eq!(result(&own(), m, |q| q == "q1", now()), None);
    }

    #[test]
    fn future_stamp_is_clamped_and_bodyless_is_skipped() {
        let m = wrapped(None, "q", FROM_BOB);
        let early = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .expect("ts")
            .with_timezone(&Utc);
        let Some(ArchiveResult {
            message: Archived::Incoming(c),
            ..
        }) = result(&own(), m, |_| true, early)
        else {
            panic!("not incoming")
        };
        assert_eq!(c.timestamp, early);
        let typing =
            "<message xmlns='jabber:client' from='bob@example.test/pc' to='me@example.test' \
            type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>";
        let r = result(&own(), wrapped(None, "q", typing), |_| true, now()).expect("accepted");
        assert_eq!(r.message, Archived::Skip);
    }

    #[test]
    fn page_queries_ask_after_the_last_id_or_for_the_latest_window() {
        let xml = String::from(&Element::from(query(
            "iq1",
            "q1",
            &Page::After("A9".into()),
        )));
        assert!(xml.contains("queryid='q1'"), "{xml}");
        assert!(xml.contains(&format!("<max>{PAGE_SIZE}</max>")), "{xml}");
        assert!(xml.contains("<after>A9</after>"), "{xml}");
        assert!(xml.contains("urn:xmpp:mam:2"), "{xml}");
        assert!(xml.contains("type='submit'"), "{xml}");
        let xml = String::from(&Element::from(query("iq2", "q2", &Page::Latest(200))));
        assert!(xml.contains("<max>200</max>"), "{xml}");
        assert!(
            xml.contains("<before></before>") || xml.contains("<before/>"),
            "{xml}"
        );
        assert!(!xml.contains("<after"), "{xml}");
        let xml = String::from(&Element::from(query(
            "iq3",
            "q3",
            &Page::After(String::new()),
        )));
        assert!(!xml.contains("<after") && !xml.contains("<before"), "{xml}");
        assert!(xml.contains(&format!("<max>{PAGE_SIZE}</max>")), "{xml}");
    }

    #[test]
    fn fin_reports_the_last_id_and_completeness() {
        let el: Element = "<fin xmlns='urn:xmpp:mam:2' complete='true'>\
            <set xmlns='http://jabber.org/protocol/rsm'><first index='0'>A1</first><last>A5</last></set></fin>"
            .parse()
            .expect("xml");
        assert_eq!(
            fin(Some(el)),
            Ok(PageEnd {
                last: Some("A5".into()),
                complete: true
            })
        );
        let el: Element =
            "<fin xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'/></fin>"
                .parse()
                .expect("xml");
        assert_eq!(
            fin(Some(el)),
            Ok(PageEnd {
                last: None,
                complete: false
            })
        );
        assert!(fin(None).is_err());
    }
}
