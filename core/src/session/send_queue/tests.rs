//! The send queue on scripted reports, without a link.

use super::*;
use crate::store::NewOutgoing;
use tokio_xmpp::minidom::Element;

fn queue() -> (
    SendQueue,
    Arc<Store>,
    tokio::sync::mpsc::UnboundedReceiver<Event>,
) {
    let f = crate::session::fixture::fixture();
    let (tx, _rx) = mpsc::unbounded_channel();
    (
        SendQueue::new(f.store.clone(), f.hub, tx),
        f.store,
        f.events,
    )
}

fn enqueue(store: &Store, to: &str, body: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    store
        .enqueue_outgoing(NewOutgoing {
            id: &id,
            own_jid: "alice@example.test",
            to,
            body,
            timestamp: chrono::Utc::now(),
        })
        .expect("enqueue")
        .id
}

fn xml(push: &Push) -> String {
    String::from(&Element::from(push.stanza.clone()))
}

#[test]
fn pushes_the_outbox_in_order_once_until_the_server_answers() {
    let (mut q, store, _events) = queue();
    let a = enqueue(&store, "bob@example.test", "one");
    let b = enqueue(&store, "bob@example.test", "two");
    let pushes = q.pending(None);
    let ids: Vec<_> = pushes.iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids, vec![a.clone(), b.clone()]);
    let stanza = xml(&pushes[0]);
    assert!(stanza.contains("<body>one</body>"), "{stanza}");
    assert!(
        stanza.contains("origin-id") && stanza.contains(&a),
        "{stanza}"
    );
    // In flight: not pushed twice.
    assert!(q.pending(None).is_empty());
    assert!(q.entry(&a).is_none());
}

#[test]
fn an_ack_moves_the_message_on_and_a_loss_asks_for_a_resend() {
    let (mut q, store, mut events) = queue();
    let a = enqueue(&store, "bob@example.test", "one");
    let b = enqueue(&store, "bob@example.test", "two");
    assert_eq!(q.pending(None).len(), 2);
    let lost = q.on_reports([
        (0, a.clone(), Progress::Sent),
        (0, a.clone(), Progress::Done(Outcome::Acked)),
        (0, b.clone(), Progress::Done(Outcome::Lost)),
    ]);
    assert_eq!(lost, vec![b.clone()]);
    let states: Vec<_> = std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            Event::MessageState { id, state, .. } => Some((id, state)),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (a.clone(), DeliveryState::Sent),
            (a.clone(), DeliveryState::Acked)
        ]
    );
    assert_eq!(store.outbox().expect("outbox").len(), 1);
    // The lost one goes again; the acked one does not.
    let again = q.pending(Some(&HashSet::from([b.clone()])));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, b);
}

#[test]
fn reports_from_a_forgotten_session_are_ignored() {
    let (mut q, store, _events) = queue();
    let a = enqueue(&store, "bob@example.test", "one");
    assert_eq!(q.pending(None).len(), 1);
    q.fresh_session(true, None);
    let lost = q.on_reports([(0, a.clone(), Progress::Done(Outcome::Lost))]);
    assert!(lost.is_empty());
    // A fresh session pushes everything again.
    assert_eq!(q.pending(None).len(), 1);
}

#[test]
fn a_bounce_fails_only_when_it_comes_from_the_recipient() {
    let (mut q, store, _events) = queue();
    let a = enqueue(&store, "bob@example.test", "one");
    q.on_bounce("mallory@example.test".parse().expect("jid"), &a, "no");
    assert_ne!(
        store.message(&a).expect("read").expect("row").state,
        DeliveryState::Failed
    );
    q.on_bounce(
        "example.test".parse().expect("jid"),
        &a,
        "service-unavailable",
    );
    let m = store.message(&a).expect("read").expect("row");
    assert_eq!(m.state, DeliveryState::Failed);
    assert_eq!(m.failure_reason.as_deref(), Some("service-unavailable"));
}

#[test]
fn a_cut_link_between_servers_sends_the_message_again_a_few_times_then_fails_it() {
    let (mut q, store, _events) = queue();
    let a = enqueue(&store, "bob@other.test", "one");
    let cut = "RemoteServerTimeout: Server-to-server connection failed: closed";
    let bob: BareJid = "bob@other.test".parse().expect("jid");
    assert_eq!(q.pending(None).len(), 1);
    for _ in 0..MAX_RESENDS_PER_SESSION {
        // Bounced while still in flight: pushed again at once, same id.
        let again = q.on_bounce(bob.clone(), &a, cut).expect("pushed again");
        assert_eq!(again.id, a);
        assert!(xml(&again).contains("<body>one</body>"));
        let m = store.message(&a).expect("read").expect("row");
        assert_eq!(m.state, DeliveryState::Queued);
    }
    assert!(q.on_bounce(bob.clone(), &a, cut).is_none());
    let m = store.message(&a).expect("read").expect("row");
    assert_eq!(m.state, DeliveryState::Failed);
    assert_eq!(m.failure_reason.as_deref(), Some(cut));

    // Prosody says "not found" for a link cut while it is set up, as for
    // a server that is down: sent again too.
    let b = enqueue(&store, "bob@other.test", "two");
    assert_eq!(q.pending(None).len(), 1);
    let gone = "RemoteServerNotFound: Server-to-server connection failed: closed";
    assert!(q.on_bounce(bob.clone(), &b, gone).is_some());
    // Any other refusal fails it at once.
    let c = enqueue(&store, "bob@other.test", "three");
    let _ = q.pending(None);
    assert!(q.on_bounce(bob, &c, "ServiceUnavailable").is_none());
    let m = store.message(&c).expect("read").expect("row");
    assert_eq!(m.state, DeliveryState::Failed);
}

#[test]
fn receipts_and_markers_wait_in_the_store_until_acked() {
    let (mut q, store, _events) = queue();
    let bob: Jid = "bob@example.test/desk".parse().expect("jid");
    let receipt = q.receipt(&bob, "m1").expect("a receipt to push");
    // The sender retried before our receipt was acked: not twice.
    assert!(q.receipt(&bob, "m1").is_none());
    store
        .queue_marker("bob@example.test", "m1")
        .expect("marker");
    let pushes = q.pending(None);
    assert_eq!(pushes.len(), 1, "the marker; the receipt is in flight");
    let xml = String::from(&Element::from(pushes[0].stanza.clone()));
    assert!(
        xml.contains("displayed") && xml.contains(&pushes[0].id),
        "{xml}"
    );
    // The session is lost: both go again, with the same ids.
    q.fresh_session(true, None);
    let again: Vec<_> = q.pending(None).into_iter().map(|p| p.id).collect();
    assert_eq!(again, vec![receipt.id.clone(), pushes[0].id.clone()]);
    let lost = q.on_reports([
        (1, receipt.id.clone(), Progress::Done(Outcome::Acked)),
        (1, pushes[0].id.clone(), Progress::Done(Outcome::Lost)),
    ]);
    assert_eq!(lost, vec![pushes[0].id.clone()]);
    let waiting: Vec<_> = store
        .send_queue()
        .expect("read")
        .into_iter()
        .map(|q| q.id)
        .collect();
    assert_eq!(waiting, vec![pushes[0].id.clone()]);
}

#[test]
fn without_stream_management_a_written_entry_is_settled_not_resent() {
    let (mut q, store, _events) = queue();
    q.fresh_session(false, None);
    let a = enqueue(&store, "bob@example.test", "one");
    let bob: Jid = "bob@example.test/desk".parse().expect("jid");
    let receipt = q.receipt(&bob, "m1").expect("a receipt");
    assert_eq!(
        q.pending(None).len(),
        1,
        "the message; the receipt is in flight"
    );
    // What a stream without acks reports: written, then dropped.
    let lost = q.on_reports([
        (1, a.clone(), Progress::Sent),
        (1, receipt.id.clone(), Progress::Sent),
        (1, a.clone(), Progress::Done(Outcome::Lost)),
        (1, receipt.id.clone(), Progress::Done(Outcome::Lost)),
    ]);
    assert!(lost.is_empty(), "resent at once: {lost:?}");
    assert!(store.outbox().expect("outbox").is_empty());
    assert!(store.send_queue().expect("read").is_empty());
    let m = store.message(&a).expect("read").expect("row");
    assert_eq!(m.state, DeliveryState::Sent);
    // Not written at all (it failed before the wire): it goes again.
    let b = enqueue(&store, "bob@example.test", "two");
    assert_eq!(q.pending(None).len(), 1);
    let lost = q.on_reports([(1, b.clone(), Progress::Done(Outcome::Lost))]);
    assert_eq!(lost, vec![b]);
}

#[test]
fn an_entry_lost_again_and_again_waits_for_the_next_session() {
    let (mut q, store, _events) = queue();
    q.fresh_session(true, None);
    let a = enqueue(&store, "bob@example.test", "one");
    for round in 0..=MAX_RESENDS_PER_SESSION {
        assert_eq!(q.pending(Some(&HashSet::from([a.clone()]))).len(), 1);
        let lost = q.on_reports([(1, a.clone(), Progress::Done(Outcome::Lost))]);
        let expected = if round < MAX_RESENDS_PER_SESSION {
            vec![a.clone()]
        } else {
            vec![]
        };
        assert_eq!(lost, expected, "round {round}");
    }
    // Still queued for the next session.
    assert_eq!(store.outbox().expect("outbox").len(), 1);
    q.fresh_session(true, None);
    assert_eq!(q.pending(None).len(), 1);
}

#[test]
fn a_message_bigger_than_the_server_accepts_fails_instead_of_closing_the_stream() {
    let (mut q, store, _events) = queue();
    q.fresh_session(true, Some(2_000));
    let big = enqueue(&store, "bob@example.test", &"x".repeat(3_000));
    let small = enqueue(&store, "bob@example.test", "after it");
    let pushes: Vec<_> = q.pending(None).into_iter().map(|p| p.id).collect();
    assert_eq!(pushes, vec![small]);
    let m = store.message(&big).expect("read").expect("row");
    assert_eq!(m.state, DeliveryState::Failed);
    assert!(
        m.failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("too large")),
        "{m:?}"
    );
}

#[test]
fn a_message_that_kills_two_sessions_in_a_row_fails_and_later_ones_as_large_too() {
    let (mut q, store, _events) = queue();
    q.fresh_session(true, None);
    let small = enqueue(&store, "bob@example.test", "before it");
    let big = enqueue(&store, "bob@example.test", &"x".repeat(20_000));
    for round in 0..2 {
        // Both go out; the server closes the stream at once.
        let pushed: Vec<_> = q.pending(None).into_iter().map(|p| p.id).collect();
        assert_eq!(pushed, vec![small.clone(), big.clone()], "round {round}");
        q.suspended();
        q.fresh_session(true, None);
    }
    // Blamed twice, the big one failed; the small one goes again.
    let pushed: Vec<_> = q.pending(None).into_iter().map(|p| p.id).collect();
    assert_eq!(pushed, vec![small.clone()]);
    let m = store.message(&big).expect("read").expect("row");
    assert_eq!(m.state, DeliveryState::Failed);
    assert!(
        m.failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("20000 bytes")),
        "{m:?}"
    );
    // A later message as large fails before it can close a stream.
    let later = enqueue(&store, "bob@example.test", &"y".repeat(25_000));
    assert!(q.entry(&later).is_none());
    let m = store.message(&later).expect("read").expect("row");
    assert_eq!(m.state, DeliveryState::Failed);
    // One early death is not enough: a message blamed once goes again.
    let once = enqueue(&store, "bob@example.test", &"z".repeat(10_000));
    assert!(q.entry(&once).is_some());
    q.suspended();
    q.fresh_session(true, None);
    let pushed: Vec<_> = q.pending(None).into_iter().map(|p| p.id).collect();
    assert!(pushed.contains(&once), "{pushed:?}");
}

#[test]
fn a_correction_of_an_unacked_message_is_held_until_the_message_is_acked() {
    let (mut q, store, _events) = queue();
    let a = enqueue(&store, "bob@example.test", "helo");
    assert_eq!(q.pending(None).len(), 1);
    let (_, c) = store.correct_outgoing(&a, "hello").expect("correct");
    // It must not overtake the message it corrects.
    assert!(q.entry(&c).is_none());
    assert!(q.pending(None).is_empty());
    assert!(q.released().is_empty());
    let lost = q.on_reports([(0, a.clone(), Progress::Done(Outcome::Acked))]);
    assert!(lost.is_empty());
    let released = q.released();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].id, c);
    let stanza = xml(&released[0]);
    assert!(
        stanza.contains("<body>hello</body>") && stanza.contains("replace") && stanza.contains(&a),
        "{stanza}"
    );
    q.on_reports([(0, c, Progress::Done(Outcome::Acked))]);
    assert!(store.send_queue().expect("read").is_empty());
}

#[test]
fn without_stream_management_a_written_message_releases_its_correction() {
    let (mut q, store, _events) = queue();
    q.fresh_session(false, None);
    let a = enqueue(&store, "bob@example.test", "helo");
    assert_eq!(q.pending(None).len(), 1);
    let (_, c) = store.correct_outgoing(&a, "hello").expect("correct");
    assert!(q.entry(&c).is_none());
    q.on_reports([
        (1, a.clone(), Progress::Sent),
        (1, a.clone(), Progress::Done(Outcome::Lost)),
    ]);
    let released: Vec<_> = q.released().into_iter().map(|p| p.id).collect();
    assert_eq!(released, vec![c]);
}

#[test]
fn a_correction_fails_with_the_message_it_waits_on() {
    let (mut q, store, mut events) = queue();
    let a = enqueue(&store, "bob@example.test", "helo");
    assert_eq!(q.pending(None).len(), 1);
    store.correct_outgoing(&a, "hello").expect("correct");
    q.on_bounce(
        "example.test".parse().expect("jid"),
        &a,
        "service-unavailable",
    );
    assert!(store.send_queue().expect("read").is_empty());
    assert!(q.released().is_empty());
    let failed = std::iter::from_fn(|| events.try_recv().ok()).any(
        |e| matches!(e, Event::MessageState { id, state: DeliveryState::Failed, .. } if id == a),
    );
    assert!(failed);
}
