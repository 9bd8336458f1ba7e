//! The packet-rate cap.
//!
//! Packet `k` of a sender may leave no earlier than `start + k / rate`. The schedule is
//! absolute, so rounding and oversleeping never accumulate: over any whole second the
//! count is exact to within one batch, at 1 pps as at a million. A sender asks for a
//! batch only once its first packet is due, so no window of any length holds more than
//! `rate × window + batch` packets.
//!
//! If the sender falls behind (the scheduler ran something else), it may catch up by at
//! most one batch: the schedule then moves forward so that the lost time is not made up
//! in a burst. The cap is a promise to the networks being scanned; a stall costs a little
//! of the average rate (visible in the metadata's achieved rate), never a burst above it.
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
        }
    }

    pub fn is_capped(&self) -> bool {
        self.interval_ns > 0.0
    }

    /// When the next packet is due.
    pub fn next_due(&self) -> Instant {
        self.start + Duration::from_nanos((self.sent as f64 * self.interval_ns) as u64)
    }

    /// Waits until the next packet is due, or until `deadline` if that comes first.
    /// Returns false if it gave up at the deadline.
    pub fn wait(&self, deadline: Option<Instant>) -> bool {
        if !self.is_capped() {
            return true;
        }
        let due = self.next_due();
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

    /// Records that `n` packets were sent as one batch. If the schedule is more than
    /// one batch behind the clock, moves it forward so that no more than one batch of
    /// credit remains.
    pub fn sent(&mut self, n: u64) {
        self.sent += n;
        if self.is_capped() {
            let now = Instant::now();
            let due = self.next_due();
            let credit = Duration::from_nanos((n as f64 * self.interval_ns) as u64);
            if now > due + credit {
                self.start += now - due - credit;
            }
        }
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
        // A schedule that starts in the future is never behind the clock.
        let t0 = t0 + Duration::from_secs(3600);
        let mut p = Pacer::new(Some(1000.0), t0);
        assert_eq!(p.next_due(), t0);
        p.sent(500);
        assert_eq!(p.next_due(), t0 + Duration::from_millis(500));
        p.sent(1500);
        assert_eq!(p.next_due(), t0 + Duration::from_secs(2));
    }

    #[test]
    fn a_stall_is_not_made_up_in_a_burst() {
        let t0 = Instant::now() - Duration::from_secs(10);
        // 1000 pps, started 10 s ago, nothing sent: 10000 packets behind.
        let mut p = Pacer::new(Some(1000.0), t0);
        p.sent(5);
        // At most one batch (5 ms) of credit is left: the next packet is due no earlier
        // than 5 ms ago.
        let lag = Instant::now().saturating_duration_since(p.next_due());
        assert!(lag <= Duration::from_millis(6), "{lag:?}");
    }

    #[test]
    fn uncapped_never_waits() {
        let p = Pacer::new(None, Instant::now() + Duration::from_secs(3600));
        assert!(!p.is_capped());
        assert!(p.wait(None));
    }

    #[test]
    fn gives_up_at_deadline() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Some(1.0), t0);
        p.sent(100); // next packet due in 100 s
        assert!(!p.wait(Some(Instant::now())));
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
