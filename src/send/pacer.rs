//! The packet-rate cap.
//!
//! Packet `k` of a sender may leave no earlier than `start + k / rate`. The schedule is
//! absolute, so rounding and oversleeping never accumulate: over any whole second the
//! count is exact to within one batch, at 1 pps as at a million. A batch leaves once its
//! *last* packet is due, so no packet ever leaves early.
//!
//! A sender that falls behind (descheduled on a busy machine, a slow send) catches up, but
//! by at most one batch: when it is later than one batch's worth of time, the schedule
//! moves forward (that time is lost, not made up with a burst). Together: no window of
//! any length holds more than `rate × window + 2 × batch` packets: one batch because a
//! batch leaves at once, one for the lag allowed before the schedule moves. (Allowing no
//! lag would lose every wake-up delay, and the average rate with it, on a busy machine.)
//!
//! The schedule begins with the first batch, not with `start`: a sender whose first batch
//! leaves late (its thread started on a busy machine, sockets still opening) moves the
//! whole schedule by that delay, so the gap between its first and second packet is one
//! interval like every other. Catching that delay up would put two packets back to back
//! at the start of every scan on a busy machine (at 5 pps, 1.8 s for 11 packets).
//!
//! Long waits sleep; the last stretch (where the scheduler's wake-up latency would make us
//! late) yields the CPU in a loop.

use std::time::{Duration, Instant};

/// Sleeping closer than this to the deadline risks waking late.
const SPIN_BELOW: Duration = Duration::from_micros(150);

#[derive(Debug, Clone)]
pub struct Pacer {
    start: Instant,
    /// Nanoseconds between packets; 0 when uncapped.
    interval_ns: f64,
    sent: u64,
    /// Packets per batch: a batch is due when its last packet is.
    batch: u64,
    /// Time the schedule moved forward because the sender was too late.
    skipped: Duration,
}

impl Pacer {
    /// `rate` packets per second, or `None` for no cap.
    pub fn new(rate: Option<f64>, start: Instant) -> Pacer {
        let interval_ns = match rate {
            Some(r) if r > 0.0 => 1e9 / r,
            _ => 0.0,
        };
        Pacer {
            start,
            interval_ns,
            sent: 0,
            batch: 1,
            skipped: Duration::ZERO,
        }
    }

    /// The same, for batches of `batch` packets.
    pub fn with_batch(rate: Option<f64>, start: Instant, batch: usize) -> Pacer {
        Pacer {
            batch: batch.max(1) as u64,
            ..Pacer::new(rate, start)
        }
    }

    pub fn is_capped(&self) -> bool {
        self.interval_ns > 0.0
    }

    /// When the next batch is due: when its last packet is.
    pub fn next_due(&self) -> Instant {
        let k = self.sent + self.batch - 1;
        self.start + Duration::from_nanos((k as f64 * self.interval_ns) as u64)
    }

    /// How much of the schedule was skipped because the sender was too late.
    pub fn skipped(&self) -> Duration {
        self.skipped
    }

    /// Waits until the next batch is due, or until `deadline` if that comes first.
    /// Returns false if it gave up at the deadline.
    pub fn wait(&mut self, deadline: Option<Instant>) -> bool {
        if !self.is_capped() {
            return true;
        }
        let due = self.next_due();
        let late = Instant::now().saturating_duration_since(due);
        if self.sent == 0 && late > Duration::ZERO {
            // The first batch starts the schedule (see the module docs): nothing to catch up.
            self.start += late;
            return true;
        }
        let slack = Duration::from_nanos((self.batch as f64 * self.interval_ns) as u64);
        if late > slack {
            // Too late to catch up without a burst: move the schedule, keep one batch of lag.
            self.start += late - slack;
            self.skipped += late - slack;
            return true;
        }
        loop {
            let now = Instant::now();
            if now >= due {
                return true;
            }
            if let Some(d) = deadline {
                if now >= d {
                    return false;
                }
            }
            let left = due - now;
            let left = deadline.map_or(left, |d| left.min(d.saturating_duration_since(now)));
            if left > SPIN_BELOW {
                std::thread::sleep(left - SPIN_BELOW);
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Records that `n` packets were sent.
    pub fn sent(&mut self, n: u64) {
        self.sent += n;
    }

    pub fn total_sent(&self) -> u64 {
        self.sent
    }
}

/// The batch size for a per-thread rate: about a millisecond of packets, 1 to `max`.
pub fn batch_size(rate: Option<f64>, max: usize) -> usize {
    match rate {
        Some(r) if r > 0.0 => ((r / 1000.0) as usize).clamp(1, max),
        _ => max,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn schedule_is_absolute() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Some(1000.0), t0);
        assert_eq!(p.next_due(), t0);
        p.sent(500);
        assert_eq!(p.next_due(), t0 + Duration::from_millis(500));
        p.sent(1500);
        assert_eq!(p.next_due(), t0 + Duration::from_secs(2));
    }

    /// A pacer of 1000 pps in batches of `batch`, started `ago` with its first batch sent
    /// then, after its next wait, which leaves at most one batch (`batch` ms) of lag.
    fn after_a_stall(ago: Duration, batch: usize) -> Pacer {
        let mut p = Pacer::with_batch(Some(1000.0), Instant::now() - ago, batch);
        p.sent(batch as u64);
        assert!(p.wait(None));
        let lag = Instant::now().saturating_duration_since(p.next_due());
        assert!(lag <= Duration::from_millis(batch as u64 + 1), "{lag:?}");
        p
    }

    #[test]
    fn a_stall_is_not_made_up_in_a_burst() {
        // Batches of 5, started 10 s ago: 10000 packets behind.
        after_a_stall(Duration::from_secs(10), 5);
    }

    #[test]
    fn uncapped_never_waits() {
        let mut p = Pacer::new(None, Instant::now() + Duration::from_secs(3600));
        assert!(!p.is_capped());
        assert!(p.wait(None));
    }

    #[test]
    fn gives_up_at_deadline() {
        let mut p = Pacer::new(Some(1.0), Instant::now() + Duration::from_secs(100));
        assert!(!p.wait(Some(Instant::now())));
    }

    #[test]
    fn batch_due_at_its_last_packet() {
        let t0 = Instant::now();
        let mut p = Pacer::with_batch(Some(1000.0), t0, 10);
        assert_eq!(p.next_due(), t0 + Duration::from_millis(9));
        p.sent(10);
        assert_eq!(p.next_due(), t0 + Duration::from_millis(19));
    }

    #[test]
    fn lateness_beyond_one_batch_is_skipped_not_caught_up() {
        // Started 1 s ago with batches of 10, the first sent then: 981 ms late.
        let p = after_a_stall(Duration::from_secs(1), 10);
        assert!(
            p.skipped() >= Duration::from_millis(960),
            "{:?}",
            p.skipped()
        );
        // A little lateness (less than a batch) is caught up, not skipped: the second
        // batch was due 19 ms after the start, 6 ms ago.
        let t1 = Instant::now() - Duration::from_millis(25);
        let mut q = Pacer::with_batch(Some(1000.0), t1, 10);
        q.sent(10);
        assert!(q.wait(None));
        assert_eq!(q.skipped(), Duration::ZERO);
    }

    #[test]
    fn a_late_start_moves_the_schedule() {
        // 10 pps, the first packet leaving 150 ms after the start: it goes at once, and the
        // second is due one interval after it, not 100 ms after the start.
        let mut p = Pacer::new(Some(10.0), Instant::now() - Duration::from_millis(150));
        assert!(p.wait(None));
        let first = Instant::now();
        p.sent(1);
        let gap = p.next_due().saturating_duration_since(first);
        assert!(gap > Duration::from_millis(95), "{gap:?}");
        assert_eq!(p.skipped(), Duration::ZERO);
    }

    #[test]
    fn batch_sizes() {
        assert_eq!(batch_size(Some(1.0), 256), 1);
        assert_eq!(batch_size(Some(999.0), 256), 1);
        assert_eq!(batch_size(Some(10_000.0), 256), 10);
        assert_eq!(batch_size(Some(1e7), 256), 256);
        assert_eq!(batch_size(None, 256), 256);
    }
}
