//! The monitor: the scan's once-a-second loop, as in ZMap's `monitor.c`.
//!
//! While the pipeline runs, the monitor turns signals into a stop reason, prints the status
//! line on standard error, saves the checkpoint, and starts the cooldown once every sender
//! has finished. It returns when the cooldown is over, or at once when the scan was stopped
//! (a signal, `-N`, a closed output, a failed stage): nobody waits for replies then.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::counters::Counters;
use crate::output::status::StatusFile;
use crate::stop::{Reason, Stop};

use super::checkpointing::Session;
use super::guards::Watch;
use super::StopSignals;
use crate::config::guards::Guards;

/// How often the monitor looks at the stop cell and the senders. A stop request reaches
/// every sender directly; this bounds only how soon the cooldown starts and ends.
const TICK: Duration = Duration::from_millis(20);

/// What the monitor watches, borrowed from the scan. Built with [`Monitor::new`] and a
/// `with_*` step for each optional concern (cooldown, status, checkpoint).
pub(crate) struct Monitor<'a> {
    stop: &'a Stop,
    signals: &'a StopSignals,
    counters: &'a Counters,
    checkpoint: Option<&'a Session>,
    /// Senders that have returned, out of `senders`.
    senders_done: &'a AtomicUsize,
    senders: usize,
    cooldown: Duration,
    /// No status line on standard error (`-q`).
    quiet: bool,
    planned: u64,
    epoch: Instant,
    /// `-u`: the status as CSV, a row a second.
    status_file: Option<&'a RefCell<Option<StatusFile>>>,
    /// `--min-hitrate`, `--max-sendto-failures`.
    guards: Option<RefCell<Watch>>,
}

impl<'a> Monitor<'a> {
    /// A monitor of the scan that began at `epoch`, counting into `counters`: it turns
    /// `signals` into a stop reason in `stop`, and returns once `senders_done` reaches
    /// `senders` (then no cooldown, no status, no checkpoint until the `with_*` steps).
    pub fn new(
        stop: &'a Stop,
        signals: &'a StopSignals,
        counters: &'a Counters,
        senders_done: &'a AtomicUsize,
        senders: usize,
        epoch: Instant,
    ) -> Self {
        Monitor {
            stop,
            signals,
            counters,
            checkpoint: None,
            senders_done,
            senders,
            cooldown: Duration::ZERO,
            quiet: true,
            planned: 0,
            epoch,
            status_file: None,
            guards: None,
        }
    }

    /// Stops the scan when one of `guards` trips (see [`super::guards`]).
    pub fn with_guards(mut self, guards: Guards) -> Self {
        self.guards = Some(RefCell::new(Watch::new(guards)));
        self
    }

    /// Waits this long for replies after the last sender finished.
    pub fn with_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Prints the status line (unless `quiet`) and writes a row a second to `file` (`-u`),
    /// progress counted against `planned` targets.
    pub fn with_status(
        mut self,
        quiet: bool,
        planned: u64,
        file: &'a RefCell<Option<StatusFile>>,
    ) -> Self {
        self.quiet = quiet;
        self.planned = planned;
        self.status_file = Some(file);
        self
    }

    /// Saves the checkpoint of `session` on every tick.
    pub fn with_checkpoint(mut self, session: Option<&'a Session>) -> Self {
        self.checkpoint = session;
        self
    }
}

impl Monitor<'_> {
    /// Runs until the scan is over; returns when the last sender finished, by its clock.
    pub fn run(&self) -> Instant {
        let mut status = Status::new(self.counters, self.epoch, self.senders);
        let mut sending_ended: Option<(Instant, Instant)> = None;
        let mut next_row = self.epoch + Duration::from_secs(1);
        loop {
            std::thread::sleep(TICK);
            if let Some(sig) = self.signals.received() {
                self.stop.request(Reason::Signal(sig));
            }
            if sending_ended.is_none() && self.senders_done.load(Relaxed) == self.senders {
                sending_ended = Some(self.begin_cooldown());
            }
            let now = Instant::now();
            if !self.quiet {
                status.tick(now, self.planned, sending_ended.map(|(_, c)| c));
            }
            if now >= next_row {
                next_row += Duration::from_secs(1);
                self.status_row(now, sending_ended.map(|(_, c)| c));
            }
            if let Some(g) = &self.guards {
                let sending = sending_ended.is_none();
                let age = now - self.epoch;
                if let Some(why) = g.borrow_mut().check(self.counters, now, age, sending) {
                    self.stop.request(why);
                }
            }
            if let Some(c) = self.checkpoint {
                c.tick(self.counters);
            }
            if let Some((ended, until)) = sending_ended {
                if now >= until || self.stop.ends_now() {
                    return ended;
                }
            }
        }
    }

    /// Writes a row of the `-u` file, if there is one. A failed row does not stop the scan:
    /// the results matter more.
    fn status_row(&self, now: Instant, cooldown_until: Option<Instant>) {
        let Some(file) = self.status_file else {
            return;
        };
        if let Some(f) = file.borrow_mut().as_mut() {
            let active = self.senders - self.senders_done.load(Relaxed);
            let left = cooldown_until.map(|c| c.saturating_duration_since(now));
            let _ = f.row(self.counters, now - self.epoch, self.planned, active, left);
        }
    }

    /// Starts the cooldown: returns when it started and when it ends.
    fn begin_cooldown(&self) -> (Instant, Instant) {
        let now = Instant::now();
        self.stop.begin_cooldown();
        // Stopped early by a signal, the output, -N or a failure: no point waiting for replies.
        let wait = if self.stop.ends_now() {
            Duration::ZERO
        } else {
            self.cooldown
        };
        (now, now + wait)
    }
}

/// The status line, printed once a second.
struct Status<'a> {
    counters: &'a Counters,
    /// Sender threads, shown so that the default chosen for this machine is seen.
    senders: usize,
    epoch: Instant,
    prev: Snapshot,
    next: Instant,
}

impl<'a> Status<'a> {
    fn new(counters: &'a Counters, epoch: Instant, senders: usize) -> Self {
        Status {
            counters,
            senders,
            epoch,
            prev: Snapshot::take(counters, Duration::ZERO),
            next: epoch + Duration::from_secs(1),
        }
    }

    fn tick(&mut self, now: Instant, planned: u64, cooldown_until: Option<Instant>) {
        if now < self.next {
            return;
        }
        self.next += Duration::from_secs(1);
        let snap = Snapshot::take(self.counters, now - self.epoch);
        let left = cooldown_until.map(|c| c.saturating_duration_since(now));
        let line = status_line(&self.prev, &snap, planned, left);
        eprintln!("{line}; senders: {}", self.senders);
        self.prev = snap;
    }
}

/// A snapshot for one progress line.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Snapshot {
    pub elapsed: Duration,
    pub sent: u64,
    pub targets_done: u64,
    pub received: u64,
    pub successes: u64,
    pub kernel_drops: u64,
    /// Bytes held by the receiver's duplicate suppression.
    pub dedup_bytes: u64,
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
            dedup_bytes: c.recv.dedup_bytes.load(Relaxed),
        }
    }
}

/// The status line reports the duplicate suppression's memory past this many bytes.
const DEDUP_SHOWN_FROM: u64 = 64 << 20;

/// Formats the status line from two consecutive snapshots.
pub(crate) fn status_line(
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
    // Said only once it matters: a scan of many ports over a large space.
    let dedup = if now.dedup_bytes > DEDUP_SHOWN_FROM {
        format!("; dedup: {} MiB", now.dedup_bytes >> 20)
    } else {
        String::new()
    };
    format!(
        "{} {:5.1}% ({}); send: {} ({}p/s); recv: {} ({}p/s); hits: {:.2}%; drops: {}{}",
        hms(now.elapsed.as_secs_f64()),
        done.min(100.0),
        left,
        now.sent,
        si(send_rate),
        now.successes,
        si(recv_rate),
        hit,
        now.kernel_drops,
        dedup
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
            dedup_bytes: 0,
        };
        let b = Snapshot {
            elapsed: Duration::from_secs(2),
            sent: 3000,
            targets_done: 3000,
            received: 30,
            successes: 15,
            kernel_drops: 2,
            dedup_bytes: 64 << 20,
        };
        let line = status_line(&a, &b, 6000, None);
        assert!(line.starts_with("0:00:02  50.0% (0:00:02 left)"), "{line}");
        assert!(line.contains("send: 3000 (2.00 Kp/s)"), "{line}");
        assert!(line.contains("drops: 2"), "{line}");
        assert!(line.contains("hits: 0.50%"), "{line}");
        // Dedup memory is said only past 64 MiB.
        assert!(!line.contains("dedup"), "{line}");
        let c = Snapshot {
            dedup_bytes: (64 << 20) + 1,
            ..b
        };
        let line = status_line(&a, &c, 6000, None);
        assert!(line.ends_with("drops: 2; dedup: 64 MiB"), "{line}");
    }
}
