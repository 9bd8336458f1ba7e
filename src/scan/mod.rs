//! Running a scan: wiring the stages together.
//!
//! * [`live`] runs a live scan in four phases (`live_scan`): open the resources, spawn the
//!   pipeline, monitor it, end it (checkpoint, metadata, summary), whatever stopped it.
//! * `monitor`: the once-a-second loop (status line, checkpoint saves, signals, cooldown).
//! * `checkpointing`: the senders' published progress and the periodic saves.
//! * [`dry_run`] prints the probes a live scan would send, from the same sender loop.
//! * [`network::discover`] finds the interface, addresses and next-hop MAC.

mod checkpointing;
mod dispatch;
mod dryrun;
mod guards;
mod live_scan;
mod monitor;
mod network;
mod record;

pub use dryrun::dry_run;
pub use live_scan::live;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use anyhow::Context;

use crate::stop::Reason;

use crate::send::MAX_BATCH;

/// SIGINT and SIGTERM: the first one sets `flag` so that the scan stops cleanly (results
/// flushed, checkpoint and metadata written); a second one ends the process at once.
#[derive(Default)]
pub(crate) struct StopSignals {
    pub flag: Arc<AtomicBool>,
    which: Arc<AtomicUsize>,
}

impl StopSignals {
    pub fn install() -> anyhow::Result<StopSignals> {
        let s = StopSignals::default();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(sig, 128 + sig, s.flag.clone())
                .and_then(|_| signal_hook::flag::register(sig, s.flag.clone()))
                .and_then(|_| signal_hook::flag::register_usize(sig, s.which.clone(), sig as usize))
                .context("installing signal handlers")?;
        }
        Ok(s)
    }

    /// The signal received, if any.
    pub fn received(&self) -> Option<i32> {
        match self.which.load(Relaxed) {
            0 => None,
            sig => Some(sig as i32),
        }
    }
}

/// How a scan ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Completed,
    Interrupted(i32),
    MaxRuntime,
    MaxResults,
    OutputClosed,
    /// A stage failed; the error itself is returned beside.
    Failed,
}

impl From<Option<Reason>> for End {
    /// No stop reason: the scan ran out of targets.
    fn from(reason: Option<Reason>) -> End {
        match reason {
            None => End::Completed,
            Some(Reason::Signal(sig)) => End::Interrupted(sig),
            Some(Reason::MaxRuntime) => End::MaxRuntime,
            Some(Reason::MaxResults) => End::MaxResults,
            Some(Reason::OutputClosed) => End::OutputClosed,
            Some(Reason::Failed { .. } | Reason::Guard { .. }) => End::Failed,
        }
    }
}
