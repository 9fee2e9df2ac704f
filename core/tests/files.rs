//! Files through the core against a real Prosody with its HTTP upload
//! service (XEP-0363 over HTTPS, `http_file_share`): the file reaches the
//! peer as a link whose bytes are the file's, once, also when the upload
//! is cut by the network or the app is killed in the middle; a file the
//! service will not take fails with a reason.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use jabberkit::{DeliveryState, Direction, Event, Message};
use jabberkit_testkit::proxy::{FaultProxy, Mode};
use jabberkit_testkit::server::{ServerOptions, TestServer};

/// A file of `len` pseudo-random bytes (incompressible, so a cut link
/// cannot hide in a buffer).
fn file(dir: &Path, name: &str, len: usize) -> PathBuf {
    let mut bytes = vec![0u8; len];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ len as u64;
    for b in bytes.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write file");
    path
}

/// The bytes at `url`, fetched with curl trusting the test CA only.
async fn fetch(server: &TestServer, url: &str) -> Vec<u8> {
    let out = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--cacert"])
        .arg(server.ca_pem_path())
        .arg(url)
        .output()
        .await
        .expect("curl");
    assert!(
        out.status.success(),
        "GET {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Waits until our file message `id` has its link.
async fn uploaded(a: &mut Account, id: &str) -> Message {
    match a
        .wait_for("the upload", |e| {
            matches!(e, Event::MessageUpdated(m) if m.id == id)
                || matches!(e, Event::MessageState { id: i, state: DeliveryState::Failed, .. } if i == id)
        })
        .await
    {
        Event::MessageUpdated(m) => m,
        other => panic!("upload failed: {other:?}"),
    }
}

/// Bob's incoming file messages from the conversation with `with`.
fn files_from(client: &jabberkit::Client, with: &str) -> Vec<Message> {
    client
        .history(with, None, 1000)
        .expect("history")
        .into_iter()
        .filter(|m| m.direction == Direction::Incoming && m.attachment.is_some())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_reaches_the_peer_as_a_link_to_its_bytes() {
    let server = TestServer::start().await;
    let Pair {
        mut alice,
        mut bob,
        bob_jid,
        alice_jid,
        dirs,
    } = pair(&server).await;
    online(&mut alice).await;
    online(&mut bob).await;
    let path = file(dirs[0].path(), "holiday photo.jpg", 300 * 1024);
    let sent = alice
        .client
        .send_file(&bob_jid, path.to_str().unwrap(), None)
        .expect("send_file");
    assert_eq!(sent.state, DeliveryState::Queued);
    let a = sent.attachment.clone().expect("attachment");
    assert_eq!(a.name, "holiday photo.jpg");
    assert_eq!(a.size, Some(300 * 1024));
    assert_eq!(a.mime_type.as_deref(), Some("image/jpeg"));
    assert_eq!(a.url, None);

    // Progress, up to the whole file.
    let mut last = 0;
    while last < 300 * 1024 {
        if let Event::Transfer { id, progress, .. } = alice
            .wait_for("progress", |e| matches!(e, Event::Transfer { .. }))
            .await
        {
            assert_eq!(id, sent.id);
            assert!(progress.done >= last, "progress went back");
            assert_eq!(progress.total, Some(300 * 1024));
            last = progress.done;
        }
    }
    let done = uploaded(&mut alice, &sent.id).await;
    let url = done
        .attachment
        .as_ref()
        .and_then(|a| a.url.clone())
        .expect("url");
    assert!(url.starts_with("https://"), "{url}");
    assert_eq!(done.body, url);
    alice
        .wait_states(std::slice::from_ref(&sent.id), DeliveryState::Delivered)
        .await;

    let got = wait_message(&mut bob, &url, Direction::Incoming).await;
    let theirs = got.attachment.expect("bob sees a file");
    assert_eq!(theirs.url.as_deref(), Some(url.as_str()));
    // The name comes from the link; ejabberd's service writes spaces as `_`.
    assert_eq!(theirs.name.replace('_', " "), "holiday photo.jpg");
    assert_eq!(fetch(&server, &url).await, std::fs::read(&path).unwrap());
    assert_eq!(files_from(&bob.client, &alice_jid).len(), 1);

    // Bob downloads it, twice: the second copy gets a name of its own.
    let inbox = tempfile::tempdir().expect("tmp");
    let dir = inbox.path().to_str().unwrap();
    let stem = theirs.name.trim_end_matches(".jpg").to_owned();
    for expected in [format!("{stem}.jpg"), format!("{stem} (1).jpg")] {
        bob.client.download(&got.id, dir).expect("download");
        let m = downloaded(&mut bob, &got.id).await;
        let local = m.attachment.and_then(|a| a.local_path).expect("local path");
        assert_eq!(Path::new(&local), inbox.path().join(expected));
        assert_eq!(
            std::fs::read(&local).unwrap(),
            std::fs::read(&path).unwrap()
        );
    }
    assert!(
        !inbox.path().join(format!("{stem}.jpg.part")).exists(),
        "a partial file is left"
    );
    // A message without a file is refused.
    let text = alice.client.send(&bob_jid, "just words").expect("send");
    let words = wait_message(&mut bob, "just words", Direction::Incoming).await;
    assert!(bob.client.download(&words.id, dir).is_err(), "{text}");
}

/// Waits for the end of a download of message `id`'s file.
async fn downloaded(a: &mut Account, id: &str) -> Message {
    match a
        .wait_for("the download", |e| {
            matches!(e, Event::MessageUpdated(m) if m.id == id)
                || matches!(e, Event::DownloadFailed { id: i, .. } if i == id)
        })
        .await
    {
        Event::MessageUpdated(m) => m,
        other => panic!("download failed: {other:?}"),
    }
}

/// A link that leads nowhere (the service has no such file): the
/// download fails with the server's status and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_of_a_dead_link_fails_with_the_reason() {
    let server = TestServer::start().await;
    let Pair {
        mut bob,
        bob_jid,
        alice_jid,
        dirs: _dirs,
        ..
    } = pair(&server).await;
    online(&mut bob).await;
    let dead = format!(
        "https://{}/file_share/no-such-slot/gone.txt",
        server.https_addr()
    );
    let mut stanza = common::message(&format!("{alice_jid}/phone"), &bob_jid, Some(&dead));
    stanza.payloads.push(
        format!("<x xmlns='jabber:x:oob'><url>{dead}</url></x>")
            .parse()
            .expect("oob"),
    );
    common::inject(&server, stanza).await;
    let ghost = wait_message(&mut bob, &dead, Direction::Incoming).await;
    assert_eq!(
        ghost.attachment.as_ref().map(|a| a.name.as_str()),
        Some("gone.txt")
    );
    let inbox = tempfile::tempdir().expect("tmp");
    bob.client
        .download(&ghost.id, inbox.path().to_str().unwrap())
        .expect("download");
    match bob
        .wait_for(
            "the failure",
            |e| matches!(e, Event::DownloadFailed { id, .. } if *id == ghost.id),
        )
        .await
    {
        Event::DownloadFailed { reason, .. } => assert!(reason.contains("404"), "{reason}"),
        _ => unreachable!(),
    }
    assert_eq!(
        std::fs::read_dir(inbox.path()).unwrap().count(),
        0,
        "left a file"
    );
}

/// A server whose upload links lead through a fault proxy, and Alice and
/// Bob online on it.
async fn online_behind_http_proxy() -> (FaultProxy, TestServer, Pair) {
    // The proxy's port goes into the server's config, so it comes first.
    let proxy = FaultProxy::bind().await;
    let server = TestServer::start_with(ServerOptions {
        http_port: Some(proxy.addr().port()),
        ..ServerOptions::default()
    })
    .await;
    proxy.set_upstream(server.https_addr());
    let mut pair = pair(&server).await;
    online(&mut pair.alice).await;
    online(&mut pair.bob).await;
    (proxy, server, pair)
}

/// The upload's link is reset twice in the middle: the file is uploaded
/// again (new slot) and the peer gets one message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_by_the_network_is_done_again_and_sent_once() {
    let (
        proxy,
        server,
        Pair {
            mut alice,
            mut bob,
            bob_jid,
            alice_jid,
            dirs,
        },
    ) = online_behind_http_proxy().await;
    let path = file(dirs[0].path(), "talk.mp4", 4 * 1024 * 1024);
    // 4 MiB at 1 MiB/s: each attempt is cut well before its end.
    proxy.set_mode(Mode::Throttle(1024 * 1024));
    let sent = alice
        .client
        .send_file(&bob_jid, path.to_str().unwrap(), None)
        .expect("send_file");
    // Cut each attempt once its body flows (the proxy forwards 1 MiB/s,
    // so 100 kB in, most of the file is still to go).
    for _ in 0..2 {
        let from = proxy.bytes_up();
        let deadline = tokio::time::Instant::now() + WAIT;
        while proxy.bytes_up() < from + 100_000 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the upload never flowed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        proxy.reset_all();
    }
    proxy.set_mode(Mode::Pass);
    let done = uploaded(&mut alice, &sent.id).await;
    let url = done.attachment.and_then(|a| a.url).expect("url");
    wait_message(&mut bob, &url, Direction::Incoming).await;
    assert_eq!(fetch(&server, &url).await, std::fs::read(&path).unwrap());
    assert!(proxy.connections_accepted() >= 3, "not cut as planned");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let files = files_from(&bob.client, &alice_jid);
    assert_eq!(files.len(), 1, "sent twice");

    // Bob's download is cut too: it is tried again and completes.
    proxy.set_mode(Mode::Throttle(1024 * 1024));
    let inbox = tempfile::tempdir().expect("tmp");
    bob.client
        .download(&files[0].id, inbox.path().to_str().unwrap())
        .expect("download");
    bob.wait_for("some of the download", |e| {
        matches!(e, Event::Transfer { id, progress, .. } if *id == files[0].id && progress.done > 0)
    })
    .await;
    let before = proxy.connections_accepted();
    proxy.reset_all();
    proxy.set_mode(Mode::Pass);
    let m = downloaded(&mut bob, &files[0].id).await;
    let local = m.attachment.and_then(|a| a.local_path).expect("local path");
    assert_eq!(std::fs::read(local).unwrap(), std::fs::read(&path).unwrap());
    assert!(proxy.connections_accepted() > before, "not cut as planned");
}

/// The app is killed while the file goes up: the next start uploads it
/// and sends it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_upload_an_app_kill_cut_is_sent_after_the_restart() {
    let (
        proxy,
        server,
        Pair {
            mut alice,
            mut bob,
            bob_jid,
            alice_jid,
            dirs,
        },
    ) = online_behind_http_proxy().await;
    let path = file(dirs[0].path(), "notes.pdf", 2 * 1024 * 1024);
    // 2 MiB at 512 KiB/s: still going when the app is killed.
    proxy.set_mode(Mode::Throttle(512 * 1024));
    let sent = alice
        .client
        .send_file(&bob_jid, path.to_str().unwrap(), None)
        .expect("send_file");
    alice
        .wait_for(
            "some progress",
            |e| matches!(e, Event::Transfer { progress, .. } if progress.done > 0),
        )
        .await;
    // The kill: the client goes without a disconnect.
    let accepted = proxy.connections_accepted();
    drop(alice);
    proxy.set_mode(Mode::Pass);
    let mut alice = open(&server, &format!("{alice_jid}/phone"), dirs[0].path());
    alice.client.connect().expect("connect");
    let done = uploaded(&mut alice, &sent.id).await;
    let url = done.attachment.and_then(|a| a.url).expect("url");
    wait_message(&mut bob, &url, Direction::Incoming).await;
    assert_eq!(fetch(&server, &url).await, std::fs::read(&path).unwrap());
    assert!(
        proxy.connections_accepted() > accepted,
        "not uploaded again"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(files_from(&bob.client, &alice_jid).len(), 1, "sent twice");
}

/// More than the service takes (16 MiB): the message fails with the
/// reason, and nothing reaches the peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_larger_than_the_service_takes_fails_with_the_reason() {
    let server = TestServer::start().await;
    let Pair {
        mut alice,
        bob_jid,
        dirs,
        ..
    } = pair(&server).await;
    online(&mut alice).await;
    let path = file(dirs[0].path(), "big.bin", 17 * 1024 * 1024);
    let sent = alice
        .client
        .send_file(
            &bob_jid,
            path.to_str().unwrap(),
            Some("application/octet-stream"),
        )
        .expect("send_file");
    alice
        .wait_for("the failure", |e| {
            matches!(e, Event::MessageState { id, state: DeliveryState::Failed, .. } if *id == sent.id)
        })
        .await;
    let failed = alice.client.history(&bob_jid, None, 10).expect("history");
    let m = failed.iter().find(|m| m.id == sent.id).expect("stored");
    assert!(
        m.failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("larger")),
        "{:?}",
        m.failure_reason
    );
    // Bad input is refused before anything is stored.
    assert!(alice
        .client
        .send_file(&bob_jid, "/nonexistent/file", None)
        .is_err());
    assert!(alice
        .client
        .send_file(&bob_jid, dirs[0].path().to_str().unwrap(), None)
        .is_err());
}

/// In a room, a file goes to everyone once: the room sends it back to us
/// (delivered) and the other occupant sees a file from the occupant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_in_a_room_reaches_everyone_once() {
    const ROOM: &str = "files@conference.example.test";
    let server = TestServer::start().await;
    let Pair {
        mut alice,
        mut bob,
        dirs,
        ..
    } = pair(&server).await;
    online(&mut alice).await;
    online(&mut bob).await;
    let config = jabberkit::RoomConfig {
        persistent: true,
        ..Default::default()
    };
    alice
        .client
        .create_room(ROOM, "alice", config)
        .expect("create");
    room_joined(&mut alice, ROOM).await;
    bob.client.join_room(ROOM, "bob", None).expect("join");
    room_joined(&mut bob, ROOM).await;

    let path = file(dirs[0].path(), "minutes.pdf", 100 * 1024);
    let sent = alice
        .client
        .send_file(ROOM, path.to_str().unwrap(), None)
        .expect("send_file");
    let url = uploaded(&mut alice, &sent.id).await.body;
    alice
        .wait_states(std::slice::from_ref(&sent.id), DeliveryState::Delivered)
        .await;
    let got = wait_message(&mut bob, &url, Direction::Incoming).await;
    assert_eq!(got.conversation, ROOM);
    assert_eq!(got.sender, format!("{ROOM}/alice"));
    assert_eq!(
        got.attachment.map(|a| a.name).as_deref(),
        Some("minutes.pdf")
    );
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mine = alice.client.history(ROOM, None, 50).expect("history");
    assert_eq!(mine.iter().filter(|m| m.body == url).count(), 1, "{mine:?}");
    assert_eq!(files_from(&bob.client, ROOM).len(), 1);
}
