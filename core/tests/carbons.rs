//! Message Carbons (XEP-0280) against a real Prosody: two devices of one
//! account (alice/phone, alice/laptop) and a peer (bob). Each device must
//! store every message of the account exactly once, whether it arrived
//! directly or as a carbon, and a forged carbon must store nothing.
//!
//! Stanzas the public API cannot send (to one full JID, or forged) are
//! injected into the server through `prosodyctl shell`.

mod common;

use std::time::Duration;

use common::*;
use jabberkit::{DeliveryState, Direction};
use jabberkit_testkit::server::TestServer;
use tokio_xmpp::parsers::carbons;
use tokio_xmpp::parsers::forwarding::Forwarded;
use tokio_xmpp::parsers::message::Message;

/// Leaves time for a late duplicate (a copy or a resend) to show up.
const SETTLE: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_to_the_account_is_stored_once_on_each_device() {
    let server = TestServer::start().await;
    let Devices {
        mut phone,
        mut laptop,
        bob,
        alice_jid,
        bob_jid,
        ..
    } = devices(&server).await;

    // To the bare JID: Prosody routes it to both resources (same priority).
    bob.client.send(&alice_jid, "hi both").expect("send");
    // To one full JID: the other device only gets a received carbon.
    inject(
        &server,
        message(
            &format!("{bob_jid}/desk"),
            &format!("{alice_jid}/phone"),
            Some("phone only"),
        ),
    )
    .await;
    let want = ["hi both".to_string(), "phone only".to_string()];
    for device in [&mut phone, &mut laptop] {
        let got = device.receive_all(&want, WAIT).await;
        assert!(got.values().all(|&n| n == 1), "{got:?}");
    }
    tokio::time::sleep(SETTLE).await;
    for device in [&phone, &laptop] {
        let stored = stored_bodies(&device.client, &bob_jid, Direction::Incoming);
        assert_eq!(stored.get("hi both"), Some(&1), "{stored:?}");
        assert_eq!(stored.get("phone only"), Some(&1), "{stored:?}");
        let m = device.client.history(&bob_jid, None, 1).expect("history");
        assert_eq!(m[0].sender, bob_jid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_sent_from_another_device_is_stored_as_ours_and_not_resent() {
    let server = TestServer::start().await;
    let Devices {
        mut phone,
        laptop,
        mut bob,
        bob_jid,
        alice_jid,
        ..
    } = devices(&server).await;

    let id = laptop.client.send(&bob_jid, "from laptop").expect("send");
    let copy = wait_message(&mut phone, "from laptop", Direction::Outgoing).await;
    assert_eq!(copy.state, DeliveryState::Acked);
    assert_eq!(copy.conversation, bob_jid);
    assert_eq!(copy.sender, alice_jid);
    // The laptop's id is the origin-id of every copy.
    assert_eq!(copy.origin_id.as_deref(), Some(id.as_str()));
    bob.receive_all(&["from laptop".into()], WAIT).await;

    tokio::time::sleep(SETTLE).await;
    let on_phone = stored_bodies(&phone.client, &bob_jid, Direction::Outgoing);
    assert_eq!(on_phone.get("from laptop"), Some(&1), "{on_phone:?}");
    let stored = phone
        .client
        .message(&copy.id)
        .expect("read")
        .expect("stored");
    assert_eq!(
        stored.state,
        DeliveryState::Acked,
        "the phone never sends it"
    );
    let on_bob = stored_bodies(&bob.client, &alice_jid, Direction::Incoming);
    assert_eq!(on_bob.get("from laptop"), Some(&1), "{on_bob:?}");
    // The laptop has its own message once, not a second copy from the carbon
    // of a resend.
    let on_laptop = stored_bodies(&laptop.client, &bob_jid, Direction::Outgoing);
    assert_eq!(on_laptop.get("from laptop"), Some(&1), "{on_laptop:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_carbon_from_another_account_stores_nothing() {
    let server = TestServer::start().await;
    let Devices {
        mut phone,
        mut laptop,
        bob,
        alice_jid,
        bob_jid,
        ..
    } = devices(&server).await;

    let carol = "carol@example.test";
    let wrap = |inner: Message| carbons::Received {
        forwarded: Forwarded {
            delay: None,
            message: inner,
        },
    };
    let forged = wrap(message(&format!("{carol}/x"), &alice_jid, Some("spoof")));
    // From bob, as his server would stamp it, with and without a body.
    let bare = message(&format!("{bob_jid}/desk"), &alice_jid, None);
    inject(&server, bare.with_payload(forged.clone())).await;
    let with_body = message(&bob_jid, &alice_jid, Some("outer"));
    inject(&server, with_body.with_payload(forged)).await;
    // The control: the same path, wrapped by our own server's bare JID, is
    // unwrapped, so the forgeries above did reach the devices. (The laptop
    // gets a carbon of this carbon, and must not unwrap it twice.)
    let genuine = wrap(message(
        &format!("{bob_jid}/desk"),
        &format!("{alice_jid}/laptop"),
        Some("genuine"),
    ));
    let control = message(&alice_jid, &format!("{alice_jid}/phone"), None);
    inject(&server, control.with_payload(genuine)).await;
    let m = wait_message(&mut phone, "genuine", Direction::Incoming).await;
    assert_eq!(m.sender, bob_jid);
    // Messages from one sender arrive in order: once this is in, the
    // forgeries were handled.
    bob.client.send(&alice_jid, "after spoof").expect("send");
    for device in [&mut phone, &mut laptop] {
        let got = device.receive_all(&["after spoof".into()], WAIT).await;
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(device
            .client
            .history(carol, None, 10)
            .expect("history")
            .is_empty());
        let hits: Vec<_> = device
            .client
            .search("spoof", 10)
            .expect("search")
            .into_iter()
            .map(|h| h.message.body)
            .collect();
        assert_eq!(hits, ["after spoof"]);
        assert!(device
            .client
            .search("outer", 10)
            .expect("search")
            .is_empty());
        let with: Vec<_> = device
            .client
            .conversations()
            .expect("conversations")
            .into_iter()
            .map(|c| c.with)
            .collect();
        assert_eq!(with, vec![bob_jid.clone()]);
    }
    let genuine = |a: &Account| a.client.search("genuine", 10).expect("search").len();
    assert_eq!((genuine(&phone), genuine(&laptop)), (1, 0));
}
