//! The engine's own messages (a backend failing or recovering, a spool full, records skipped)
//! go through the `log` facade, so that a host with a logger gets them in its own format: the
//! agent routes them into its structured JSON logs (tracing). A process without a logger, which
//! is every C, Python, Java, R and Perl application, gets them on stderr, prefixed
//! `monitoring:`, from the small logger [`install_default`] sets when the first client starts.
//! `MONITORING_LOG=off|error|warn|info|debug` sets its level (default `info`: the messages are
//! rare state changes, and a `failing` should be followed by its `recovered`).

use std::sync::Once;

use log::{LevelFilter, Log, Metadata, Record};

struct Stderr;

static STDERR: Stderr = Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            eprintln!("monitoring: {}", record.args());
        }
    }

    fn flush(&self) {}
}

/// Sets the stderr logger unless the process has a logger already (then its level is left as
/// the host chose it).
pub(crate) fn install_default() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if log::set_logger(&STDERR).is_ok() {
            log::set_max_level(level(std::env::var("MONITORING_LOG").ok().as_deref()));
        }
    });
}

fn level(setting: Option<&str>) -> LevelFilter {
    match setting.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("off" | "none" | "0") => LevelFilter::Off,
        Some("error") => LevelFilter::Error,
        Some("warn" | "warning") => LevelFilter::Warn,
        Some("debug") => LevelFilter::Debug,
        Some("trace") => LevelFilter::Trace,
        _ => LevelFilter::Info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_from_the_setting_with_info_by_default() {
        assert_eq!(level(None), LevelFilter::Info);
        assert_eq!(level(Some("")), LevelFilter::Info);
        assert_eq!(level(Some(" OFF ")), LevelFilter::Off);
        assert_eq!(level(Some("warning")), LevelFilter::Warn);
        assert_eq!(level(Some("error")), LevelFilter::Error);
        assert_eq!(level(Some("debug")), LevelFilter::Debug);
    }
}
