//! The outbox: persist first, send second, until the server has it. The
//! same holds for our corrections, receipts and read markers (the send
//! queue in `session::send_queue` pushes all of them).
//!
//! The promise is that a message `send` returned an id for reaches the
//! server exactly once as far as the recipient can tell, whatever happens to
//! the network or the app process. How:
//!
//! 1. `Client::send` writes the message and its send queue entry in one SQLite
//!    transaction and returns the message id. Nothing touches the network
//!    yet; the call is fast and works offline.
//! 2. The session pushes each entry into the stream ([`stanza_for`]) and
//!    follows it with a tracker ([`track`]): *sent* when it was written to
//!    the socket, *acked* when the server confirmed it with an XEP-0198 ack.
//!    Acked entries leave the queue. An entry that waits on another (a
//!    correction on the message it corrects) is pushed once that one left
//!    the queue acked, and fails with it.
//! 3. If the stream was resumed, tokio-xmpp retransmits what the server had
//!    not acked. If the session was lost instead (resumption refused, or the
//!    server forgot it), those stanzas are gone: their trackers report
//!    [`Outcome::Lost`] and the session sends them again.
//! 4. When the app was killed, the next session starts by sending every
//!    entry still in the queue.
//!
//! Steps 3 and 4 may deliver a message the server had in fact received (the
//! ack was lost with the link). Every copy carries the same stanza id and
//! XEP-0359 origin-id — the message id — so the receiver keeps one: our
//! store rejects a second message with the same sender and origin-id.

use tokio::sync::mpsc;
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::displayed_markers::{Displayed, Markable};
use tokio_xmpp::parsers::message::{Id, Lang, Message, MessageType};
use tokio_xmpp::parsers::message_correct::Replace;
use tokio_xmpp::parsers::oob::Oob;
use tokio_xmpp::parsers::receipts::{Received, Request};
use tokio_xmpp::parsers::stanza_id::OriginId;

use crate::connection::{Delivery, Outcome};
use crate::model;
use crate::store::Item;

/// The stanza for an outbox entry. Identical on every retry. To a room
/// (`groupchat`) it asks for no receipt: the room's copy back to everyone
/// is the proof it got there.
pub(crate) fn stanza_for(msg: &model::Message, to: Jid, groupchat: bool) -> Message {
    let mut stanza = Message::chat(to)
        .with_body(Lang::new(), msg.body.clone())
        .with_payload(OriginId { id: msg.id.clone() });
    if groupchat {
        stanza.type_ = MessageType::Groupchat;
    } else {
        stanza = stanza.with_payload(Request).with_payload(Markable);
    }
    // A file: its link is the body and, out of band (XEP-0066), what
    // tells a receiver to show a file rather than a link.
    if let Some(url) = msg.attachment.as_ref().and_then(|a| a.url.clone()) {
        stanza = stanza.with_payload(Oob { url, desc: None });
    }
    stanza.id = Some(Id(msg.id.clone()));
    stanza
}

/// XEP-0308: the corrected body of our message `msg`, sent as stanza
/// `correction_id` (identical on every retry, so the receiver's dedup
/// keeps one).
pub(crate) fn correction_for(
    msg: &model::Message,
    correction_id: &str,
    to: BareJid,
    groupchat: bool,
) -> Message {
    // The @id the original went out with: ours, or another device's.
    let original = msg.origin_id.clone().unwrap_or_else(|| msg.id.clone());
    let mut stanza = Message::chat(Jid::from(to))
        .with_body(Lang::new(), msg.body.clone())
        .with_payload(OriginId {
            id: correction_id.to_owned(),
        })
        .with_payload(Replace { id: Id(original) });
    if groupchat {
        stanza.type_ = MessageType::Groupchat;
    }
    stanza.id = Some(Id(correction_id.to_owned()));
    stanza
}

/// The stanza for a queued receipt or marker, with its queue id `id` (the
/// same on every retry); `None` if its stored recipient is not a JID (or
/// `item` is neither).
pub(crate) fn pending_for(id: &str, item: &Item) -> Option<Message> {
    let stanza = match item {
        Item::Marker { to, about } => displayed_for(to.parse().ok()?, about.clone()),
        Item::Receipt { to, about } => receipt_for(to.parse().ok()?, about.clone()),
        Item::Message(_) | Item::Correction(_) => return None,
    };
    Some(Message {
        id: Some(Id(id.to_owned())),
        ..stanza
    })
}

/// XEP-0333: tells `to` we displayed its message `id` and all before it.
/// Type chat, so the server copies it to our other devices (carbons),
/// which then mark the conversation read too.
fn displayed_for(to: BareJid, id: String) -> Message {
    Message::chat(Jid::from(to)).with_payload(Displayed { id: Id(id) })
}

/// XEP-0184 answer confirming that we received `id`.
fn receipt_for(to: Jid, id: String) -> Message {
    let mut stanza = Message::chat(to).with_payload(Received { id });
    stanza.type_ = tokio_xmpp::parsers::message::MessageType::Normal;
    stanza
}

/// Progress of one outbox entry on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    Sent,
    Done(Outcome),
}

/// A progress report: the session generation of the push, the entry, what
/// happened.
pub(crate) type Report = (u64, String, Progress);

/// Reports the progress of one push of `id`, made in session `generation`,
/// to `tx`, then ends.
pub(crate) fn track(
    generation: u64,
    id: String,
    mut delivery: Delivery,
    tx: mpsc::UnboundedSender<Report>,
) {
    tokio::spawn(async move {
        if delivery.written().await {
            let _ = tx.send((generation, id.clone(), Progress::Sent));
        }
        let outcome = delivery.outcome().await;
        let _ = tx.send((generation, id, Progress::Done(outcome)));
    });
}
