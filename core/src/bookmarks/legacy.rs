//! The fallback for an account without PEP (old servers): XEP-0048
//! bookmarks in XEP-0049 private XML storage. One document holds every
//! room, so a change replaces it whole, and no other device hears of it
//! until its next fresh session (private storage sends no notifications).

use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::bookmarks::{Conference, Storage};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::private::Query;

use super::Bookmark;

/// The request for the stored bookmarks.
pub(crate) fn fetch(id: &str) -> Iq {
    Iq::from_get(
        id.to_owned(),
        Query {
            storage: Storage::new(),
        },
    )
}

/// Replaces the stored bookmarks with `all`.
pub(crate) fn publish<'a>(all: impl IntoIterator<Item = &'a Bookmark>, id: &str) -> Iq {
    let conferences = all
        .into_iter()
        .map(|b| Conference {
            autojoin: b.autojoin,
            jid: b.room.clone(),
            name: None,
            nick: b.nick.as_deref().and_then(|n| n.parse().ok()),
            password: b.password.clone(),
        })
        .collect();
    let storage = Storage {
        conferences,
        urls: Vec::new(),
    };
    Iq::from_set(id.to_owned(), Query { storage })
}

/// The bookmarks in the answer to [`fetch`]; none when it holds none.
pub(crate) fn fetched(payload: Option<Element>) -> Vec<Bookmark> {
    let Some(query) = payload.and_then(|p| Query::try_from(p).ok()) else {
        return Vec::new();
    };
    query
        .storage
        .conferences
        .into_iter()
        .filter(|c| c.jid.node().is_some())
        .map(|c| Bookmark {
            room: c.jid,
            nick: c.nick.map(|n| n.to_string()),
            password: c.password.filter(|p| !p.is_empty()),
            autojoin: c.autojoin,
        })
        .collect()
}
