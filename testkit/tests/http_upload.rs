//! The test servers' HTTP file upload (XEP-0363), end to end and without
//! the client library: a slot asked for over a bare XMPP stream, the file
//! put and fetched back with `curl` trusting the test CA, once straight to
//! the server's HTTPS port and once through a [`FaultProxy`] on the port
//! the slot URLs name. What the client tests in `core/` rely on.

use std::process::Stdio;

use jabberkit_testkit::proxy::FaultProxy;
use jabberkit_testkit::raw::{attr, element, unescape, RawClient};
use jabberkit_testkit::server::{ServerKind, ServerOptions, TestServer};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const PASSWORD: &str = "secret";
/// Larger than one TLS record and one proxy chunk, and not text.
const FILE_LEN: usize = 100_000;

#[tokio::test]
async fn prosody_hands_out_a_slot_that_takes_and_serves_the_file() {
    upload_round_trip(ServerKind::Prosody, false).await;
}

#[tokio::test]
async fn ejabberd_hands_out_a_slot_that_takes_and_serves_the_file() {
    upload_round_trip(ServerKind::Ejabberd, false).await;
}

#[tokio::test]
async fn prosody_upload_urls_lead_through_a_proxy_on_the_http_port() {
    upload_round_trip(ServerKind::Prosody, true).await;
}

#[tokio::test]
async fn ejabberd_upload_urls_lead_through_a_proxy_on_the_http_port() {
    upload_round_trip(ServerKind::Ejabberd, true).await;
}

async fn upload_round_trip(kind: ServerKind, through_proxy: bool) {
    // The proxy's port goes into the server's config, so it comes first;
    // the server's HTTPS port is known only once the server runs.
    let proxy = if through_proxy {
        Some(FaultProxy::bind().await)
    } else {
        None
    };
    let server = TestServer::start_with(ServerOptions {
        kind,
        http_port: proxy.as_ref().map(|p| p.addr().port()),
        ..ServerOptions::default()
    })
    .await;
    if let Some(proxy) = &proxy {
        proxy.set_upstream(server.https_addr());
    }
    server.register("alice", PASSWORD).await;
    assert_eq!(server.upload_service(), "upload.example.test");

    let file: Vec<u8> = (0..FILE_LEN).map(|i| (i * 31 % 251) as u8).collect();
    let slot = request_slot(&server, "alice", "hello.bin", file.len()).await;
    let url_addr = match &proxy {
        Some(proxy) => proxy.addr(),
        None => server.https_addr(),
    };
    for url in [&slot.put, &slot.get] {
        assert!(
            url.starts_with(&format!("https://{url_addr}/")),
            "slot URL {url} does not lead to {url_addr}"
        );
    }

    let mut put_args = vec![
        "-X".to_string(),
        "PUT".to_string(),
        "--data-binary".to_string(),
        "@-".to_string(),
        "-H".to_string(),
        "Content-Type: application/octet-stream".to_string(),
    ];
    for (name, value) in &slot.headers {
        put_args.push("-H".to_string());
        put_args.push(format!("{name}: {value}"));
    }
    put_args.push(slot.put.clone());
    curl(&server, &put_args, &file).await;
    let got = curl(&server, std::slice::from_ref(&slot.get), &[]).await;
    assert!(got == file, "got {} bytes back, not the file", got.len());

    if let Some(proxy) = &proxy {
        assert!(
            proxy.connections_accepted() >= 2,
            "PUT and GET did not go through the proxy: {proxy:?}"
        );
    }
}

/// What the upload service answers (XEP-0363 §4).
#[derive(Debug)]
struct Slot {
    put: String,
    get: String,
    /// Headers the PUT must carry (Prosody: `Authorization`).
    headers: Vec<(String, String)>,
}

/// Logs in as `user` and asks the upload service for a slot.
async fn request_slot(server: &TestServer, user: &str, filename: &str, size: usize) -> Slot {
    let mut xmpp = RawClient::login(server, user, PASSWORD).await;
    let service = server.upload_service();
    xmpp.send(&format!(
        "<iq type='get' id='slot' to='{service}'><request xmlns='urn:xmpp:http:upload:0' \
         filename='{filename}' size='{size}' content-type='application/octet-stream'/></iq>"
    ))
    .await;
    let reply = xmpp.read_until(|got| got.contains("</iq>")).await;
    assert!(reply.contains("<slot"), "no slot: {reply}");
    let put = element(&reply, "put").unwrap_or_else(|| panic!("no <put>: {reply}"));
    let get = element(&reply, "get").unwrap_or_else(|| panic!("no <get>: {reply}"));
    let mut headers = Vec::new();
    let mut rest = &put[..put.find("</put>").unwrap_or(put.len())];
    while let Some(at) = rest.find("<header") {
        rest = &rest[at..];
        let name = attr(rest, "name").unwrap_or_else(|| panic!("header without name: {reply}"));
        let value_start = rest.find('>').map(|i| i + 1).unwrap_or(rest.len());
        let value_end = rest.find("</header>").unwrap_or(rest.len());
        headers.push((name, unescape(&rest[value_start..value_end])));
        rest = &rest[value_end..];
    }
    Slot {
        put: attr(put, "url").unwrap_or_else(|| panic!("<put> without url: {reply}")),
        get: attr(get, "url").unwrap_or_else(|| panic!("<get> without url: {reply}")),
        headers,
    }
}

/// Runs `curl ARGS` with `stdin`, trusting the test CA (and no proxy from
/// the environment), and returns the body; panics on any HTTP error.
async fn curl(server: &TestServer, args: &[String], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--fail",
            "--noproxy",
            "*",
            "--max-time",
            "30",
        ])
        .arg("--cacert")
        .arg(server.ca_pem_path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("curl is installed");
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin).await.expect("write curl's stdin");
    drop(input);
    let out = child.wait_with_output().await.expect("curl runs");
    assert!(
        out.status.success(),
        "curl {args:?} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.log_tail(20)
    );
    out.stdout
}
