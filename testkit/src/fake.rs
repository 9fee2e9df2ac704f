//! A scripted fake XMPP server, for what a real one will not do: broken or
//! hostile answers, and checking what a client sends before it is logged
//! in. Each accepted connection runs the test's script, which reads what
//! the client wrote, answers with raw XML, and can turn on TLS with a
//! certificate for `example.test` from a private test CA (made by
//! `scripts/prosody certs`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// How long a script waits for the client before giving up on a read.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A listening fake server; stops when dropped.
pub struct FakeServer {
    addr: SocketAddr,
    ca_pem: String,
    _dir: tempfile::TempDir,
    task: JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// Listens on a free loopback port and runs `script` for every
    /// connection, each on its own task.
    pub async fn start<F, Fut>(script: F) -> FakeServer
    where
        F: Fn(Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let acceptor = acceptor(dir.path());
        let ca_pem = std::fs::read_to_string(dir.path().join("ca.pem")).expect("read CA");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let script = Arc::new(script);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let conn = Conn {
                    io: Box::new(tcp),
                    acceptor: acceptor.clone(),
                    read: Vec::new(),
                    alpn: None,
                };
                tokio::spawn(script(conn));
            }
        });
        FakeServer {
            addr,
            ca_pem,
            _dir: dir,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA that signed the server's certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// One client connection, as a script sees it.
pub struct Conn {
    io: Box<dyn Io>,
    acceptor: TlsAcceptor,
    /// Everything read on the current layer (plain, then TLS) so far.
    read: Vec<u8>,
    /// The protocol the client asked for with ALPN, once TLS is on.
    pub alpn: Option<Vec<u8>>,
}

impl Conn {
    /// Reads until what was read on this layer contains `needle`; returns
    /// all of it, or `None` if the client closed or went quiet first.
    pub async fn read_until(&mut self, needle: &str) -> Option<String> {
        let mut buf = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&self.read).into_owned();
            if text.contains(needle) {
                return Some(text);
            }
            match tokio::time::timeout(READ_TIMEOUT, self.io.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.read.extend_from_slice(&buf[..n]),
                _ => return None,
            }
        }
    }

    /// Forgets what was read, so the next `read_until` sees only new bytes.
    pub fn consume(&mut self) {
        self.read.clear();
    }

    /// Writes raw bytes (XML, or anything a broken server might send).
    pub async fn write(&mut self, text: &str) {
        // The client may already be gone; the script then just ends.
        let _ = self.io.write_all(text.as_bytes()).await;
        let _ = self.io.flush().await;
    }

    /// Turns on TLS (server side) over the connection.
    pub async fn accept_tls(self) -> std::io::Result<Conn> {
        let tls = self.acceptor.accept(self.io).await?;
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        Ok(Conn {
            io: Box::new(tls),
            acceptor: self.acceptor,
            read: Vec::new(),
            alpn,
        })
    }
}

/// A TLS acceptor with a fresh test CA's certificate for `example.test`,
/// accepting the ALPN protocol `xmpp-client` (so a client can offer it).
fn acceptor(dir: &Path) -> TlsAcceptor {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/prosody");
    let out = std::process::Command::new(&script)
        .arg("certs")
        .arg(dir)
        .output()
        .expect("run scripts/prosody certs");
    assert!(
        out.status.success(),
        "scripts/prosody certs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let certs = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .expect("cert.pem")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).expect("key.pem");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server certificate");
    config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}
