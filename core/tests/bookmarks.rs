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

/// A server without PEP (Prosody with `pep` and `bookmarks` off): the
/// bookmarks go to private XML storage (XEP-0048 in XEP-0049) instead.
/// There is no live update there, so a device finds the room when it next
/// logs in, and finds it left the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_pep_rooms_reach_the_other_devices_through_private_storage() {
    if jabberkit_testkit::server::ServerKind::from_env()
        == jabberkit_testkit::server::ServerKind::Ejabberd
    {
        eprintln!("skipped: needs a Prosody without PEP");
        return;
    }
    let server = TestServer::start_with(jabberkit_testkit::server::ServerOptions {
        no_pep: true,
        ..Default::default()
    })
    .await;
    init_logs();
    let alice = server.register("alice", PASSWORD).await;
    let dirs = [(); 2].map(|_| tempfile::tempdir().expect("tmp"));
    let mut phone = open(&server, &format!("{alice}/phone"), dirs[0].path());
    online(&mut phone).await;
    let config = RoomConfig {
        password: Some("pw".into()),
        persistent: true,
        ..Default::default()
    };
    phone
        .client
        .create_room(ROOM, "al", config)
        .expect("create");
    room_joined(&mut phone, ROOM).await;
    // A second room, joined while the first is stored: both stay.
    phone
        .client
        .create_room("den@conference.example.test", "al", RoomConfig::default())
        .expect("create");
    room_joined(&mut phone, "den@conference.example.test").await;

    let tablet_jid = format!("{alice}/tablet");
    let mut tablet = open(&server, &tablet_jid, dirs[1].path());
    tablet.client.connect().expect("connect");
    let mut entered = vec![
        room_joined_any(&mut tablet).await,
        room_joined_any(&mut tablet).await,
    ];
    entered.sort();
    assert_eq!(
        entered,
        [
            "club@conference.example.test",
            "den@conference.example.test"
        ]
    );
    assert!(tablet
        .client
        .rooms()
        .expect("rooms")
        .iter()
        .any(|r| r.jid == ROOM && r.autojoin && r.nick == "al"));

    // Left on the phone; the tablet leaves when it next logs in.
    phone.client.leave_room(ROOM).expect("leave");
    tablet.client.disconnect().await;
    // The phone's write is in before the tablet reads (same server, and
    // the phone's next stanza after it is answered).
    phone.client.send(&alice, "sync").expect("send");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    tablet.client.connect().expect("connect");
    tablet
        .wait_for(
            "left",
            |e| matches!(e, Event::RoomLeft { room } if room == ROOM),
        )
        .await;
    let rooms = tablet.client.rooms().expect("rooms");
    assert!(
        rooms.iter().any(|r| r.jid == ROOM && !r.autojoin),
        "{rooms:?}"
    );
    // The tablet's rejoin did not write the room back: a third device
    // enters only the other one.
    tablet.client.disconnect().await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut laptop = open(&server, &format!("{alice}/laptop"), dir.path());
    laptop.client.connect().expect("connect");
    assert_eq!(
        room_joined_any(&mut laptop).await,
        "den@conference.example.test"
    );
    let rooms = laptop.client.rooms().expect("rooms");
    assert!(
        !rooms.iter().any(|r| r.jid == ROOM && r.autojoin),
        "{rooms:?}"
    );
}

async fn room_joined_any(a: &mut Account) -> String {
    match a
        .wait_for("a room joined", |e| matches!(e, Event::RoomJoined { .. }))
        .await
    {
        Event::RoomJoined { room, .. } => room,
        _ => unreachable!(),
    }
}
