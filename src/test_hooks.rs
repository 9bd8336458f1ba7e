//! Injection points for the integration tests, compiled in only with the `test-hooks`
//! cargo feature. A shipped build (`cargo build --release`, `cargo install`) has no such
//! feature: every function here is then a constant that does nothing, and no environment
//! variable changes what the scanner does.
//!
//! The tests enable the feature through a dev-dependency of the crate on itself (see
//! Cargo.toml), so `cargo test` builds the binary they run with these hooks:
//!
//! * `SYNSURVEY_TEST_STOP_AFTER=N`: a dry run stops as if interrupted after N probes.
//! * `SYNSURVEY_TEST_PAUSE_BEFORE_SEND=PATH`: a live scan, with everything open and the
//!   senders about to start, creates PATH and waits (up to 60 s) until the test removes it.
//!   This makes the window between start-up and the first probe observable.
//! * `SYNSURVEY_TEST_FAULT=STAGE:KIND@MS`: the first check of `STAGE` (`recv`, `send` or
//!   `write`) at least `MS` milliseconds after the first check of any stage fails with
//!   `KIND` (`error` or `panic`), once: the tests of a failing stage (tests/failures.rs).
//! * `SYNSURVEY_TEST_NO_INOTIFY` (any value): the blocklist files are watched by their
//!   stamps only, as when inotify cannot start, so that a test can make a change that only
//!   SIGHUP reveals.

/// `SYNSURVEY_TEST_STOP_AFTER`, if set. Err: not a positive integer.
pub fn stop_after() -> Result<Option<u64>, crate::usage::UsageError> {
    #[cfg(feature = "test-hooks")]
    if let Some(v) = std::env::var_os("SYNSURVEY_TEST_STOP_AFTER") {
        let n = v
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                crate::usage::UsageError(format!(
                    "SYNSURVEY_TEST_STOP_AFTER: {v:?} is not a positive integer"
                ))
            })?;
        return Ok(Some(n));
    }
    Ok(None)
}

/// Pauses before the first probe while the file named by `SYNSURVEY_TEST_PAUSE_BEFORE_SEND`
/// exists (this function creates it).
pub fn pause_before_send() {
    #[cfg(feature = "test-hooks")]
    if let Some(path) = std::env::var_os("SYNSURVEY_TEST_PAUSE_BEFORE_SEND") {
        let path = std::path::PathBuf::from(path);
        if std::fs::write(&path, b"paused\n").is_ok() {
            let t = std::time::Instant::now();
            while path.exists() && t.elapsed() < std::time::Duration::from_secs(60) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

/// True if `SYNSURVEY_TEST_NO_INOTIFY` is set: watch the blocklist files by their stamps only.
pub fn no_inotify() -> bool {
    #[cfg(feature = "test-hooks")]
    if std::env::var_os("SYNSURVEY_TEST_NO_INOTIFY").is_some() {
        return true;
    }
    false
}

use std::io;

/// A stage of the pipeline that a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Recv,
    Send,
    Write,
}

/// Fails here if the test asked for it: returns an error, or panics.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn fault(_at: Point) -> io::Result<()> {
    Ok(())
}

#[cfg(feature = "test-hooks")]
pub fn fault(at: Point) -> io::Result<()> {
    armed::fault(at)
}

#[cfg(feature = "test-hooks")]
mod armed {
    use super::Point;
    use std::io;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    struct Plan {
        at: Point,
        panic: bool,
        after: Duration,
        start: Instant,
        fired: AtomicBool,
    }

    fn plan() -> Option<&'static Plan> {
        static PLAN: OnceLock<Option<Plan>> = OnceLock::new();
        PLAN.get_or_init(|| {
            let spec = std::env::var("SYNSURVEY_TEST_FAULT").ok()?;
            let (what, ms) = spec.split_once('@')?;
            let (stage, kind) = what.split_once(':')?;
            let at = match stage {
                "recv" => Point::Recv,
                "send" => Point::Send,
                "write" => Point::Write,
                _ => return None,
            };
            Some(Plan {
                at,
                panic: kind == "panic",
                after: Duration::from_millis(ms.parse().ok()?),
                start: Instant::now(),
                fired: AtomicBool::new(false),
            })
        })
        .as_ref()
    }

    pub(super) fn fault(at: Point) -> io::Result<()> {
        let Some(p) = plan() else { return Ok(()) };
        if p.at != at || p.start.elapsed() < p.after || p.fired.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        // The test compares this time with the capture of the probes sent after it.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        eprintln!("synsurvey: test hook: injected fault at {now} us");
        if p.panic {
            panic!("injected panic in {at:?}");
        }
        Err(io::Error::other(format!("injected error in {at:?}")))
    }
}
