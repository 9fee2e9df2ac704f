//! One client process driven through JSON lines: our `jabberkit agent` or
//! the slixmpp peer (`bench/peer/slix_agent.py`), which speak the same
//! subset of the protocol in `cli/src/json.rs`.
//!
//! Every line is timestamped when it is read, so timings do not include the
//! benchmark's own processing. Waits never panic: a client that stays
//! silent, exits or prints garbage is a failed job, reported with its
//! transcript tail and stderr.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Why a benchmark job failed.
pub type Failure = String;

/// Which client implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `jabberkit agent`.
    Ours,
    /// The slixmpp agent.
    Peer,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "jabberkit",
            Kind::Peer => "slixmpp",
        }
    }
}

/// How the client sets up TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    StartTls,
    Direct,
}

impl Tls {
    pub fn flag(self) -> &'static str {
        match self {
            Tls::StartTls => "starttls",
            Tls::Direct => "direct",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tls::StartTls => "STARTTLS",
            Tls::Direct => "direct TLS",
        }
    }
}

/// Where the client programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// `target/<profile>/jabberkit`.
    pub ours: PathBuf,
    /// The venv's python and the peer script, when the peer is usable.
    pub peer: Option<(PathBuf, PathBuf)>,
}

/// What one client process is started with.
#[derive(Debug, Clone)]
pub struct Spec {
    pub kind: Kind,
    pub jid: String,
    pub password: String,
    pub store: PathBuf,
    pub server: SocketAddr,
    pub tls: Tls,
    pub ca: PathBuf,
    /// `None`: the config default.
    pub keepalive_secs: Option<u32>,
}

/// A running client process.
pub struct Agent {
    pub name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<(Instant, Value)>,
    /// Read but not consumed by a wait yet, in order.
    pending: VecDeque<(Instant, Value)>,
    /// The last lines read, for failure messages.
    recent: VecDeque<String>,
    stderr: Arc<Mutex<String>>,
}

const RECENT_LINES: usize = 30;

impl Agent {
    pub fn spawn(programs: &Programs, spec: &Spec) -> Result<Agent, Failure> {
        let mut cmd = match spec.kind {
            Kind::Ours => {
                let mut cmd = Command::new(&programs.ours);
                cmd.arg("agent");
                // Reconnect at once after a reset (scenario 1); later
                // failures back off to at most 1 s.
                cmd.args(["--retry-min", "0.01", "--retry-max", "1"]);
                if let Some(k) = spec.keepalive_secs {
                    cmd.args(["--keepalive", &k.to_string()]);
                }
                cmd.env("JABBERKIT_LOG", "warn");
                cmd
            }
            Kind::Peer => {
                let (python, script) = programs
                    .peer
                    .as_ref()
                    .ok_or("the slixmpp peer is not available")?;
                let mut cmd = Command::new(python);
                cmd.arg(script);
                cmd
            }
        };
        cmd.args(["--jid", &spec.jid])
            .arg("--store")
            .arg(&spec.store)
            .args([
                "--server",
                &spec.server.to_string(),
                "--tls",
                spec.tls.flag(),
            ])
            .arg("--ca")
            .arg(&spec.ca)
            .env("JABBERKIT_PASSWORD", &spec.password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let name = format!("{} {}", spec.kind.name(), spec.jid);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let at = Instant::now();
                let value = serde_json::from_str(&line).unwrap_or_else(
                    |e| json!({"event": "unparsable", "line": line, "error": e.to_string()}),
                );
                if tx.send((at, value)).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().ok_or("no stderr pipe")?;
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
                // Keep the tail only: a chatty client must not grow this.
                if s.len() > 64 * 1024 {
                    let cut = s.len() - 32 * 1024;
                    let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                    s.drain(..cut);
                }
            }
        });
        Ok(Agent {
            name,
            stdin: child.stdin.take(),
            child,
            lines,
            pending: VecDeque::new(),
            recent: VecDeque::new(),
            stderr,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// What went wrong, with the evidence.
    pub fn failure(&self, what: impl std::fmt::Display) -> Failure {
        let stderr = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{}: {what}\n--- last stdout lines ---\n{}\n--- stderr tail ---\n{}",
            self.name,
            self.recent.iter().cloned().collect::<Vec<_>>().join("\n"),
            tail.join("\n")
        )
    }

    /// Writes one command line.
    pub async fn command(&mut self, cmd: Value) -> Result<(), Failure> {
        let mut line = cmd.to_string();
        line.push('\n');
        self.write_all(line.into_bytes()).await
    }

    /// Writes many command lines at once, while `consume` reads what comes
    /// back (so neither pipe can fill up and stall the other side).
    pub async fn write_all(&mut self, bytes: Vec<u8>) -> Result<(), Failure> {
        let stdin = self.stdin.as_mut().ok_or("stdin already closed")?;
        let written = async {
            stdin.write_all(&bytes).await?;
            stdin.flush().await
        };
        match written.await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failure(format!("cannot write to stdin: {e}"))),
        }
    }

    /// Takes stdin out, to write from another task.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    pub fn put_stdin(&mut self, stdin: ChildStdin) {
        self.stdin = Some(stdin);
    }

    /// The next line, pending ones first; `None` at the deadline.
    async fn next_line(&mut self, deadline: Instant) -> Result<Option<(Instant, Value)>, Failure> {
        if let Some(line) = self.pending.pop_front() {
            return Ok(Some(line));
        }
        match tokio::time::timeout_at(deadline, self.lines.recv()).await {
            Ok(Some((at, value))) => {
                if self.recent.len() == RECENT_LINES {
                    self.recent.pop_front();
                }
                let mut text = value.to_string();
                if text.len() > 300 {
                    let cut = (0..=300)
                        .rev()
                        .find(|i| text.is_char_boundary(*i))
                        .unwrap_or(0);
                    text.truncate(cut);
                    text.push('…');
                }
                self.recent.push_back(text);
                if value["event"] == "unparsable" {
                    return Err(self.failure(format!("printed a line that is not JSON: {value}")));
                }
                Ok(Some((at, value)))
            }
            Ok(None) => Err(self.failure("exited (stdout closed)")),
            Err(_) => Ok(None),
        }
    }

    /// The first line matching `pred` within `within`; earlier lines that
    /// do not match stay pending for later waits.
    pub async fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<(Instant, Value), Failure> {
        let deadline = Instant::now() + within;
        let mut skipped = VecDeque::new();
        let found = loop {
            match self.next_line(deadline).await {
                Ok(Some((at, value))) => {
                    if value["event"] == "state" && value["state"] == "failed" {
                        self.pending = skipped;
                        return Err(self.failure(format!("failed while waiting for {what}")));
                    }
                    if pred(&value) {
                        break Ok((at, value));
                    }
                    skipped.push_back((at, value));
                }
                Ok(None) => {
                    break Err(self.failure(format!("no {what} within {within:?}")));
                }
                Err(e) => break Err(e),
            }
        };
        skipped.extend(self.pending.drain(..));
        self.pending = skipped;
        found
    }

    /// Feeds every line (pending ones first) to `f` until it returns true.
    pub async fn consume(
        &mut self,
        what: &str,
        within: Duration,
        mut f: impl FnMut(Instant, &Value) -> Result<bool, Failure>,
    ) -> Result<Instant, Failure> {
        let deadline = Instant::now() + within;
        loop {
            match self.next_line(deadline).await? {
                Some((at, value)) => {
                    if f(at, &value)? {
                        return Ok(at);
                    }
                }
                None => return Err(self.failure(format!("no {what} within {within:?}"))),
            }
        }
    }

    pub async fn wait_state(
        &mut self,
        state: &str,
        within: Duration,
    ) -> Result<(Instant, Value), Failure> {
        self.wait_for(&format!("state {state}"), within, |v| {
            v["event"] == "state" && v["state"] == state
        })
        .await
    }

    /// Waits for `online`, and for the catch-up that follows a fresh
    /// session to complete. Returns when it went online and whether it was
    /// a resumption.
    pub async fn wait_ready(&mut self, within: Duration) -> Result<(Instant, bool), Failure> {
        let (at, v) = self.wait_state("online", within).await?;
        let resumed = v["resumed"] == true;
        if !resumed {
            self.wait_for("catch-up complete", within, |v| {
                v["event"] == "catchup" && v["complete"] == true
            })
            .await?;
        }
        Ok((at, resumed))
    }

    /// Drops lines read so far (e.g. after a wait, before measuring).
    pub fn forget_pending(&mut self) {
        self.pending.clear();
        while self.lines.try_recv().is_ok() {}
    }

    /// Asks it to quit and waits for the process to end (killed after 10 s).
    pub async fn quit(mut self) -> Result<(), Failure> {
        let _ = self.command(json!({"cmd": "quit"})).await;
        drop(self.stdin.take());
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(self.failure(format!("exited with {status}"))),
            Ok(Err(e)) => Err(self.failure(format!("cannot wait for exit: {e}"))),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(self.failure("did not exit within 10 s of quit"))
            }
        }
    }
}

/// Memory and CPU of a process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    /// Resident set size now, bytes.
    pub rss: u64,
    /// Peak resident set size, bytes.
    pub hwm: u64,
    /// User + system CPU time, seconds.
    pub cpu: f64,
}

/// Reads /proc/PID/status and /proc/PID/stat.
pub fn proc_stats(pid: u32, clock_ticks: f64) -> Result<ProcStats, Failure> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    let kb = |key: &str| -> Result<u64, Failure> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n * 1024)
            .ok_or_else(|| format!("no {key} in /proc/{pid}/status"))
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("cannot read /proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may contain spaces): state is
    // field 3, utime 14 and stime 15 (1-based, see proc(5)).
    let rest = stat
        .rsplit_once(") ")
        .map(|(_, r)| r)
        .ok_or_else(|| format!("unexpected /proc/{pid}/stat: {stat}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, Failure> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64 / clock_ticks)
            .ok_or_else(|| format!("no field {} in /proc/{pid}/stat", i + 3))
    };
    Ok(ProcStats {
        rss: kb("VmRSS:")?,
        hwm: kb("VmHWM:")?,
        cpu: ticks(11)? + ticks(12)?,
    })
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`), 100 if unknown.
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}
