//! Sender threads: walk a share of the permutation, craft probes, pace, transmit.
//!
//! Each sender owns one walk of the cyclic permutation (its thread's part of its shard),
//! one transmit back end and one pacer; senders share nothing but the live blocklist and
//! the counters. For every target the loop checks the blocklist as it is now (so an
//! opt-out that arrives mid-scan is honoured at the next batch), derives the sequence
//! number and source port from the validation MAC, and patches the probe template into
//! the back end's buffer. A batch is filled only once the pacer says it is due (its last
//! packet is), so the timestamp a batch carries is its send time.

pub mod dryrun;
pub mod pacer;
pub mod threads;

use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use crate::output::monitor::Counters;
use crate::probe::{ProbeFields, ProbeTemplate};
use crate::targets::cyclic::Walk;
use crate::targets::live::{BlockView, LiveBlocklist};
use crate::targets::TargetSpace;
use crate::validate::{Tag, Validator};

use pacer::Pacer;

/// Where crafted frames go: a raw socket, or the dry run's printer.
pub trait Transmit {
    /// How many frames one batch may hold.
    fn capacity(&self) -> usize;
    /// The buffer of frame `i`; it keeps what was written to it between batches, so the
    /// template's constant part is written once ([`Transmit::prepare`]).
    fn frame_mut(&mut self, i: usize) -> &mut [u8];
    /// Writes the template into every frame buffer.
    fn prepare(&mut self, template: &ProbeTemplate) {
        for i in 0..self.capacity() {
            template.init(self.frame_mut(i));
        }
    }
    /// Sends frames `0..n`. `probes[i]` is the probe number of frame `i`.
    fn send(&mut self, n: usize, probes: &[u16]) -> io::Result<()>;
}

/// Everything one sender thread needs, borrowed from the scan.
pub struct Sender<'a> {
    pub thread: u32,
    pub space: &'a TargetSpace,
    pub template: &'a ProbeTemplate,
    pub validator: &'a Validator,
    pub probes: u16,
    pub blocklist: &'a LiveBlocklist,
    pub counters: &'a Counters,
    pub stop: &'a AtomicBool,
    /// This thread's packets per second, `None` for no cap.
    pub rate: Option<f64>,
    /// When pacing starts.
    pub start: Instant,
    /// The zero of the TCP timestamp values (microseconds since it).
    pub epoch: Instant,
    /// Stop sending at this time (`-t`).
    pub deadline: Option<Instant>,
    /// Frames per batch, at most the back end's capacity.
    pub batch: usize,
    /// Where the walk's position is published after each batch (`--checkpoint`).
    pub progress: Option<&'a crate::checkpoint::ThreadProgress>,
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

#[derive(Debug, Clone, Copy)]
pub struct SendReport {
    pub end: SendEnd,
    pub packets: u64,
    /// Positions of the walk consumed: where a resumed scan continues. A target whose
    /// probes were not all sent is not consumed.
    pub position: u64,
    /// When the last batch had been handed to the kernel.
    pub finished: Instant,
    /// When the first batch was, and how many packets it held: the rate over the
    /// sending window is `(packets - first_batch) / (finished - started)`, since a batch
    /// leaves when its last packet is due.
    pub started: Option<(Instant, u64)>,
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

impl Sender<'_> {
    pub fn run<T: Transmit>(&self, walk: &mut Walk, tx: &mut T) -> io::Result<SendReport> {
        let batch = self.batch.clamp(1, tx.capacity());
        tx.prepare(self.template);
        let mut pacer = Pacer::with_batch(self.rate, self.start, batch);
        let mut view = BlockView::new(self.blocklist);
        let mut probe_nums = vec![0u16; batch];
        // A target whose probes did not all fit in the last batch: (addr, port, tag, next probe).
        let mut pending: Option<(Ipv4Addr, u16, Tag, u16)> = None;
        let src_probes = self.probes.max(1);
        // Indices this run's walk yielded, and (position, yielded) just before the target
        // being probed was drawn: the resume point while its probes are split over batches.
        let mut yielded = 0u64;
        let mut target_from = (Walk::position(walk), 0u64);
        let mut started = None;
        let mut finished = Instant::now();
        let end = loop {
            if self.stop.load(Relaxed) {
                break SendEnd::Stopped;
            }
            if !pacer.wait(self.deadline) || self.deadline.is_some_and(|d| Instant::now() >= d) {
                break SendEnd::Deadline;
            }
            view.refresh();
            let tsval = self.epoch.elapsed().as_micros() as u32;
            let (mut n, mut targets, mut skipped) = (0usize, 0u64, 0u64);
            let mut exhausted = false;
            while n < batch {
                let (daddr, dport, tag, probe) = match pending.take() {
                    Some(p) => p,
                    None => {
                        target_from = (Walk::position(walk), yielded);
                        let Some(idx) = walk.next() else {
                            exhausted = true;
                            break;
                        };
                        yielded += 1;
                        let Some((addr, port)) = self.space.get(idx) else {
                            continue;
                        };
                        if view.contains(addr) {
                            skipped += 1;
                            continue;
                        }
                        let daddr = Ipv4Addr::from(addr);
                        (daddr, port, self.validator.tag(daddr, port), 0)
                    }
                };
                let sport = self.validator.sport(&tag, probe);
                let f = ProbeFields {
                    daddr,
                    dport,
                    sport,
                    seq: tag.seq,
                    ipid: tag.ipid,
                    tsval,
                };
                self.template.patch(tx.frame_mut(n), &f);
                probe_nums[n] = probe;
                n += 1;
                if probe + 1 < src_probes {
                    pending = Some((daddr, dport, tag, probe + 1));
                } else {
                    targets += 1;
                }
            }
            if n > 0 {
                if let Err(e) = tx.send(n, &probe_nums[..n]) {
                    self.counters.send.errors.fetch_add(1, Relaxed);
                    return Err(e);
                }
                finished = Instant::now();
                started.get_or_insert((finished, n as u64));
                pacer.sent(n as u64);
                self.counters.send.packets.fetch_add(n as u64, Relaxed);
            }
            self.counters.send.targets.fetch_add(targets, Relaxed);
            self.counters.send.blocklisted.fetch_add(skipped, Relaxed);
            if let Some(p) = self.progress {
                // Only now, with the batch sent: a checkpoint never skips a probe.
                let (pos, y) = if pending.is_some() {
                    target_from
                } else {
                    (Walk::position(walk), yielded)
                };
                p.publish(pos, y);
            }
            if exhausted {
                break SendEnd::Done;
            }
        };
        Ok(SendReport {
            end,
            packets: pacer.total_sent(),
            position: if pending.is_some() {
                target_from.0
            } else {
                Walk::position(walk)
            },
            finished,
            started,
        })
    }
}

impl Transmit for crate::net::xdp::XdpTx {
    fn capacity(&self) -> usize {
        crate::net::xdp::XdpTx::capacity(self)
    }

    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        crate::net::xdp::XdpTx::frame_mut(self, i)
    }

    /// Every UMEM chunk, not only the current slots: a chunk becomes a slot again after its
    /// completion, and must already hold the template's constant part then.
    fn prepare(&mut self, template: &ProbeTemplate) {
        // On failure (chunks the kernel never gave back) the socket refuses to send, and
        // the sender reports that error at its first batch.
        let _ = self.init_chunks(|c| template.init(c));
    }

    fn send(&mut self, n: usize, _probes: &[u16]) -> io::Result<()> {
        crate::net::xdp::XdpTx::send(self, n)
    }
}

/// A sender's back end chosen at run time: a packet socket `P`, or AF_XDP.
pub enum Backend<P> {
    Packet(P),
    Xdp(crate::net::xdp::XdpTx),
}

impl<P: Transmit> Transmit for Backend<P> {
    fn capacity(&self) -> usize {
        match self {
            Backend::Packet(p) => p.capacity(),
            Backend::Xdp(x) => Transmit::capacity(x),
        }
    }

    #[inline]
    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        match self {
            Backend::Packet(p) => p.frame_mut(i),
            Backend::Xdp(x) => Transmit::frame_mut(x, i),
        }
    }

    fn prepare(&mut self, template: &ProbeTemplate) {
        match self {
            Backend::Packet(p) => p.prepare(template),
            Backend::Xdp(x) => Transmit::prepare(x, template),
        }
    }

    fn send(&mut self, n: usize, probes: &[u16]) -> io::Result<()> {
        match self {
            Backend::Packet(p) => p.send(n, probes),
            Backend::Xdp(x) => Transmit::send(x, n, probes),
        }
    }
}
