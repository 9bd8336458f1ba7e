//! Exact duplicate suppression over the target space, in memory that grows with the replies.
//!
//! A target is a number `0..n` (see `TargetSpace`: `rank(address) · ports + port`), `n` up
//! to 2^48. The set of targets that have answered is split into chunks of 2^16 consecutive
//! indices, kept in a hash table keyed by `index >> 16` and created the first time one of
//! their targets answers. A chunk holds its answered targets in one of two forms:
//! - **sparse**: a small open-addressing table of the low 16 bits (2 bytes a slot, at most
//!   3/4 full, grown by half again from 4 slots up to 4,096 slots = 8 KiB), so an insert
//!   costs one probe into one or two cache lines, not a search and a move;
//! - **dense**: past 3,072 replies, a bitmap of 2^16 bits (8 KiB, one bit a target).
//!
//! **Memory model.** With `C` chunks touched and `r_c` replies in chunk `c`:
//!
//! ```text
//! bytes = T · (E + 1)  +  Σ_c slots(r_c) · 2      (sparse: r_c ≤ 3,072)
//!                      +  8,192 · (dense chunks)
//!         T = table slots, the power of two ≥ 8/7 · C (at most 16/7 · C);  E = 32 bytes;
//!         slots(r) between 4/3 · r and 2 · r (at least 4)
//! ```
//!
//! so a sparse chunk costs `≈ 40 to 75 + (2.7 to 4) · r` bytes and a chunk never more than
//! `8 KiB + 75` bytes. For the usual scan shapes, `R` replies:
//! - **one port over all of IPv4** (`n = 2^32`, 65,536 chunks): `≈ 2.7 to 4 · R` bytes
//!   while `R` is below 200 M (3,072 a chunk), then at most 512 MiB (every chunk a
//!   bitmap) plus 4 MiB of table. The old paged bitmap held 512 MiB as soon as every /16
//!   had a reply.
//! - **P ports, sparse replies** (`n = 2^32 · P`, `2^16 · P` chunks): `≈ 2.7 to 4 · R`
//!   bytes plus 40 to 75 bytes for each chunk touched, which is at most
//!   `min(R, 2^16 · P)`. Top 100 ports over IPv4 with 100 M replies: about 0.6 GB
//!   (measured: docs/performance.md), against 50 GiB for the old pages.
//! - **All ports of a small network, dense** (`n = 65,535 · A` for `A` addresses): every
//!   answering address's 65,535 ports fill one or two chunks, held as bitmaps: at most
//!   `2 · (8 KiB + 75)` an answering address, one bit a target.
//!
//! The receiver publishes [`Seen::memory`] and [`Seen::peak_memory`] after each first
//! success (`replies.dedup_bytes` and `replies.dedup_peak_bytes` in the metadata).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Bits of the index that address a target inside its chunk.
const CHUNK_BITS: u32 = 16;
/// The most slots a sparse chunk has (8 KiB, the size of a bitmap); it becomes a bitmap
/// when it would need more.
const SLOTS_MAX: usize = 4096;
const WORDS: usize = (1 << CHUNK_BITS) / 64;
const BITMAP_BYTES: usize = WORDS * 8;

enum Chunk {
    /// An open-addressing table of the answered targets' low 16 bits plus one (0 is a
    /// free slot), linear probing, at most 3/4 full; `top` stands for 0xffff, whose
    /// plus-one wraps to 0. `len` counts the filled slots.
    Sparse {
        slots: Box<[u16]>,
        len: u16,
        top: bool,
    },
    Dense(Box<[u64; WORDS]>),
}

/// The home slot of stored value `v` in a table of `cap` slots (a multiplicative hash,
/// scaled to `cap` without a division).
#[inline]
fn home(v: u16, cap: usize) -> usize {
    let h = (u32::from(v).wrapping_mul(0x9e37_79b1) >> 16) as usize;
    (h * cap) >> 16
}

/// Finds stored value `v` (non-zero): `Ok` if present, else `Err(free slot)`.
#[inline]
fn probe(slots: &[u16], v: u16) -> Result<(), usize> {
    let cap = slots.len();
    let mut i = home(v, cap);
    loop {
        match slots[i] {
            s if s == v => return Ok(()),
            0 => return Err(i),
            _ => i = if i + 1 == cap { 0 } else { i + 1 },
        }
    }
}

/// A multiplicative hash of the chunk number: chunk numbers are not chosen by the network
/// (they are indices of our own targets), so no keyed hash is needed.
#[derive(Default)]
struct ChunkHasher(u64);

impl Hasher for ChunkHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 << 8 | u64::from(b));
        }
    }
    fn write_u64(&mut self, k: u64) {
        let h = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 32);
    }
}

/// The set of target indices that have answered.
#[derive(Default)]
pub struct Seen {
    chunks: HashMap<u64, Chunk, BuildHasherDefault<ChunkHasher>>,
    /// Bytes held by the chunks' arrays and bitmaps (not the table).
    heap: usize,
    /// The most [`Seen::memory`] has been.
    peak: usize,
}

impl Seen {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `index` as seen; returns true if it already was.
    #[inline]
    pub fn check_and_set(&mut self, index: u64) -> bool {
        let low = (index & ((1 << CHUNK_BITS) - 1)) as u16;
        let key = index >> CHUNK_BITS;
        match self.chunks.get_mut(&key) {
            Some(Chunk::Dense(bits)) => {
                let (w, m) = (usize::from(low) / 64, 1u64 << (low % 64));
                let was = bits[w] & m != 0;
                bits[w] |= m;
                return was;
            }
            Some(Chunk::Sparse { slots, len, top }) => {
                let v = low.wrapping_add(1);
                if v == 0 {
                    return std::mem::replace(top, true);
                }
                let free = match probe(slots, v) {
                    Ok(()) => return true,
                    Err(free) => free,
                };
                let cap = slots.len();
                if (usize::from(*len) + 1) * 4 <= cap * 3 {
                    slots[free] = v;
                    *len += 1;
                    return false;
                }
                // Full: a table half again as large, or past 8 KiB a bitmap.
                if cap < SLOTS_MAX {
                    let new_cap = (cap + cap / 2).clamp(cap + 2, SLOTS_MAX);
                    let mut grown = vec![0u16; new_cap].into_boxed_slice();
                    for &x in slots.iter().filter(|&&x| x != 0).chain([&v]) {
                        let Err(at) = probe(&grown, x) else {
                            unreachable!("distinct values")
                        };
                        grown[at] = x;
                    }
                    *slots = grown;
                    *len += 1;
                    self.heap += (new_cap - cap) * 2;
                } else {
                    let mut bits = Box::new([0u64; WORDS]);
                    let top = [0xffff].into_iter().filter(|_| *top);
                    let lows = slots.iter().filter(|&&x| x != 0).map(|x| x - 1);
                    for x in lows.chain(top).chain([low]) {
                        bits[usize::from(x) / 64] |= 1 << (x % 64);
                    }
                    self.chunks.insert(key, Chunk::Dense(bits));
                    self.heap = self.heap + BITMAP_BYTES - cap * 2;
                }
            }
            None => {
                let v = low.wrapping_add(1);
                let mut slots = vec![0u16; 4].into_boxed_slice();
                if v != 0 {
                    slots[home(v, 4)] = v;
                }
                self.heap += slots.len() * 2;
                let chunk = Chunk::Sparse {
                    slots,
                    len: u16::from(v != 0),
                    top: v == 0,
                };
                self.chunks.insert(key, chunk);
            }
        }
        // Grew: a new chunk, a larger table or a bitmap.
        self.peak = self.peak.max(self.memory());
        false
    }

    pub fn contains(&self, index: u64) -> bool {
        let low = (index & ((1 << CHUNK_BITS) - 1)) as u16;
        match self.chunks.get(&(index >> CHUNK_BITS)) {
            None => false,
            Some(Chunk::Sparse { slots, top, .. }) => match low.wrapping_add(1) {
                0 => *top,
                v => probe(slots, v).is_ok(),
            },
            Some(Chunk::Dense(bits)) => bits[usize::from(low) / 64] & (1 << (low % 64)) != 0,
        }
    }

    /// Bytes held now: the table's slots and the chunks' arrays and bitmaps.
    pub fn memory(&self) -> usize {
        self.chunks.capacity() * (std::mem::size_of::<(u64, Chunk)>() + 1) + self.heap
    }

    /// The most bytes held at any time so far.
    pub fn peak_memory(&self) -> usize {
        self.peak.max(self.memory())
    }

    /// Targets marked as seen.
    pub fn len(&self) -> u64 {
        self.chunks
            .values()
            .map(|c| match c {
                Chunk::Sparse { len, top, .. } => u64::from(*len) + u64::from(*top),
                Chunk::Dense(b) => b.iter().map(|w| u64::from(w.count_ones())).sum(),
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn first_is_new_then_repeat() {
        let mut s = Seen::new();
        for i in [0u64, 1, 63, 64, 65_535, 65_536, (1 << 48) - 1] {
            assert!(!s.contains(i));
            assert!(!s.check_and_set(i), "{i}");
            assert!(s.check_and_set(i), "{i}");
            assert!(s.contains(i));
        }
        assert!(!s.contains(2));
        assert_eq!(s.len(), 7);
    }

    #[test]
    fn sparse_replies_cost_a_few_bytes_each() {
        // A hundred thousand replies spread over 100 ports of all of IPv4: one a chunk.
        let mut s = Seen::new();
        for i in 0..100_000u64 {
            s.check_and_set(i * 4_294_967 + 17);
        }
        assert!(s.memory() <= 100_000 * (2 * 33 + 8), "{}", s.memory());
        assert_eq!(s.peak_memory(), s.memory());
    }

    #[test]
    fn dense_chunk_becomes_a_bitmap_of_one_bit_a_target() {
        let mut s = Seen::new();
        for i in 0..65_536u64 {
            assert!(!s.check_and_set(5 << 16 | (i * 40_503 % 65_536)));
        }
        assert_eq!(s.len(), 65_536);
        assert!(matches!(s.chunks.get(&5), Some(Chunk::Dense(_))));
        assert_eq!(s.heap, BITMAP_BYTES);
        assert!(s.memory() <= BITMAP_BYTES + 64 * 33);
        // Its peak was the full array and no more.
        assert!(s.peak_memory() <= 2 * BITMAP_BYTES, "{}", s.peak_memory());
        for i in 0..65_536u64 {
            assert!(s.check_and_set(5 << 16 | i));
        }
    }

    /// Indices of a hitlist of `addrs` IPv6 addresses on `ports` ports: sparse ranks.
    fn hitlist() -> impl Strategy<Value = Vec<u64>> {
        (1u64..70_000, 1u64..8).prop_flat_map(|(addrs, ports)| {
            proptest::collection::vec((0..addrs, 0..ports), 0..3000)
                .prop_map(move |v| v.into_iter().map(|(r, p)| r * ports + p).collect())
        })
    }

    fn check_against_model(indices: &[u64]) {
        let mut s = Seen::new();
        let mut model = HashSet::new();
        for &i in indices {
            assert_eq!(s.check_and_set(i), !model.insert(i), "index {i}");
        }
        for &i in indices {
            assert!(s.contains(i));
            assert!(!s.contains(i ^ (1 << 47)) || model.contains(&(i ^ (1 << 47))));
        }
        assert_eq!(s.len(), model.len() as u64);
        assert!(s.peak_memory() >= s.memory());
    }

    proptest! {
        #[test]
        fn matches_hashset_anywhere(v in proptest::collection::vec(0u64..1 << 48, 0..2000)) {
            check_against_model(&v);
        }

        #[test]
        fn matches_hashset_near_2_48(v in proptest::collection::vec((1u64 << 48) - 300_000..1 << 48, 0..5000)) {
            check_against_model(&v);
        }

        #[test]
        fn matches_hashset_dense(v in proptest::collection::vec(0u64..20_000, 0..12_000)) {
            // Chunk 0 passes 4,096 replies and becomes a bitmap part way.
            check_against_model(&v);
        }

        #[test]
        fn matches_hashset_ipv6_hitlist(v in hitlist()) {
            check_against_model(&v);
        }
    }
}
