//! `jabberkit-bench`: how JabberKit does on the network, measured on whole
//! client processes against a real, throwaway Prosody 13, beside a slixmpp
//! client doing the same job (issue 5, the network half).
//!
//! Both clients are driven through the same JSON lines (`jabberkit agent`
//! and `bench/peer/slix_agent.py`), so both pay the same protocol overhead
//! and each process's memory and CPU can be read cleanly from /proc.
//!
//! ```text
//! jabberkit-bench [--smoke] [--only N] [--out FILE] [--python PATH] [--require-peer] [--agent PATH]
//! ```
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
mod report;
mod scenarios;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use jabberkit_testkit::server::{ServerOptions, TestServer};

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
}

const USAGE: &str = "usage: jabberkit-bench [--smoke] [--only N] [--out FILE] [--python PATH] \
                     [--require-peer] [--agent PATH]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        smoke: false,
        out: None,
        python: std::env::var_os("JABBERKIT_BENCH_PYTHON").map(PathBuf::from),
        require_peer: false,
        agent: None,
        only: None,
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
    runtime.block_on(run(programs, settings, peer_version, &out, args.only))
}

async fn run(
    programs: Programs,
    settings: Settings,
    peer_version: Option<String>,
    out: &Path,
    only: Option<String>,
) -> ExitCode {
    let started = Instant::now();
    let server = TestServer::start_with(ServerOptions {
        archive_in_memory: true,
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
    let mut rows: Vec<Row> = Vec::new();
    let mut failures = Vec::new();
    macro_rules! scenario {
        ($name:literal, $f:path) => {{
            let wanted = only
                .as_deref()
                .is_none_or(|n| $name.split(' ').next() == Some(n));
            if !wanted {
                eprintln!("bench: scenario {} skipped (--only)", $name);
            } else {
                let t = Instant::now();
                eprintln!("bench: scenario {} …", $name);
                match $f(&mut bench).await {
                    Ok(r) => rows.extend(r),
                    Err(e) => {
                        eprintln!("bench: scenario {} FAILED:\n{e}", $name);
                        failures.push(format!("scenario {}: {}", $name, first_line(&e)));
                    }
                }
                eprintln!(
                    "bench: scenario {} took {:.0} s",
                    $name,
                    t.elapsed().as_secs_f64()
                );
            }
        }};
    }
    scenario!("1 (reconnect round trips)", scenarios::reconnect);
    scenario!("2 (catch-up)", scenarios::catch_up);
    scenario!("4 (throughput)", scenarios::throughput);
    scenario!("5 (memory)", scenarios::memory);
    scenario!("6 (idle traffic)", scenarios::idle_traffic);
    drop(bench);

    let elapsed = started.elapsed().as_secs_f64();
    let mut text = format!(
        "# JabberKit benchmark ({})\n\n{} · commit {} · {} cores · Prosody {} · slixmpp {} · \
         took {:.0} s\n\n",
        if smoke { "smoke" } else { "full" },
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        command_output("git", &["rev-parse", "--short", "HEAD"]),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        command_output("dpkg-query", &["-W", "-f=${Version}", "prosody"]),
        peer_version.as_deref().unwrap_or("skipped (not installed)"),
        elapsed,
    );
    text.push_str(&report::markdown(&rows));
    if !failures.is_empty() {
        text.push_str("\nFailed jobs:\n");
        for f in &failures {
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
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}
