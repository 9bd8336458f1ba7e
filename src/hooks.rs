//! Fault injection for the integration tests: a stage fails on purpose, so that the tests
//! can check that a failure stops the scan instead of letting it scan blind.
//!
//! The points exist only with the `test-hooks` cargo feature, which only the tests turn on
//! (through the dev-dependency of the crate on itself). In a shipped build [`fault`] is a
//! constant `None` and the compiler removes every call. With the feature, the environment
//! variable `SYNSURVEY_TEST_FAULT=STAGE:KIND@MS` makes the first check of `STAGE` (`recv`,
//! `send` or `write`) at least `MS` milliseconds after the first check of any stage fail
//! with `KIND` (`error` or `panic`), once.

use std::io;

/// A stage of the pipeline that a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    Recv,
    Send,
    Write,
}

/// Fails here if the test asked for it: returns an error, or panics.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn fault(_at: Point) -> io::Result<()> {
    Ok(())
}

#[cfg(feature = "test-hooks")]
pub(crate) fn fault(at: Point) -> io::Result<()> {
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
