//! A clean end: `disconnect()` closes the stream only once the server
//! acked what was pushed on it (or a short wait ran out).

use tokio::sync::mpsc;

use super::{off_worker, Running};
use crate::outbox::Report;

/// How long `disconnect()` waits for the server to ack what was pushed
/// (one round trip, normally: every push asks for an ack).
const FINAL_ACKS: std::time::Duration = std::time::Duration::from_secs(2);

impl Running {
    /// Before a disconnect closes the stream: waits (at most
    /// [`FINAL_ACKS`]) for the acks of what was pushed and stores them.
    /// Unstored, an ack is as good as lost: the next session would send
    /// the entry again. Nothing lost is resent now.
    pub(super) async fn final_acks(&mut self, progress: &mut mpsc::UnboundedReceiver<Report>) {
        let deadline = tokio::time::Instant::now() + FINAL_ACKS;
        while !self.queue.settled() {
            let Ok(Some(report)) = tokio::time::timeout_at(deadline, progress.recv()).await else {
                tracing::debug!("closing with entries still unacked: they go again next time");
                return;
            };
            let mut reports = vec![report];
            while let Ok(report) = progress.try_recv() {
                reports.push(report);
            }
            let _lost = off_worker(|| self.queue.on_reports(reports));
        }
    }
}
