//! The receiver: capture, validate, deduplicate, classify, hand to the output.
//!
//! Replies arrive on an `AF_PACKET` socket whose classic BPF filter, run in the kernel,
//! already keeps only TCP SYN-ACKs and RSTs to our address and source-port range, and
//! ICMP destination unreachables to our address (validated by [`icmp`]). Each
//! frame is then parsed with length checks (no input can make it panic), checked against
//! the live blocklist, the target set and the validation MAC, and looked up in the
//! duplicate bitmap. Every frame ends either as a [`Record`] or as a counted
//! [`DropReason`]; the kernel's own drops (a full socket queue) are read from
//! `PACKET_STATISTICS`.

pub(crate) mod capture;
pub mod dedup;
mod icmp;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender as Chan;
use hdrhistogram::Histogram;

use crate::counters::Counters;
use crate::family::ScanFamily;
use crate::output::fields::zmap_time_str;
use crate::output::filter::Filter;
use crate::output::{unix_us_now, Record};
use crate::stop::{Reason, Stop};
use crate::targets::live_blocklist::{BlockView, LiveBlocklist};
use crate::targets::TargetSpace;
use crate::validate::{Class, DropReason, Validator};
use crate::wire::{Link, Reply, V4};

/// What the receiver decides about one frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Reported: the record and whether it goes to the output.
    Result {
        record: Box<Record>,
        report: bool,
    },
    Dropped(DropReason),
}

/// The stateless part of receiving: decides about one frame. Owned by the receiver thread.
/// Generic over the address family `F`, so each family's receive path is compiled apart.
pub struct Classifier<'a, F: ScanFamily = V4> {
    validator: &'a Validator<F::Addr>,
    space: &'a TargetSpace<F::Addrs>,
    blocklist: BlockView<'a, F::Blocked>,
    seen: dedup::Seen,
    /// The zero of our TCP timestamp values; `None` when the probes carry no timestamp
    /// option (`--probe-args windows`), so that no TSecr is ours.
    epoch: Option<Instant>,
    rtt: Histogram<u64>,
    /// Which results go to the output (`--output-filter`; ZMap's default is first SYN-ACKs).
    filter: Filter,
    /// What precedes the IP header in a captured frame.
    link: Link,
}

impl<'a, F: ScanFamily> Classifier<'a, F> {
    /// A classifier for replies to probes of `space` signed by `validator`, that drops
    /// what `blocklist` holds at the time, measures round trips from `epoch` and reports
    /// the results that pass `filter` (compiled once, from `--output-filter`).
    pub fn new(
        validator: &'a Validator<F::Addr>,
        space: &'a TargetSpace<F::Addrs>,
        blocklist: &'a LiveBlocklist<F::Blocked>,
        epoch: Instant,
        filter: Filter,
    ) -> Self {
        Classifier {
            validator,
            space,
            blocklist: BlockView::new(blocklist),
            seen: dedup::Seen::new(),
            epoch: Some(epoch),
            // 1 µs to 1 hour at 3 significant digits.
            rtt: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).expect("histogram")),
            filter,
            link: Link::Ethernet,
        }
    }

    /// Frames captured on `link` (Ethernet unless told otherwise).
    pub fn with_link(mut self, link: Link) -> Self {
        self.link = link;
        self
    }

    /// For probes without the timestamp option: a reply's TSecr (if a host sends one
    /// anyway) echoes nothing of ours, so no round-trip time is read from it.
    pub fn without_timestamps(mut self) -> Self {
        self.epoch = None;
        self
    }

    /// The round-trip times of the first SYN-ACK from each target, in microseconds.
    pub fn into_rtt(self) -> Histogram<u64> {
        self.rtt
    }

    /// Decides about one captured frame (a whole frame of the classifier's [`Link`]).
    /// `csum_unverifiable` says the kernel reported the
    /// TCP checksum as never computed (offload on a local path), so it is not checked.
    pub fn classify(&mut self, frame: &[u8], csum_unverifiable: bool, cooldown: bool) -> Outcome {
        let Ok(packet) = self.link.ip_packet(frame, F::ETHERTYPE) else {
            return Outcome::Dropped(DropReason::Malformed);
        };
        let mut r = match F::parse_reply_ip(packet) {
            Ok(r) => r,
            Err(crate::wire::Error::Protocol) if F::is_icmp_ip(packet) => {
                return self.classify_icmp(packet, csum_unverifiable, cooldown);
            }
            Err(_) => return Outcome::Dropped(DropReason::Malformed),
        };
        if csum_unverifiable {
            r.tcp_checksum_ok = None;
        }
        // The blocklist first: the built-in part is subtracted from the target space, so a
        // frame from such an address would otherwise count as "not a target"; the -b
        // files are not, so this is where their opt-outs hold. Nothing from a blocked
        // address is looked at further.
        self.blocklist.refresh();
        if self.blocklist.contains(F::numbered(r.saddr)) {
            return Outcome::Dropped(DropReason::Blocklisted);
        }
        let Some(index) = self.space.index_of(F::numbered(r.saddr), r.sport) else {
            return Outcome::Dropped(DropReason::NotATarget);
        };
        let accepted = match self.validator.check(&r) {
            Ok(a) => a,
            Err(why) => return Outcome::Dropped(why),
        };
        let success = accepted.class == Class::Synack;
        // Only a success marks the target, as ZMap's bitmap does: with -P 2 a target may
        // reset the first probe and accept the second, and that SYN-ACK is the result.
        let repeat = if success {
            self.seen.check_and_set(index)
        } else {
            self.seen.contains(index)
        };
        if repeat && self.filter.first_only() {
            // Cheap: a flood of repeats costs no record.
            return Outcome::Dropped(DropReason::Duplicate);
        }
        let now_us = unix_us_now();
        let rtt_us = match (success, r.options.timestamp, self.epoch) {
            (true, Some((_, tsecr)), Some(epoch)) => {
                let now = epoch.elapsed().as_micros() as u32;
                let rtt = u64::from(now.wrapping_sub(tsecr));
                // An echo from the future or from more than an hour ago is not ours.
                (rtt < 3_600_000_000).then_some(rtt)
            }
            _ => None,
        };
        if let (Some(rtt), false) = (rtt_us, repeat) {
            let _ = self.rtt.record(rtt.max(1));
        }
        let record = record(&r, accepted.class, repeat, cooldown, now_us, rtt_us);
        self.outcome(record, repeat)
    }

    /// The outcome of a reply's record: reported if the output filter matches it; a
    /// repeat that is not reported is dropped as a duplicate.
    fn outcome(&self, record: Record, repeat: bool) -> Outcome {
        let report = self.filter.matches(&record);
        if !report && repeat {
            return Outcome::Dropped(DropReason::Duplicate);
        }
        Outcome::Result {
            record: Box::new(record),
            report,
        }
    }
}

fn record<A: std::fmt::Display>(
    r: &Reply<A>,
    class: Class,
    repeat: bool,
    cooldown: bool,
    now_us: u64,
    rtt_us: Option<u64>,
) -> Record {
    let o = &r.options;
    Record {
        saddr: r.saddr.to_string(),
        daddr: r.daddr.to_string(),
        sport: r.sport,
        dport: r.dport,
        seqnum: r.seq,
        acknum: r.ack,
        window: r.window,
        ttl: r.ttl,
        ipid: r.ipid,
        tcpopt_mss: o.mss,
        tcpopt_wscale: o.wscale,
        tcpopt_sack_perm: o.sack_permitted.then_some(true),
        tcpopt_ts_val: o.timestamp.map(|t| t.0),
        tcpopt_ts_ecr: o.timestamp.map(|t| t.1),
        classification: class.as_str().to_string(),
        success: class == Class::Synack,
        repeat,
        cooldown,
        timestamp_str: zmap_time_str(now_us),
        timestamp_us: now_us,
        rtt_us,
        icmp: None,
    }
}

/// A source of captured frames: the raw socket, or a test's list.
pub trait Capture {
    /// Waits up to `timeout` and calls `f` for every frame received, with whether its TCP
    /// checksum is unverifiable (see [`Classifier::classify`]); returns how many.
    fn poll(&mut self, timeout: Duration, f: &mut dyn FnMut(&[u8], bool))
        -> std::io::Result<usize>;
    /// Frames the kernel dropped so far (cumulative).
    fn kernel_drops(&mut self) -> std::io::Result<u64>;
}

/// The receiver loop's shared flags.
pub struct Control<'a> {
    /// The receiver runs until the scan closes; it marks replies as late in the cooldown.
    pub stop: &'a Stop,
    /// `-N`: stop the scan once this many results were handed to the writer.
    pub max_results: Option<u64>,
}

/// Counts a reply under its class; after a first success, publishes the memory that
/// duplicate suppression holds (two stores on the receiver's own cache line: cheap next to
/// the insert, and the monitor sees the memory within a second).
fn count_reply(counters: &Counters, seen: &dedup::Seen, record: &Record) {
    let class = if record.success {
        &counters.recv.synack
    } else if record.icmp.is_some() {
        &counters.recv.icmp_unreach
    } else {
        &counters.recv.rst
    };
    class.fetch_add(1, Relaxed);
    if record.success && !record.repeat {
        counters.recv.unique_success.fetch_add(1, Relaxed);
        counters
            .recv
            .dedup_bytes
            .store(seen.memory() as u64, Relaxed);
        counters
            .recv
            .dedup_peak_bytes
            .store(seen.peak_memory() as u64, Relaxed);
    }
}

/// Runs until `control.stop`, sending reported records to `out`. Returns the classifier
/// (for its RTT histogram) when done.
pub fn run<'a, C: Capture, F: ScanFamily>(
    mut cap: C,
    mut cls: Classifier<'a, F>,
    counters: &Counters,
    control: &Control<'_>,
    out: &Chan<Record>,
) -> std::io::Result<Classifier<'a, F>> {
    let results = AtomicU64::new(0);
    let mut last_stats = Instant::now();
    let mut output_gone = false;
    while !control.stop.closed() {
        crate::test_hooks::fault(crate::test_hooks::Point::Recv)?;
        let cooldown = control.stop.in_cooldown();
        cap.poll(Duration::from_millis(50), &mut |frame, unverifiable| {
            counters.recv.packets.fetch_add(1, Relaxed);
            match cls.classify(frame, unverifiable, cooldown) {
                Outcome::Dropped(why) => counters.drop(why),
                Outcome::Result { record, report } => {
                    count_reply(counters, &cls.seen, &record);
                    // -N caps the results written, as in ZMap: none beyond the cap.
                    let capped = control
                        .max_results
                        .is_some_and(|m| results.load(Relaxed) >= m);
                    if report && !output_gone && !capped {
                        // The writer is gone only after recording why the scan stops.
                        if out.send(*record).is_err() {
                            output_gone = true;
                        } else {
                            // Counted as written by the output stage, once on disk.
                            let n = results.fetch_add(1, Relaxed) + 1;
                            if control.max_results.is_some_and(|m| n >= m) {
                                control.stop.request(Reason::MaxResults);
                            }
                        }
                    }
                }
            }
        })?;
        if last_stats.elapsed() >= Duration::from_millis(500) {
            last_stats = Instant::now();
            counters
                .recv
                .kernel_drops
                .store(cap.kernel_drops()?, Relaxed);
        }
    }
    counters
        .recv
        .kernel_drops
        .store(cap.kernel_drops()?, Relaxed);
    Ok(cls)
}
