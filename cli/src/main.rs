//! `jabberkit`: the JabberKit core on the command line.
//!
//! - `jabberkit agent`: a JSON-lines adapter for scripts and tests (see
//!   [`json`] for the contract).
//! - `jabberkit chat`: a small interactive chat for people.
//!
//! The password comes from `JABBERKIT_PASSWORD`, never from an argument
//! (arguments are visible to every user in `ps`). Logs go to stderr,
//! filtered by `JABBERKIT_LOG` (default `warn`).

mod agent;
mod chat;
mod json;
mod room_items;
mod rooms;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jabberkit::{Client, ClientConfig, TlsMode};
use tokio::io::BufReader;

/// Where the password is read from.
const PASSWORD_ENV: &str = "JABBERKIT_PASSWORD";
/// The log filter (tracing-subscriber `EnvFilter` syntax).
const LOG_ENV: &str = "JABBERKIT_LOG";

/// Exit code for unusable arguments or environment (as clap uses).
const EXIT_USAGE: u8 = 2;
/// Exit code when the client cannot be created.
const EXIT_CLIENT: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "jabberkit",
    version,
    about = "The JabberKit XMPP core on the command line"
)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// JSON lines: commands on stdin, events on stdout (for scripts).
    Agent(AccountArgs),
    /// A small interactive chat (for people).
    Chat(AccountArgs),
}

/// The account to run; the password is read from JABBERKIT_PASSWORD.
#[derive(Debug, Args)]
struct AccountArgs {
    /// The account, user@domain.
    #[arg(long)]
    jid: String,
    /// Directory of the account's message store (created if missing).
    #[arg(long)]
    store: PathBuf,
    /// Server address as HOST:PORT (default: DNS SRV lookup of the domain).
    #[arg(long, value_name = "HOST:PORT")]
    server: Option<String>,
    /// A DNS server for the SRV lookup, as IP or IP:PORT (repeatable;
    /// default: the system's). Unused with --server.
    #[arg(long = "dns", value_name = "IP[:PORT]")]
    dns_servers: Vec<String>,
    /// Create the account first (XEP-0077, on a server that allows it)
    /// with the password, then run. The agent prints `signed_up` or
    /// `sign_up_failed` first, and exits 1 after a failure.
    #[arg(long)]
    sign_up: bool,
    /// How TLS is set up. With the SRV lookup, the preferred mode at equal
    /// record priority.
    #[arg(long, value_enum, default_value_t = Tls::Starttls)]
    tls: Tls,
    /// Extra trusted CA certificates (PEM file), on top of the system roots.
    #[arg(long, value_name = "PEM_FILE")]
    ca: Option<PathBuf>,
    /// Seconds of silence before asking the server for a sign of life; the
    /// same time is then allowed for the answer.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    keepalive: Option<Duration>,
    /// First retry delay after a failed connection attempt, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    retry_min: Option<Duration>,
    /// Longest retry delay, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    retry_max: Option<Duration>,
    /// How long one connection attempt may take, in seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    connect_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Tls {
    /// TLS from the first byte (usually port 5223).
    Direct,
    /// Plain TCP upgraded with STARTTLS (usually port 5222).
    Starttls,
}

/// Seconds, fractions allowed (`0.5`), more than zero.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("{s} must be more than 0 and at most 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl AccountArgs {
    /// The client configuration, or a message for a usage error.
    fn config(&self, password: String) -> Result<ClientConfig, String> {
        let mut cfg = ClientConfig::new(&self.jid, password, &self.store);
        cfg.server = self.server.clone();
        cfg.dns_servers = self.dns_servers.clone();
        cfg.tls = match self.tls {
            Tls::Direct => TlsMode::DirectTls,
            Tls::Starttls => TlsMode::StartTls,
        };
        if let Some(path) = &self.ca {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --ca {}: {e}", path.display()))?;
            cfg.extra_ca_pem = Some(pem);
        }
        if let Some(d) = self.keepalive {
            cfg.keepalive_idle = d;
            cfg.keepalive_timeout = d;
        }
        if let Some(d) = self.retry_min {
            cfg.min_retry_delay = d;
        }
        if let Some(d) = self.retry_max {
            cfg.max_retry_delay = d;
        }
        if cfg.max_retry_delay < cfg.min_retry_delay {
            return Err("--retry-max must not be less than the first retry delay".into());
        }
        if let Some(d) = self.connect_timeout {
            cfg.connect_timeout = d;
        }
        Ok(cfg)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let (args, is_agent) = match &cli.command {
        Mode::Agent(args) => (args, true),
        Mode::Chat(args) => (args, false),
    };
    let password = match std::env::var(PASSWORD_ENV) {
        Ok(p) if !p.is_empty() => p,
        _ => {
            eprintln!(
                "jabberkit: set the account's password in the {PASSWORD_ENV} environment variable"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let config = match args.config(password) {
        Ok(cfg) => cfg,
        Err(message) => {
            eprintln!("jabberkit: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jabberkit: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_CLIENT);
        }
    };
    let sign_up = args.sign_up;
    let code = runtime.block_on(async {
        if sign_up {
            let out = json::Output::sign_up(&config.jid, jabberkit::sign_up(&config).await);
            let failed = matches!(out, json::Output::SignUpFailed { .. });
            if is_agent {
                println!("{}", out.to_line());
            } else if let json::Output::SignUpFailed { message, .. } = &out {
                eprintln!("jabberkit: sign-up: {message}");
            } else {
                eprintln!("jabberkit: signed up {}", config.jid);
            }
            if failed {
                return ExitCode::from(EXIT_CLIENT);
            }
        }
        let client = match Client::new(config) {
            Ok(client) => client,
            Err(e) => {
                eprintln!("jabberkit: cannot create the client: {e}");
                return ExitCode::from(EXIT_CLIENT);
            }
        };
        let stdin = BufReader::new(tokio::io::stdin());
        let stdout = tokio::io::stdout();
        let result = if is_agent {
            agent::run(client, stdin, stdout).await
        } else {
            chat::run(client, stdin, stdout).await
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            // stdout closed: whoever read it is gone; nothing left to do.
            Err(e) => {
                tracing::warn!("cannot write to stdout: {e}");
                ExitCode::SUCCESS
            }
        }
    });
    // Tokio's stdin reader blocks a thread in read(2) that cannot be
    // cancelled; waiting for it would hang until the next line or EOF.
    runtime.shutdown_background();
    code
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(LOG_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("jabberkit").chain(args.iter().copied()))
    }

    fn account(cli: Cli) -> AccountArgs {
        match cli.command {
            Mode::Agent(a) | Mode::Chat(a) => a,
        }
    }

    #[test]
    fn agent_arguments_become_a_client_config() {
        let cli = parse(&[
            "agent",
            "--jid",
            "alice@example.test",
            "--store",
            "/tmp/s",
            "--server",
            "127.0.0.1:5222",
            "--tls",
            "direct",
            "--keepalive",
            "2.5",
            "--retry-max",
            "3",
            "--dns",
            "127.0.0.1:5353",
            "--dns",
            "::1",
        ])
        .expect("valid");
        let cfg = account(cli).config("pw".into()).expect("config");
        assert_eq!(cfg.jid, "alice@example.test");
        assert_eq!(cfg.password, "pw");
        assert_eq!(cfg.store_dir, PathBuf::from("/tmp/s"));
        assert_eq!(cfg.server.as_deref(), Some("127.0.0.1:5222"));
        assert_eq!(cfg.tls, TlsMode::DirectTls);
        assert_eq!(cfg.keepalive_idle, Duration::from_millis(2500));
        assert_eq!(cfg.keepalive_timeout, Duration::from_millis(2500));
        assert_eq!(cfg.max_retry_delay, Duration::from_secs(3));
        assert_eq!(cfg.extra_ca_pem, None);
        assert_eq!(cfg.dns_servers, ["127.0.0.1:5353", "::1"]);
    }

    #[test]
    fn defaults_are_the_cores() {
        let cli = parse(&["chat", "--jid", "a@b.test", "--store", "s"]).expect("valid");
        let cfg = account(cli).config("pw".into()).expect("config");
        let core = ClientConfig::new("a@b.test", "pw", "s");
        assert_eq!(cfg.tls, TlsMode::StartTls);
        assert_eq!(cfg.server, None);
        assert_eq!(cfg.keepalive_idle, core.keepalive_idle);
        assert_eq!(cfg.max_retry_delay, core.max_retry_delay);
    }

    #[test]
    fn bad_arguments_are_refused() {
        for args in [
            &["agent", "--store", "s"][..],
            &["agent", "--jid", "a@b.test"],
            &[
                "agent", "--jid", "a@b.test", "--store", "s", "--tls", "none",
            ],
            &[
                "agent",
                "--jid",
                "a@b.test",
                "--store",
                "s",
                "--keepalive",
                "0",
            ],
            &[
                "agent",
                "--jid",
                "a@b.test",
                "--store",
                "s",
                "--password",
                "pw",
            ],
            &["dance"],
        ] {
            let err = parse(args).expect_err(&args.join(" "));
            assert_eq!(err.exit_code(), i32::from(EXIT_USAGE), "{args:?}");
        }
        let cli = parse(&[
            "agent",
            "--jid",
            "a@b.test",
            "--store",
            "s",
            "--retry-min",
            "9",
            "--retry-max",
            "3",
        ])
        .expect("parses");
        assert!(account(cli).config("pw".into()).is_err());
    }

    #[test]
    fn an_unreadable_ca_file_is_a_usage_error() {
        let cli = parse(&[
            "agent",
            "--jid",
            "a@b.test",
            "--store",
            "s",
            "--ca",
            "/nonexistent/ca.pem",
        ])
        .expect("parses");
        let err = account(cli).config("pw".into()).expect_err("refused");
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
