//! The FFI layer as a foreign caller sees it: plain threads, no runtime of
//! their own, listeners called back on JabberKit's threads.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use jabberkit_ffi::{
    Client, ClientConfig, ConnectionState, ConnectionStateListener, Contact, ContactPresence,
    DeliveryState, JabberKitError, Message, MessageListener, Occupant, OccupantListDiff,
    OccupantListListener, Password, Room, RoomConfig, Show, TlsMode, TypingState,
};

struct States(mpsc::Sender<(ConnectionState, String)>);
impl ConnectionStateListener for States {
    fn on_state(&self, state: ConnectionState) {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        let _ = self.0.send((state, thread));
    }
}

struct Messages(mpsc::Sender<Message>);
impl MessageListener for Messages {
    fn on_message(&self, message: Message) {
        let _ = self.0.send(message);
    }
    fn on_message_state(&self, _id: String, _conversation: String, _state: DeliveryState) {}
    fn on_catch_up(&self, _fetched: u32, _complete: bool) {}
    fn on_message_corrected(&self, _message: Message) {}
    fn on_conversation_read(&self, _with: String) {}
    fn on_message_updated(&self, _message: Message) {}
    fn on_transfer(&self, _id: String, _conversation: String, _done: u64, _total: Option<u64>) {}
    fn on_download_failed(&self, _id: String, _conversation: String, _reason: String) {}
}

struct Occupants(mpsc::Sender<(Vec<OccupantListDiff>, String)>);
impl OccupantListListener for Occupants {
    fn on_diffs(&self, diffs: Vec<OccupantListDiff>) {
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        let _ = self.0.send((diffs, thread));
    }
}

fn config(dir: &std::path::Path) -> ClientConfig {
    ClientConfig {
        jid: "me@example.test".into(),
        password: Password::new("pw".into()),
        server: Some("127.0.0.1:1".into()),
        tls: TlsMode::StartTls,
        dns_servers: Vec::new(),
        extra_ca_pem: None,
        store_dir: dir.display().to_string(),
        keepalive_secs: None,
        min_retry_ms: Some(60_000),
        max_retry_ms: None,
        allow_plain: false,
        room_ping_secs: None,
    }
}

#[test]
fn works_from_a_plain_thread_with_no_runtime() {
    let dir = tempfile::tempdir().expect("tmp");
    let client = Client::new(config(dir.path())).expect("client");
    let (tx, rx) = mpsc::channel();
    let handle = client.observe_connection_state(Arc::new(States(tx)));
    let (first, thread) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("current state first");
    assert_eq!(first, ConnectionState::Disconnected);
    assert_ne!(
        thread,
        std::thread::current().name().unwrap_or("?"),
        "called on the caller's thread"
    );

    // Nothing listens on port 1: connecting, then a scheduled retry.
    client.connect().expect("connect");
    let mut seen = vec![];
    while !matches!(seen.last(), Some(ConnectionState::Reconnecting { .. })) {
        seen.push(rx.recv_timeout(Duration::from_secs(10)).expect("state").0);
    }
    assert_eq!(seen.first(), Some(&ConnectionState::Connecting));

    // A cancelled handle gets nothing more.
    handle.cancel();
    handle.cancel();
    client.network_available(false);
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn send_stores_at_once_and_announces_the_queued_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let client = Client::new(config(dir.path())).expect("client");
    let (tx, rx) = mpsc::channel();
    let _handle = client.observe_messages(Arc::new(Messages(tx)));
    let id = client
        .send_message("you@example.test".into(), "hello".into())
        .expect("send");
    let m = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("queued message");
    assert_eq!(
        (m.id.as_str(), m.outgoing, m.state),
        (id.as_str(), true, DeliveryState::Queued)
    );
    let history = client
        .history("you@example.test".into(), None, 10)
        .expect("history");
    assert_eq!(history, vec![m]);
    assert_eq!(
        client.conversations().expect("conversations")[0].peer,
        "you@example.test"
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut bad = config(dir.path());
    bad.jid = "no user part".into();
    assert!(matches!(
        Client::new(bad),
        Err(JabberKitError::InvalidInput { .. })
    ));
    let mut bad = config(dir.path());
    bad.extra_ca_pem = Some("garbage".into());
    let client = Client::new(bad).expect("CA is only read at connect");
    assert!(matches!(
        client.connect(),
        Err(JabberKitError::InvalidInput { .. })
    ));
    let client = Client::new(config(dir.path())).expect("client");
    assert!(matches!(
        client.send_message("x@@".into(), "hi".into()),
        Err(JabberKitError::InvalidInput { .. })
    ));
    assert!(matches!(
        client.send_message("a@b.c".into(), "".into()),
        Err(JabberKitError::InvalidInput { .. })
    ));
}

#[test]
fn contact_calls_work_offline_as_the_core_says() {
    let dir = tempfile::tempdir().expect("tmp");
    let client = Client::new(config(dir.path())).expect("client");
    assert_eq!(client.roster().expect("roster"), Vec::<Contact>::new());
    assert_eq!(
        client.presences().expect("presences"),
        Vec::<ContactPresence>::new()
    );
    // Contact calls are not queued: offline they fail.
    assert!(matches!(
        client.add_contact("you@example.test".into(), Some("You".into())),
        Err(JabberKitError::NotConnected)
    ));
    // Presence is remembered for the next connection; typing is dropped.
    client
        .set_presence(Show::Away, Some("lunch".into()))
        .expect("presence");
    client
        .set_typing("you@example.test".into(), TypingState::Composing)
        .expect("typing");
}

#[test]
fn a_config_never_prints_its_password() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = config(dir.path());
    config.password = Password::new("hunter2-secret".into());
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");
}

#[test]
fn room_calls_work_offline_and_a_bad_room_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let client = Client::new(config(dir.path())).expect("client");
    let room = "tea@conference.example.test";
    // Remembered at once, entered once online.
    client
        .join_room(room.into(), "me".into(), Some(Password::new("pw".into())))
        .expect("join");
    let expected = Room {
        jid: room.into(),
        nick: "me".into(),
        joined: false,
        autojoin: true,
        subject: None,
    };
    assert_eq!(client.rooms().expect("rooms"), vec![expected.clone()]);
    assert_eq!(
        client.occupants(room.into()).expect("occupants"),
        Vec::<Occupant>::new()
    );
    client.leave_room(room.into()).expect("leave");
    let left = Room {
        autojoin: false,
        ..expected
    };
    assert_eq!(client.rooms().expect("rooms"), vec![left]);

    for (room, nick) in [
        ("conference.example.test", "me"),
        ("x@@", "me"),
        ("tea@conference.example.test", "  "),
    ] {
        assert!(
            matches!(
                client.join_room(room.into(), nick.into(), None),
                Err(JabberKitError::InvalidInput { .. })
            ),
            "{room} as {nick:?}"
        );
    }
    let config = RoomConfig {
        name: Some("Tea".into()),
        password: Some(Password::new("hunter2-secret".into())),
        members_only: false,
        persistent: true,
    };
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2"), "{printed}");
    client
        .create_room("coffee@conference.example.test".into(), "me".into(), config)
        .expect("create");
    assert!(client
        .rooms()
        .expect("rooms")
        .iter()
        .any(|r| r.jid == "coffee@conference.example.test" && r.autojoin));
}

#[test]
fn an_occupant_list_starts_with_a_reset_on_a_jabberkit_thread_and_refuses_a_bad_room() {
    let dir = tempfile::tempdir().expect("tmp");
    let client = Client::new(config(dir.path())).expect("client");
    let room = "tea@conference.example.test";
    client
        .join_room(room.into(), "me".into(), None)
        .expect("join");
    let (tx, rx) = mpsc::channel();
    let handle = client
        .observe_occupant_list(room.into(), Arc::new(Occupants(tx)))
        .expect("observe");
    let (diffs, thread) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("first batch");
    assert!(
        matches!(diffs.as_slice(), [OccupantListDiff::Reset { items }] if items.is_empty()),
        "{diffs:?}"
    );
    assert!(thread.starts_with("jabberkit"), "{thread}");
    handle.cancel();
    for bad in ["conference.example.test", "x@@"] {
        let (tx, _rx) = mpsc::channel();
        assert!(
            matches!(
                client.observe_occupant_list(bad.into(), Arc::new(Occupants(tx))),
                Err(JabberKitError::InvalidInput { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn acting_on_a_room_needs_the_account_online_and_bad_input_is_refused_first() {
    let dir = tempfile::tempdir().expect("tmp");
    let client = Client::new(config(dir.path())).expect("client");
    let room = || "tea@conference.example.test".to_owned();
    let why = || Some("because".to_owned());
    // Nothing is queued: offline, each call fails at once.
    let offline = [
        (
            "invite",
            client.invite(room(), "you@example.test".into(), why()),
        ),
        (
            "decline_invitation",
            client.decline_invitation(room(), format!("{}/you", room()), why()),
        ),
        ("set_subject", client.set_subject(room(), "roses".into())),
        ("clear the subject", client.set_subject(room(), "".into())),
        ("kick", client.kick(room(), "you".into(), why())),
        ("ban", client.ban(room(), "you@example.test".into(), None)),
        ("destroy_room", client.destroy_room(room(), why())),
    ];
    for (what, result) in offline {
        assert!(
            matches!(result, Err(JabberKitError::NotConnected)),
            "{what}: {result:?}"
        );
    }

    // Input is checked before the connection: a bad room, JID or nick is
    // InvalidInput even offline.
    let not_a_room = "conference.example.test".to_owned();
    let bad = [
        (
            "invite to a service",
            client.invite(not_a_room.clone(), "you@example.test".into(), None),
        ),
        (
            "invite a bad JID",
            client.invite(room(), "x@@".into(), None),
        ),
        (
            "decline from a bad JID",
            client.decline_invitation(room(), "x@@".into(), None),
        ),
        (
            "decline in a bad room",
            client.decline_invitation("x@@".into(), "you@example.test".into(), None),
        ),
        (
            "subject of a service",
            client.set_subject(not_a_room.clone(), "roses".into()),
        ),
        ("kick nobody", client.kick(room(), "".into(), None)),
        (
            "kick in a bad room",
            client.kick("x@@".into(), "you".into(), None),
        ),
        ("ban a bad JID", client.ban(room(), "x@@".into(), None)),
        ("destroy a service", client.destroy_room(not_a_room, None)),
    ];
    for (what, result) in bad {
        assert!(
            matches!(result, Err(JabberKitError::InvalidInput { .. })),
            "{what}: {result:?}"
        );
    }
}

#[test]
fn passwords_compare_by_value_and_never_print_it() {
    let a = Password::new("hunter2-secret".into());
    assert_eq!(a, Password::new("hunter2-secret".into()));
    assert_ne!(a, Password::new("other".into()));
    assert_eq!(format!("{a:?}"), "Password(<redacted>)");
}
