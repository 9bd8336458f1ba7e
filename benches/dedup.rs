//! Duplicate suppression at Internet scale: bytes held and nanoseconds per insert for three
//! scan shapes, today's structure (`recv::dedup::Seen`) against the paged bitmap it replaced
//! and a plain `HashSet<u64>`. Not a criterion benchmark: one pass of up to 131 M inserts is
//! the measurement. Run: `cargo bench --bench dedup` (or `scripts/bench.sh dedup`);
//! `cargo bench --bench dedup -- 1 2` runs only shapes 1 and 2.
//!
//! Indices are drawn on the fly (SplitMix64 or a multiplicative permutation); the time of
//! drawing them alone is printed as `gen` and included in every figure.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::time::Instant;

use synsurvey::recv::dedup::Seen;

#[allow(dead_code)]
#[path = "../tests/common/rng.rs"]
mod rng;
use rng::SplitMix64;

/// The structure before issue 20: an 8 KiB page per 2^16 consecutive indices with a reply.
#[derive(Default)]
struct Pages {
    pages: HashMap<u64, Box<[u64; 1024]>>,
}

impl Pages {
    fn check_and_set(&mut self, index: u64) -> bool {
        let page = self
            .pages
            .entry(index >> 16)
            .or_insert_with(|| Box::new([0u64; 1024]));
        let bit = (index & 0xffff) as usize;
        let (w, m) = (bit / 64, 1u64 << (bit % 64));
        let was = page[w] & m != 0;
        page[w] |= m;
        was
    }
    fn memory(&self) -> usize {
        self.pages.len() * 8192
    }
}

trait Set {
    fn insert(&mut self, i: u64) -> bool;
    fn bytes(&self) -> usize;
}
impl Set for Seen {
    fn insert(&mut self, i: u64) -> bool {
        self.check_and_set(i)
    }
    fn bytes(&self) -> usize {
        self.memory()
    }
}
impl Set for Pages {
    fn insert(&mut self, i: u64) -> bool {
        self.check_and_set(i)
    }
    fn bytes(&self) -> usize {
        self.memory()
    }
}
impl Set for HashSet<u64> {
    fn insert(&mut self, i: u64) -> bool {
        !HashSet::insert(self, i)
    }
    fn bytes(&self) -> usize {
        self.capacity() * 9
    }
}
impl Set for () {
    fn insert(&mut self, i: u64) -> bool {
        black_box(i) == 0
    }
    fn bytes(&self) -> usize {
        0
    }
}

/// The `k`-th index of a shape, from `k` or the generator.
type IndexFn = Box<dyn Fn(u64, &mut SplitMix64) -> u64>;

/// A shape: how many inserts, and the `k`-th index.
struct Shape {
    name: &'static str,
    inserts: u64,
    index: IndexFn,
}

fn shapes(fraction: u64) -> Vec<Shape> {
    // Shape 3: 2,000 of 65,536 addresses answer on all 65,535 ports, in a random order
    // (a permutation of the 131 M (address, port) pairs by a multiplier prime to their number).
    let mut r = SplitMix64(3);
    let mut addrs: Vec<u64> = Vec::new();
    while addrs.len() < 2000 {
        let a = r.below(65_536);
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    let pairs = 2000 * 65_535u64;
    vec![
        Shape {
            name: "1: 1 port x 2^32, 60M random",
            inserts: 60_000_000 / fraction,
            index: Box::new(move |_, r| r.below((1 << 32) / fraction)),
        },
        Shape {
            name: "2: 100 ports x 2^32, 100M random",
            inserts: 100_000_000 / fraction,
            index: Box::new(move |_, r| r.below((100 << 32) / fraction)),
        },
        Shape {
            name: "3: 65535 ports x 65536, 2000 addrs all ports",
            inserts: pairs / fraction,
            index: Box::new(move |k, _| {
                // 1,000,003 is prime and does not divide `pairs`: a bijection of 0..pairs.
                let j = (u128::from(k) * 1_000_003 % u128::from(pairs)) as u64;
                addrs[(j / 65_535) as usize] * 65_535 + j % 65_535
            }),
        },
    ]
}

fn run(shape: &Shape, mut set: impl Set) -> (f64, usize, u64) {
    let mut r = SplitMix64(0x5eed);
    let mut repeats = 0u64;
    let t = Instant::now();
    for k in 0..shape.inserts {
        repeats += u64::from(set.insert((shape.index)(k, &mut r)));
    }
    let ns = t.elapsed().as_nanos() as f64 / shape.inserts as f64;
    (ns, set.bytes(), repeats)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it,
    // where minutes of inserts would only slow the test suite down.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/dedup.rs: a benchmark; run it with scripts/bench.sh dedup");
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |i: usize| args.is_empty() || args.iter().any(|a| a == &(i + 1).to_string());
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    // The old pages of shape 2 need 6.5 M pages (54 GB): they run on 1/64 of the index
    // space with 1/64 of the replies (same density), and the bytes are multiplied by 64.
    const OLD2: u64 = 64;
    println!(
        "{:<46} {:<14} {:>9} {:>12} {:>10}",
        "shape", "structure", "ns/insert", "MiB held", "repeats"
    );
    for (i, (full, part)) in shapes(1).iter().zip(shapes(OLD2)).enumerate() {
        if !want(i) {
            continue;
        }
        let (g, _, _) = run(full, ());
        println!("{:<46} {:<14} {:>9.1}", full.name, "gen only", g);
        let (ns, b, rep) = run(full, Seen::new());
        println!(
            "{:<46} {:<14} {:>9.1} {:>12.1} {:>10}",
            full.name,
            "new Seen",
            ns,
            mib(b),
            rep
        );
        if i == 1 {
            let (ns, b, rep) = run(&part, Pages::default());
            println!(
                "{:<46} {:<14} {:>9.1} {:>12.1} {:>10}  (1/{OLD2} of the space, bytes x{OLD2})",
                full.name,
                "old pages",
                ns,
                mib(b) * OLD2 as f64,
                rep
            );
        } else {
            let (ns, b, rep) = run(full, Pages::default());
            println!(
                "{:<46} {:<14} {:>9.1} {:>12.1} {:>10}",
                full.name,
                "old pages",
                ns,
                mib(b),
                rep
            );
        }
        if std::env::var_os("DEDUP_HASHSET").is_some() {
            let (ns, b, rep) = run(full, HashSet::<u64>::new());
            println!(
                "{:<46} {:<14} {:>9.1} {:>12.1} {:>10}",
                full.name,
                "HashSet<u64>",
                ns,
                mib(b),
                rep
            );
        }
    }
}
