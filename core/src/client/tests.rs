//! The client's checks that need no server.

use super::*;

#[test]
fn bodies_xml_cannot_carry_are_refused() {
    assert!(check_body("hello ✓ 🎉").is_ok());
    for bad in ["", "nul \u{0} inside", "bell \u{7}", "\u{FFFE}"] {
        assert!(
            matches!(check_body(bad), Err(Error::InvalidInput { .. })),
            "{bad:?}"
        );
    }
    assert!(check_body(&"x".repeat(MAX_BODY_BYTES + 1)).is_err());
    assert!(check_body(&"x".repeat(MAX_BODY_BYTES)).is_ok());
    // Under the limit raw, five times over it escaped.
    let ampersands = "&".repeat(MAX_BODY_BYTES / 2);
    assert!(
        matches!(check_body(&ampersands), Err(Error::InvalidInput { reason }) if reason.contains("escaped")),
    );
    assert!(check_body(&"&".repeat(MAX_BODY_BYTES / 5)).is_ok());
}

#[tokio::test]
async fn bad_config_and_recipients_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_jid = ClientConfig::new("no-user-part", "pw", dir.path());
    assert!(matches!(
        Client::new(bad_jid),
        Err(Error::InvalidInput { .. })
    ));
    let client =
        Client::new(ClientConfig::new("me@example.test", "pw", dir.path())).expect("client");
    assert!(matches!(
        client.send("not a jid@@", "hi"),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        client.history("", None, 10),
        Err(Error::InvalidInput { .. })
    ));
    // Offline send: stored, queued, returned at once.
    let id = client.send("you@example.test", "hi").expect("send");
    let msg = client.message(&id).expect("read").expect("stored");
    assert_eq!(msg.state, crate::DeliveryState::Queued);
}

#[tokio::test]
async fn contact_calls_offline_are_refused_and_the_roster_reads_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client =
        Client::new(ClientConfig::new("me@example.test", "pw", dir.path())).expect("client");
    let bob = "bob@example.test";
    for result in [
        client.add_contact(bob, Some("Bob")),
        client.approve(bob),
        client.deny(bob),
        client.remove_contact(bob),
    ] {
        assert!(matches!(&result, Err(Error::NotConnected)), "{result:?}");
    }
    assert!(matches!(
        client.approve("not a jid@@"),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(client.roster().expect("roster"), []);
}

#[test]
fn client_outside_a_runtime_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ClientConfig::new("me@example.test", "pw", dir.path());
    assert!(matches!(Client::new(cfg), Err(Error::Other { .. })));
}

#[tokio::test]
async fn a_store_from_a_newer_jabberkit_is_a_typed_error_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(STORE_FILE);
    rusqlite::Connection::open(&path)
        .and_then(|db| db.pragma_update(None, "user_version", 99))
        .expect("a newer store");
    let before = std::fs::read(&path).expect("read");
    let cfg = ClientConfig::new("me@example.test", "pw", dir.path());
    match Client::new(cfg) {
        Err(Error::StoreTooNew {
            found: 99,
            supported,
        }) => assert!(supported < 99),
        other => panic!("{:?}", other.map(|_| "a client")),
    }
    assert_eq!(std::fs::read(&path).expect("read"), before);
}
