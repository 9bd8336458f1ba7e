//! The shared counters: every stage counts what it does here, the monitor reads them once
//! a second, and the metadata and the checkpoint read them at the end.
//!
//! Relaxed atomics, one cache line per writer group, so that the senders and the receiver
//! do not contend. A neutral module: the stages that count depend on it, not on each other.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::validate::DropReason;

#[derive(Default)]
#[repr(align(64))]
pub struct SendCounters {
    /// Frames handed to the kernel.
    pub packets: AtomicU64,
    /// Targets (address, port) whose probes were sent.
    pub targets: AtomicU64,
    /// Targets skipped because the blocklist, as reloaded during the scan, covers them.
    pub blocklisted: AtomicU64,
    /// Send calls that failed for a reason other than a full queue.
    pub errors: AtomicU64,
    /// Frames of the batches whose send failed, when the senders go on past a failure
    /// (`--max-sendto-failures`); their targets are not probed. ZMap's `sendto_failures`.
    pub failed_frames: AtomicU64,
    /// The last send error, for the message of the guard that stops the scan.
    pub last_error: std::sync::Mutex<Option<String>>,
}

#[derive(Default)]
#[repr(align(64))]
pub struct RecvCounters {
    /// Frames the receive socket delivered (after the kernel's BPF filter).
    pub packets: AtomicU64,
    pub synack: AtomicU64,
    pub rst: AtomicU64,
    /// Validated ICMP destination unreachables.
    pub icmp_unreach: AtomicU64,
    /// First SYN-ACK from a target: the results a default scan reports.
    pub unique_success: AtomicU64,
    /// Result lines the output stage has flushed successfully (set by the writer).
    pub written: AtomicU64,
    pub kernel_drops: AtomicU64,
    /// Bytes the receiver's duplicate suppression holds now, and the most it has held
    /// (published by the receiver after each first success: see `recv::dedup`).
    pub dedup_bytes: AtomicU64,
    pub dedup_peak_bytes: AtomicU64,
    pub dropped: [AtomicU64; DropReason::COUNT],
}

#[derive(Default)]
pub struct Counters {
    pub send: SendCounters,
    pub recv: RecvCounters,
    /// Blocklist reloads that took effect, and those refused for a malformed file.
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
}

impl Counters {
    pub fn drop(&self, why: DropReason) {
        self.recv.dropped[why.index()].fetch_add(1, Relaxed);
    }

    pub fn dropped(&self, why: DropReason) -> u64 {
        self.recv.dropped[why.index()].load(Relaxed)
    }
}
