//! `-u/--status-updates-file`: the progress line as CSV, one row a second, in ZMap's
//! columns (ZMap 4's order, which adds `hit-rate` to ZMap 2's).
//!
//! Every column ZMap writes is present, so that plotting scripts written for ZMap's file
//! read ours; the values come from the same shared counters as the progress line on
//! standard error. A row is flushed when written: the file is for watching a scan.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::counters::Counters;

/// ZMap's columns.
pub const COLUMNS: &[&str] = &[
    "real-time",
    "time-elapsed",
    "time-remaining",
    "percent-complete",
    "hit-rate",
    "active-send-threads",
    "sent-total",
    "sent-last-one-sec",
    "sent-avg-per-sec",
    "recv-success-total",
    "recv-success-last-one-sec",
    "recv-success-avg-per-sec",
    "recv-total",
    "recv-total-last-one-sec",
    "recv-total-avg-per-sec",
    "pcap-drop-total",
    "drop-last-one-sec",
    "drop-avg-per-sec",
    "sendto-fail-total",
    "sendto-fail-last-one-sec",
    "sendto-fail-avg-per-sec",
];

/// The totals one row is computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    sent: u64,
    success: u64,
    recv: u64,
    drops: u64,
    send_fail: u64,
    targets_done: u64,
}

impl Totals {
    fn take(c: &Counters) -> Totals {
        Totals {
            sent: c.send.packets.load(Relaxed),
            success: c.recv.unique_success.load(Relaxed),
            recv: c.recv.packets.load(Relaxed),
            drops: c.recv.kernel_drops.load(Relaxed),
            send_fail: c.send.errors.load(Relaxed),
            targets_done: c.send.targets.load(Relaxed) + c.send.blocklisted.load(Relaxed),
        }
    }
}

/// The open status file.
pub struct StatusFile {
    out: BufWriter<File>,
    prev: Totals,
    prev_elapsed: Duration,
}

impl StatusFile {
    /// Creates the file and writes the header row.
    pub fn create(path: &Path, mode: u32) -> io::Result<StatusFile> {
        let mut out = BufWriter::new(super::private::create(path, false, mode)?);
        writeln!(out, "{}", COLUMNS.join(","))?;
        out.flush()?;
        Ok(StatusFile {
            out,
            prev: Totals::default(),
            prev_elapsed: Duration::ZERO,
        })
    }

    /// Writes one row: `elapsed` since the scan started, `planned` targets, how many
    /// sender threads are still sending, and the time left if known.
    pub fn row(
        &mut self,
        c: &Counters,
        elapsed: Duration,
        planned: u64,
        active_senders: usize,
        remaining: Option<Duration>,
    ) -> io::Result<()> {
        let now = Totals::take(c);
        let line = format_row(
            &self.prev,
            &now,
            self.prev_elapsed,
            elapsed,
            planned,
            active_senders,
            remaining,
        );
        self.prev = now;
        self.prev_elapsed = elapsed;
        self.out.write_all(line.as_bytes())?;
        self.out.flush()
    }
}

fn format_row(
    prev: &Totals,
    now: &Totals,
    prev_elapsed: Duration,
    elapsed: Duration,
    planned: u64,
    active: usize,
    remaining: Option<Duration>,
) -> String {
    let dt = elapsed.saturating_sub(prev_elapsed).as_secs_f64().max(1e-6);
    let total_s = elapsed.as_secs_f64().max(1e-6);
    let last = |a: u64, b: u64| ((b.saturating_sub(a)) as f64 / dt).round() as u64;
    let avg = |v: u64| (v as f64 / total_s).round() as u64;
    let pct = if planned == 0 {
        100.0
    } else {
        (100.0 * now.targets_done as f64 / planned as f64).min(100.0)
    };
    let hit = if now.sent == 0 {
        0.0
    } else {
        100.0 * now.success as f64 / now.sent as f64
    };
    let real = crate::output::fields::zmap_time_str(crate::output::unix_us_now());
    // ZMap's real-time column is "YYYY-MM-DD HH:MM:SS".
    let real = real.get(..19).unwrap_or("").replace('T', " ");
    let mut row = format!(
        "{real},{},{},{pct:.6},{hit:.6},{active}",
        elapsed.as_secs(),
        remaining.map_or(0, |r| r.as_secs()),
    );
    // Each count as three columns: total, per second over the last interval, per second
    // on average.
    let counts = [
        (prev.sent, now.sent),
        (prev.success, now.success),
        (prev.recv, now.recv),
        (prev.drops, now.drops),
        (prev.send_fail, now.send_fail),
    ];
    for (before, total) in counts {
        row.push_str(&format!(",{total},{},{}", last(before, total), avg(total)));
    }
    row.push('\n');
    row
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn one_row_per_column() {
        let a = Totals::default();
        let b = Totals {
            sent: 2000,
            success: 20,
            recv: 500,
            drops: 0,
            send_fail: 0,
            targets_done: 2000,
        };
        let row = format_row(
            &a,
            &b,
            Duration::from_secs(1),
            Duration::from_secs(2),
            4000,
            1,
            Some(Duration::from_secs(2)),
        );
        let cells: Vec<&str> = row.trim_end().split(',').collect();
        assert_eq!(cells.len(), COLUMNS.len());
        assert_eq!(cells[1], "2");
        assert_eq!(cells[2], "2");
        assert_eq!(cells[3], "50.000000");
        assert_eq!(cells[4], "1.000000");
        // Active senders, then total, last second and average of each count.
        assert_eq!(
            cells[5..],
            [
                "1", "2000", "2000", "1000", "20", "20", "10", "500", "500", "250", "0", "0", "0",
                "0", "0", "0"
            ]
        );
    }
}
