//! How many failures the next login should wait out, from how the last
//! ones ended. A login that never got online counts as a failure; so does
//! a session that died within [`LASTING`] of going online, from the second
//! one in a row. A server that closes the stream on something we send at
//! once (a stanza over a limit it does not advertise, a policy of its own)
//! would otherwise get a fresh login many times a second, for ever. One
//! short session alone (a network blip) still reconnects at once.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A session that lasted this long ended for a reason of its own: the
/// streak of short ones is over.
pub(super) const LASTING: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(super) struct Streak {
    /// Logins handed to the stream since it was last online.
    handed: AtomicU32,
    /// Sessions in a row that died within [`LASTING`].
    short_lived: AtomicU32,
    /// When the current session went online, until the next login asks.
    online_since: Mutex<Option<Instant>>,
}

impl Streak {
    /// A login was handed to the stream.
    pub(super) fn handed(&self) {
        self.handed.fetch_add(1, Ordering::Relaxed);
    }

    /// The stream is online (bound or resumed).
    pub(super) fn online(&self) {
        self.online_at(Instant::now());
    }

    fn online_at(&self, at: Instant) {
        self.handed.store(0, Ordering::Relaxed);
        *self.online_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(at);
    }

    /// The stream wants a new login: how many failures to wait out first
    /// (0: none).
    pub(super) fn failures(&self) -> u32 {
        self.failures_at(Instant::now())
    }

    fn failures_at(&self, now: Instant) -> u32 {
        let since = self
            .online_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(since) = since {
            if now.saturating_duration_since(since) < LASTING {
                self.short_lived.fetch_add(1, Ordering::Relaxed);
            } else {
                self.short_lived.store(0, Ordering::Relaxed);
            }
        }
        let handed = self.handed.load(Ordering::Relaxed);
        let short = self.short_lived.load(Ordering::Relaxed);
        if handed > 0 {
            handed + short
        } else {
            short.saturating_sub(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_login_and_one_short_session_go_at_once() {
        let s = Streak::default();
        let t0 = Instant::now();
        assert_eq!(s.failures_at(t0), 0);
        s.handed();
        s.online_at(t0);
        assert_eq!(s.failures_at(t0 + Duration::from_millis(50)), 0);
    }

    #[test]
    fn sessions_that_die_at_once_back_off_more_each_time() {
        let s = Streak::default();
        let mut t = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..4 {
            s.handed();
            s.online_at(t);
            t += Duration::from_millis(100);
            waits.push(s.failures_at(t));
        }
        assert_eq!(waits, [0, 1, 2, 3]);
        // A session that lasts ends the streak.
        s.handed();
        s.online_at(t);
        assert_eq!(s.failures_at(t + LASTING), 0);
    }

    #[test]
    fn logins_that_never_get_online_count_as_failures() {
        let s = Streak::default();
        s.handed();
        assert_eq!(s.failures_at(Instant::now()), 1);
        s.handed();
        assert_eq!(s.failures_at(Instant::now()), 2);
    }
}
