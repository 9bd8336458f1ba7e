//! Benchmarks of the target stage: one step of a permutation walk, and address-set look-ups
//! on a realistic blocklist.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use synsurvey::targets::cyclic::{mul_mod, Cyclic};
use synsurvey::targets::{blocklist, AddrSet};

/// The tests' deterministic generator, for reproducible inputs.
#[allow(dead_code)]
#[path = "../tests/common/rng.rs"]
mod rng;
use rng::SplitMix64;

fn walk_next(c: &mut Criterion) {
    let mut group = c.benchmark_group("walk_next");
    group.throughput(Throughput::Elements(1));
    for (name, n) in [("2^24", 1u64 << 24), ("2^32x3ports", 3u64 << 32)] {
        let cyclic = Cyclic::new(n, 0x5eed);
        // Shard 0 of 2, thread 1 of 4: the step is g^8, like a real multi-thread scan.
        let mut walk = cyclic.walk(0, 2, 1, 4);
        group.bench_function(name, |b| {
            b.iter(|| match walk.next() {
                Some(x) => x,
                None => {
                    walk = cyclic.walk(0, 2, 1, 4);
                    0
                }
            })
        });
    }
    group.finish();

    // For comparison: one modular multiplication through a 128-bit division.
    let p = Cyclic::new(3 << 32, 0x5eed).prime();
    let mut x = 12345u64;
    c.bench_function("mul_mod_u128", |b| {
        b.iter(|| {
            x = mul_mod(black_box(x), 0x1234_5678_9abc, p);
            x
        })
    });
}

fn addr_set(c: &mut Criterion) {
    let mut rng = SplitMix64(0x9e37_79b9_7f4a_7c15);
    let slash24s = AddrSet::from_ranges(
        (0..5000)
            .map(|_| {
                let base = (rng.next_u64() as u32) & 0xffff_ff00;
                (base, base | 0xff)
            })
            .collect(),
    );
    let blocked = blocklist::reserved().union(&slash24s);
    let allowed = AddrSet::from_ranges(vec![(0, u32::MAX)]).subtract(&blocked);
    let probes: Vec<u32> = (0..4096).map(|_| rng.next_u64() as u32).collect();
    eprintln!(
        "blocklist: {} ranges, {} addresses; allowlist: {} ranges",
        blocked.ranges().len(),
        blocked.len(),
        allowed.ranges().len()
    );

    let mut group = c.benchmark_group("addr_set");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("contains_blocklist", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            blocked.contains(black_box(probes[i]))
        })
    });
    group.bench_function("rank_allowlist", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            allowed.rank(black_box(probes[i]))
        })
    });
    let len = allowed.len();
    group.bench_function("nth_allowlist", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            allowed.nth(black_box(u64::from(probes[i]) % len))
        })
    });
    group.finish();
}

criterion_group!(benches, walk_next, addr_set);
criterion_main!(benches);
