//! Happy Eyeballs (RFC 8305, simplified) for a host with several
//! addresses: the first is tried at once, and each next one after a short
//! stagger while the earlier ones are still trying, or at once when one
//! fails; the first connection wins. On a phone, a network with broken
//! IPv6 (or one dead address among several) then costs a quarter of a
//! second, not a TCP timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};

/// How long an attempt runs alone before the next address is tried too
/// (RFC 8305 §5 recommends 250 ms).
pub(super) const STAGGER: Duration = Duration::from_millis(250);

/// The first of `addrs` that `connect` reaches (families alternating, the
/// first address's family first), or the last error.
pub(super) async fn race<T, F, Fut>(
    addrs: Vec<SocketAddr>,
    stagger: Duration,
    connect: F,
) -> io::Result<T>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut waiting = interleave(addrs).into_iter();
    let mut trying = FuturesUnordered::new();
    let mut last = None;
    loop {
        if trying.is_empty() {
            match waiting.next() {
                Some(addr) => trying.push(connect(addr)),
                None => {
                    return Err(last.unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, "no address to connect to")
                    }))
                }
            }
        }
        let more = waiting.len() > 0;
        tokio::select! {
            Some(result) = trying.next() => match result {
                Ok(connected) => return Ok(connected),
                // The next address starts now (the loop's top, or below).
                Err(e) => {
                    last = Some(e);
                    if let Some(addr) = waiting.next() {
                        trying.push(connect(addr));
                    }
                }
            },
            _ = tokio::time::sleep(stagger), if more => {
                if let Some(addr) = waiting.next() {
                    trying.push(connect(addr));
                }
            }
        }
    }
}

/// `addrs` with the address families alternating, starting with the
/// first address's (RFC 8305 §4), each family in its given order.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first().copied() else {
        return addrs;
    };
    let (mut same, mut other): (Vec<_>, Vec<_>) = addrs
        .into_iter()
        .partition(|a| a.is_ipv6() == first.is_ipv6());
    same.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(same.len() + other.len());
    while !same.is_empty() || !other.is_empty() {
        out.extend(same.pop());
        out.extend(other.pop());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn families_alternate_from_the_first_ones() {
        let got = interleave(vec![
            addr("[2001:db8::1]:5222"),
            addr("[2001:db8::2]:5222"),
            addr("192.0.2.1:5222"),
            addr("[2001:db8::3]:5222"),
            addr("192.0.2.2:5222"),
        ]);
        let want = [
            "[2001:db8::1]:5222",
            "192.0.2.1:5222",
            "[2001:db8::2]:5222",
            "192.0.2.2:5222",
            "[2001:db8::3]:5222",
        ]
        .map(addr);
        assert_eq!(got, want);
    }

    type Attempt = std::pin::Pin<Box<dyn Future<Output = io::Result<SocketAddr>>>>;
    type Started = Arc<Mutex<Vec<(SocketAddr, Duration)>>>;

    /// A scripted network: each address answers after its delay, with
    /// success or a refusal; records when each attempt started.
    fn network(
        script: Vec<(SocketAddr, Duration, bool)>,
    ) -> (impl Fn(SocketAddr) -> Attempt, Started) {
        let started = Arc::new(Mutex::new(Vec::new()));
        let log = started.clone();
        let t0 = Instant::now();
        let connect = move |a: SocketAddr| {
            let (_, delay, ok) = *script.iter().find(|(s, _, _)| *s == a).expect("scripted");
            log.lock().expect("log").push((a, t0.elapsed()));
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                if ok {
                    Ok(a)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        a.to_string(),
                    ))
                }
            }) as Attempt
        };
        (connect, started)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_address_costs_the_stagger_not_a_timeout() {
        let (dead, live) = (addr("[2001:db8::1]:5222"), addr("192.0.2.1:5222"));
        let (connect, started) = network(vec![
            (dead, Duration::from_secs(75), false),
            (live, Duration::from_millis(40), true),
        ]);
        let t0 = Instant::now();
        let got = race(vec![dead, live], STAGGER, connect)
            .await
            .expect("connected");
        assert_eq!(got, live);
        assert_eq!(t0.elapsed(), STAGGER + Duration::from_millis(40));
        let started = started.lock().expect("log").clone();
        assert_eq!(started, [(dead, Duration::ZERO), (live, STAGGER)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_starts_the_next_address_at_once_and_all_refused_is_the_last_error() {
        let (a, b, c) = (
            addr("192.0.2.1:1"),
            addr("192.0.2.2:1"),
            addr("192.0.2.3:1"),
        );
        let (connect, started) = network(vec![
            (a, Duration::from_millis(10), false),
            (b, Duration::from_millis(10), false),
            (c, Duration::from_millis(10), false),
        ]);
        let e = race(vec![a, b, c], STAGGER, connect)
            .await
            .expect_err("all refused");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(e.to_string(), c.to_string());
        let started = started.lock().expect("log").clone();
        let at: Vec<_> = started.iter().map(|(_, t)| t.as_millis()).collect();
        assert_eq!(at, [0, 10, 20]);

        let none = race(Vec::new(), STAGGER, |_| async { Ok::<(), io::Error>(()) }).await;
        assert_eq!(
            none.expect_err("no address").kind(),
            io::ErrorKind::NotFound
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_to_connect_wins_even_if_started_later() {
        let (slow, fast) = (addr("192.0.2.1:1"), addr("192.0.2.2:1"));
        let (connect, _) = network(vec![
            (slow, Duration::from_millis(900), true),
            (fast, Duration::from_millis(100), true),
        ]);
        assert_eq!(
            race(vec![slow, fast], STAGGER, connect)
                .await
                .expect("connected"),
            fast
        );
    }
}
