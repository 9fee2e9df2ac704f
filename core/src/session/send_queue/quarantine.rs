//! Messages the server will not take. A server that closes the stream on a
//! stanza it finds too large without advertising a limit (XEP-0478; e.g.
//! ejabberd's `max_stanza_size`) would get that stanza first again on
//! every fresh session: a loop that blocks every later message. So a
//! session that dies within [`SHORT`] of starting blames the largest
//! message it had not got acked; blamed [`STRIKES`] sessions in a row, the
//! message fails with a reason, and later messages as large fail at once.
//! (The link backs off after sessions that die at once: see
//! `connection/streak.rs`.)

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::SendQueue;
use crate::model::DeliveryState;

/// A session that dies sooner than this after starting may have been
/// killed by what we sent on it.
const SHORT: Duration = Duration::from_secs(5);

/// Sessions in a row that must die with the same message blamed before it
/// fails: one death can be the network's doing.
const STRIKES: u32 = 2;

/// Every server takes stanzas of 10,000 bytes (RFC 6120 §13.12): a body
/// shorter than this (leaving room for the stanza around it) is never
/// blamed, so a flaky network cannot fail ordinary messages.
const SUSPECT_BYTES: usize = 9_000;

#[derive(Default)]
pub(super) struct Quarantine {
    /// When the current fresh session started.
    started: Option<Instant>,
    /// The last session died within [`SHORT`].
    died_at_once: bool,
    /// Messages pushed on this session and not acked yet (a loss report
    /// may take one out of `in_flight` before the link says it broke).
    pushed: HashSet<String>,
    /// Times each message was blamed, in a row.
    strikes: HashMap<String, u32>,
    /// The smallest body (in bytes) the server closed the stream on.
    refused_from: Option<usize>,
}

impl SendQueue {
    /// The link broke.
    pub(crate) fn suspended(&mut self) {
        if let Some(started) = self.quarantine.started.take() {
            self.quarantine.died_at_once = started.elapsed() < SHORT;
        }
    }

    /// A fresh session starts: if the last one died at once, its largest
    /// unacked message is blamed. Call before `in_flight` is cleared.
    pub(super) fn blame(&mut self) {
        self.quarantine.started = Some(Instant::now());
        let pushed = std::mem::take(&mut self.quarantine.pushed);
        if !std::mem::take(&mut self.quarantine.died_at_once) {
            self.quarantine.strikes.clear();
            return;
        }
        let largest = pushed
            .iter()
            .filter_map(|id| self.store.message(id).ok().flatten())
            .filter(|m| m.state != DeliveryState::Failed && m.body.len() >= SUSPECT_BYTES)
            .max_by_key(|m| m.body.len());
        let Some(msg) = largest else {
            return;
        };
        let strikes = self.quarantine.strikes.entry(msg.id.clone()).or_insert(0);
        *strikes += 1;
        tracing::warn!(
            id = msg.id,
            bytes = msg.body.len(),
            strikes = *strikes,
            "the session died at once with this message unacked"
        );
        if *strikes < STRIKES {
            return;
        }
        self.quarantine.strikes.remove(&msg.id);
        let size = msg.body.len();
        let smallest = self.quarantine.refused_from.map_or(size, |s| s.min(size));
        self.quarantine.refused_from = Some(smallest);
        let reason = format!(
            "the server closed the connection each time this message was sent \
             ({size} bytes): it is probably larger than the server accepts"
        );
        self.fail(&msg.id, &reason);
    }

    /// Message `id` was pushed on this session.
    pub(super) fn pushed(&mut self, id: &str) {
        self.quarantine.pushed.insert(id.to_owned());
    }

    /// Message `id` was acked: it did not kill anything.
    pub(super) fn cleared(&mut self, id: &str) {
        self.quarantine.pushed.remove(id);
        self.quarantine.strikes.remove(id);
    }

    /// Message `id` was blamed for a session's death: when lost, it waits
    /// for the next fresh session instead of being pushed again at once
    /// (pushed while the link is breaking, it would sit in the stream's
    /// queue and go out first on the next session, even once failed).
    pub(super) fn suspect(&self, id: &str) -> bool {
        self.quarantine.strikes.contains_key(id)
    }

    /// Why a message with a `body` this long cannot go, if it cannot.
    pub(super) fn refused(&self, body: usize) -> Option<String> {
        let from = self.quarantine.refused_from?;
        (body >= from).then(|| {
            format!(
                "too large for this server: it closed the connection on a \
                 {from}-byte message before ({body} bytes)"
            )
        })
    }
}
