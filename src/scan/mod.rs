//! Running a scan: wiring the stages together.
//!
//! * [`dry_run`] prints the probes a live scan would send, from the same sender loop.
//! * [`network::discover`] finds the interface, addresses and next-hop MAC.
//! * [`sockets`] holds the raw-socket back ends of the sender and the receiver.
//! * [`live`] opens the sockets, drops privileges, starts the receiver, the senders, the
//!   output writer, the blocklist watcher and the monitor, waits for the senders and the
//!   cooldown, and writes the metadata.

mod dryrun;
mod live;
pub mod network;
pub mod sockets;

pub use dryrun::dry_run;
pub use live::live;
pub use network::{discover, Network};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::targets::cyclic::{split_limit, Cyclic, Walk};

/// The largest batch a sender hands to the kernel at once.
pub const MAX_BATCH: usize = 256;

/// The walk of sender `thread` of this shard, limited by its share of `-n`.
pub fn walk_for(
    config: &Config,
    cyclic: &Cyclic,
    thread: u32,
    threads: u32,
    position: u64,
) -> anyhow::Result<Walk> {
    let walk = cyclic
        .try_walk_from(config.shard, config.shards, thread, threads, position)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(match thread_cap(config, thread, threads) {
        Some(cap) => walk.with_limit(cap),
        None => walk,
    })
}

/// Sender `thread`'s share of `-n`, if the scan has a cap.
pub fn thread_cap(config: &Config, thread: u32, threads: u32) -> Option<u64> {
    match config.max_targets {
        // A cap that covers the whole scan is no cap. It must not be split: a walk holds
        // only about its share of the targets, and the ones it holds beyond its share of
        // the cap would be dropped (-n 100% with -T 3 probed 4095 of 4096).
        Some(n) if n < config.space.len() => {
            // The cap is split among the shards first, then each shard's share among its
            // threads, so that the shares add up to -n even when the shards run with
            // different numbers of threads.
            let shard_share = split_limit(n, u64::from(config.shards), u64::from(config.shard));
            Some(split_limit(
                shard_share,
                u64::from(threads),
                u64::from(thread),
            ))
        }
        _ => None,
    }
}

/// SIGINT and SIGTERM: the first one sets `flag` so that the scan stops cleanly (results
/// flushed, checkpoint and metadata written); a second one ends the process at once.
#[derive(Default)]
pub struct StopSignals {
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

/// How a live scan ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Completed,
    Interrupted(i32),
    MaxRuntime,
    MaxResults,
    OutputClosed,
}

impl End {
    pub fn as_str(self) -> &'static str {
        match self {
            End::Completed => "completed",
            End::Interrupted(_) => "interrupted",
            End::MaxRuntime => "max_runtime",
            End::MaxResults => "max_results",
            End::OutputClosed => "output_closed",
        }
    }
}

/// Per-thread packet rates that add up to the scan's rate exactly.
pub fn thread_rates(rate: Option<u64>, threads: u32) -> Vec<Option<f64>> {
    (0..threads)
        .map(|t| {
            rate.map(|r| {
                (r / u64::from(threads) + u64::from(u64::from(t) < r % u64::from(threads))) as f64
            })
        })
        .collect()
}
