//! One way to stop a scan: the first reason recorded wins, every thread watches it, and the
//! metadata reports it.
//!
//! A [`Stop`] holds the reason (a signal, `-t`, `-N`, a closed output, or a stage that
//! failed) and the phase of the scan's end: senders stop as soon as any reason is recorded;
//! the receiver marks replies as late once the cooldown has begun, and leaves when the
//! pipeline closes. An error outranks the ordinary reasons (a failure must never be reported
//! as a clean stop), and the first error wins over later ones, which are usually its echoes;
//! `-t` yields to any reason that comes during the cooldown it leaves.
//! The hot paths read one relaxed atomic; the lock is taken only when a reason is recorded.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

/// A stage of the pipeline, as the metadata names it (`error_stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Sender,
    Receiver,
    Writer,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Sender => "sender",
            Stage::Receiver => "receiver",
            Stage::Writer => "writer",
        }
    }

    /// What the stage was doing, to open its error message.
    fn doing(self) -> &'static str {
        match self {
            Stage::Sender => "sending",
            Stage::Receiver => "receiving",
            Stage::Writer => "writing the output",
        }
    }
}

/// Why a scan stopped before it ran out of targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// SIGINT or SIGTERM.
    Signal(i32),
    /// `-t/--max-runtime` passed.
    MaxRuntime,
    /// `-N/--max-results` results were handed to the writer.
    MaxResults,
    /// The reader of the output went away.
    OutputClosed,
    /// A stage failed: the scan stops and reports it.
    Failed { stage: Stage, cause: String },
    /// A guard of the monitor tripped (`--min-hitrate`, `--max-sendto-failures`): the scan
    /// stops as a failed one does, and reports which guard and why.
    Guard { guard: Guard, cause: String },
}

/// The monitor's guards against a scan that goes nowhere (ZMap's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// `--min-hitrate`: too few targets answer (a broken route, a firewall in the way).
    MinHitrate,
    /// `--max-sendto-failures`: too many frames failed to send.
    MaxSendtoFailures,
}

impl Guard {
    /// The `end_reason` of the metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Guard::MinHitrate => "min_hitrate",
            Guard::MaxSendtoFailures => "max_sendto_failures",
        }
    }
}

impl Reason {
    /// The `end_reason` of the metadata.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Signal(_) => "interrupted",
            Reason::MaxRuntime => "max_runtime",
            Reason::MaxResults => "max_results",
            Reason::OutputClosed => "output_closed",
            Reason::Failed { .. } => "error",
            Reason::Guard { guard, .. } => guard.as_str(),
        }
    }

    /// Whether the scan failed: a stage's error or a guard. A failure outranks every other
    /// reason, and the scan exits with it.
    pub fn is_failure(&self) -> bool {
        matches!(self, Reason::Failed { .. } | Reason::Guard { .. })
    }

    /// Whether replies to the probes already sent are still worth the cooldown: only when
    /// the senders stopped on their own schedule.
    pub fn waits_for_replies(&self) -> bool {
        matches!(self, Reason::MaxRuntime)
    }

    /// The one-line error, for a failed stage: `receiving: <cause>`.
    pub fn error(&self) -> Option<String> {
        match self {
            Reason::Failed { stage, cause } => Some(format!("{}: {cause}", stage.doing())),
            Reason::Guard { cause, .. } => Some(cause.clone()),
            _ => None,
        }
    }
}

// The phases: 0 is sending.
const COOLDOWN: u8 = 1;
const CLOSED: u8 = 2;

/// The scan's stop cell; see the module documentation.
#[derive(Debug, Default)]
pub struct Stop {
    reason: Mutex<Option<Reason>>,
    requested: AtomicBool,
    phase: AtomicU8,
}

impl Stop {
    /// Records `why` unless a reason is already recorded (an error replaces a reason that
    /// is not one). Every sender stops at its next batch.
    pub fn request(&self, why: Reason) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        let replace = match (&*r, &why) {
            (None, _) => true,
            (Some(old), _) if old.is_failure() => false,
            (Some(_), new) if new.is_failure() => true,
            // `-t` only ends the sending: a signal, `-N` or a closed output in the cooldown
            // that follows ends the scan, and is its reason.
            (Some(old), _) => old.waits_for_replies(),
        };
        if replace {
            *r = Some(why);
        }
        self.requested.store(true, Relaxed);
    }

    /// Records that `stage` failed with `cause`.
    pub fn fail(&self, stage: Stage, cause: impl std::fmt::Display) {
        self.request(Reason::Failed {
            stage,
            cause: cause.to_string(),
        });
    }

    /// Whether the scan should end without waiting for more replies: a reason other than
    /// the senders' own deadline is recorded.
    pub fn ends_now(&self) -> bool {
        self.requested() && self.reason().is_some_and(|r| !r.waits_for_replies())
    }

    /// Whether any reason is recorded: the senders' check, once per batch.
    #[inline]
    pub fn requested(&self) -> bool {
        self.requested.load(Relaxed)
    }

    /// The reason recorded, if any.
    pub fn reason(&self) -> Option<Reason> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every sender has finished: replies from now on are late ones.
    pub fn begin_cooldown(&self) {
        self.phase.fetch_max(COOLDOWN, Relaxed);
    }

    pub fn in_cooldown(&self) -> bool {
        self.phase.load(Relaxed) >= COOLDOWN
    }

    /// The scan is over: the receiver and the blocklist watcher leave.
    pub fn close(&self) {
        self.phase.store(CLOSED, Relaxed);
    }

    pub fn closed(&self) -> bool {
        self.phase.load(Relaxed) == CLOSED
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_first_reason_wins_but_an_error_outranks_it() {
        let s = Stop::default();
        assert!(!s.requested() && s.reason().is_none());
        s.request(Reason::Signal(2));
        s.request(Reason::MaxResults);
        assert!(s.requested());
        assert_eq!(s.reason(), Some(Reason::Signal(2)));
        s.fail(Stage::Writer, "disk full");
        s.fail(Stage::Receiver, "later");
        let r = s.reason().unwrap();
        assert_eq!(r.as_str(), "error");
        assert_eq!(r.error().as_deref(), Some("writing the output: disk full"));
        s.request(Reason::OutputClosed);
        assert_eq!(s.reason(), Some(r));
    }

    #[test]
    fn a_guard_is_a_failure() {
        let s = Stop::default();
        s.request(Reason::MaxResults);
        let g = Reason::Guard {
            guard: Guard::MinHitrate,
            cause: "hit rate".into(),
        };
        s.request(g.clone());
        s.fail(Stage::Sender, "later");
        assert_eq!(s.reason(), Some(g));
        assert_eq!(s.reason().unwrap().as_str(), "min_hitrate");
        assert_eq!(s.reason().unwrap().error().as_deref(), Some("hit rate"));
    }

    #[test]
    fn a_signal_in_the_cooldown_after_max_runtime_ends_the_scan() {
        let s = Stop::default();
        s.request(Reason::MaxRuntime);
        assert!(s.requested() && !s.ends_now());
        s.request(Reason::Signal(15));
        assert!(s.ends_now());
        assert_eq!(s.reason(), Some(Reason::Signal(15)));
    }

    #[test]
    fn phases_only_advance() {
        let s = Stop::default();
        assert!(!s.in_cooldown() && !s.closed());
        s.begin_cooldown();
        assert!(s.in_cooldown() && !s.closed());
        s.close();
        s.begin_cooldown();
        assert!(s.in_cooldown() && s.closed());
    }
}
