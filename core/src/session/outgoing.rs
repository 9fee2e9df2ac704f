//! The only two ways anything reaches the link: what a handler returned
//! (its IQ requests registered for their answers), and send-queue entries
//! (their deliveries handed back to the queue).

use tokio_xmpp::Stanza;

use super::requests::Out;
use super::send_queue::Push;
use super::Running;

impl Running {
    /// Sends what a handler returned, registering its requests.
    pub(super) async fn send(&mut self, out: impl IntoIterator<Item = Out>) {
        for out in out {
            let stanza = match out {
                Out::Send(stanza) => stanza,
                Out::Ask { id, iq, request } => {
                    self.requests.insert(id, request);
                    Stanza::Iq(iq)
                }
            };
            let _ = self.link.send(stanza).await;
        }
    }

    /// Pushes send-queue entries and hands their deliveries back to it.
    pub(super) async fn push(&mut self, pushes: impl IntoIterator<Item = Push>) {
        for Push { id, stanza } in pushes {
            let delivery = self.link.send(stanza).await;
            self.queue.track(id, delivery);
        }
    }
}
