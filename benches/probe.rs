//! The cost of crafting one probe, piece by piece and as a whole.
//!
//! * `patch`: writing the per-probe fields and the incremental checksums into a frame.
//! * `tag_sport`: the keyed MAC (SipHash-1-3) that gives the sequence number, IP id and
//!   source port.
//! * `per_probe`: everything a sender does per probe (see `send::Sender::run`): the next
//!   element of the cyclic walk over a /8 × 1 port, `TargetSpace::get`, the blocklist
//!   lookup (the reserved ranges plus 5000 random /24s), the tag and source port, and the
//!   patch into one of 256 batch buffers.
//! * `sender_loop`: `send::Sender::run` itself over the same scan, with a back end that
//!   sends nothing, so batching, counters and the blocklist refresh are included.
//!
//! Throughput is in probes, so criterion reports probes per second; the time per
//! iteration divided by the batch size is the time per probe.

use std::hint::black_box;
use std::io;
use std::net::Ipv4Addr;

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::Ipv4Net;

use synsurvey::counters::Counters;
use synsurvey::probe::{Probe, ProbeFields, ProbeTemplate, TemplateParams};
use synsurvey::send::{SendShared, Sender, Transmit};
use synsurvey::stop::Stop;
use synsurvey::targets::cyclic::Cyclic;
use synsurvey::targets::live_blocklist::{BlockView, LiveBlocklist};
use synsurvey::targets::{reserved, AddrSet, TargetSpace};
use synsurvey::validate::{Key, Validator};

/// The tests' deterministic generator, for reproducible inputs.
#[allow(dead_code)]
#[path = "../tests/common/rng.rs"]
mod rng;
use rng::SplitMix64;

/// Probes per measured iteration.
const BATCH: u64 = 4096;
/// Frames per send batch, as in the scan.
const FRAMES: usize = 256;

fn template() -> ProbeTemplate {
    ProbeTemplate::new(&TemplateParams::linux_like(
        [2, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 2],
        Ipv4Addr::new(198, 19, 0, 1),
    ))
    .expect("the default probe fits")
}

fn validator() -> Validator {
    Validator::new(
        &Key([7; 16]),
        Ipv4Addr::new(198, 19, 0, 1),
        (32768, 61000),
        1,
    )
}

/// The built-in reserved ranges plus 5000 random /24s, and the scan: 11.0.0.0/8 minus
/// that blocklist (as `Config` builds it), one port.
fn scan() -> (AddrSet, TargetSpace) {
    let mut rng = SplitMix64(0x5eed_1234_abcd_0001);
    let random: Vec<Ipv4Net> = (0..5000)
        .map(|_| Ipv4Net::new(Ipv4Addr::from(rng.next_u64() as u32 & 0xffff_ff00), 24).unwrap())
        .collect();
    let block = reserved().union(&AddrSet::from_nets(random));
    let addrs = AddrSet::from_nets(["11.0.0.0/8".parse::<Ipv4Net>().unwrap()]).subtract(&block);
    (block, TargetSpace::new(addrs, vec![80]))
}

fn patch(c: &mut Criterion) {
    let t = template();
    let mut buf = vec![0u8; t.frame_len()];
    t.init(&mut buf);
    let mut g = c.benchmark_group("probe");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("patch", |b| {
        let mut x: u32 = 0x0b00_0000;
        b.iter(|| {
            for _ in 0..BATCH {
                x = x.wrapping_add(0x9e37_79b9);
                let f = ProbeFields {
                    saddr: Ipv4Addr::new(198, 19, 0, 1),
                    daddr: Ipv4Addr::from(x),
                    dport: 443,
                    sport: x as u16,
                    seq: x.rotate_left(13),
                    ipid: (x >> 16) as u16,
                    tsval: x ^ 0x5555_5555,
                };
                t.patch(black_box(&mut buf), black_box(&f));
            }
        })
    });
    g.finish();
}

fn tag_sport(c: &mut Criterion) {
    let v = validator();
    let mut g = c.benchmark_group("probe");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("tag_sport", |b| {
        let mut x: u32 = 0x0b00_0000;
        b.iter(|| {
            let mut acc = 0u32;
            for _ in 0..BATCH {
                x = x.wrapping_add(1);
                let tag = v.tag(black_box(Ipv4Addr::from(x)), 80);
                acc = acc
                    .wrapping_add(tag.seq)
                    .wrapping_add(u32::from(v.sport(&tag, 0)));
            }
            acc
        })
    });
    g.finish();
}

/// What a sender works with: the scan of [`scan`], its permutation, the blocklist as the
/// senders share it, the probe template and the validator.
struct Fixture {
    space: TargetSpace,
    cyclic: Cyclic,
    live: LiveBlocklist,
    t: ProbeTemplate,
    v: Validator,
}

fn fixture() -> Fixture {
    let (block, space) = scan();
    Fixture {
        cyclic: Cyclic::new(space.len(), 17),
        space,
        live: LiveBlocklist::new(block),
        t: template(),
        v: validator(),
    }
}

fn per_probe(c: &mut Criterion) {
    let fx = fixture();
    let mut frames = vec![vec![0u8; fx.t.frame_len()]; FRAMES];
    for f in &mut frames {
        fx.t.init(f);
    }
    let mut g = c.benchmark_group("probe");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("per_probe", |b| {
        let mut walk = fx.cyclic.walk(0, 1, 0, 1);
        let mut view = BlockView::new(&fx.live);
        let mut n = 0usize;
        b.iter(|| {
            let mut sent = 0u64;
            while sent < BATCH {
                let Some(idx) = walk.next() else {
                    walk = fx.cyclic.walk(0, 1, 0, 1);
                    continue;
                };
                let Some((addr, port)) = fx.space.get(idx) else {
                    continue;
                };
                if view.contains(addr) {
                    continue;
                }
                let daddr = Ipv4Addr::from(addr);
                let tag = fx.v.tag(daddr, port);
                let f = ProbeFields {
                    saddr: tag.saddr,
                    daddr,
                    dport: port,
                    sport: fx.v.sport(&tag, 0),
                    seq: tag.seq,
                    ipid: tag.ipid,
                    tsval: sent as u32,
                };
                fx.t.patch(&mut frames[n], &f);
                n += 1;
                if n == FRAMES {
                    black_box(&frames);
                    view.refresh();
                    n = 0;
                }
                sent += 1;
            }
        })
    });
    g.finish();
}

/// A back end that drops every batch.
struct Null {
    frames: Vec<Vec<u8>>,
}

impl Transmit for Null {
    fn capacity(&self) -> usize {
        self.frames.len()
    }
    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.frames[i]
    }
    fn send(&mut self, n: usize, probes: &[u16]) -> io::Result<()> {
        black_box((&self.frames[..n], probes));
        Ok(())
    }
}

fn sender_loop(c: &mut Criterion) {
    let fx = fixture();
    let counters = Counters::default();
    let stop = Stop::default();
    let mut tx = Null {
        frames: vec![vec![0u8; fx.t.frame_len()]; FRAMES],
    };
    // Shard the permutation so that one walk is about BATCH probes.
    let shards = (fx.space.len() / BATCH) as u32;
    let mut g = c.benchmark_group("probe");
    g.throughput(Throughput::Elements(fx.space.len() / u64::from(shards)));
    g.bench_function("sender_loop", |b| {
        let mut shard = 0;
        b.iter(|| {
            let now = Instant::now();
            let sender = Sender::<synsurvey::wire::V4> {
                shared: SendShared::new(&fx.space, &fx.t, &fx.v, 1, &fx.live, &counters, &stop)
                    .with_epoch(now),
                thread: 0,
                rate: None,
                batch: FRAMES,
                progress: None,
            };
            let mut walk = fx.cyclic.walk(shard, shards, 0, 1);
            shard = (shard + 1) % shards;
            sender.run(&mut walk, &mut tx).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, patch, tag_sport, per_probe, sender_loop);
criterion_main!(benches);
