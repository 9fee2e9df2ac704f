//! A fault-injecting TCP proxy for integration tests.
//!
//! Unit tests cannot show how the client copes with a flaky mobile network:
//! links that go silent without FIN or RST, NAT rebindings that reset every
//! connection, a server that refuses connections for a while, high latency.
//! [`FaultProxy`] sits between an XMPP client and a real server on loopback
//! and produces those faults on demand, at the TCP level, so the client's
//! real socket, TLS and keepalive code sees what it would see in the field.

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// Largest chunk read from a socket at once.
const CHUNK: usize = 16 * 1024;
/// Chunks queued per direction before the reader stops reading (backpressure).
const QUEUE_CHUNKS: usize = 256;
/// Pause before retrying a failed `accept` or re-bind.
const RETRY: Duration = Duration::from_millis(50);

/// What the proxy does to traffic. Changes apply at once to existing and new
/// connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward bytes both ways.
    Pass,
    /// Keep connections open but silently drop every byte in both directions
    /// (a dead mobile link: no FIN, no RST). New connections are accepted and
    /// also blackholed. Bytes dropped here are lost for good when the mode
    /// changes back; a FIN or RST that arrives during the blackhole is held
    /// back and delivered once the link is up again, as TCP would retransmit
    /// it.
    Blackhole,
    /// New connection attempts fail with "connection refused": the proxy stops
    /// listening, and listens again on the same port when the mode changes.
    /// Existing connections keep passing.
    Refuse,
    /// Forward both ways, each direction delayed by this one-way latency.
    /// Bytes keep their order; a chunk read at `t` is written at `t + delay`
    /// without limiting throughput.
    Delay(Duration),
    /// Forward both ways, each direction at most this many bytes a
    /// second (a slow mobile link): a transfer through it takes long
    /// enough to be cut in the middle. The proxy still buffers up to a few
    /// MiB per direction, so a sender sees its first bytes leave at once.
    Throttle(u32),
}

/// A TCP proxy on `127.0.0.1` that forwards to one upstream address and
/// injects faults on demand (see [`Mode`] and [`FaultProxy::reset_all`]).
///
/// Dropping it stops listening and resets every connection it carries.
pub struct FaultProxy {
    shared: Arc<Shared>,
    accept_task: AbortHandle,
}

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards to `upstream`.
    ///
    /// Must be called within a Tokio runtime (either flavour); the proxy's
    /// tasks run on that runtime.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let proxy = Self::bind().await;
        proxy.set_upstream(upstream);
        proxy
    }

    /// Listens on `127.0.0.1:0` with no upstream yet: connections are
    /// reset until [`set_upstream`](Self::set_upstream). For a server that
    /// must know the proxy's port before it starts (e.g. one that puts it
    /// in the URLs it hands out: [`crate::server::ServerOptions::http_port`]).
    ///
    /// Must be called within a Tokio runtime, as [`start`](Self::start).
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn bind() -> FaultProxy {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("fault proxy: cannot listen on 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("fault proxy: no local address");
        let (mode, _) = watch::channel(Mode::Pass);
        let shared = Arc::new(Shared {
            upstream: Mutex::new(None),
            addr,
            runtime: Handle::current(),
            mode,
            listener: Mutex::new(Some(listener)),
            listener_changed: Notify::new(),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            accepted: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            chunks_up: AtomicU64::new(0),
            chunks_down: AtomicU64::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(shared.clone())).abort_handle();
        tracing::debug!(%addr, "fault proxy started");
        FaultProxy {
            shared,
            accept_task,
        }
    }

    /// Forwards connections accepted from now on to `upstream`.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *lock(&self.shared.upstream) = Some(upstream);
        tracing::debug!(addr = %self.shared.addr, %upstream, "fault proxy upstream set");
    }

    /// The address clients should connect to. It stays the same for the
    /// proxy's whole life, including after [`Mode::Refuse`].
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Switches the mode for existing and new connections at once.
    ///
    /// Entering [`Mode::Refuse`] closes the listening socket before this
    /// returns; leaving it listens again before this returns, so a connect
    /// made right afterwards succeeds.
    pub fn set_mode(&self, mode: Mode) {
        let shared = &self.shared;
        let mut listener = lock(&shared.listener);
        let old = shared.mode.send_replace(mode);
        if mode == Mode::Refuse {
            // Closing the socket makes the kernel answer SYNs with RST
            // (ECONNREFUSED) and reset anything still in the backlog.
            *listener = None;
        } else if listener.is_none() {
            match shared.rebind() {
                Ok(l) => *listener = Some(l),
                // The accept loop keeps retrying.
                Err(e) => tracing::warn!(addr = %shared.addr, "fault proxy: re-bind failed: {e}"),
            }
        }
        drop(listener);
        shared.listener_changed.notify_one();
        tracing::debug!(addr = %shared.addr, ?old, new = ?mode, "fault proxy mode changed");
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.shared.mode()
    }

    /// Abruptly resets every live connection: RST to both the client and the
    /// server, like a NAT rebinding or a mobile handover. Connections accepted
    /// afterwards work per the mode.
    ///
    /// The resets are sent by the connection tasks right after this returns;
    /// [`live_connections`](Self::live_connections) drops shortly after. A
    /// connection the kernel has completed but the proxy has not accepted yet
    /// counts as new.
    pub fn reset_all(&self) {
        let conns: Vec<_> = lock(&self.shared.conns).drain().collect();
        tracing::debug!(
            addr = %self.shared.addr,
            n = conns.len(),
            "fault proxy: resetting all connections"
        );
        for (_, reset) in conns {
            let _ = reset.send(());
        }
    }

    /// Number of connections accepted and proxied so far. Attempts refused in
    /// [`Mode::Refuse`] are not counted.
    pub fn connections_accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Number of proxied connections that have not been closed or reset yet.
    pub fn live_connections(&self) -> usize {
        self.shared.live.load(Ordering::SeqCst)
    }

    /// Total bytes forwarded client→server (dropped bytes are not counted).
    pub fn bytes_up(&self) -> u64 {
        self.shared.bytes_up.load(Ordering::SeqCst)
    }

    /// Total bytes forwarded server→client (dropped bytes are not counted).
    pub fn bytes_down(&self) -> u64 {
        self.shared.bytes_down.load(Ordering::SeqCst)
    }

    /// Chunks forwarded client→server: one per successful read from a
    /// client socket, so roughly the packets the client sent (each of its
    /// writes, as small stanzas and keepalives are; a large write may be
    /// read in several chunks, several quick writes in one). Idle-traffic
    /// benchmarks count these.
    pub fn chunks_up(&self) -> u64 {
        self.shared.chunks_up.load(Ordering::SeqCst)
    }

    /// Chunks forwarded server→client; see [`chunks_up`](Self::chunks_up).
    pub fn chunks_down(&self) -> u64 {
        self.shared.chunks_down.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        // The accept task may not run again to drop its socket: close it here.
        *lock(&self.shared.listener) = None;
        // Dropping the reset senders cancels every connection task, which
        // resets both of its sockets and exits.
        lock(&self.shared.conns).clear();
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.shared.addr)
            .field("upstream", &*lock(&self.shared.upstream))
            .field("mode", &self.shared.mode())
            .field("live_connections", &self.live_connections())
            .finish()
    }
}

/// State shared by the handle, the accept task and the connection tasks.
struct Shared {
    /// `None` until set ([`FaultProxy::bind`]).
    upstream: Mutex<Option<SocketAddr>>,
    addr: SocketAddr,
    /// Runtime the proxy was started on, entered to re-bind the listener from
    /// the synchronous `set_mode`.
    runtime: Handle,
    mode: watch::Sender<Mode>,
    /// `None` while in [`Mode::Refuse`] (or if a re-bind failed).
    listener: Mutex<Option<TcpListener>>,
    listener_changed: Notify,
    /// Live connections: firing (or dropping) the sender resets one.
    conns: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    next_id: AtomicU64,
    accepted: AtomicUsize,
    live: AtomicUsize,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    chunks_up: AtomicU64,
    chunks_down: AtomicU64,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    fn rebind(&self) -> io::Result<TcpListener> {
        // `TcpSocket::listen` registers with the reactor, which needs a
        // runtime context; `set_mode` may be called from outside one.
        let _runtime = self.runtime.enter();
        bind(self.addr)
    }

    /// Accepts on the current listener; pending while there is none (the
    /// accept loop is woken through `listener_changed`).
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match lock(&self.listener).as_ref() {
            Some(listener) => listener.poll_accept(cx),
            None => Poll::Pending,
        }
    }

    /// Re-binds if the listener is missing outside [`Mode::Refuse`] (a
    /// re-bind in `set_mode` failed). Returns whether a listener is needed
    /// but still missing.
    fn repair_listener(&self) -> bool {
        let mut listener = lock(&self.listener);
        if listener.is_some() || self.mode() == Mode::Refuse {
            return false;
        }
        match self.rebind() {
            Ok(l) => {
                *listener = Some(l);
                false
            }
            Err(e) => {
                tracing::debug!(addr = %self.addr, "fault proxy: re-bind failed, retrying: {e}");
                true
            }
        }
    }
}

/// Listens on `addr` with `SO_REUSEADDR`, so the same port can be bound
/// again after [`Mode::Refuse`] while connections accepted on it are alive.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Closes `stream` with an RST instead of a FIN.
fn reset_stream(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn accept_loop(shared: Arc<Shared>) {
    loop {
        let changed = shared.listener_changed.notified();
        if shared.repair_listener() {
            tokio::select! {
                () = tokio::time::sleep(RETRY) => {}
                () = changed => {}
            }
            continue;
        }
        let accepted = tokio::select! {
            res = poll_fn(|cx| shared.poll_accept(cx)) => res,
            () = changed => continue,
        };
        match accepted {
            Ok((stream, peer)) => admit(&shared, stream, peer),
            Err(e) => {
                // E.g. out of file descriptors: don't spin.
                tracing::warn!(addr = %shared.addr, "fault proxy: accept failed: {e}");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

fn admit(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) {
    if shared.mode() == Mode::Refuse {
        // Raced with `set_mode(Refuse)`: refuse as closely as possible.
        reset_stream(stream);
        return;
    }
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let (reset_tx, reset_rx) = oneshot::channel();
    lock(&shared.conns).insert(id, reset_tx);
    shared.accepted.fetch_add(1, Ordering::SeqCst);
    shared.live.fetch_add(1, Ordering::SeqCst);
    tracing::debug!(addr = %shared.addr, %peer, id, "fault proxy: connection accepted");
    let guard = ConnGuard {
        shared: shared.clone(),
        id,
    };
    tokio::spawn(async move {
        run_conn(&guard.shared, stream, reset_rx).await;
        drop(guard);
    });
}

/// Unregisters a connection when its task ends, however it ends.
struct ConnGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        lock(&self.shared.conns).remove(&self.id);
        self.shared.live.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn run_conn(shared: &Shared, mut client: TcpStream, mut reset: oneshot::Receiver<()>) {
    let upstream = *lock(&shared.upstream);
    let Some(upstream) = upstream else {
        tracing::debug!(addr = %shared.addr, "fault proxy: no upstream yet");
        reset_stream(client);
        return;
    };
    let connect = tokio::select! {
        res = connect_upstream(upstream) => res,
        _ = &mut reset => {
            reset_stream(client);
            return;
        }
    };
    let mut server = match connect {
        Ok(server) => server,
        Err(e) => {
            tracing::debug!(
                %upstream,
                "fault proxy: upstream connect failed: {e}"
            );
            reset_stream(client);
            return;
        }
    };
    // Small writes (XMPP stanzas) must not wait for Nagle on top of the
    // injected delay.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);

    let outcome = {
        let (mut client_rd, mut client_wr) = client.split();
        let (mut server_rd, mut server_wr) = server.split();
        let (up_tx, up_rx) = mpsc::channel(QUEUE_CHUNKS);
        let (down_tx, down_rx) = mpsc::channel(QUEUE_CHUNKS);
        let pumps = async {
            tokio::try_join!(
                read_side(&mut client_rd, up_tx, shared.mode.subscribe()),
                write_side(&mut server_wr, up_rx, shared, Counters::up(shared)),
                read_side(&mut server_rd, down_tx, shared.mode.subscribe()),
                write_side(&mut client_wr, down_rx, shared, Counters::down(shared)),
            )
        };
        tokio::select! {
            res = pumps => res.map(|_| ()),
            _ = &mut reset => Err(io::Error::other("reset by the proxy")),
        }
    };
    match outcome {
        // Both directions ended with a FIN that has been passed on.
        Ok(()) => tracing::debug!(addr = %shared.addr, "fault proxy: connection closed"),
        Err(e) => {
            tracing::debug!(addr = %shared.addr, "fault proxy: resetting connection: {e}");
            reset_stream(client);
            reset_stream(server);
        }
    }
}

/// Connects to the server so that abandoning the attempt (a reset while
/// connecting) sends an RST rather than a FIN if the handshake has completed.
async fn connect_upstream(upstream: SocketAddr) -> io::Result<TcpStream> {
    let socket = if upstream.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_zero_linger()?;
    let stream = socket.connect(upstream).await?;
    // Back to a normal close for a normal end of the connection. Setting
    // `None` is not the blocking `SO_LINGER` use the deprecation is about.
    #[allow(deprecated)]
    stream.set_linger(None)?;
    Ok(stream)
}

/// What travels through a direction's queue.
enum Chunk {
    /// Bytes to write once `Instant` is reached.
    Data(Instant, Vec<u8>),
    /// The source sent a FIN: shut down the destination's write side.
    Eof,
}

/// Reads from one socket and queues the bytes for the other, stamped with
/// when they may be written. Discards them while blackholed.
async fn read_side<R: AsyncRead + Unpin>(
    src: &mut R,
    tx: mpsc::Sender<Chunk>,
    mut mode: watch::Receiver<Mode>,
) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    // Under `Throttle`, when the link is free for the next chunk.
    let mut free = Instant::now();
    loop {
        let n = match src.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                // A dead link would not carry the RST either; pass it on
                // once the link is back.
                let _ = mode.wait_for(|m| *m != Mode::Blackhole).await;
                return Err(e);
            }
        };
        if n == 0 {
            let _ = mode.wait_for(|m| *m != Mode::Blackhole).await;
            // If the writer is gone it has failed, and that error wins.
            let _ = tx.send(Chunk::Eof).await;
            return Ok(());
        }
        let now = Instant::now();
        let due = match *mode.borrow_and_update() {
            Mode::Blackhole => continue,
            Mode::Pass | Mode::Refuse => now,
            Mode::Delay(delay) => now + delay,
            Mode::Throttle(rate) => {
                let due = free.max(now);
                free = due + Duration::from_secs_f64(n as f64 / f64::from(rate.max(1)));
                due
            }
        };
        // Wait for queue space, but if the link goes dead meanwhile drop the
        // chunk and go back to reading (and discarding).
        loop {
            tokio::select! {
                permit = tx.reserve() => {
                    match permit {
                        Ok(permit) => permit.send(Chunk::Data(due, buf[..n].to_vec())),
                        Err(_) => return Ok(()),
                    }
                    break;
                }
                changed = mode.changed() => {
                    if changed.is_err() || *mode.borrow_and_update() == Mode::Blackhole {
                        break;
                    }
                }
            }
        }
    }
}

/// What one direction counts.
struct Counters<'a> {
    bytes: &'a AtomicU64,
    chunks: &'a AtomicU64,
}

impl<'a> Counters<'a> {
    fn up(shared: &'a Shared) -> Self {
        Counters {
            bytes: &shared.bytes_up,
            chunks: &shared.chunks_up,
        }
    }

    fn down(shared: &'a Shared) -> Self {
        Counters {
            bytes: &shared.bytes_down,
            chunks: &shared.chunks_down,
        }
    }
}

/// Writes queued chunks to one socket when they are due, dropping those that
/// come due while blackholed.
async fn write_side<W: AsyncWrite + Unpin>(
    dst: &mut W,
    mut rx: mpsc::Receiver<Chunk>,
    shared: &Shared,
    counters: Counters<'_>,
) -> io::Result<()> {
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Chunk::Data(due, bytes) => {
                tokio::time::sleep_until(due).await;
                if shared.mode() == Mode::Blackhole {
                    continue;
                }
                dst.write_all(&bytes).await?;
                counters
                    .bytes
                    .fetch_add(bytes.len() as u64, Ordering::SeqCst);
                counters.chunks.fetch_add(1, Ordering::SeqCst);
            }
            Chunk::Eof => {
                dst.shutdown().await?;
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::timeout;

    /// Upper bound for things that must happen (generous: never hit when
    /// things work).
    const LONG: Duration = Duration::from_secs(5);
    /// How long to watch for things that must not happen.
    const QUIET: Duration = Duration::from_millis(300);

    const fn assert_send_sync<T: Send + Sync>() {}
    const _: () = assert_send_sync::<FaultProxy>();

    /// An upstream that echoes everything back.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut rd, mut wr) = stream.split();
                    let _ = tokio::io::copy(&mut rd, &mut wr).await;
                });
            }
        });
        addr
    }

    /// A proxy in front of a bare listener, so a test holds both ends.
    async fn proxy_and_upstream() -> (FaultProxy, TcpListener) {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = FaultProxy::start(upstream.local_addr().unwrap()).await;
        (proxy, upstream)
    }

    /// Connects through the proxy; returns (client end, server end).
    async fn pair(proxy: &FaultProxy, upstream: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(proxy.addr()).await.unwrap();
        let (server, _) = timeout(LONG, upstream.accept()).await.unwrap().unwrap();
        (client, server)
    }

    async fn expect_bytes(stream: &mut TcpStream, expected: &[u8]) {
        let mut buf = vec![0; expected.len()];
        timeout(LONG, stream.read_exact(&mut buf))
            .await
            .expect("timed out waiting for bytes")
            .unwrap();
        assert_eq!(buf, expected);
    }

    async fn expect_silence(stream: &mut TcpStream) {
        let mut buf = [0; 64];
        if let Ok(res) = timeout(QUIET, stream.read(&mut buf)).await {
            panic!(
                "expected silence, got {res:?} ({:?})",
                &buf[..*res.as_ref().unwrap_or(&0)]
            );
        }
    }

    async fn expect_reset(stream: &mut TcpStream) {
        let mut buf = [0; 64];
        let res = timeout(LONG, stream.read(&mut buf))
            .await
            .expect("timed out waiting for the reset");
        let err = res.expect_err("expected a connection reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    }

    async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < LONG, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn pass_forwards_both_ways_and_counts() {
        let (proxy, upstream) = proxy_and_upstream().await;
        assert_eq!(proxy.mode(), Mode::Pass);
        let (mut client, mut server) = pair(&proxy, &upstream).await;
        client.write_all(b"<stream>").await.unwrap();
        expect_bytes(&mut server, b"<stream>").await;
        server.write_all(b"<features/>").await.unwrap();
        expect_bytes(&mut client, b"<features/>").await;
        eventually("byte counters", || {
            proxy.bytes_up() == 8 && proxy.bytes_down() == 11
        })
        .await;
        assert_eq!((proxy.chunks_up(), proxy.chunks_down()), (1, 1));
        assert_eq!(proxy.connections_accepted(), 1);
        assert_eq!(proxy.live_connections(), 1);

        // A FIN is passed on in each direction, then the connection is gone.
        client.shutdown().await.unwrap();
        let mut buf = [0; 8];
        assert_eq!(
            timeout(LONG, server.read(&mut buf)).await.unwrap().unwrap(),
            0
        );
        server.write_all(b"bye").await.unwrap();
        expect_bytes(&mut client, b"bye").await;
        server.shutdown().await.unwrap();
        assert_eq!(
            timeout(LONG, client.read(&mut buf)).await.unwrap().unwrap(),
            0
        );
        eventually("connection closed", || proxy.live_connections() == 0).await;
        assert_eq!(proxy.connections_accepted(), 1);
        assert_eq!((proxy.bytes_up(), proxy.bytes_down()), (8, 14));
    }

    #[tokio::test]
    async fn bound_without_upstream_resets_until_one_is_set() {
        let proxy = FaultProxy::bind().await;
        let mut early = TcpStream::connect(proxy.addr()).await.unwrap();
        expect_reset(&mut early).await;

        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        proxy.set_upstream(upstream.local_addr().unwrap());
        let (mut client, mut server) = pair(&proxy, &upstream).await;
        client.write_all(b"PUT").await.unwrap();
        expect_bytes(&mut server, b"PUT").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blackhole_drops_both_ways_then_pass_resumes() {
        let (proxy, upstream) = proxy_and_upstream().await;
        let (mut client, mut server) = pair(&proxy, &upstream).await;
        client.write_all(b"ping").await.unwrap();
        expect_bytes(&mut server, b"ping").await;

        proxy.set_mode(Mode::Blackhole);
        assert_eq!(proxy.mode(), Mode::Blackhole);
        client.write_all(b"lost-up").await.unwrap();
        server.write_all(b"lost-down").await.unwrap();
        expect_silence(&mut server).await;
        expect_silence(&mut client).await;

        // New connections are accepted, and blackholed too.
        let (mut client2, mut server2) = pair(&proxy, &upstream).await;
        assert_eq!(proxy.connections_accepted(), 2);
        client2.write_all(b"lost-too").await.unwrap();
        expect_silence(&mut server2).await;

        // Back to pass: the same connections work again; dropped bytes stay lost.
        proxy.set_mode(Mode::Pass);
        client.write_all(b"up").await.unwrap();
        expect_bytes(&mut server, b"up").await;
        server.write_all(b"down").await.unwrap();
        expect_bytes(&mut client, b"down").await;
        client2.write_all(b"hi").await.unwrap();
        expect_bytes(&mut server2, b"hi").await;
        eventually("byte counters", || {
            proxy.bytes_up() == 8 && proxy.bytes_down() == 4
        })
        .await;
        assert_eq!(proxy.live_connections(), 2);
    }

    #[tokio::test]
    async fn blackhole_holds_back_fin_until_link_returns() {
        let (proxy, upstream) = proxy_and_upstream().await;
        let (mut client, mut server) = pair(&proxy, &upstream).await;
        proxy.set_mode(Mode::Blackhole);
        client.shutdown().await.unwrap();
        expect_silence(&mut server).await;
        proxy.set_mode(Mode::Pass);
        let mut buf = [0; 8];
        assert_eq!(
            timeout(LONG, server.read(&mut buf)).await.unwrap().unwrap(),
            0
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reset_all_resets_both_ends_and_new_connections_work() {
        let (proxy, upstream) = proxy_and_upstream().await;
        let (mut client, mut server) = pair(&proxy, &upstream).await;
        client.write_all(b"ping").await.unwrap();
        expect_bytes(&mut server, b"ping").await;

        proxy.reset_all();
        expect_reset(&mut client).await;
        expect_reset(&mut server).await;
        eventually("no live connections", || proxy.live_connections() == 0).await;

        let (mut client, mut server) = pair(&proxy, &upstream).await;
        client.write_all(b"again").await.unwrap();
        expect_bytes(&mut server, b"again").await;
        assert_eq!(proxy.connections_accepted(), 2);
        assert_eq!(proxy.live_connections(), 1);
    }

    #[tokio::test]
    async fn reset_all_works_while_blackholed() {
        let (proxy, upstream) = proxy_and_upstream().await;
        let (mut client, mut server) = pair(&proxy, &upstream).await;
        proxy.set_mode(Mode::Blackhole);
        proxy.reset_all();
        expect_reset(&mut client).await;
        expect_reset(&mut server).await;
    }

    #[tokio::test]
    async fn refuse_refuses_new_connections_then_pass_listens_again_on_same_port() {
        let (proxy, upstream) = proxy_and_upstream().await;
        let addr = proxy.addr();
        let (mut client, mut server) = pair(&proxy, &upstream).await;

        proxy.set_mode(Mode::Refuse);
        assert_eq!(proxy.mode(), Mode::Refuse);
        let err = TcpStream::connect(addr)
            .await
            .expect_err("connect should fail");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");

        // The existing connection keeps passing.
        client.write_all(b"still").await.unwrap();
        expect_bytes(&mut server, b"still").await;
        server.write_all(b"here").await.unwrap();
        expect_bytes(&mut client, b"here").await;

        proxy.set_mode(Mode::Pass);
        assert_eq!(proxy.addr(), addr);
        let (mut client2, mut server2) = pair(&proxy, &upstream).await;
        client2.write_all(b"back").await.unwrap();
        expect_bytes(&mut server2, b"back").await;
        assert_eq!(proxy.connections_accepted(), 2);

        // Refusing twice in a row and leaving to another mode works as well.
        proxy.set_mode(Mode::Refuse);
        proxy.set_mode(Mode::Refuse);
        assert!(TcpStream::connect(addr).await.is_err());
        proxy.set_mode(Mode::Delay(Duration::from_millis(1)));
        let (mut client3, mut server3) = pair(&proxy, &upstream).await;
        client3.write_all(b"x").await.unwrap();
        expect_bytes(&mut server3, b"x").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn throttle_limits_the_rate_and_keeps_the_bytes() {
        let (proxy, upstream) = proxy_and_upstream().await;
        proxy.set_mode(Mode::Throttle(256 * 1024));
        let (mut client, mut server) = pair(&proxy, &upstream).await;
        let data: Vec<u8> = (0..128 * 1024u32).flat_map(u32::to_le_bytes).collect();
        let sent = data.clone();
        let start = Instant::now();
        let writer = tokio::spawn(async move { client.write_all(&sent).await.map(|_| client) });
        let mut got = vec![0; data.len()];
        timeout(Duration::from_secs(10), server.read_exact(&mut got))
            .await
            .expect("throttled transfer never ended")
            .unwrap();
        // 512 KiB at 256 KiB/s: about 2 s (the first chunk leaves at once).
        assert!(
            start.elapsed() >= Duration::from_millis(1500),
            "{:?}",
            start.elapsed()
        );
        assert!(got == data, "bytes changed");
        let _client = writer.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delay_adds_latency_and_keeps_order_under_a_burst() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let delay = Duration::from_millis(100);
        proxy.set_mode(Mode::Delay(delay));
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        client.set_nodelay(true).unwrap();

        let start = Instant::now();
        client.write_all(b"ping").await.unwrap();
        expect_bytes(&mut client, b"ping").await;
        let rtt = start.elapsed();
        assert!(
            rtt >= 2 * delay,
            "round trip {rtt:?} shorter than 2 × {delay:?}"
        );

        // A 2 MiB burst comes back intact and in order. Delaying each chunk
        // serially would take well over a minute; a pipelined queue needs
        // about one round trip.
        let data: Vec<u8> = (0..512 * 1024u32).flat_map(u32::to_le_bytes).collect();
        let (mut rd, mut wr) = client.into_split();
        let sent = data.clone();
        let start = Instant::now();
        let writer = tokio::spawn(async move { wr.write_all(&sent).await.map(|_| wr) });
        let mut echoed = vec![0; data.len()];
        timeout(Duration::from_secs(8), rd.read_exact(&mut echoed))
            .await
            .expect("burst too slow: is the delay applied serially?")
            .unwrap();
        assert!(start.elapsed() >= 2 * delay);
        assert!(echoed == data, "burst corrupted or reordered");
        let _wr = writer.await.unwrap().unwrap();
        let total = 4 + data.len() as u64;
        eventually("byte counters", || {
            proxy.bytes_up() == total && proxy.bytes_down() == total
        })
        .await;
    }

    #[tokio::test]
    async fn order_is_kept_across_mode_changes() {
        let proxy = FaultProxy::start(echo_server().await).await;
        proxy.set_mode(Mode::Delay(Duration::from_millis(200)));
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        client.write_all(b"first,").await.unwrap();
        // Let the proxy read "first," under the long delay, then shorten it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        proxy.set_mode(Mode::Pass);
        client.write_all(b"second").await.unwrap();
        expect_bytes(&mut client, b"first,second").await;
    }

    #[tokio::test]
    async fn drop_stops_listener_and_connections() {
        let (proxy, upstream) = proxy_and_upstream().await;
        let addr = proxy.addr();
        let (mut client, mut server) = pair(&proxy, &upstream).await;
        drop(proxy);
        expect_reset(&mut client).await;
        expect_reset(&mut server).await;
        assert!(TcpStream::connect(addr).await.is_err());
    }

    #[test]
    fn set_mode_works_outside_the_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (proxy, upstream) = runtime.block_on(proxy_and_upstream());
        proxy.set_mode(Mode::Refuse);
        proxy.set_mode(Mode::Pass);
        runtime.block_on(async {
            let (mut client, mut server) = pair(&proxy, &upstream).await;
            client.write_all(b"ok").await.unwrap();
            expect_bytes(&mut server, b"ok").await;
        });
    }
}
