//! Routes the core's `tracing` output to the platform's log: logcat on
//! Android, the unified log (os_log) on Apple platforms, stderr elsewhere.

/// How much JabberKit logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    #[cfg_attr(target_os = "android", allow(dead_code))]
    fn directive(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// Starts (or re-levels) JabberKit's logging. Safe to call more than once;
/// on desktop the `JABBERKIT_LOG` environment variable, if set, wins.
#[uniffi::export]
pub fn init_logging(level: LogLevel) {
    platform::init(level);
}

#[cfg(target_os = "android")]
mod platform {
    use super::LogLevel;

    pub(super) fn init(level: LogLevel) {
        let filter = match level {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        };
        // tracing's `log` feature forwards events to `log`, which
        // android_logger sends to logcat under the tag "JabberKit".
        android_logger::init_once(
            android_logger::Config::default()
                .with_tag("JabberKit")
                .with_max_level(filter),
        );
        log::set_max_level(filter);
    }
}

#[cfg(not(target_os = "android"))]
mod platform {
    use std::sync::OnceLock;

    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{reload, EnvFilter, Registry};

    use super::LogLevel;

    static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

    fn filter(level: LogLevel) -> EnvFilter {
        EnvFilter::try_from_env("JABBERKIT_LOG")
            .unwrap_or_else(|_| EnvFilter::new(level.directive()))
    }

    pub(super) fn init(level: LogLevel) {
        if let Some(handle) = FILTER.get() {
            let _ = handle.reload(filter(level));
            return;
        }
        let (layer, handle) = reload::Layer::new(filter(level));
        let registry = tracing_subscriber::registry().with(layer);
        #[cfg(target_vendor = "apple")]
        let installed = registry
            .with(tracing_oslog::OsLogger::new("org.jabberkit", "core"))
            .try_init();
        #[cfg(not(target_vendor = "apple"))]
        let installed = registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init();
        // Another subscriber may already be installed by the host app.
        if installed.is_ok() {
            let _ = FILTER.set(handle);
        }
    }
}
