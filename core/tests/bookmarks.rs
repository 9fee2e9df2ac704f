//! Bookmarks (XEP-0402) against a real Prosody (mod_pep): a room joined
//! on one device is entered on the account's other device at once (PEP
//! notification, asked for by our capabilities) and on a device that
//! logs in later (fetched); leaving on one device leaves on the others.

mod common;

use common::*;
use jabberkit::{Event, RoomConfig};
use jabberkit_testkit::server::TestServer;

const ROOM: &str = "club@conference.example.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_joined_on_one_device_is_joined_on_the_others_and_left_with_them() {
    let server = TestServer::start().await;
    let mut d = devices(&server).await;
    d.phone
        .client
        .create_room(
            ROOM,
            "al",
            RoomConfig {
                password: Some("pw".into()),
                persistent: true,
                ..Default::default()
            },
        )
        .expect("create");
    room_joined(&mut d.phone, ROOM).await;
    // Live: the laptop enters with the same nick and password.
    assert_eq!(room_joined(&mut d.laptop, ROOM).await, "al");

    // A device that logs in later reads the bookmarks.
    let dir = tempfile::tempdir().expect("tmp");
    let mut tablet = open(&server, &format!("{}/tablet", d.alice_jid), dir.path());
    tablet.client.connect().expect("connect");
    assert_eq!(room_joined(&mut tablet, ROOM).await, "al");
    assert!(tablet
        .client
        .rooms()
        .expect("rooms")
        .iter()
        .any(|r| r.jid == ROOM && r.autojoin));

    // Left on the laptop: the others leave too, and say so.
    d.laptop.client.leave_room(ROOM).expect("leave");
    for device in [&mut d.laptop, &mut d.phone, &mut tablet] {
        device
            .wait_for(
                "left",
                |e| matches!(e, Event::RoomLeft { room } if room == ROOM),
            )
            .await;
        let rooms = device.client.rooms().expect("rooms");
        assert!(
            rooms
                .iter()
                .any(|r| r.jid == ROOM && !r.autojoin && !r.joined),
            "{rooms:?}"
        );
    }
}
