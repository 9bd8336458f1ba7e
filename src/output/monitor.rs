//! Shared counters and the progress line.
//!
//! Every stage counts what it does in [`Counters`] (relaxed atomics, one cache line per
//! writer group so that senders and the receiver do not contend). The monitor reads them
//! once a second and prints a status line on standard error; the metadata summary reads
//! them at the end.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

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
    pub dropped: [AtomicU64; DropReason::ALL.len()],
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

/// A snapshot for one progress line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub sent: u64,
    pub targets_done: u64,
    pub received: u64,
    pub successes: u64,
    pub kernel_drops: u64,
}

impl Snapshot {
    pub fn take(c: &Counters, elapsed: Duration) -> Snapshot {
        Snapshot {
            elapsed,
            sent: c.send.packets.load(Relaxed),
            targets_done: c.send.targets.load(Relaxed) + c.send.blocklisted.load(Relaxed),
            received: c.recv.packets.load(Relaxed),
            successes: c.recv.unique_success.load(Relaxed),
            kernel_drops: c.recv.kernel_drops.load(Relaxed),
        }
    }
}

/// Formats the status line from two consecutive snapshots.
pub fn status_line(
    prev: &Snapshot,
    now: &Snapshot,
    planned_targets: u64,
    cooldown_left: Option<Duration>,
) -> String {
    let dt = (now.elapsed.saturating_sub(prev.elapsed))
        .as_secs_f64()
        .max(1e-6);
    let send_rate = (now.sent - prev.sent) as f64 / dt;
    let recv_rate = (now.received - prev.received) as f64 / dt;
    let done = if planned_targets == 0 {
        100.0
    } else {
        100.0 * now.targets_done as f64 / planned_targets as f64
    };
    let avg = if now.elapsed.as_secs_f64() > 0.0 {
        now.targets_done as f64 / now.elapsed.as_secs_f64()
    } else {
        0.0
    };
    let left = match cooldown_left {
        Some(c) => format!("cooldown {:.0}s", c.as_secs_f64()),
        None if avg > 0.0 => {
            let secs = planned_targets.saturating_sub(now.targets_done) as f64 / avg;
            format!("{} left", hms(secs))
        }
        None => "? left".into(),
    };
    let hit = if now.targets_done > 0 {
        100.0 * now.successes as f64 / now.targets_done as f64
    } else {
        0.0
    };
    format!(
        "{} {:5.1}% ({}); send: {} ({}p/s); recv: {} ({}p/s); hits: {:.2}%; drops: {}",
        hms(now.elapsed.as_secs_f64()),
        done.min(100.0),
        left,
        now.sent,
        si(send_rate),
        now.successes,
        si(recv_rate),
        hit,
        now.kernel_drops
    )
}

fn hms(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2} K", v / 1e3)
    } else {
        format!("{v:.0} ")
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn status_line_reports_rates() {
        let a = Snapshot {
            elapsed: Duration::from_secs(1),
            sent: 1000,
            targets_done: 1000,
            received: 10,
            successes: 5,
            kernel_drops: 0,
        };
        let b = Snapshot {
            elapsed: Duration::from_secs(2),
            sent: 3000,
            targets_done: 3000,
            received: 30,
            successes: 15,
            kernel_drops: 2,
        };
        let line = status_line(&a, &b, 6000, None);
        assert!(line.starts_with("0:00:02  50.0% (0:00:02 left)"), "{line}");
        assert!(line.contains("send: 3000 (2.00 Kp/s)"), "{line}");
        assert!(line.contains("drops: 2"), "{line}");
        assert!(line.contains("hits: 0.50%"), "{line}");
    }
}
