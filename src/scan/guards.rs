//! The monitor's guards, as in ZMap's `monitor.c`: stop a scan that goes nowhere.
//!
//! * `--min-hitrate R`: the hit rate is the first successes per target probed, in percent
//!   (ZMap's `hitrate`, cumulative over the run). After a warm-up of [`WARMUP`], a hit rate
//!   below R starts a clock; once it has stayed below for [`WINDOW`] the scan stops. Only
//!   while sending: in the cooldown every probe is out, and stopping saves nothing.
//! * `--max-sendto-failures N`: the senders go on past failed sends (see
//!   `send::SendShared::with_failures_tolerated`); more than N failed frames stop the scan
//!   (ZMap: `fail_total > N`).
//!
//! A guard that trips records [`Reason::Guard`]: the scan stops as a failed one does,
//! checkpoint saved, the guard in `end_reason` and its cause in `error`.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::config::guards::Guards;
use crate::counters::Counters;
use crate::stop::{Guard, Reason};

/// ZMap's `WARMUP_PERIOD`: the hit rate means nothing before replies had time to come.
pub(crate) const WARMUP: Duration = Duration::from_secs(5);
/// ZMap's `MIN_HITRATE_TIME_WINDOW`: how long the hit rate must stay low.
pub(crate) const WINDOW: Duration = Duration::from_secs(5);

/// The guards' state over a run.
#[derive(Debug)]
pub(crate) struct Watch {
    limits: Guards,
    /// Since when the hit rate has been below the limit.
    under_since: Option<Instant>,
}

impl Watch {
    pub(crate) fn new(limits: Guards) -> Watch {
        Watch {
            limits,
            under_since: None,
        }
    }

    /// The guard that trips now, if one does; `age` is the time since the scan started.
    pub(crate) fn check(
        &mut self,
        c: &Counters,
        now: Instant,
        age: Duration,
        sending: bool,
    ) -> Option<Reason> {
        if let Some(Some(max)) = self.limits.max_sendto_failures {
            let failed = c.send.failed_frames.load(Relaxed);
            if failed > max {
                let last = c.send.last_error.lock().ok().and_then(|e| e.clone());
                return Some(Reason::Guard {
                    guard: Guard::MaxSendtoFailures,
                    cause: format!(
                        "{failed} frames failed to send, more than --max-sendto-failures {max} (last error: {})",
                        last.as_deref().unwrap_or("unknown")
                    ),
                });
            }
        }
        let min = self.limits.min_hitrate?;
        if !sending {
            return None;
        }
        let targets = c.send.targets.load(Relaxed);
        let hits = c.recv.unique_success.load(Relaxed);
        let under = self.under(now, age, hitrate(hits, targets), min)?;
        Some(Reason::Guard {
            guard: Guard::MinHitrate,
            cause: format!(
                "hit rate {:.2}% ({hits} of {targets} targets answered) below --min-hitrate {min}% for {:.0} s: a broken route or a firewall in the way?",
                hitrate(hits, targets),
                under.as_secs_f64()
            ),
        })
    }

    /// How long the hit rate has been under `min`, once that is [`WINDOW`] or more.
    fn under(&mut self, now: Instant, age: Duration, rate: f64, min: f64) -> Option<Duration> {
        if age > WARMUP && rate < min {
            let since = *self.under_since.get_or_insert(now);
            let under = now - since;
            (under >= WINDOW).then_some(under)
        } else {
            self.under_since = None;
            None
        }
    }
}

/// First successes per target probed, in percent (0 before any target).
fn hitrate(hits: u64, targets: u64) -> f64 {
    if targets == 0 {
        0.0
    } else {
        hits as f64 * 100.0 / targets as f64
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn watch(min: f64) -> Watch {
        Watch::new(Guards {
            min_hitrate: Some(min),
            max_sendto_failures: None,
        })
    }

    #[test]
    fn min_hitrate_waits_for_the_warmup_then_the_window() {
        let t0 = Instant::now();
        let s = |n: u64| Duration::from_secs(n);
        let mut w = watch(1.0);
        // Below the limit in the warm-up: nothing, and no clock started.
        assert_eq!(w.under(t0 + s(4), s(4), 0.0, 1.0), None);
        assert_eq!(w.under_since, None);
        // Below from second 6: the clock runs, and trips at second 11.
        assert_eq!(w.under(t0 + s(6), s(6), 0.5, 1.0), None);
        assert_eq!(w.under(t0 + s(10), s(10), 0.5, 1.0), None);
        assert_eq!(w.under(t0 + s(11), s(11), 0.5, 1.0), Some(s(5)));
        // A recovery resets the clock.
        let mut w = watch(1.0);
        assert_eq!(w.under(t0 + s(6), s(6), 0.5, 1.0), None);
        assert_eq!(w.under(t0 + s(9), s(9), 2.0, 1.0), None);
        assert_eq!(w.under(t0 + s(12), s(12), 0.5, 1.0), None);
        assert_eq!(w.under(t0 + s(16), s(16), 0.5, 1.0), None);
        assert_eq!(w.under(t0 + s(17), s(17), 0.5, 1.0), Some(s(5)));
    }

    #[test]
    fn guards_trip_with_their_reason() {
        let c = Counters::default();
        let t0 = Instant::now();
        let mut w = Watch::new(Guards {
            min_hitrate: None,
            max_sendto_failures: Some(Some(3)),
        });
        c.send.failed_frames.store(3, Relaxed);
        assert_eq!(
            w.check(&c, t0, Duration::ZERO, true),
            None,
            "3 is not more than 3"
        );
        c.send.failed_frames.store(4, Relaxed);
        *c.send.last_error.lock().unwrap() = Some("Network is down".into());
        let r = w.check(&c, t0, Duration::ZERO, true).unwrap();
        assert_eq!(r.as_str(), "max_sendto_failures");
        assert!(r.error().unwrap().contains("4 frames failed to send, more than --max-sendto-failures 3 (last error: Network is down)"));

        // Unlimited (-1) never trips.
        let mut w = Watch::new(Guards {
            min_hitrate: None,
            max_sendto_failures: Some(None),
        });
        c.send.failed_frames.store(1 << 40, Relaxed);
        assert_eq!(w.check(&c, t0, Duration::ZERO, true), None);

        let c = Counters::default();
        c.send.targets.store(1000, Relaxed);
        c.recv.unique_success.store(5, Relaxed);
        let mut w = watch(1.0);
        let s = Duration::from_secs;
        assert_eq!(w.check(&c, t0 + s(6), s(6), true), None);
        // In the cooldown the guard does not stop the scan.
        assert_eq!(w.check(&c, t0 + s(12), s(12), false), None);
        let r = w.check(&c, t0 + s(12), s(12), true).unwrap();
        assert_eq!(r.as_str(), "min_hitrate");
        assert!(
            r.error().unwrap().starts_with(
                "hit rate 0.50% (5 of 1000 targets answered) below --min-hitrate 1% for 6 s"
            ),
            "{r:?}"
        );
    }
}
