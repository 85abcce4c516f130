//! The process's resource usage (getrusage), so every language reports the same numbers.

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub user_s: f64,
    pub system_s: f64,
    /// Peak resident set size of the process, MiB.
    pub max_rss_mb: f64,
}

pub(crate) fn process_usage() -> Usage {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_SELF is always valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Usage::default();
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Usage {
        user_s: secs(ru.ru_utime),
        system_s: secs(ru.ru_stime),
        // Linux reports ru_maxrss in KiB.
        max_rss_mb: ru.ru_maxrss as f64 / 1024.0,
    }
}
