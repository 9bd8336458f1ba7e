//! Sender threads: walk a share of the permutation, craft probes, pace, transmit.
//!
//! Each sender owns one walk of the cyclic permutation (its thread's part of its shard),
//! one transmit back end and one pacer; senders share nothing but the live blocklist and
//! the counters. For every target the loop checks the blocklist as it is now (so an
//! opt-out that arrives mid-scan is honoured at the next batch), derives the sequence
//! number and source port from the validation MAC, and patches the probe template into
//! the back end's buffer. A batch is filled only once the pacer says it is due (its last
//! packet is), so the timestamp a batch carries is its send time.

pub(crate) mod backend;
pub mod pacer;

pub(crate) use backend::Backend;

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use crate::counters::Counters;
use crate::family::ScanFamily;
use crate::probe::{Probe, ProbeFields};
use crate::stop::Stop;
use crate::targets::cyclic::Walk;
use crate::targets::live_blocklist::{BlockView, LiveBlocklist};
use crate::targets::{Numbered, TargetSpace};
use crate::validate::{Tag, Validator};
use crate::wire::V4;

use pacer::Pacer;

/// The largest batch a sender hands to the kernel at once.
pub const MAX_BATCH: usize = 256;

/// Where crafted frames go: a raw socket, or the dry run's printer.
pub trait Transmit {
    /// How many frames one batch may hold.
    fn capacity(&self) -> usize;
    /// The buffer of frame `i`; it keeps what was written to it between batches, so the
    /// template's constant part is written once ([`Transmit::prepare`]).
    fn frame_mut(&mut self, i: usize) -> &mut [u8];
    /// Writes the template into every frame buffer (and, for back ends that keep one,
    /// sets every frame's length to the template's).
    fn prepare<P: Probe>(&mut self, template: &P) {
        for i in 0..self.capacity() {
            template.init(self.frame_mut(i));
        }
    }
    /// Sends frames `0..n`. `probes[i]` is the probe number of frame `i`.
    fn send(&mut self, n: usize, probes: &[u16]) -> io::Result<()>;
}

/// What every sender thread of a scan shares, borrowed from the scan; `F` is the
/// address family.
pub struct SendShared<'a, F: ScanFamily = V4> {
    space: &'a TargetSpace<F::Addrs>,
    template: &'a F::Template,
    validator: &'a Validator<F::Addr>,
    probes: u16,
    blocklist: &'a LiveBlocklist<F::Blocked>,
    counters: &'a Counters,
    /// Checked once per batch: any stop reason stops every sender.
    stop: &'a Stop,
    /// When pacing starts, and the zero of the TCP timestamp values (microseconds since it).
    epoch: Instant,
    /// Stop sending at this time (`-t`).
    deadline: Option<Instant>,
    /// A failed send loses its batch and the sender goes on (`--max-sendto-failures`, whose
    /// limit the monitor enforces); otherwise the first failure stops the scan.
    tolerate_failures: bool,
}

impl<'a, F: ScanFamily> SendShared<'a, F> {
    /// Senders of `probes` probes to each target of `space`, patched into `template` and
    /// signed by `validator`, that skip what `blocklist` holds at the time, count into
    /// `counters` and end at any reason in `stop`. Pacing starts now, with no deadline:
    /// see [`SendShared::with_epoch`] and [`SendShared::with_deadline`].
    pub fn new(
        space: &'a TargetSpace<F::Addrs>,
        template: &'a F::Template,
        validator: &'a Validator<F::Addr>,
        probes: u16,
        blocklist: &'a LiveBlocklist<F::Blocked>,
        counters: &'a Counters,
        stop: &'a Stop,
    ) -> Self {
        SendShared {
            space,
            template,
            validator,
            probes,
            blocklist,
            counters,
            stop,
            epoch: Instant::now(),
            deadline: None,
            tolerate_failures: false,
        }
    }

    /// A failed send loses its batch, counted in `failed_frames`, and the sender goes on
    /// (`--max-sendto-failures`: the monitor stops the scan past the limit).
    pub fn with_failures_tolerated(mut self, tolerate: bool) -> Self {
        self.tolerate_failures = tolerate;
        self
    }

    /// Pacing starts at `epoch`, the zero of the TCP timestamp values (the receiver's too).
    pub fn with_epoch(mut self, epoch: Instant) -> Self {
        self.epoch = epoch;
        self
    }

    /// Sending stops at `deadline` (`-t`), if any.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }
}

impl<F: ScanFamily> SendShared<'_, F> {
    /// Counts the `frames` of a batch whose send failed with `e` (an upper bound when the
    /// kernel took some of them before the error: `sendmmsg` does not say how many then).
    #[cold]
    fn lose_batch(&self, frames: u64, e: &io::Error) {
        let c = &self.counters.send;
        c.failed_frames.fetch_add(frames, Relaxed);
        *c.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }
}

// Derived `Clone` would require `F: Clone` of the marker only, but spell it out: every
// field is a reference or `Copy`.
impl<F: ScanFamily> Clone for SendShared<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F: ScanFamily> Copy for SendShared<'_, F> {}

/// One sender thread: the shared part and its own share of the rate.
pub struct Sender<'a, F: ScanFamily = V4> {
    pub shared: SendShared<'a, F>,
    pub thread: u32,
    /// This thread's packets per second, `None` for no cap.
    pub rate: Option<f64>,
    /// Frames per batch, at most the back end's capacity.
    pub batch: usize,
    /// Where the walk's position is published after each batch (`--checkpoint`).
    pub progress: Option<&'a crate::resume::ThreadProgress>,
}

/// How a sender's walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendEnd {
    /// Every target of the walk was probed.
    Done,
    /// Stopped by a signal or another stage (max results, closed output).
    Stopped,
    /// `-t/--max-runtime` passed.
    Deadline,
}

#[derive(Debug, Clone)]
pub struct SendReport {
    pub end: SendEnd,
    pub packets: u64,
    /// Packets sent from each source address, by its number in the scan's list: counted
    /// by this thread alone, summed over the threads at the end.
    pub per_source: Vec<u64>,
    /// When the last batch had been handed to the kernel.
    pub finished: Instant,
    /// When the first batch was, and how many packets it held: the rate over the
    /// sending window is `(packets - first_batch) / (finished - started)`, since a batch
    /// leaves when its last packet is due.
    pub started: Option<(Instant, u64)>,
    /// Time the pacer's schedule skipped because the sender fell behind it (see
    /// [`Pacer::skipped`]): zero when every packet left at its scheduled time.
    pub skipped: std::time::Duration,
}

impl SendReport {
    /// Packets per second this sender achieved between its first and last batch, if it
    /// sent more than one.
    pub fn achieved_rate(&self) -> Option<f64> {
        let (t0, first) = self.started?;
        let secs = self.finished.saturating_duration_since(t0).as_secs_f64();
        (self.packets > first && secs > 0.0).then(|| (self.packets - first) as f64 / secs)
    }
}

/// Where a sender stands in its walk, between batches; `A` is the numbered set's address.
struct Cursor<A, W> {
    /// A target whose probes did not all fit in the last batch: (addr, port, tag, next probe).
    pending: Option<(A, u16, Tag<W>, u16)>,
    /// Indices this run's walk yielded.
    yielded: u64,
    /// (position, yielded) just before the target being probed was drawn: the resume point
    /// while its probes are split over batches.
    target_from: (u64, u64),
}

impl<A, W> Cursor<A, W> {
    /// Where a resumed scan continues: a target whose probes were not all sent is not
    /// consumed.
    fn resume_point(&self, walk: &Walk) -> (u64, u64) {
        match self.pending {
            Some(_) => self.target_from,
            None => (Walk::position(walk), self.yielded),
        }
    }
}

/// What each frame of a batch is, by its place in the batch.
struct Slots {
    /// Which of the `-P` probes to its target.
    probes: Vec<u16>,
    /// The number of its source address (with several sources only).
    sources: Vec<u32>,
}

/// What one batch holds.
struct Filled {
    frames: usize,
    /// Targets whose last probe is in the batch.
    targets: u64,
    /// Targets skipped because the blocklist covers them now.
    skipped: u64,
    /// The walk has no more targets.
    exhausted: bool,
}

impl<F: ScanFamily> Sender<'_, F> {
    pub fn run<T: Transmit>(&self, walk: &mut Walk, tx: &mut T) -> io::Result<SendReport> {
        let sh = &self.shared;
        let batch = self.batch.clamp(1, tx.capacity());
        tx.prepare(sh.template);
        let mut pacer = Pacer::with_batch(self.rate, sh.epoch, batch);
        let mut view = BlockView::new(sh.blocklist);
        let mut per_source = vec![0u64; sh.validator.sources().len() as usize];
        let mut slots = Slots {
            probes: vec![0u16; batch],
            // Left empty with one source: every frame is its.
            sources: vec![0u32; if per_source.len() > 1 { batch } else { 0 }],
        };
        let mut cur = Cursor {
            pending: None,
            yielded: 0,
            target_from: (Walk::position(walk), 0),
        };
        let mut started = None;
        let mut finished = Instant::now();
        let mut failed = 0u64;
        let end = loop {
            if sh.stop.requested() {
                break SendEnd::Stopped;
            }
            if !pacer.wait(sh.deadline) || sh.deadline.is_some_and(|d| Instant::now() >= d) {
                break SendEnd::Deadline;
            }
            view.refresh();
            let tsval = sh.epoch.elapsed().as_micros() as u32;
            let b = self.fill(&mut cur, walk, &view, tx, &mut slots, tsval);
            if b.frames > 0 {
                let sent = crate::test_hooks::fault(crate::test_hooks::Point::Send)
                    .and_then(|()| tx.send(b.frames, &slots.probes[..b.frames]));
                let frames = b.frames as u64;
                // The pacer counts a lost batch too: failures come at the rate, not in a spin.
                pacer.sent(frames);
                match sent {
                    Ok(()) => {
                        finished = Instant::now();
                        started.get_or_insert((finished, frames));
                        sh.counters.send.packets.fetch_add(frames, Relaxed);
                        sh.counters.send.targets.fetch_add(b.targets, Relaxed);
                        count_sources(&mut per_source, &slots.sources, b.frames);
                    }
                    Err(e) => {
                        sh.counters.send.errors.fetch_add(1, Relaxed);
                        if !sh.tolerate_failures {
                            return Err(e);
                        }
                        failed += frames;
                        sh.lose_batch(frames, &e);
                    }
                }
            } else {
                sh.counters.send.targets.fetch_add(b.targets, Relaxed);
            }
            sh.counters.send.blocklisted.fetch_add(b.skipped, Relaxed);
            if let Some(p) = self.progress {
                // Only now, with the batch sent: a checkpoint never skips a probe.
                let (pos, y) = cur.resume_point(walk);
                p.publish(pos, y);
            }
            if b.exhausted {
                break SendEnd::Done;
            }
        };
        Ok(SendReport {
            end,
            packets: pacer.total_sent() - failed,
            per_source,
            finished,
            started,
            skipped: pacer.skipped(),
        })
    }

    /// Patches the next probes of the walk into the frames of one batch, and notes in
    /// `slots` what each frame is.
    #[inline]
    fn fill<T: Transmit>(
        &self,
        cur: &mut Cursor<<F::Addrs as Numbered>::Addr, F::Addr>,
        walk: &mut Walk,
        view: &BlockView<F::Blocked>,
        tx: &mut T,
        slots: &mut Slots,
        tsval: u32,
    ) -> Filled {
        let sh = &self.shared;
        let mut b = Filled {
            frames: 0,
            targets: 0,
            skipped: 0,
            exhausted: false,
        };
        while b.frames < slots.probes.len() {
            let (daddr, dport, tag, probe) = match cur.pending.take() {
                // The rest of a target's -P probes obey the list as it is now: an opt-out
                // that arrived between two of its probes stops the rest.
                Some(p) if view.contains(p.0) => {
                    b.targets += 1;
                    continue;
                }
                Some(p) => p,
                None => {
                    cur.target_from = (Walk::position(walk), cur.yielded);
                    let Some(idx) = walk.next() else {
                        b.exhausted = true;
                        break;
                    };
                    cur.yielded += 1;
                    let Some((addr, port)) = sh.space.get(idx) else {
                        continue;
                    };
                    if view.contains(addr) {
                        b.skipped += 1;
                        continue;
                    }
                    (addr, port, sh.validator.tag(F::wire_addr(addr), port), 0)
                }
            };
            let f = ProbeFields {
                saddr: tag.saddr,
                daddr: F::wire_addr(daddr),
                dport,
                sport: sh.validator.sport(&tag, probe),
                seq: tag.seq,
                ipid: tag.ipid,
                tsval,
            };
            sh.template.patch(tx.frame_mut(b.frames), &f);
            slots.probes[b.frames] = probe;
            if let Some(s) = slots.sources.get_mut(b.frames) {
                *s = tag.source;
            }
            b.frames += 1;
            if probe + 1 < sh.probes.max(1) {
                cur.pending = Some((daddr, dport, tag, probe + 1));
            } else {
                b.targets += 1;
            }
        }
        b
    }
}

/// Adds a sent batch of `n` frames to the per-source counts: all to the one source, or
/// each to the source `sources` records for it.
#[inline]
fn count_sources(per_source: &mut [u64], sources: &[u32], n: usize) {
    match per_source {
        [only] => *only += n as u64,
        _ => {
            for &s in &sources[..n] {
                if let Some(c) = per_source.get_mut(s as usize) {
                    *c += 1;
                }
            }
        }
    }
}
