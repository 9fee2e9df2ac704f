//! `jabberkit-bench`: how JabberKit does on the network, measured on whole
//! client processes against a real, throwaway Prosody 13 (and ejabberd
//! 24.12 for the login's round trips, issue 13), beside a slixmpp client
//! doing the same job (issue 5, the network half).
//!
//! Both clients are driven through the same JSON lines (`jabberkit agent`
//! and `bench/peer/slix_agent.py`), so both pay the same protocol overhead
//! and each process's memory and CPU can be read cleanly from /proc.
//!
//! ```text
//! jabberkit-bench [--smoke] [--only N] [--server prosody|ejabberd|both] [--out FILE]
//!                 [--python PATH] [--require-peer] [--agent PATH]
//! ```
//!
//! Scenario 1 (the login's round trips) runs against every server
//! `--server` names, both by default: Prosody 13 and ejabberd 24.12 (each
//! started for the run); the others run against Prosody only.
//!
//! `--smoke` runs a tiny version of every scenario; the default is the full
//! run (5 runs of the quick figures, 3 of the slow ones). The table is
//! printed on stdout and written as Markdown to `--out` (default
//! `target/bench/results.md`, or `target/bench/smoke.md` with `--smoke`).
//! The peer runs on the Python given by `--python`, `JABBERKIT_BENCH_PYTHON`
//! or `target/bench-venv/bin/python` (made by `scripts/bench`); without a
//! usable slixmpp there it is skipped, unless `--require-peer`. Our agent is
//! built with this binary's profile and taken from beside it, unless
//! `--agent` names a `jabberkit` binary to use as it is.
//!
//! Figures never fail the run; a job that goes wrong (a lost or duplicated
//! message, a client that never comes online) does, with exit code 1.

mod agent;
mod login;
mod report;
mod scenarios;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use jabberkit_testkit::server::{ServerKind, ServerOptions, TestServer};

use crate::agent::Programs;
use crate::report::Row;
use crate::scenarios::{Bench, Settings};

/// The peer script, relative to the workspace root.
const PEER_SCRIPT: &str = "bench/peer/slix_agent.py";
/// Where `scripts/bench` makes the peer's virtualenv.
const DEFAULT_VENV_PYTHON: &str = "target/bench-venv/bin/python";

#[derive(Debug)]
struct Args {
    smoke: bool,
    out: Option<PathBuf>,
    python: Option<PathBuf>,
    require_peer: bool,
    agent: Option<PathBuf>,
    /// Run only the scenario with this number (e.g. `1`).
    only: Option<String>,
    /// The servers scenario 1 runs against (`--server`).
    servers: Vec<ServerKind>,
}

const USAGE: &str = "usage: jabberkit-bench [--smoke] [--only N] [--server prosody|ejabberd|both] \
                     [--out FILE] [--python PATH] [--require-peer] [--agent PATH]";

/// The servers `--server` names.
fn parse_servers(name: &str) -> Result<Vec<ServerKind>, String> {
    match name {
        "prosody" => Ok(vec![ServerKind::Prosody]),
        "ejabberd" => Ok(vec![ServerKind::Ejabberd]),
        "both" => Ok(vec![ServerKind::Prosody, ServerKind::Ejabberd]),
        other => Err(format!(
            "--server {other:?}: want prosody, ejabberd or both\n{USAGE}"
        )),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        smoke: false,
        out: None,
        python: std::env::var_os("JABBERKIT_BENCH_PYTHON").map(PathBuf::from),
        require_peer: false,
        agent: None,
        only: None,
        servers: parse_servers("both")?,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--smoke" => args.smoke = true,
            "--require-peer" => args.require_peer = true,
            "--out" => args.out = Some(it.next().ok_or("--out needs a file")?.into()),
            "--python" => args.python = Some(it.next().ok_or("--python needs a path")?.into()),
            "--agent" => args.agent = Some(it.next().ok_or("--agent needs a path")?.into()),
            "--only" => args.only = Some(it.next().ok_or("--only needs a scenario number")?),
            "--server" => args.servers = parse_servers(&it.next().ok_or("--server needs a name")?)?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Builds `jabberkit` with this binary's profile, next to it, and returns
/// its path.
fn build_our_agent(root: &Path) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let dir = exe.parent().ok_or("this binary has no directory")?;
    let release = dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(root).args([
        "build",
        "--locked",
        "-p",
        "jabberkit-cli",
        "--bin",
        "jabberkit",
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of jabberkit-cli failed ({status})"));
    }
    let agent = dir.join("jabberkit");
    if !agent.is_file() {
        return Err(format!("{} missing after the build", agent.display()));
    }
    Ok(agent)
}

/// The peer's Python and its slixmpp version, if slixmpp imports there.
fn find_peer(root: &Path, python: Option<PathBuf>) -> Result<(PathBuf, PathBuf, String), String> {
    let python = python.unwrap_or_else(|| root.join(DEFAULT_VENV_PYTHON));
    let script = root.join(PEER_SCRIPT);
    let out = std::process::Command::new(&python)
        .args(["-c", "import slixmpp; print(slixmpp.__version__)"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "slixmpp does not import in {}: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((python, script, version))
}

fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".into())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let root = workspace_root();
    let ours = match args
        .agent
        .clone()
        .map_or_else(|| build_our_agent(&root), Ok)
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("jabberkit-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (peer, peer_version) = match find_peer(&root, args.python.clone()) {
        Ok((python, script, version)) => (Some((python, script)), Some(version)),
        Err(e) if args.require_peer => {
            eprintln!("jabberkit-bench: the slixmpp peer is required: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("jabberkit-bench: slixmpp peer skipped: {e}");
            (None, None)
        }
    };
    let settings = if args.smoke {
        Settings::smoke()
    } else {
        Settings::full()
    };
    let out = args.out.clone().unwrap_or_else(|| {
        root.join("target/bench")
            .join(if args.smoke { "smoke.md" } else { "results.md" })
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jabberkit-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let programs = Programs { ours, peer };
    runtime.block_on(run(
        programs,
        settings,
        peer_version,
        &out,
        args.only,
        args.servers,
    ))
}

/// What the scenarios produced so far.
struct Outcome {
    /// Run only the scenario with this number (`--only`).
    only: Option<String>,
    rows: Vec<Row>,
    /// Scenario 1's login tables, one per server.
    tables: Vec<login::LoginTable>,
    failures: Vec<String>,
}

impl Outcome {
    /// Whether `--only` lets the scenario named `name` ("1 (…)") run.
    fn wanted(&self, name: &str) -> bool {
        self.only
            .as_deref()
            .is_none_or(|n| name.split(' ').next() == Some(n))
    }

    /// Runs one scenario, if wanted, and keeps its rows or its failure.
    async fn run<F>(&mut self, name: &str, scenario: F)
    where
        F: std::future::Future<Output = Result<Vec<Row>, String>>,
    {
        if !self.wanted(name) {
            eprintln!("bench: scenario {name} skipped (--only)");
            return;
        }
        let t = Instant::now();
        eprintln!("bench: scenario {name} …");
        match scenario.await {
            Ok(r) => self.rows.extend(r),
            Err(e) => {
                eprintln!("bench: scenario {name} FAILED:\n{e}");
                self.failures
                    .push(format!("scenario {name}: {}", first_line(&e)));
            }
        }
        eprintln!(
            "bench: scenario {name} took {:.0} s",
            t.elapsed().as_secs_f64()
        );
    }
}

/// The installed package's version, or "?".
fn package_version(kind: ServerKind) -> String {
    let package = match kind {
        ServerKind::Prosody => "prosody",
        ServerKind::Ejabberd => "ejabberd",
    };
    command_output("dpkg-query", &["-W", "-f=${Version}", package])
}

/// Scenario 1 on every server asked for: Prosody's on `bench` (the server
/// of the other scenarios), ejabberd's on a server of its own, started
/// here and stopped when done.
async fn login_scenarios(bench: &mut Bench, servers: &[ServerKind], outcome: &mut Outcome) {
    for &kind in servers {
        let name = format!("1 (login round trips, {})", login::server_name(kind));
        if !outcome.wanted(&name) {
            eprintln!("bench: scenario {name} skipped (--only)");
            continue;
        }
        let version = package_version(kind);
        if version == "?" {
            // Starting it would panic: say what to do instead.
            let script = format!("scripts/{}", login::server_name(kind).to_lowercase());
            outcome.failures.push(format!(
                "scenario {name}: not installed (run {script} install, or pass --server)"
            ));
            continue;
        }
        let mut own;
        let b = if kind == bench.server.kind() {
            &mut *bench
        } else {
            let server = TestServer::start_with(ServerOptions {
                kind,
                ..ServerOptions::default()
            })
            .await;
            let (programs, settings) = (bench.programs.clone(), bench.settings.clone());
            own = match Bench::new(server, programs, settings, bench.clock_ticks) {
                Ok(b) => b,
                Err(e) => {
                    outcome.failures.push(format!("scenario {name}: {e}"));
                    continue;
                }
            };
            &mut own
        };
        let mut table = None;
        outcome
            .run(&name, async {
                let (rows, t) = login::reconnect(b, &version).await?;
                table = Some(t);
                Ok(rows)
            })
            .await;
        outcome.tables.extend(table);
    }
}

async fn run(
    programs: Programs,
    settings: Settings,
    peer_version: Option<String>,
    out: &Path,
    only: Option<String>,
    servers: Vec<ServerKind>,
) -> ExitCode {
    let started = Instant::now();
    // Prosody always: it is the server of every scenario but the first.
    let server = TestServer::start_with(ServerOptions {
        archive_in_memory: true,
        kind: ServerKind::Prosody,
        ..ServerOptions::default()
    })
    .await;
    let smoke = settings.smoke;
    let mut bench = match Bench::new(server, programs, settings, agent::clock_ticks()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("jabberkit-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut o = Outcome {
        only,
        rows: Vec::new(),
        tables: Vec::new(),
        failures: Vec::new(),
    };
    login_scenarios(&mut bench, &servers, &mut o).await;
    o.run("2 (catch-up)", scenarios::catch_up(&mut bench)).await;
    o.run("4 (throughput)", scenarios::throughput(&mut bench))
        .await;
    o.run("5 (memory)", scenarios::memory(&mut bench)).await;
    o.run("6 (idle traffic)", scenarios::idle_traffic(&mut bench))
        .await;
    drop(bench);

    let mut text = header(smoke, &servers, peer_version.as_deref(), started);
    text.push_str(&report::markdown(&o.rows));
    for table in &o.tables {
        text.push_str(&table.markdown());
    }
    if !o.failures.is_empty() {
        text.push_str("\nFailed jobs:\n");
        for f in &o.failures {
            text.push_str(&format!("- {f}\n"));
        }
    }
    println!("{text}");
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(out, &text) {
        Ok(()) => eprintln!("bench: table written to {}", out.display()),
        Err(e) => eprintln!("bench: cannot write {}: {e}", out.display()),
    }
    if o.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The report's title and the line saying what ran where.
fn header(smoke: bool, servers: &[ServerKind], peer: Option<&str>, started: Instant) -> String {
    let ejabberd = if servers.contains(&ServerKind::Ejabberd) {
        format!(
            " · ejabberd {} (scenario 1)",
            package_version(ServerKind::Ejabberd)
        )
    } else {
        String::new()
    };
    format!(
        "# JabberKit benchmark ({})\n\n{} · commit {} · {} cores · Prosody {}{ejabberd} · \
         slixmpp {} · took {:.0} s\n\n",
        if smoke { "smoke" } else { "full" },
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        command_output("git", &["rev-parse", "--short", "HEAD"]),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        package_version(ServerKind::Prosody),
        peer.unwrap_or("skipped (not installed)"),
        started.elapsed().as_secs_f64(),
    )
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}
