//! The TCP socket under TLS, writing only with `send(MSG_NOSIGNAL)`.
//!
//! A write on a socket the peer has reset raises SIGPIPE, whose default
//! action kills the process. Rust binaries and the JVM ignore SIGPIPE, so
//! the Rust and Kotlin suites never saw it; a Swift (or C) program on Linux
//! that loads JabberKit does not, and was killed after about one link reset
//! in ten (found by the Swift suite). std's plain `write` on a socket
//! passes `MSG_NOSIGNAL`, but vectored writes go through `writev`, which
//! cannot: rustls writes vectored whenever the transport says it can. This
//! wrapper says it cannot, and turns a vectored write into a plain one, so
//! a dead link is an `EPIPE` error and a reconnect, never a signal. A
//! library must not change the process's signal dispositions instead. The
//! Swift suite runs with SIGPIPE's default action and proves it on links
//! the fault proxy resets.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A [`TcpStream`] that never writes with `writev`.
#[derive(Debug)]
pub struct Socket(pub TcpStream);

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    /// The first non-empty buffer, written plainly (`send` with
    /// `MSG_NOSIGNAL`); the caller writes the rest next.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        self.poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_vectored_write_is_written_plainly_and_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let mut socket = Socket(client.expect("connect"));
        let (mut server, _) = server.expect("accept");
        assert!(!socket.is_write_vectored());
        let bufs = [
            IoSlice::new(b""),
            IoSlice::new(b"hello "),
            IoSlice::new(b"world"),
        ];
        let mut written = 0;
        while written < 11 {
            let n = socket
                .write_vectored(&bufs_from(&bufs, written))
                .await
                .expect("write");
            assert!(n > 0);
            written += n;
        }
        let mut got = [0u8; 11];
        server.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"hello world");
    }

    /// The buffers after skipping `skip` bytes.
    fn bufs_from<'a>(bufs: &'a [IoSlice<'a>], mut skip: usize) -> Vec<IoSlice<'a>> {
        let mut out = Vec::new();
        for b in bufs {
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            out.push(IoSlice::new(&b[skip..]));
            skip = 0;
        }
        out
    }
}
