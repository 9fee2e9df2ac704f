//! Client State Indication (XEP-0352): telling the server whether the app is
//! in the foreground, so it can hold back unimportant traffic (presence
//! floods, chat states) while the phone sleeps.
//!
//! `<active/>` and `<inactive/>` are nonzas: tokio-xmpp's `StanzaStream`
//! sends only stanzas and has no hook for them. So the transport under the
//! XML stream is wrapped in [`CsiStream`], which writes the indication
//! itself, and only at an element boundary: when the XML stream flushes,
//! every byte it has written is a whole element (it serialises elements into
//! its buffer whole and drains that buffer before it flushes the transport).
//! The indication is sent once per connection, only after that connection
//! was bound or resumed ("armed"), and only if the server offered CSI.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

const ACTIVE: &[u8] = b"<active xmlns='urn:xmpp:csi:0'/>";
const INACTIVE: &[u8] = b"<inactive xmlns='urn:xmpp:csi:0'/>";

/// The app's wish and which connection may carry it; shared by the
/// connector, the login and the link.
#[derive(Debug, Default)]
pub(crate) struct Csi {
    inactive: AtomicBool,
    /// Counts connections; the newest one is the only live one.
    generation: AtomicU64,
    /// The connection that is online and may carry an indication.
    armed: AtomicU64,
    /// Whether the newest connection's server offered `urn:xmpp:csi:0`.
    offered: AtomicBool,
}

impl Csi {
    /// Records the app's state; returns true when it changed.
    pub(crate) fn set_inactive(&self, inactive: bool) -> bool {
        self.inactive.swap(inactive, Ordering::SeqCst) != inactive
    }

    pub(crate) fn is_inactive(&self) -> bool {
        self.inactive.load(Ordering::SeqCst)
    }

    /// A new connection starts: nothing may be sent on it until it is armed.
    fn next_generation(&self) -> u64 {
        self.offered.store(false, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The newest connection's server advertised CSI after authentication.
    pub(crate) fn set_offered(&self, offered: bool) {
        self.offered.store(offered, Ordering::SeqCst);
    }

    /// The newest connection is bound or resumed.
    pub(crate) fn arm(&self) {
        self.armed
            .store(self.generation.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// True when an online connection will carry the indication.
    pub(crate) fn usable(&self) -> bool {
        self.offered.load(Ordering::SeqCst)
            && self.armed.load(Ordering::SeqCst) == self.generation.load(Ordering::SeqCst)
    }

    /// Wraps the transport of a new connection.
    pub(crate) fn wrap<S>(self: &Arc<Self>, inner: S) -> CsiStream<S> {
        CsiStream {
            inner,
            csi: self.clone(),
            generation: self.next_generation(),
            sent: None,
            pending: &[],
        }
    }
}

/// A transport that slips CSI nonzas in between the elements of the XML
/// stream written through it.
pub(crate) struct CsiStream<S> {
    inner: S,
    csi: Arc<Csi>,
    generation: u64,
    /// What this connection last told the server (`Some(true)` = inactive).
    sent: Option<bool>,
    /// The rest of an indication not yet written.
    pending: &'static [u8],
}

impl<S: AsyncWrite + Unpin> CsiStream<S> {
    /// Writes what is left of an indication before anything else.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending = &self.pending[n..];
        }
        Poll::Ready(Ok(()))
    }

    /// Queues the indication if this connection owes one.
    fn schedule(&mut self) {
        if !self.pending.is_empty()
            || self.csi.armed.load(Ordering::SeqCst) != self.generation
            || !self.csi.offered.load(Ordering::SeqCst)
        {
            return;
        }
        let inactive = self.csi.is_inactive();
        if self.sent != Some(inactive) {
            tracing::debug!(inactive, "client state indication");
            self.sent = Some(inactive);
            self.pending = if inactive { INACTIVE } else { ACTIVE };
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CsiStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncBufRead + Unpin> AsyncBufRead for CsiStream<S> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().inner).poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.get_mut().inner).consume(amt)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CsiStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A flush comes only after whole elements: a safe place to insert.
        this.schedule();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn written(csi: &Arc<Csi>, steps: impl FnOnce(&Arc<Csi>)) -> String {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut s = csi.wrap(a);
        s.write_all(b"<r/>").await.unwrap();
        s.flush().await.unwrap();
        steps(csi);
        s.write_all(b"<a/>").await.unwrap();
        s.flush().await.unwrap();
        s.write_all(b"<b/>").await.unwrap();
        s.flush().await.unwrap();
        drop(s);
        let mut out = String::new();
        b.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn nothing_before_the_connection_is_armed() {
        let csi = Arc::new(Csi::default());
        csi.set_inactive(true);
        let out = written(&csi, |c| c.set_offered(true)).await;
        assert_eq!(out, "<r/><a/><b/>");
    }

    #[tokio::test]
    async fn nothing_when_the_server_did_not_offer_it() {
        let csi = Arc::new(Csi::default());
        csi.set_inactive(true);
        let out = written(&csi, |c| c.arm()).await;
        assert_eq!(out, "<r/><a/><b/>");
    }

    #[tokio::test]
    async fn sent_once_at_a_flush_after_arming() {
        let csi = Arc::new(Csi::default());
        csi.set_inactive(true);
        let out = written(&csi, |c| {
            c.set_offered(true);
            c.arm();
        })
        .await;
        assert_eq!(
            out, "<r/><a/><inactive xmlns='urn:xmpp:csi:0'/><b/>",
            "after the flushed element, once"
        );
    }

    #[tokio::test]
    async fn a_change_is_sent_and_a_stale_connection_stays_silent() {
        let csi = Arc::new(Csi::default());
        let (a, mut b) = tokio::io::duplex(1024);
        let mut old = csi.wrap(a);
        csi.set_offered(true);
        csi.arm();
        old.write_all(b"<x/>").await.unwrap();
        old.flush().await.unwrap();
        assert!(csi.set_inactive(true));
        assert!(!csi.set_inactive(true), "unchanged");
        old.flush().await.unwrap();
        // A newer connection exists: the old one must not speak any more.
        let (c, _d) = tokio::io::duplex(1024);
        let _new = csi.wrap(c);
        csi.set_inactive(false);
        old.flush().await.unwrap();
        drop(old);
        let mut out = String::new();
        b.read_to_string(&mut out).await.unwrap();
        assert_eq!(
            out,
            "<x/><active xmlns='urn:xmpp:csi:0'/><inactive xmlns='urn:xmpp:csi:0'/>"
        );
    }
}
