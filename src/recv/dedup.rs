//! Exact duplicate suppression over the target space, in memory that grows with the replies.
//!
//! A target is a number `0..n` (see `TargetSpace`: `rank(address) · ports + port`), `n` up
//! to 2^48. The set of targets that have answered is split into chunks of 2^16 consecutive
//! indices, kept in a hash table keyed by `index >> 16` and created the first time one of
//! their targets answers. A chunk holds its answered targets in one of two forms, the
//! smaller one (as in a roaring bitmap):
//! - **sparse**: a sorted array of the low 16 bits (2 bytes a reply), grown by doubling up
//!   to 4,096 entries (8 KiB);
//! - **dense**: past 4,096 replies, a bitmap of 2^16 bits (8 KiB, one bit a target).
//!
//! **Memory model.** With `C` chunks touched and `r_c` replies in chunk `c`:
//!
//! ```text
//! bytes ≈ T · (E + 1)  +  Σ_c min(cap(r_c) · 2, 8192)
//!         T = table slots, the power of two ≥ 8/7 · C;  E = 32 bytes a slot;
//!         cap(r) = r rounded up to a power of two (at least 4)
//! ```
//!
//! so at most `≈ 66 + 4 · r` bytes a chunk (sparse, with the doubling slack) and never
//! more than `8 KiB + 66` (dense). For the usual scan shapes, `R` replies:
//! - **one port over all of IPv4** (`n = 2^32`, 65,536 chunks): `≈ 2 to 4 · R` bytes while
//!   `R` is below 268 M (4,096 a chunk), then at most 512 MiB (every chunk a bitmap) plus
//!   4 MiB of table. The old paged bitmap held 512 MiB as soon as every /16 had a reply.
//! - **P ports, sparse replies** (`n = 2^32 · P`, `2^16 · P` chunks): `≈ 2 to 4 · R` bytes
//!   plus 33 to 66 bytes for each chunk touched, which is at most `min(R, 2^16 · P)`.
//!   Top 100 ports over IPv4 with 100 M replies: about 0.6 GB (measured: see
//!   docs/performance.md), against 54 GB for the old pages.
//! - **All ports of a small network, dense** (`n = 65,535 · A` for `A` addresses): every
//!   answering address's 65,535 ports fill one or two chunks, held as bitmaps: at most
//!   `2 · 8 KiB` an answering address, one bit a target.
//!
//! Inserting costs one hash-table probe and, in a sparse chunk, a binary search and a move
//! of at most 8 KiB; in a dense chunk a bit test.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Bits of the index that address a target inside its chunk.
const CHUNK_BITS: u32 = 16;
/// Past this many replies a chunk is a bitmap (the array would be larger).
const ARRAY_MAX: usize = 4096;
const WORDS: usize = (1 << CHUNK_BITS) / 64;
const BITMAP_BYTES: usize = WORDS * 8;

enum Chunk {
    /// Sorted, distinct low 16 bits of the answered targets.
    Sparse(Vec<u16>),
    Dense(Box<[u64; WORDS]>),
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
        let grew;
        match self.chunks.get_mut(&key) {
            Some(Chunk::Dense(bits)) => {
                let (w, m) = (usize::from(low) / 64, 1u64 << (low % 64));
                let was = bits[w] & m != 0;
                bits[w] |= m;
                return was;
            }
            Some(Chunk::Sparse(v)) => {
                let at = match v.binary_search(&low) {
                    Ok(_) => return true,
                    Err(at) => at,
                };
                if v.len() < v.capacity() {
                    v.insert(at, low);
                    return false;
                }
                let before = v.capacity() * 2;
                if v.len() < ARRAY_MAX {
                    v.reserve_exact((v.len() * 2).min(ARRAY_MAX) - v.len());
                    v.insert(at, low);
                    self.heap += v.capacity() * 2 - before;
                } else {
                    let mut bits = Box::new([0u64; WORDS]);
                    for &x in v.iter().chain([&low]) {
                        bits[usize::from(x) / 64] |= 1 << (x % 64);
                    }
                    self.chunks.insert(key, Chunk::Dense(bits));
                    self.heap = self.heap + BITMAP_BYTES - before;
                }
                grew = true;
            }
            None => {
                let mut v = Vec::with_capacity(4);
                v.push(low);
                self.heap += v.capacity() * 2;
                self.chunks.insert(key, Chunk::Sparse(v));
                grew = true;
            }
        }
        if grew {
            self.peak = self.peak.max(self.memory());
        }
        false
    }

    pub fn contains(&self, index: u64) -> bool {
        let low = (index & ((1 << CHUNK_BITS) - 1)) as u16;
        match self.chunks.get(&(index >> CHUNK_BITS)) {
            None => false,
            Some(Chunk::Sparse(v)) => v.binary_search(&low).is_ok(),
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
                Chunk::Sparse(v) => v.len() as u64,
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
