//! Files over HTTPS: the upload of a granted slot (XEP-0363 PUT) and the
//! download of a message's link (GET). One connection per transfer,
//! verified like the XMPP stream (system roots plus the app's CA, the
//! URL's host), HTTP/1.1 through hyper, the file streamed to or from disk
//! in chunks so a large one never sits in memory.
//! A transfer that moves no byte for [`IDLE`] is given up as a network
//! failure (a blackholed link would otherwise hang it for ever).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

/// How long a transfer may move no byte before it is given up.
pub(crate) const IDLE: Duration = Duration::from_secs(30);

/// The size of a read from the file (and of a progress step).
const CHUNK: usize = 64 * 1024;

/// Why a transfer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TransferError {
    /// The network failed (connect, TLS, reset, stalled): try again.
    #[error("network: {0}")]
    Network(String),
    /// The server answered with an error status.
    #[error("HTTP {status}: {text}")]
    Status { status: u16, text: String },
    /// The server's certificate is not valid for the link's host.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The file on this device cannot be read (gone, changed size).
    #[error("file: {0}")]
    File(String),
}

impl TransferError {
    /// Whether trying again later may succeed.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            TransferError::Network(_) => true,
            // Timeouts, rate limits and server trouble pass.
            TransferError::Status { status, .. } => {
                matches!(status, 408 | 425 | 429) || *status >= 500
            }
            TransferError::Certificate(_) | TransferError::File(_) => false,
        }
    }
}

/// Uploads the `size` bytes of the file at `path` to `url` with `headers`
/// (the slot's) and `mime_type`, calling `progress` with the bytes sent so
/// far after each chunk.
pub(crate) async fn put_file(
    tls: Arc<rustls::ClientConfig>,
    url: &str,
    headers: &[(&'static str, String)],
    path: &str,
    size: u64,
    mime_type: Option<&str>,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> Result<(), TransferError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| TransferError::File(format!("cannot open the file: {e}")))?;
    let on_disk = file
        .metadata()
        .await
        .map_err(|e| TransferError::File(e.to_string()))?
        .len();
    if on_disk != size {
        return Err(TransferError::File(format!(
            "the file changed size ({size} bytes when sent, {on_disk} now)"
        )));
    }
    let sent = Arc::new(AtomicU64::new(0));
    let moved = Arc::new(AtomicU64::new(0));
    let body = file_body(file, size, sent.clone(), moved.clone(), progress);
    let uri: hyper::Uri = url.parse().map_err(|e| TransferError::Status {
        status: 0,
        text: format!("bad upload link: {e}"),
    })?;
    let mut request = hyper::Request::put(&uri)
        .header(hyper::header::HOST, host_header(&uri))
        .header(hyper::header::CONTENT_LENGTH, size)
        .header(
            hyper::header::CONTENT_TYPE,
            mime_type.unwrap_or("application/octet-stream"),
        );
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request.body(body).map_err(|e| TransferError::Status {
        status: 0,
        text: format!("bad upload request: {e}"),
    })?;
    let connect_moved = moved.clone();
    let exchange = async {
        let mut sender = connect(tls, &uri, connect_moved).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| network_or_file(e, &sent, size))?;
        let status = response.status();
        // The answer's text helps the app's logs; never more than 1 KiB.
        let text = read_text(response.into_body()).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(TransferError::Status {
                status: status.as_u16(),
                text,
            })
        }
    };
    watchdog(exchange, &moved).await
}

/// Downloads `url` into the file `part` (created or truncated), following
/// at most three HTTPS redirects, calling `progress` with the bytes so far
/// and the announced size. More than `max` bytes is refused. Returns the
/// size written.
pub(crate) async fn get_file(
    tls: Arc<rustls::ClientConfig>,
    url: &str,
    part: &std::path::Path,
    max: u64,
    progress: impl Fn(u64, Option<u64>) + Send + Sync,
) -> Result<u64, TransferError> {
    let mut uri: hyper::Uri = url.parse().map_err(|e| TransferError::Status {
        status: 0,
        text: format!("bad link: {e}"),
    })?;
    let moved = Arc::new(AtomicU64::new(0));
    for _ in 0..4 {
        let request = hyper::Request::get(&uri)
            .header(hyper::header::HOST, host_header(&uri))
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| TransferError::Status {
                status: 0,
                text: format!("bad request: {e}"),
            })?;
        let exchange = async {
            let mut sender = connect(tls.clone(), &uri, moved.clone()).await?;
            sender
                .send_request(request)
                .await
                .map_err(|e| TransferError::Network(e.to_string()))
        };
        let response = watchdog(exchange, &moved).await?;
        let status = response.status();
        if status.is_redirection() {
            let next = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.parse::<hyper::Uri>().ok())
                .filter(|l| l.scheme_str() == Some("https"))
                .ok_or_else(|| TransferError::Status {
                    status: status.as_u16(),
                    text: "a redirect to no HTTPS link".into(),
                })?;
            uri = next;
            continue;
        }
        if !status.is_success() {
            let text = read_text(response.into_body()).await;
            return Err(TransferError::Status {
                status: status.as_u16(),
                text,
            });
        }
        let total = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if total.is_some_and(|t| t > max) {
            return Err(TransferError::Status {
                status: 0,
                text: format!("the file is larger than {max} bytes"),
            });
        }
        let body = save(response.into_body(), part, max, total, &moved, &progress);
        return watchdog(body, &moved).await;
    }
    Err(TransferError::Status {
        status: 0,
        text: "too many redirects".into(),
    })
}

/// Writes a response body into `part`, flushed to disk before it returns.
async fn save(
    mut body: hyper::body::Incoming,
    part: &std::path::Path,
    max: u64,
    total: Option<u64>,
    moved: &AtomicU64,
    progress: &(impl Fn(u64, Option<u64>) + Send + Sync),
) -> Result<u64, TransferError> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(part)
        .await
        .map_err(|e| TransferError::File(format!("cannot write {}: {e}", part.display())))?;
    let mut written = 0u64;
    let mut reported = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| TransferError::Network(e.to_string()))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        written += data.len() as u64;
        if written > max {
            return Err(TransferError::Status {
                status: 0,
                text: format!("the file is larger than {max} bytes"),
            });
        }
        file.write_all(data)
            .await
            .map_err(|e| TransferError::File(format!("cannot write {}: {e}", part.display())))?;
        moved.fetch_add(1, Ordering::Relaxed);
        if written >= reported + CHUNK as u64 {
            reported = written;
            progress(written, total);
        }
    }
    if total.is_some_and(|t| t != written) {
        return Err(TransferError::Network(format!(
            "the link ended after {written} of {} bytes",
            total.unwrap_or_default()
        )));
    }
    file.sync_all()
        .await
        .map_err(|e| TransferError::File(format!("cannot write {}: {e}", part.display())))?;
    progress(written, total);
    Ok(written)
}

/// `host[:port]` of a link, for the Host header HTTP/1.1 requires.
fn host_header(uri: &hyper::Uri) -> String {
    match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}

/// The request body: the file in chunks, counting what went out.
fn file_body(
    file: tokio::fs::File,
    size: u64,
    sent: Arc<AtomicU64>,
    moved: Arc<AtomicU64>,
    progress: impl Fn(u64) + Send + Sync + 'static,
) -> StreamBody<impl futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send> {
    let progress = Arc::new(progress);
    let chunks = futures::stream::unfold(file, move |mut file| {
        let (sent, moved, progress) = (sent.clone(), moved.clone(), progress.clone());
        async move {
            // hyper stops polling once Content-Length bytes went out.
            if sent.load(Ordering::Relaxed) >= size {
                return None;
            }
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file got shorter while it was sent",
                    )),
                    file,
                )),
                Ok(n) => {
                    buf.truncate(n);
                    let done = sent.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                    moved.fetch_add(1, Ordering::Relaxed);
                    progress(done.min(size));
                    Some((Ok(Frame::data(Bytes::from(buf))), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        }
    });
    StreamBody::new(chunks)
}

/// A failed exchange: the file's fault if the body could not be read to
/// its end, the network's otherwise.
fn network_or_file(e: hyper::Error, sent: &AtomicU64, size: u64) -> TransferError {
    let text = e.to_string();
    let body_failed = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof);
    if body_failed && sent.load(Ordering::Relaxed) < size {
        TransferError::File(text)
    } else {
        TransferError::Network(text)
    }
}

/// Runs `exchange` until it ends or `moved` stops changing for [`IDLE`].
async fn watchdog<T>(
    exchange: impl std::future::Future<Output = Result<T, TransferError>>,
    moved: &AtomicU64,
) -> Result<T, TransferError> {
    tokio::pin!(exchange);
    let mut last = moved.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            out = &mut exchange => return out,
            _ = tokio::time::sleep(IDLE) => {
                let now = moved.load(Ordering::Relaxed);
                if now == last {
                    return Err(TransferError::Network(format!(
                        "no progress for {} s", IDLE.as_secs()
                    )));
                }
                last = now;
            }
        }
    }
}

/// A verified TLS connection to the link's host, ready for one request.
async fn connect<B>(
    tls: Arc<rustls::ClientConfig>,
    uri: &hyper::Uri,
    moved: Arc<AtomicU64>,
) -> Result<hyper::client::conn::http1::SendRequest<B>, TransferError>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if uri.scheme_str() != Some("https") {
        return Err(TransferError::Status {
            status: 0,
            text: "only HTTPS links are used".into(),
        });
    }
    let host = uri
        .host()
        .ok_or_else(|| TransferError::Status {
            status: 0,
            text: "the link names no host".into(),
        })?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let name = ServerName::try_from(host.clone())
        .map_err(|e| TransferError::Certificate(format!("{host}: {e}")))?;
    let tcp = tokio::time::timeout(IDLE, tokio::net::TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| TransferError::Network(format!("connecting to {host}:{port} timed out")))?
        .map_err(|e| TransferError::Network(format!("connecting to {host}:{port}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    moved.fetch_add(1, Ordering::Relaxed);
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(
            |e| match e.get_ref().and_then(|r| r.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::InvalidCertificate(c)) => {
                    TransferError::Certificate(format!("{host}: {c:?}"))
                }
                _ => TransferError::Network(format!("TLS with {host}: {e}")),
            },
        )?;
    moved.fetch_add(1, Ordering::Relaxed);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| TransferError::Network(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("HTTP connection ended: {e}");
        }
    });
    Ok(sender)
}

async fn read_text(body: hyper::body::Incoming) -> String {
    let mut body = body;
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            text.extend_from_slice(data);
            if text.len() > 1024 {
                text.truncate(1024);
                break;
            }
        }
    }
    String::from_utf8_lossy(&text).trim().to_owned()
}
