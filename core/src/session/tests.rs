//! What the session publishes for what the link reports.

use super::*;
use crate::model::FailureReason;

#[test]
fn a_fatal_verdict_is_published_as_failed_and_ends_the_session() {
    let reason = FailureReason::Authentication {
        detail: "not-authorized".into(),
    };
    assert_eq!(
        published(&LinkEvent::Closed(Some(reason.clone()))),
        Some(ConnectionState::Failed { reason })
    );
    assert_eq!(
        published(&LinkEvent::Closed(None)),
        Some(ConnectionState::Disconnected)
    );
    assert_eq!(
        published(&LinkEvent::Retrying {
            attempt: 2,
            retry_in: std::time::Duration::from_secs(1)
        }),
        Some(ConnectionState::Reconnecting {
            attempt: 2,
            retry_in: std::time::Duration::from_secs(1)
        })
    );
}
