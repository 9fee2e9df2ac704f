//! Files to upload: stored with the message, then either sent (the link
//! becomes the body, the message joins the send queue) or failed; a retry
//! uploads again only what never reached the service.

use super::*;

fn file<'a>(id: &'a str) -> NewOutgoingFile<'a> {
    NewOutgoingFile {
        id,
        own_jid: ME,
        to: ALICE,
        path: "/data/photo.jpg",
        name: "photo.jpg",
        size: 1234,
        mime_type: Some("image/jpeg"),
        timestamp: at(1),
    }
}

#[test]
fn a_file_waits_for_its_upload_then_joins_the_send_queue_with_its_link() {
    let store = store();
    let m = store.enqueue_file(file("f1")).unwrap();
    assert_eq!(m.state, DeliveryState::Queued);
    assert_eq!(m.body, "");
    let a = m.attachment.clone().unwrap();
    assert_eq!(
        (a.name.as_str(), a.size, a.url),
        ("photo.jpg", Some(1234), None)
    );
    assert_eq!(a.local_path.as_deref(), Some("/data/photo.jpg"));
    assert_eq!(store.uploads().unwrap().len(), 1);
    assert!(
        store.send_queue().unwrap().is_empty(),
        "sent before its upload"
    );

    assert_eq!(store.note_upload_failure("f1", "reset").unwrap(), Some(1));
    assert_eq!(store.uploads().unwrap()[0].attempts, 1);

    let url = "https://up.example.org/x/photo.jpg";
    let done = store.upload_done("f1", url).unwrap().unwrap();
    assert_eq!(done.body, url);
    assert_eq!(done.attachment.unwrap().url.as_deref(), Some(url));
    assert!(store.uploads().unwrap().is_empty());
    let queue = store.send_queue().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].id, "f1");
    // Done once: a late second report changes nothing.
    assert_eq!(store.upload_done("f1", "https://other").unwrap(), None);
    assert_eq!(store.send_queue().unwrap().len(), 1);
}

#[test]
fn a_failed_upload_fails_its_message_and_a_retry_uploads_again() {
    let store = store();
    store.enqueue_file(file("f2")).unwrap();
    let failed = store.upload_failed("f2", "too large").unwrap().unwrap();
    assert_eq!(failed.state, DeliveryState::Failed);
    assert_eq!(failed.failure_reason.as_deref(), Some("too large"));
    assert!(store.uploads().unwrap().is_empty());

    let retried = store.retry_failed("f2").unwrap().unwrap();
    assert_eq!(retried.state, DeliveryState::Queued);
    assert_eq!(store.uploads().unwrap().len(), 1, "not uploaded again");
    assert!(store.send_queue().unwrap().is_empty());
}

#[test]
fn a_file_that_failed_after_its_upload_is_only_sent_again() {
    let store = store();
    store.enqueue_file(file("f3")).unwrap();
    store
        .upload_done("f3", "https://up.example.org/f3")
        .unwrap();
    store.fail("f3", "bounced").unwrap();
    store.retry_failed("f3").unwrap().unwrap();
    assert!(store.uploads().unwrap().is_empty(), "uploaded twice");
    assert_eq!(store.send_queue().unwrap().len(), 1);
}
