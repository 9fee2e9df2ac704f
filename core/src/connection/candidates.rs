//! Where to try connecting, in which order (XEP-0368, RFC 6120 §3.2).
//!
//! A domain may publish both `_xmpps-client._tcp` (direct TLS) and
//! `_xmpp-client._tcp` (STARTTLS) records. Both are merged into one list,
//! each candidate with its own TLS mode, ordered by SRV priority; at equal
//! priority the app's configured [`TlsMode`] goes first, then the higher
//! weight. Weights are read deterministically (highest first) rather than
//! with RFC 2782's weighted random choice: the order stays predictable and
//! testable, at the cost of not spreading clients over equal servers.
//!
//! A target of `.` means the domain explicitly offers no such service: it
//! gives no candidate, and it also stops the fallback for that mode. Only
//! when neither service has a record does the domain itself get tried, on
//! the configured mode's default port first (5223 direct TLS, 5222
//! STARTTLS), then the other.

use crate::config::TlsMode;

/// One place to connect to, with how TLS is set up there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub host: String,
    pub port: u16,
    pub mode: TlsMode,
}

/// One SRV record, as much of it as the ordering needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The target host, without the trailing dot; empty for `.`.
    pub target: String,
}

/// The port a mode uses when no SRV record names one.
pub(crate) fn default_port(mode: TlsMode) -> u16 {
    match mode {
        TlsMode::DirectTls => 5223,
        TlsMode::StartTls => 5222,
    }
}

fn other(mode: TlsMode) -> TlsMode {
    match mode {
        TlsMode::DirectTls => TlsMode::StartTls,
        TlsMode::StartTls => TlsMode::DirectTls,
    }
}

/// The candidates for `domain` from its `_xmpps-client` (`direct`) and
/// `_xmpp-client` (`starttls`) records (empty: none, or the lookup
/// failed), best first. Empty only when the domain refuses both services.
pub(crate) fn order(
    domain: &str,
    direct: &[SrvRecord],
    starttls: &[SrvRecord],
    preferred: TlsMode,
) -> Vec<Candidate> {
    if direct.is_empty() && starttls.is_empty() {
        return [preferred, other(preferred)]
            .into_iter()
            .map(|mode| Candidate {
                host: domain.to_owned(),
                port: default_port(mode),
                mode,
            })
            .collect();
    }
    let mut ranked: Vec<(&SrvRecord, TlsMode)> = Vec::new();
    for (srv, mode) in [(direct, TlsMode::DirectTls), (starttls, TlsMode::StartTls)] {
        ranked.extend(
            srv.iter()
                .filter(|r| !r.target.is_empty())
                .map(|r| (r, mode)),
        );
    }
    // Stable: records of equal rank keep the order DNS gave them.
    ranked.sort_by_key(|(r, mode)| (r.priority, *mode != preferred, std::cmp::Reverse(r.weight)));
    let mut out: Vec<Candidate> = Vec::new();
    for (r, mode) in ranked {
        let c = Candidate {
            host: r.target.clone(),
            port: r.port,
            mode,
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    // Only refusals: a service with no record at all still falls back to
    // the domain (RFC 6120 §3.2.2); a refused one does not.
    if out.is_empty() {
        for (srv, mode) in [(direct, TlsMode::DirectTls), (starttls, TlsMode::StartTls)] {
            if srv.is_empty() {
                out.push(Candidate {
                    host: domain.to_owned(),
                    port: default_port(mode),
                    mode,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use TlsMode::{DirectTls, StartTls};

    fn rec(priority: u16, weight: u16, target: &str, port: u16) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port,
            target: target.into(),
        }
    }

    fn hosts(c: &[Candidate]) -> Vec<(String, u16, TlsMode)> {
        c.iter().map(|c| (c.host.clone(), c.port, c.mode)).collect()
    }

    #[test]
    fn no_records_falls_back_to_the_domain_preferred_mode_first() {
        let c = order("example.org", &[], &[], DirectTls);
        assert_eq!(
            hosts(&c),
            [
                ("example.org".into(), 5223, DirectTls),
                ("example.org".into(), 5222, StartTls)
            ]
        );
        // An empty answer is no record.
        let c = order("example.org", &[], &[], StartTls);
        assert_eq!(
            hosts(&c),
            [
                ("example.org".into(), 5222, StartTls),
                ("example.org".into(), 5223, DirectTls)
            ]
        );
    }

    #[test]
    fn priority_first_then_configured_mode_then_weight() {
        let direct = vec![rec(10, 0, "d10", 443), rec(5, 1, "d5", 5223)];
        let starttls = vec![
            rec(5, 0, "s5light", 5222),
            rec(5, 9, "s5heavy", 5222),
            rec(1, 0, "s1", 5222),
        ];
        let c = order("example.org", &direct, &starttls, DirectTls);
        let names: Vec<_> = c.iter().map(|c| c.host.as_str()).collect();
        assert_eq!(names, ["s1", "d5", "s5heavy", "s5light", "d10"]);
        assert_eq!(c[1].mode, DirectTls);
        assert_eq!(c[0].mode, StartTls);
        let c = order("example.org", &direct, &starttls, StartTls);
        let names: Vec<_> = c.iter().map(|c| c.host.as_str()).collect();
        assert_eq!(names, ["s1", "s5heavy", "s5light", "d5", "d10"]);
    }

    #[test]
    fn dot_target_removes_the_service_without_falling_back() {
        let refused = vec![rec(0, 0, "", 0)];
        let starttls = vec![rec(0, 0, "xmpp.example.org", 5222)];
        let c = order("example.org", &refused, &starttls, DirectTls);
        assert_eq!(hosts(&c), [("xmpp.example.org".into(), 5222, StartTls)]);
        // Direct TLS refused, STARTTLS unpublished: only the domain's 5222.
        let c = order("example.org", &refused, &[], DirectTls);
        assert_eq!(hosts(&c), [("example.org".into(), 5222, StartTls)]);
        // Both refused: nowhere to go.
        assert!(order("example.org", &refused, &refused, StartTls).is_empty());
    }

    #[test]
    fn duplicates_are_tried_once() {
        let direct = vec![rec(0, 0, "x", 5223), rec(1, 0, "x", 5223)];
        let c = order("example.org", &direct, &[], DirectTls);
        assert_eq!(hosts(&c), [("x".into(), 5223, DirectTls)]);
    }
}
