//! A throwaway Prosody 13 (or ejabberd 24.12) per test.
//!
//! Integration tests need a real XMPP server that speaks STARTTLS and direct
//! TLS, stream management, MAM and SASL2, HTTP file upload (XEP-0363, over
//! HTTPS on a third port), push notifications (XEP-0357, to a test app
//! server whose inbox [`TestServer::push_notifications`] reads; Prosody
//! only), and that they can stop and bring back at will.
//! [`TestServer`] drives `scripts/prosody` or `scripts/ejabberd` (the
//! single places that know how to configure each server) in a fresh
//! temporary directory: a private CA and a leaf certificate for
//! `example.test` (and for its address, which the upload URLs name), a
//! config with free loopback ports, data and logs. Dropping the server stops it and removes the directory (set
//! `JABBERKIT_KEEP_TEST_SERVER=1` to keep it for a post-mortem).
//!
//! Which server: [`ServerOptions::kind`], by default from
//! `JABBERKIT_TEST_SERVER` (`prosody`, the default, or `ejabberd`), so a
//! whole test suite can run against either one unchanged.
//!
//! The server must be installed first: `scripts/prosody install` or
//! `scripts/ejabberd install` (as root). It is also told to stop when the
//! test process exits, so a test binary killed by a timeout does not leave
//! servers behind.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};
use std::sync::Mutex;

use tokio::process::Command;

/// Set this variable (to anything) to keep the server's directory after the
/// test, for reading its config, logs and data.
pub const KEEP_ENV: &str = "JABBERKIT_KEEP_TEST_SERVER";

/// Which server [`ServerOptions::default`] picks: `prosody` (or unset) or
/// `ejabberd`.
pub const SERVER_ENV: &str = "JABBERKIT_TEST_SERVER";

/// Set this variable (to anything) to run ejabberd at log level `debug`
/// (every stanza in `logs/ejabberd.log`); Prosody always keeps a debug log.
pub const EJABBERD_DEBUG_ENV: &str = "JABBERKIT_EJABBERD_DEBUG";

/// Which XMPP server a [`TestServer`] runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerKind {
    /// Prosody 13 with prosody-modules (`scripts/prosody`).
    #[default]
    Prosody,
    /// ejabberd 24.12 from Debian backports (`scripts/ejabberd`).
    Ejabberd,
}

impl ServerKind {
    /// The kind named by `JABBERKIT_TEST_SERVER`, Prosody if unset. Panics
    /// on any other value, so a typo never silently tests the wrong server.
    pub fn from_env() -> ServerKind {
        match std::env::var(SERVER_ENV) {
            Err(std::env::VarError::NotPresent) => ServerKind::Prosody,
            Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "prosody" => ServerKind::Prosody,
                "ejabberd" => ServerKind::Ejabberd,
                other => panic!("{SERVER_ENV}={other:?}: want \"prosody\" or \"ejabberd\""),
            },
            Err(e) => panic!("{SERVER_ENV}: {e}"),
        }
    }

    /// The script that drives this server, e.g. `scripts/ejabberd`.
    fn script(self) -> PathBuf {
        let name = match self {
            ServerKind::Prosody => "prosody",
            ServerKind::Ejabberd => "ejabberd",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("scripts")
            .join(name)
    }

    /// The server's main log (info and up), relative to its directory.
    fn log_file(self) -> &'static str {
        match self {
            ServerKind::Prosody => "prosody.log",
            ServerKind::Ejabberd => "logs/ejabberd.log",
        }
    }
}

/// How a [`TestServer`] is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// How long the server keeps a dropped session resumable (XEP-0198;
    /// ejabberd's `mod_stream_mgmt` `resume_timeout`).
    pub hibernation_secs: u32,
    /// Keep the message archive in memory instead of on disk (Prosody;
    /// ejabberd's archive is in Mnesia either way).
    pub archive_in_memory: bool,
    /// Run without stream management (XEP-0198), as some servers do.
    pub no_stream_management: bool,
    /// The largest stanza a client may send, if not 256 KiB. ejabberd
    /// enforces it (`max_stanza_size`) but does not advertise it (XEP-0478).
    pub stanza_limit: Option<u32>,
    /// Only the classic login: no SASL2, Bind2 or FAST. Prosody only:
    /// ejabberd always offers SASL2 (starting one panics).
    pub no_sasl2: bool,
    /// No PEP (XEP-0163), so no XEP-0402 bookmarks: only private XML
    /// storage (XEP-0049), as old servers. Prosody only.
    pub no_pep: bool,
    /// TLS 1.2 only: no tls-exporter channel binding (it needs TLS 1.3),
    /// only tls-server-end-point. Prosody only.
    pub tls12: bool,
    /// The port the file upload slot URLs name instead of the HTTPS port
    /// (`https://IP:PORT/...`, IP the server's): a test's
    /// [`FaultProxy`](crate::proxy::FaultProxy) listens there and forwards
    /// to [`TestServer::https_addr`].
    pub http_port: Option<u16>,
    /// The server to run; by default from `JABBERKIT_TEST_SERVER`.
    pub kind: ServerKind,
    /// Another domain and address, federated with other test servers
    /// (see [`crate::federation`]). Prosody only.
    pub s2s: Option<S2s>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            hibernation_secs: 60,
            archive_in_memory: false,
            no_stream_management: false,
            stanza_limit: None,
            no_sasl2: false,
            no_pep: false,
            tls12: false,
            http_port: None,
            kind: ServerKind::from_env(),
            s2s: None,
        }
    }
}

/// What makes a test server federated (see [`crate::federation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S2s {
    /// The domain it serves.
    pub domain: String,
    /// The loopback address it listens on (clients and servers).
    pub ip: Ipv4Addr,
    /// Its server-to-server port.
    pub port: u16,
    /// The other servers: domain and server-to-server address.
    pub peers: Vec<(String, SocketAddr)>,
    /// Another server's directory whose test CA signs this one's
    /// certificate, so that they trust each other.
    pub ca_from: Option<PathBuf>,
}

impl S2s {
    /// The `scripts/prosody start` options.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--domain".to_string(),
            self.domain.clone(),
            "--ip".to_string(),
            self.ip.to_string(),
            "--s2s-port".to_string(),
            self.port.to_string(),
        ];
        for (domain, addr) in &self.peers {
            args.push("--peer".to_string());
            args.push(format!("{domain}={addr}"));
        }
        if let Some(dir) = &self.ca_from {
            args.push("--ca-from".to_string());
            args.push(dir.display().to_string());
        }
        args
    }
}

/// A running (or deliberately stopped) Prosody or ejabberd on 127.0.0.1.
#[derive(Debug)]
pub struct TestServer {
    /// `None` only while dropping.
    tempdir: Option<tempfile::TempDir>,
    kind: ServerKind,
    dir: PathBuf,
    domain: String,
    /// Where it listens: 127.0.0.1 but for federation tests.
    ip: Ipv4Addr,
    starttls_port: u16,
    direct_tls_port: u16,
    https_port: u16,
    ca_pem_path: PathBuf,
    /// The server's pid while it runs.
    pid: Mutex<Option<u32>>,
}

/// One XEP-0357 notification as the test push app server got it (one line
/// of `DIR/push.jsonl`, see [`TestServer::push_notifications`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct PushNotification {
    /// Who published it. Prosody's `mod_cloud_notify` publishes as the
    /// user's server (`example.test`), not as the account: a push service
    /// knows the account only by its node.
    pub from: String,
    /// The pubsub node the client enabled push with.
    pub node: String,
    /// The `secret` of the client's publish options, if it gave one.
    pub secret: Option<String>,
    /// The summary's `message-count` (Prosody always says 1).
    pub count: Option<u32>,
    /// The summary's `last-message-sender`: the full JID the message came from.
    pub sender: Option<String>,
    /// The summary's `last-message-body`.
    pub body: Option<String>,
    /// The sink answered with an error rather than a result: it does so for
    /// nodes whose name starts with `fail`, and Prosody drops the
    /// registration after 3 errors (`push_max_errors`).
    #[serde(rename = "error", default)]
    pub failed: bool,
}

/// The complete lines of `DIR/push.jsonl` (a line being written is left
/// for the next read).
fn parse_push_lines(text: &str) -> Result<Vec<PushNotification>, String> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return Ok(Vec::new()),
    };
    complete
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).map_err(|e| format!("bad line {line:?}: {e}")))
        .collect()
}

/// What `scripts/prosody start` (or `scripts/ejabberd start`) prints on
/// stdout.
#[derive(Debug)]
struct Started {
    domain: String,
    ip: Ipv4Addr,
    starttls_port: u16,
    direct_tls_port: u16,
    https_port: u16,
    ca: PathBuf,
    pid: u32,
}

impl TestServer {
    /// Starts a fresh server with default options: Prosody, or the one
    /// `JABBERKIT_TEST_SERVER` names.
    ///
    /// Panics (with the server log) if it cannot start; it does not install
    /// the server, run `scripts/prosody install` (or `scripts/ejabberd
    /// install`) for that.
    pub async fn start() -> TestServer {
        Self::start_with(ServerOptions::default()).await
    }

    /// Starts a fresh server of `opts.kind` in a new temporary directory.
    /// Panics on an option that server cannot honour.
    pub async fn start_with(opts: ServerOptions) -> TestServer {
        let kind = opts.kind;
        if kind == ServerKind::Ejabberd && opts.tls12 {
            panic!("ServerOptions::tls12 needs Prosody (run this test with {SERVER_ENV}=prosody)");
        }
        if kind == ServerKind::Ejabberd && opts.s2s.is_some() {
            panic!("ServerOptions::s2s needs Prosody (run this test with {SERVER_ENV}=prosody)");
        }
        if kind == ServerKind::Ejabberd && opts.no_pep {
            panic!("ServerOptions::no_pep needs Prosody (run this test with {SERVER_ENV}=prosody)");
        }
        if kind == ServerKind::Ejabberd && opts.no_sasl2 {
            panic!(
                "ServerOptions::no_sasl2 needs Prosody: ejabberd always offers SASL2 and Bind2 \
                 (run this test with {SERVER_ENV}=prosody)"
            );
        }
        let prefix = match kind {
            ServerKind::Prosody => "jabberkit-prosody-",
            ServerKind::Ejabberd => "jabberkit-ejabberd-",
        };
        let tempdir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("cannot create a temporary directory for the test server");
        let dir = tempdir.path().to_path_buf();

        let mut args = vec![
            "--hibernation".to_string(),
            opts.hibernation_secs.to_string(),
        ];
        if opts.archive_in_memory {
            args.push("--archive-memory".to_string());
        }
        if opts.no_stream_management {
            args.push("--no-stream-management".to_string());
        }
        if opts.no_sasl2 {
            args.push("--no-sasl2".to_string());
        }
        if opts.tls12 {
            args.push("--tls12".to_string());
        }
        if opts.no_pep {
            args.push("--no-pep".to_string());
        }
        if let Some(limit) = opts.stanza_limit {
            args.push("--stanza-limit".to_string());
            args.push(limit.to_string());
        }
        if let Some(port) = opts.http_port {
            args.push("--http-port".to_string());
            args.push(port.to_string());
        }
        if let Some(s2s) = &opts.s2s {
            args.extend(s2s.args());
        }
        if kind == ServerKind::Ejabberd && std::env::var_os(EJABBERD_DEBUG_ENV).is_some() {
            args.push("--loglevel".to_string());
            args.push("debug".to_string());
        }
        let started = run_start(kind, &dir, &args).await;
        tracing::debug!(
            dir = %dir.display(),
            starttls = started.starttls_port,
            direct_tls = started.direct_tls_port,
            https = started.https_port,
            pid = started.pid,
            ?kind,
            "test server started"
        );
        TestServer {
            tempdir: Some(tempdir),
            kind,
            dir,
            domain: started.domain,
            ip: started.ip,
            starttls_port: started.starttls_port,
            direct_tls_port: started.direct_tls_port,
            https_port: started.https_port,
            ca_pem_path: started.ca,
            pid: Mutex::new(Some(started.pid)),
        }
    }

    /// Which server this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The XMPP domain, `example.test`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The STARTTLS client port (`127.0.0.1:N`).
    pub fn starttls_addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.starttls_port))
    }

    /// The direct-TLS client port (XEP-0368), `127.0.0.1:N`.
    pub fn direct_tls_addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.direct_tls_port))
    }

    /// The HTTPS listener that serves file uploads, `127.0.0.1:N`. The slot
    /// URLs name this port unless [`ServerOptions::http_port`] is set. Its
    /// certificate names the address, and is signed by the test CA.
    pub fn https_addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.https_port))
    }

    /// The JID of the HTTP file upload service (XEP-0363),
    /// `upload.example.test` on both servers.
    pub fn upload_service(&self) -> String {
        format!("upload.{}", self.domain)
    }

    /// The JID of the test push app server (XEP-0357), `push.example.test`:
    /// the `jid` of a client's `<enable xmlns='urn:xmpp:push:0'>`. What it
    /// receives is in [`push_notifications`](Self::push_notifications).
    ///
    /// Prosody only: panics on ejabberd, whose push setup is not done (a
    /// test that enabled push there would only see nothing arrive).
    pub fn push_service(&self) -> String {
        self.assert_push_sink("push_service");
        format!("push.{}", self.domain)
    }

    /// Every push notification the test app server has received so far,
    /// oldest first; empty before the first. The server (Prosody's
    /// `mod_cloud_notify`) pushes for a message to an account without a
    /// session, to a hibernated one, or archived while another client is
    /// online; the sink (`scripts/lib/prosody-modules/mod_test_push_sink.lua`)
    /// answers each and appends it to `DIR/push.jsonl`, read here.
    ///
    /// Prosody only: panics on ejabberd, as [`push_service`](Self::push_service).
    pub fn push_notifications(&self) -> Vec<PushNotification> {
        self.assert_push_sink("push_notifications");
        let path = self.dir.join("push.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        };
        parse_push_lines(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn assert_push_sink(&self, what: &str) {
        assert!(
            self.kind == ServerKind::Prosody,
            "TestServer::{what}: the test push app server runs on Prosody only; this test \
             server is {:?} (run the test with {SERVER_ENV}=prosody)",
            self.kind
        );
    }

    /// The private CA that signed the server's certificate (PEM file).
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    /// The private CA as PEM text, to add to a client's trust roots.
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(&self.ca_pem_path)
            .unwrap_or_else(|e| panic!("cannot read test CA {}: {e}", self.ca_pem_path.display()))
    }

    /// The server's directory: config, certificates, data and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's pid, or `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        *self.pid_guard()
    }

    /// Registers `user@example.test` with `password` (or resets the password
    /// of an existing account) and returns the bare JID. Prosody: works
    /// whether or not the server runs; ejabberd: only while it runs
    /// (ejabberdctl talks to the live node).
    pub async fn register(&self, user: &str, password: &str) -> String {
        let mut cmd = script_command(self.kind);
        cmd.arg("register").arg(&self.dir).arg(user).arg(password);
        let out = run(cmd, "register").await;
        if !out.status.success() {
            panic!(
                "{} register {user} failed ({}):\n{}\n{}",
                self.kind.script().display(),
                out.status,
                String::from_utf8_lossy(&out.stderr),
                self.log_tail(20)
            );
        }
        format!("{user}@{}", self.domain)
    }

    /// Stops the server; accounts and archives stay on disk. Connections are
    /// closed and the ports refuse new ones until [`restart`](Self::restart).
    pub async fn stop(&self) {
        let mut cmd = script_command(self.kind);
        cmd.arg("stop").arg(&self.dir);
        let out = run(cmd, "stop").await;
        if !out.status.success() {
            panic!(
                "{} stop failed ({}):\n{}",
                self.kind.script().display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        *self.pid_guard() = None;
    }

    /// Starts the server again on the same ports, with the same accounts.
    /// Stops it first if it still runs.
    pub async fn restart(&self) {
        if self.pid().is_some() {
            self.stop().await;
        }
        let started = run_start(self.kind, &self.dir, &[]).await;
        assert_eq!(
            (
                started.starttls_port,
                started.direct_tls_port,
                started.https_port
            ),
            (self.starttls_port, self.direct_tls_port, self.https_port),
            "restarted test server came back on other ports"
        );
        *self.pid_guard() = Some(started.pid);
    }

    /// The last `lines` lines of the server log (info and up).
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.dir.join(self.kind.log_file()), lines)
    }

    /// The last `lines` lines of the debug log, which has every stanza.
    /// ejabberd has a single log: at debug level only with
    /// `JABBERKIT_EJABBERD_DEBUG` set.
    pub fn debug_log_tail(&self, lines: usize) -> String {
        match self.kind {
            ServerKind::Prosody => tail(&self.dir.join("prosody-debug.log"), lines),
            ServerKind::Ejabberd => self.log_tail(lines),
        }
    }

    /// Runs a `prosodyctl shell` command against the running server, e.g.
    /// `c2s:show()` or `c2s:close("alice@example.test")`, and returns its
    /// output. Prosody only (for ejabberd see [`ctl`](Self::ctl)).
    pub async fn shell(&self, command: &str) -> String {
        assert!(
            self.kind == ServerKind::Prosody,
            "TestServer::shell({command:?}) is Prosody's admin shell; this test server is \
             {:?} (use TestServer::ctl, or run the test with {SERVER_ENV}=prosody)",
            self.kind
        );
        let mut cmd = Command::new("prosodyctl");
        cmd.arg("--config")
            .arg(self.dir.join("prosody.cfg.lua"))
            .arg("shell")
            .arg(command);
        let out = run(cmd, "prosodyctl shell").await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            panic!(
                "prosodyctl shell {command:?} failed ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        stdout
    }

    /// Runs an `ejabberdctl` command against the running ejabberd, e.g.
    /// `["kick_session", "alice", "example.test", "phone", "bye"]`, and
    /// returns its output. ejabberd only (for Prosody see
    /// [`shell`](Self::shell)).
    pub async fn ctl(&self, args: &[&str]) -> String {
        assert!(
            self.kind == ServerKind::Ejabberd,
            "TestServer::ctl({args:?}) is ejabberdctl; this test server is {:?} \
             (use TestServer::shell)",
            self.kind
        );
        let mut cmd = script_command(self.kind);
        cmd.arg("ctl").arg(&self.dir).args(args);
        let out = run(cmd, "ejabberdctl").await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            panic!(
                "ejabberdctl {args:?} failed ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        stdout
    }

    fn pid_guard(&self) -> std::sync::MutexGuard<'_, Option<u32>> {
        // A panic while holding this lock cannot leave the pid half-written.
        self.pid.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Synchronous stop for `Drop`: the script first, a bare SIGKILL if the
    /// script itself fails.
    fn stop_blocking(&self) {
        let Some(pid) = self.pid_guard().take() else {
            return;
        };
        let stopped = StdCommand::new(self.kind.script())
            .arg("stop")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !stopped {
            tracing::warn!(pid, kind = ?self.kind, "stop script failed; sending SIGKILL");
            let _ = StdCommand::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_blocking();
        if let Some(tempdir) = self.tempdir.take() {
            if std::env::var_os(KEEP_ENV).is_some() {
                let kept = tempdir.keep();
                eprintln!("test server directory kept: {}", kept.display());
            } else if let Err(e) = tempdir.close() {
                tracing::warn!(dir = %self.dir.display(), "cannot remove test server directory: {e}");
            }
        }
    }
}

fn script_command(kind: ServerKind) -> Command {
    let mut cmd = Command::new(kind.script());
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    cmd
}

async fn run(mut cmd: Command, what: &str) -> Output {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    cmd.output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {what} ({program}): {e}"))
}

/// `scripts/{prosody,ejabberd} start DIR ARGS...`, tied to this process's
/// lifetime.
async fn run_start(kind: ServerKind, dir: &Path, args: &[String]) -> Started {
    let mut cmd = script_command(kind);
    cmd.arg("start")
        .arg(dir)
        .args(args)
        .arg("--watch-pid")
        .arg(std::process::id().to_string());
    let out = run(cmd, "start").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let hint = match kind {
            ServerKind::Prosody if stderr.contains("scripts/prosody install") => {
                "\nProsody 13 is not installed: run `scripts/prosody install` (as root) first."
            }
            ServerKind::Ejabberd if stderr.contains("scripts/ejabberd install") => {
                "\nejabberd is not installed: run `scripts/ejabberd install` (as root) first."
            }
            _ => "",
        };
        panic!(
            "cannot start the test {kind:?} in {} ({}):\n{stderr}{hint}",
            dir.display(),
            out.status
        );
    }
    parse_started(&stdout).unwrap_or_else(|e| {
        panic!(
            "unexpected output from {} start ({e}):\n{stdout}\n{stderr}",
            kind.script().display()
        )
    })
}

fn parse_started(stdout: &str) -> Result<Started, String> {
    let vars: HashMap<&str, &str> = stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let get = |key: &str| {
        vars.get(key)
            .copied()
            .ok_or_else(|| format!("missing {key}="))
    };
    fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        value.parse().map_err(|e| format!("bad {key}={value}: {e}"))
    }
    Ok(Started {
        domain: get("DOMAIN")?.to_string(),
        // scripts/ejabberd listens on 127.0.0.1 and does not say so.
        ip: match vars.get("IP") {
            Some(ip) => parse("IP", ip)?,
            None => Ipv4Addr::LOCALHOST,
        },
        starttls_port: parse("STARTTLS_PORT", get("STARTTLS_PORT")?)?,
        direct_tls_port: parse("DIRECT_TLS_PORT", get("DIRECT_TLS_PORT")?)?,
        https_port: parse("HTTPS_PORT", get("HTTPS_PORT")?)?,
        ca: PathBuf::from(get("CA")?),
        pid: parse("PID", get("PID")?)?,
    })
}

fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn connects(addr: SocketAddr) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await,
            Ok(Ok(_))
        )
    }

    /// Opens an XMPP stream on the STARTTLS port and returns what the server
    /// says until it offers its features.
    async fn stream_features(addr: SocketAddr, domain: &str) -> String {
        let mut tcp = TcpStream::connect(addr).await.expect("connect to c2s port");
        let header = format!(
            "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' \
             xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        );
        tcp.write_all(header.as_bytes())
            .await
            .expect("send stream header");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let read_all = async {
            while !String::from_utf8_lossy(&got).contains("</stream:features>") {
                let n = tcp.read(&mut buf).await.expect("read from c2s port");
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
        };
        tokio::time::timeout(Duration::from_secs(5), read_all)
            .await
            .expect("stream features within 5 s");
        String::from_utf8_lossy(&got).into_owned()
    }

    fn is_alive(pid: u32) -> bool {
        // A zombie has exited; it only waits for its parent to reap it.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !matches!(
                stat.rsplit_once(") ")
                    .and_then(|(_, rest)| rest.chars().next()),
                Some('Z' | 'X')
            ),
            Err(_) => false,
        }
    }

    /// Options for `kind` and nothing else (not `JABBERKIT_TEST_SERVER`).
    fn of(kind: ServerKind) -> ServerOptions {
        ServerOptions {
            kind,
            ..ServerOptions::default()
        }
    }

    /// No error in the server's log (each server has its own format).
    fn assert_no_errors(server: &TestServer) {
        let log = server.log_tail(50);
        let bad = match server.kind() {
            ServerKind::Prosody => log.contains("\terror\t"),
            ServerKind::Ejabberd => log.contains("[error]") || log.contains("[critical]"),
        };
        assert!(!bad, "{log}");
    }

    #[tokio::test]
    async fn server_starts_registers_and_offers_starttls() {
        starts_registers_and_offers_starttls(ServerKind::Prosody).await;
    }

    #[tokio::test]
    async fn ejabberd_starts_registers_and_offers_starttls() {
        starts_registers_and_offers_starttls(ServerKind::Ejabberd).await;
    }

    async fn starts_registers_and_offers_starttls(kind: ServerKind) {
        let server = TestServer::start_with(of(kind)).await;
        assert_eq!(server.kind(), kind);
        assert_eq!(server.domain(), "example.test");
        assert!(connects(server.starttls_addr()).await);
        assert!(connects(server.direct_tls_addr()).await);
        assert!(server.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));

        let jid = server.register("alice", "secret").await;
        assert_eq!(jid, "alice@example.test");

        let features = stream_features(server.starttls_addr(), server.domain()).await;
        assert!(
            features.contains("urn:ietf:params:xml:ns:xmpp-tls"),
            "no STARTTLS offered: {features}"
        );
        // Registering again resets the password, it does not fail.
        server.register("alice", "other").await;
        assert_no_errors(&server);
    }

    #[tokio::test]
    async fn server_restarts_on_the_same_ports_with_its_accounts() {
        restarts_on_the_same_ports_with_its_accounts(ServerKind::Prosody).await;
    }

    #[tokio::test]
    async fn ejabberd_restarts_on_the_same_ports_with_its_accounts() {
        restarts_on_the_same_ports_with_its_accounts(ServerKind::Ejabberd).await;
    }

    async fn restarts_on_the_same_ports_with_its_accounts(kind: ServerKind) {
        let server = TestServer::start_with(of(kind)).await;
        server.register("bob", "secret").await;
        let (starttls, direct) = (server.starttls_addr(), server.direct_tls_addr());
        let first_pid = server.pid().expect("running after start");

        server.stop().await;
        assert_eq!(server.pid(), None);
        assert!(
            !is_alive(first_pid),
            "server {first_pid} still alive after stop"
        );
        assert!(
            !connects(starttls).await,
            "STARTTLS port still open after stop"
        );
        assert!(
            !connects(direct).await,
            "direct TLS port still open after stop"
        );
        // Stopping twice is harmless.
        server.stop().await;

        server.restart().await;
        assert_eq!(
            (server.starttls_addr(), server.direct_tls_addr()),
            (starttls, direct)
        );
        assert!(connects(starttls).await);
        assert!(connects(direct).await);
        match kind {
            ServerKind::Prosody => assert!(server
                .dir()
                .join("data/example%2etest/accounts/bob.dat")
                .exists()),
            ServerKind::Ejabberd => {
                let users = server.ctl(&["registered_users", "example.test"]).await;
                assert!(users.lines().any(|l| l.trim() == "bob"), "{users}");
            }
        }

        // restart() on a running server stops it first.
        server.restart().await;
        assert!(connects(starttls).await);
    }

    #[tokio::test]
    async fn dropping_the_server_stops_it_and_removes_its_directory() {
        drop_stops_and_removes(ServerKind::Prosody).await;
    }

    #[tokio::test]
    async fn dropping_an_ejabberd_stops_it_and_removes_its_directory() {
        drop_stops_and_removes(ServerKind::Ejabberd).await;
    }

    async fn drop_stops_and_removes(kind: ServerKind) {
        let server = TestServer::start_with(of(kind)).await;
        let pid = server.pid().expect("running after start");
        let dir = server.dir().to_path_buf();
        let addr = server.starttls_addr();
        assert!(is_alive(pid));

        drop(server);
        assert!(!is_alive(pid), "server {pid} still alive after drop");
        assert!(!connects(addr).await);
        if std::env::var_os(KEEP_ENV).is_none() {
            assert!(!dir.exists(), "{} left behind", dir.display());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_servers_get_distinct_ports_and_options() {
        let opts = ServerOptions {
            hibernation_secs: 5,
            archive_in_memory: true,
            ..of(ServerKind::Prosody)
        };
        let (a, b, c) = tokio::join!(
            TestServer::start_with(opts.clone()),
            TestServer::start_with(of(ServerKind::Prosody)),
            TestServer::start_with(of(ServerKind::Prosody)),
        );
        let mut ports: Vec<u16> = [&a, &b, &c]
            .iter()
            .flat_map(|s| [s.starttls_addr().port(), s.direct_tls_addr().port()])
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 6, "ports shared between servers: {ports:?}");

        let config = std::fs::read_to_string(a.dir().join("prosody.cfg.lua"))
            .expect("read generated config");
        assert!(config.contains("smacks_hibernation_time = 5"), "{config}");
        assert!(
            config.contains(r#"storage = { archive = "memory" }"#),
            "{config}"
        );
        let config = std::fs::read_to_string(b.dir().join("prosody.cfg.lua"))
            .expect("read generated config");
        assert!(config.contains("smacks_hibernation_time = 60"), "{config}");
        assert!(!config.contains(r#"storage = { archive = "memory" }"#));
    }

    /// Two ejabberd nodes and a Prosody at once: distinct ports, their own
    /// options, and each node answers ejabberdctl on its own.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_ejabberds_get_distinct_ports_and_options() {
        let opts = ServerOptions {
            hibernation_secs: 5,
            stanza_limit: Some(20_000),
            ..of(ServerKind::Ejabberd)
        };
        let (a, b, c) = tokio::join!(
            TestServer::start_with(opts),
            TestServer::start_with(of(ServerKind::Ejabberd)),
            TestServer::start_with(of(ServerKind::Prosody)),
        );
        let mut ports: Vec<u16> = [&a, &b, &c]
            .iter()
            .flat_map(|s| [s.starttls_addr().port(), s.direct_tls_addr().port()])
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 6, "ports shared between servers: {ports:?}");

        let config = std::fs::read_to_string(a.dir().join("ejabberd.yml")).expect("config");
        assert!(config.contains("resume_timeout: 5\n"), "{config}");
        assert!(config.contains("max_stanza_size: 20000\n"), "{config}");
        let config = std::fs::read_to_string(b.dir().join("ejabberd.yml")).expect("config");
        assert!(config.contains("resume_timeout: 60\n"), "{config}");

        a.register("only_on_a", "secret").await;
        let list = ["registered_users", "example.test"];
        assert!(a.ctl(&list).await.contains("only_on_a"));
        assert!(!b.ctl(&list).await.contains("only_on_a"));
    }

    #[tokio::test]
    #[should_panic(expected = "no_sasl2 needs Prosody")]
    async fn ejabberd_refuses_no_sasl2() {
        TestServer::start_with(ServerOptions {
            no_sasl2: true,
            ..of(ServerKind::Ejabberd)
        })
        .await;
    }

    #[tokio::test]
    async fn shell_lists_the_modules_the_tests_rely_on() {
        let server = TestServer::start_with(of(ServerKind::Prosody)).await;
        let modules = server.shell("module:list('example.test')").await;
        for module in [
            "smacks",
            "carbons",
            "mam",
            "csi_simple",
            "blocklist",
            "pep",
            "sasl2",
            "sasl2_bind2",
            "sasl2_fast",
            "sasl2_sm",
            "register",
            "cloud_notify",
        ] {
            assert!(
                modules.lines().any(|l| l.trim() == module),
                "module {module} not loaded:\n{modules}"
            );
        }
    }

    fn tls_connector(server: &TestServer) -> tokio_rustls::TlsConnector {
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::CertificateDer;
        use tokio_rustls::rustls::{crypto, ClientConfig, RootCertStore};

        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(server.ca_pem().as_bytes()) {
            roots
                .add(cert.expect("test CA is valid PEM"))
                .expect("test CA is a usable trust anchor");
        }
        let mut config = ClientConfig::builder_with_provider(std::sync::Arc::new(
            crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"xmpp-client".to_vec()];
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
    }

    fn server_name() -> tokio_rustls::rustls::pki_types::ServerName<'static> {
        tokio_rustls::rustls::pki_types::ServerName::try_from("example.test")
            .expect("valid DNS name")
    }

    /// Opens a stream over direct TLS (header with `from`, which ejabberd
    /// wants before it offers SASL2) and returns everything up to the end
    /// of the features.
    async fn direct_tls_features(server: &TestServer) -> String {
        let tcp = TcpStream::connect(server.direct_tls_addr())
            .await
            .expect("connect to direct TLS port");
        let mut tls = tls_connector(server)
            .connect(server_name(), tcp)
            .await
            .expect("rustls accepts the test certificate");
        let header = "<?xml version='1.0'?><stream:stream to='example.test' \
                      from='alice@example.test' version='1.0' xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams'>";
        tls.write_all(header.as_bytes())
            .await
            .expect("send stream header");
        let mut got = String::new();
        let mut buf = vec![0u8; 8192];
        while !got.contains("</stream:features>") {
            let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
                .await
                .expect("reply within 5 s")
                .expect("read over TLS");
            assert!(n > 0, "server closed the stream: {got}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        got
    }

    #[tokio::test]
    async fn rustls_trusts_the_test_ca_on_direct_tls() {
        let server = TestServer::start_with(of(ServerKind::Prosody)).await;
        let reply = direct_tls_features(&server).await;
        assert!(reply.contains("<stream:stream"), "{reply}");
    }

    /// What the fast-login tests rely on: SASL2 with Bind2, inline stream
    /// management and FAST, over ejabberd's direct TLS port.
    #[tokio::test]
    async fn ejabberd_offers_sasl2_bind2_and_fast_over_direct_tls() {
        let server = TestServer::start_with(of(ServerKind::Ejabberd)).await;
        let features = direct_tls_features(&server).await;
        for ns in [
            "urn:xmpp:sasl:2",
            "urn:xmpp:bind:0",
            "urn:xmpp:sm:3",
            "urn:xmpp:fast:0",
            // Passwords are stored for SCRAM-SHA-512 only (ejabberd.yml.in).
            "SCRAM-SHA-512-PLUS",
        ] {
            assert!(features.contains(ns), "{ns} not offered: {features}");
        }
    }

    #[tokio::test]
    async fn rustls_trusts_the_test_ca_after_starttls() {
        rustls_after_starttls(ServerKind::Prosody).await;
    }

    #[tokio::test]
    async fn rustls_trusts_ejabberds_certificate_after_starttls() {
        rustls_after_starttls(ServerKind::Ejabberd).await;
    }

    async fn rustls_after_starttls(kind: ServerKind) {
        let server = TestServer::start_with(of(kind)).await;
        let mut tcp = TcpStream::connect(server.starttls_addr())
            .await
            .expect("connect to STARTTLS port");
        let header = "<?xml version='1.0'?><stream:stream to='example.test' version='1.0' \
                      xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
        tcp.write_all(header.as_bytes())
            .await
            .expect("send stream header");
        let mut got = String::new();
        let mut buf = [0u8; 4096];
        while !got.contains("</stream:features>") {
            let n = tcp.read(&mut buf).await.expect("read features");
            assert!(n > 0, "server closed the stream: {got}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        tcp.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .await
            .expect("send starttls");
        let n = tcp.read(&mut buf).await.expect("read proceed");
        let proceed = String::from_utf8_lossy(&buf[..n]);
        assert!(proceed.contains("<proceed"), "{proceed}");
        tls_connector(&server)
            .connect(server_name(), tcp)
            .await
            .expect("rustls accepts the test certificate after STARTTLS");
    }

    #[test]
    fn parses_the_start_output() {
        let started = parse_started(
            "DOMAIN=example.test\nSTARTTLS_PORT=20001\nDIRECT_TLS_PORT=20002\nHTTPS_PORT=20003\n\
             CA=/tmp/x/ca.pem\nPID=42\n",
        )
        .expect("valid output");
        assert_eq!(started.domain, "example.test");
        assert_eq!(
            (
                started.starttls_port,
                started.direct_tls_port,
                started.https_port
            ),
            (20001, 20002, 20003)
        );
        assert_eq!(started.ca, PathBuf::from("/tmp/x/ca.pem"));
        assert_eq!(started.pid, 42);
        assert!(parse_started("DOMAIN=example.test\n").is_err());
    }

    #[test]
    fn parses_push_lines_and_leaves_a_partial_one() {
        let text = "{\"from\":\"example.test\",\"node\":\"n1\",\"secret\":\"s\",\"count\":1,\
                    \"sender\":\"bob@example.test/r\",\"body\":\"hi\",\"error\":false}\n\
                    {\"from\":\"example.test\",\"node\":\"n2\",\"secret\":null,\"count\":null,\
                    \"sender\":null,\"body\":null,\"error\":true}\n{\"from\":";
        let got = parse_push_lines(text).expect("valid lines");
        assert_eq!(
            got,
            vec![
                PushNotification {
                    from: "example.test".into(),
                    node: "n1".into(),
                    secret: Some("s".into()),
                    count: Some(1),
                    sender: Some("bob@example.test/r".into()),
                    body: Some("hi".into()),
                    failed: false,
                },
                PushNotification {
                    from: "example.test".into(),
                    node: "n2".into(),
                    secret: None,
                    count: None,
                    sender: None,
                    body: None,
                    failed: true,
                },
            ]
        );
        assert_eq!(parse_push_lines(""), Ok(Vec::new()));
        assert!(parse_push_lines("{}\n").is_err());
    }

    #[test]
    fn server_kind_defaults_to_prosody() {
        assert_eq!(ServerKind::default(), ServerKind::Prosody);
        assert!(ServerKind::Ejabberd.script().ends_with("scripts/ejabberd"));
    }
}
