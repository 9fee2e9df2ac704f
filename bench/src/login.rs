//! Scenario 1, the login's round trips (issue 13): a first login, a
//! resumption after the link drops and a later login on the same store,
//! through a proxy that delays every chunk, over direct TLS and STARTTLS,
//! ours beside slixmpp, on each server the run names (Prosody and ejabberd
//! by default: a figure that holds on one implementation only proves
//! little about the protocol).
//!
//! Besides the rows of the main table, it returns a [`LoginTable`] per
//! server: the medians in round trips laid out as in the README's "Fast
//! login" section, with the spec limit beside each, so the README is copied
//! from a run instead of assembled by hand.

use std::fmt::Write as _;
use std::time::Duration;

use jabberkit_testkit::proxy::{FaultProxy, Mode};
use jabberkit_testkit::server::ServerKind;
use tokio::time::Instant;

use crate::agent::{Agent, Failure, Tls};
use crate::report::{Row, Samples, Unit};
use crate::scenarios::{Bench, PerKind, ONLINE};

/// The injected one-way delay.
const ONE_WAY: Duration = Duration::from_millis(50);

const LOGIN_NOTE: &str = "First login (password, new store) through the fault proxy with 50 ms \
     each way (RTT 100 ms): from the client's `connecting` line (before it opens the TCP \
     connection) to `online resumed:false` (bound, stream management enabled). The proxy \
     accepts TCP locally, so the TCP handshake costs nothing here: add 1 RTT for a real \
     network. Ours uses SASL2 + Bind2 with inline stream management where the server offers \
     them (Prosody 13 and ejabberd 24.12 both do); slixmpp has no SASL2, Bind2 or FAST.";
const LOGIN_SPEC: &str =
    "spec: classic ≈ 10 RTT · direct TLS + SASL2 + Bind2 ≈ 5 (first login ≤ 5)";
const RELOGIN_NOTE: &str = "A new process on the same store (the session before it closed): \
     ours sends the stream header and a FAST token's <authenticate/> with Bind2 in one flight; \
     slixmpp logs in as the first time. Same proxy and TCP caveat.";
const RELOGIN_SPEC: &str = "spec: fresh session with FAST ≤ 3 RTT";
const RESUME_NOTE: &str = "Resumption through the same proxy: from `reset_all()` (RST to both \
     ends of every link) to `online resumed:true`. Both clients reconnect at once: ours with \
     --retry-min 0.01 (FAST <authenticate/> with the XEP-0198 <resume/> inside, sent with the \
     stream header), slixmpp by calling connect() from its `disconnected` handler (which \
     resets its backoff to 0; password login, then a separate <resume/>). Same TCP caveat.";
const RESUME_SPEC: &str = "spec: classic ≈ 9 RTT · reconnect with FAST + inline resume ≤ 3";

/// The three figures, in table order: label in the rows, label in the
/// login table, spec limit in round trips (with TCP), note, reference.
const FIGURES: [(&str, &str, &str, &str, &str); 3] = [
    (
        "first login",
        "first login (password, SASL2 + Bind2)",
        "≤ 5",
        LOGIN_NOTE,
        LOGIN_SPEC,
    ),
    (
        "resumption",
        "reconnect: FAST + inline resumption",
        "≤ 3",
        RESUME_NOTE,
        RESUME_SPEC,
    ),
    (
        "fresh session, later login",
        "later login, fresh session with FAST",
        "≤ 3",
        RELOGIN_NOTE,
        RELOGIN_SPEC,
    ),
];

/// The server's name as the tables print it.
pub fn server_name(kind: ServerKind) -> &'static str {
    match kind {
        ServerKind::Prosody => "Prosody",
        ServerKind::Ejabberd => "ejabberd",
    }
}

/// One server's figures in round trips: `cells[figure][tls]`, figures in
/// [`FIGURES`] order, TLS modes in [`TLS_MODES`] order.
pub struct LoginTable {
    /// e.g. "ejabberd 24.12-3~bpo12+1".
    pub server: String,
    cells: [[PerKind; 2]; 3],
    peer: bool,
}

const TLS_MODES: [Tls; 2] = [Tls::Direct, Tls::StartTls];

/// Scenario 1 on `b`'s server: the rows of the main table and the login
/// table. `version` is the server's package version, for the table's title.
pub async fn reconnect(b: &mut Bench, version: &str) -> Result<(Vec<Row>, LoginTable), Failure> {
    let server = server_name(b.server.kind());
    let mut table = LoginTable {
        server: format!("{server} {version}"),
        cells: Default::default(),
        peer: b.programs.peer.is_some(),
    };
    let mut rows = Vec::new();
    for (t, tls) in TLS_MODES.into_iter().enumerate() {
        let [login, resume, relogin] = measure(b, tls).await?;
        for (f, samples) in [login, resume, relogin].into_iter().enumerate() {
            let (what, _, _, note, spec) = FIGURES[f];
            rows.extend(rows_of(
                b,
                &format!("{what}, {server}, {}", tls.label()),
                &samples,
                note,
                spec,
            ));
            table.cells[f][t] = samples;
        }
    }
    Ok((rows, table))
}

/// The runs of one TLS mode for every client kind, in seconds: first
/// login, resumption, later login.
async fn measure(b: &mut Bench, tls: Tls) -> Result<[PerKind; 3], Failure> {
    let proxy = FaultProxy::start(b.addr(tls)).await;
    proxy.set_mode(Mode::Delay(ONE_WAY));
    let mut login = PerKind::default();
    let mut resume = PerKind::default();
    let mut relogin = PerKind::default();
    for kind in b.kinds() {
        for _ in 0..b.settings.runs {
            let jid = b.account("rc").await;
            let spec = b.spec(kind, &jid, proxy.addr(), tls);
            let mut agent = Agent::spawn(&b.programs, &spec)?;
            let (start, _) = agent.wait_state("connecting", ONLINE).await?;
            let (online, resumed) = agent.wait_ready(ONLINE).await?;
            if resumed {
                return Err(agent.failure("a first login reported a resumed session"));
            }
            login.push(kind, (online - start).as_secs_f64());
            // Let the login's tail (roster, presence, acks) settle so the
            // reset hits an idle, resumable session.
            tokio::time::sleep(Duration::from_millis(500)).await;
            agent.forget_pending();
            let reset = Instant::now();
            proxy.reset_all();
            let (back, v) = agent.wait_state("online", ONLINE).await?;
            if v["resumed"] != true {
                return Err(agent.failure("the session was not resumed after a reset"));
            }
            resume.push(kind, (back - reset).as_secs_f64());
            agent.quit().await?;
            let mut agent = Agent::spawn(&b.programs, &spec)?;
            let (start, _) = agent.wait_state("connecting", ONLINE).await?;
            let (online, _) = agent.wait_ready(ONLINE).await?;
            relogin.push(kind, (online - start).as_secs_f64());
            agent.quit().await?;
        }
    }
    Ok([login, resume, relogin])
}

/// A figure's two rows: seconds, and round trips with the spec beside.
fn rows_of(b: &Bench, figure: &str, s: &PerKind, note: &str, spec: &str) -> [Row; 2] {
    let in_rtt = |s: &Samples| Samples(s.0.iter().map(|v| v / rtt()).collect());
    [
        Row {
            scenario: "1",
            figure: format!("{figure}: seconds"),
            unit: Unit::Seconds,
            ours: s.ours.clone(),
            theirs: b.theirs(s.theirs.clone()),
            reference: String::new(),
            note: note.to_owned(),
        },
        Row {
            scenario: "1",
            figure: format!("{figure}: round trips"),
            unit: Unit::Rtts,
            ours: in_rtt(&s.ours),
            theirs: b.theirs(in_rtt(&s.theirs)),
            reference: spec.to_owned(),
            note: note.to_owned(),
        },
    ]
}

/// The injected round trip, in seconds.
fn rtt() -> f64 {
    (ONE_WAY * 2).as_secs_f64()
}

/// A median in round trips, without the unit, or a dash.
fn median_rtt(s: &Samples) -> String {
    s.median()
        .map_or_else(|| "—".into(), |m| format!("{:.1}", m / rtt()))
}

/// A median in round trips with the unit, or a dash.
fn cell(s: &Samples) -> String {
    match s.median() {
        Some(_) => format!("{} RTT", median_rtt(s)),
        None => "—".into(),
    }
}

impl LoginTable {
    /// The README's "Fast login" table for this server: medians in round
    /// trips, ours by TLS mode, slixmpp's beside, the spec limit last.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "\n### Fast login, {} (medians in RTT of 100 ms, TCP excluded)\n\n\
             | | direct TLS | STARTTLS | slixmpp (direct / STARTTLS) | spec (with TCP) |\n\
             |---|---|---|---|---|\n",
            self.server
        );
        for (f, (_, label, limit, _, _)) in FIGURES.iter().enumerate() {
            let [direct, starttls] = &self.cells[f];
            let peer = if self.peer {
                format!(
                    "{} / {} RTT",
                    median_rtt(&direct.theirs),
                    median_rtt(&starttls.theirs)
                )
            } else {
                "skipped".into()
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {peer} | {limit} |",
                cell(&direct.ours),
                cell(&starttls.ours),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_table_has_ours_theirs_and_the_spec() {
        let secs = |v: f64| Samples(vec![v, v + 0.1, v - 0.1]);
        let mut table = LoginTable {
            server: "ejabberd 24.12".into(),
            cells: Default::default(),
            peer: true,
        };
        table.cells[1][0] = PerKind {
            ours: secs(0.2),
            theirs: secs(0.7),
        };
        table.cells[1][1] = PerKind {
            ours: secs(0.5),
            theirs: secs(0.9),
        };
        let md = table.markdown();
        assert!(md.contains("### Fast login, ejabberd 24.12 "), "{md}");
        assert!(
            md.contains(
                "| reconnect: FAST + inline resumption | 2.0 RTT | 5.0 RTT | 7.0 / 9.0 RTT | ≤ 3 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| first login (password, SASL2 + Bind2) | — | — | — / — RTT | ≤ 5 |"),
            "{md}"
        );
    }
}
