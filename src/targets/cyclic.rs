//! A pseudo-random permutation of `0..n` from a cyclic multiplicative group, split into
//! disjoint shards and sender threads without any coordination or per-target state.
//!
//! **The group.** For a prime `p`, the non-zero residues `{1, ..., p-1}` form a group under
//! multiplication modulo `p`, and that group is cyclic of order `p-1`: some element `g`, a
//! *primitive root*, has powers `g^0, g^1, ..., g^(p-2)` that are all distinct and so run
//! through every element of the group exactly once before `g^(p-1) = 1` closes the cycle.
//! Multiplying by a fixed start element `s` only rotates that cycle, so `s·g^i mod p` for
//! `i = 0..p-1` is also a permutation of `{1, ..., p-1}`. We call `i` the *position* and
//! `s·g^i mod p` the *element* at that position. Stepping from one position to the next is
//! one modular multiplication, and the state of a walk is a single number.
//!
//! **From `1..p-1` to `0..n`.** We take `p` as the smallest prime greater than `n`, map
//! element `e` in `1..=n` to target index `e - 1`, and skip the elements `n+1..=p-1`, which
//! are not targets. Only `p - 1 - n` positions of the whole cycle are skipped, fewer than
//! the gap between consecutive primes near `n`: about `ln n` on average (≈ 17 near 2^24,
//! ≈ 33 near 2^48) and below 1,000 for any `n` we accept. The overhead is thus a few dozen
//! wasted multiplications over a whole scan, a fraction of about `ln(n)/n`, not a cost per
//! target.
//!
//! **Finding a generator.** By Lagrange's theorem the order of any `g` divides `p-1`. If the
//! order were a proper divisor `d` of `p-1`, then `d` would divide `(p-1)/q` for some prime
//! factor `q` of `p-1`, and `g^((p-1)/q)` would be 1. Hence `g` is a primitive root if and
//! only if `g^((p-1)/q) ≠ 1 (mod p)` for every prime `q` dividing `p-1`. We factor `p-1`
//! once (trial division, stopping as soon as the remaining cofactor is 1 or prime) and test
//! random candidates. Primitive roots make up a fraction `φ(p-1)/(p-1)` of the group, which
//! for `p - 1 < 2^49` is never below 1/7 (the worst case is a product of the first primes),
//! so on average at most seven draws are needed. The seed drives a small
//! SplitMix64 generator that draws the candidates in `[2, p-1]` and then the start element
//! in `[1, p-1]`, so the same `(n, seed)` always gives the same order and a different seed
//! almost always a different one.
//!
//! **Sharding.** The `p-1` positions are dealt out by residue: shard `s` of `N` takes the
//! positions `≡ s (mod N)`, and within a shard, thread `t` of `T` takes every `T`-th of
//! those, i.e. positions `s + N·t + k·N·T`. Shards are therefore disjoint and together cover
//! every position whatever thread count each shard uses, and a walk advances by one
//! multiplication by the precomputed `g^(N·T)`. Resuming at any position costs one modular
//! exponentiation ([`Cyclic::try_walk_from`]); nothing is replayed.
//!
//! **Why the order looks random, and why it is not secret.** Successive targets differ by a
//! multiplication by a large random `g` modulo `p`, which wraps around many times, so
//! numerically close targets (hosts of one network) end up far apart in time and the probe
//! load on any one network is spread over the scan. This is only statistical scattering:
//! anyone who sees two consecutive targets `x, y` can compute `g = y·x⁻¹ mod p` and predict
//! the rest, and the seed space is 64 bits. Do not rely on the order for secrecy.

/// Largest `n` accepted by [`Cyclic::new`]: 2^32 addresses times 2^16 ports.
pub const MAX_N: u64 = 1 << 48;

/// `a·b mod m`, with a 128-bit intermediate product. `m` must be non-zero.
pub fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((u128::from(a) * u128::from(b)) % u128::from(m)) as u64
}

/// `base^exp mod m` by square-and-multiply. `m` must be non-zero.
pub fn pow_mod(base: u64, mut exp: u64, m: u64) -> u64 {
    let mut result = 1 % m;
    let mut base = base % m;
    while exp > 0 {
        if exp & 1 == 1 {
            result = mul_mod(result, base, m);
        }
        base = mul_mod(base, base, m);
        exp >>= 1;
    }
    result
}

/// Deterministic primality test for all `u64`: trial division by the primes up to 37, then
/// Miller–Rabin with those twelve primes as bases, which has no strong pseudoprime below
/// 3.3·10^24.
pub fn is_prime(n: u64) -> bool {
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for p in BASES {
        if n % p == 0 {
            return n == p;
        }
    }
    // n - 1 = d · 2^r with d odd.
    let r = (n - 1).trailing_zeros();
    let d = (n - 1) >> r;
    'bases: for a in BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..r {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return false;
    }
    true
}

/// The smallest prime strictly greater than `n`.
///
/// # Panics
/// If there is none in `u64`, i.e. `n >= 2^64 - 59`.
pub fn next_prime_above(n: u64) -> u64 {
    let mut candidate = n;
    loop {
        candidate = match candidate.checked_add(1) {
            Some(c) => c,
            None => panic!("no prime above {n} fits in u64"),
        };
        if is_prime(candidate) {
            return candidate;
        }
    }
}

/// The distinct prime factors of `n` in increasing order (empty for `n <= 1`).
///
/// Trial division by 2, 3 and then numbers `6k ± 1`, dividing out each factor found and
/// stopping as soon as the cofactor is 1, prime, or smaller than the square of the next
/// divisor. For `n < 2^49` the worst case is a product of two primes near 2^24.5.
pub fn prime_factors(n: u64) -> Vec<u64> {
    let mut factors = Vec::new();
    let mut rest = n;
    if rest <= 1 {
        return factors;
    }
    let mut take = |q: u64, rest: &mut u64| {
        if *rest % q == 0 {
            factors.push(q);
            while *rest % q == 0 {
                *rest /= q;
            }
            true
        } else {
            false
        }
    };
    take(2, &mut rest);
    take(3, &mut rest);
    let mut q = 5u64;
    let mut check_rest = true;
    while rest > 1 {
        if check_rest && is_prime(rest) {
            break;
        }
        // q ≤ 2^32 here, so q·q does not overflow.
        if q * q > rest {
            break;
        }
        check_rest = take(q, &mut rest) | take(q + 2, &mut rest);
        q += 6;
    }
    if rest > 1 {
        factors.push(rest);
    }
    factors
}

/// Multiplication modulo `m` by a fixed factor `w` (Shoup's method): with the precomputed
/// `w' = ⌊w·2^64/m⌋`, the quotient of `a·w` by `m` is estimated with one high multiplication
/// instead of a 128-bit division.
#[derive(Clone, Copy, Debug)]
struct FixedMul {
    factor: u64,
    scaled: u64,
    m: u64,
}

impl FixedMul {
    /// Moduli must be below this bound.
    const LIMIT: u64 = 1 << 63;

    /// Multiplication by `factor` modulo `m`, for `factor < m < 2^63`.
    fn new(factor: u64, m: u64) -> Self {
        debug_assert!(factor < m && m < Self::LIMIT);
        Self {
            factor,
            // Below 2^64 because factor < m.
            scaled: ((u128::from(factor) << 64) / u128::from(m)) as u64,
            m,
        }
    }

    /// `a·factor mod m`, for any `a`.
    ///
    /// Let `x = a·w`. From `w·2^64/m - 1 < w' <= w·2^64/m`, the estimate
    /// `q = ⌊a·w'/2^64⌋` satisfies `x/m - 2 < q <= x/m`, so `q` is `⌊x/m⌋` or one less and
    /// `x - q·m` lies in `[0, 2m)`. That is below 2^64 (as `m < 2^63`), so wrapping 64-bit
    /// arithmetic computes it exactly, and one conditional subtraction finishes.
    #[inline]
    fn mul(self, a: u64) -> u64 {
        let q = ((u128::from(a) * u128::from(self.scaled)) >> 64) as u64;
        let r = a
            .wrapping_mul(self.factor)
            .wrapping_sub(q.wrapping_mul(self.m));
        if r >= self.m {
            r - self.m
        } else {
            r
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood; constants from Vigna's public-domain version): a tiny
/// deterministic generator, used only to pick the generator and start from a seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..=hi` (the modulo bias is below 2^-14 for ranges under 2^50).
    fn in_range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// Invalid shard or thread numbers given to [`Cyclic::try_walk_from`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// Zero shards.
    #[error("the number of shards must be at least 1")]
    NoShards,
    /// Shard index not below the number of shards.
    #[error("shard {shard} does not exist: shards are numbered 0 to {}", .shards - 1)]
    Shard {
        /// The requested shard.
        shard: u32,
        /// The number of shards.
        shards: u32,
    },
    /// Zero threads.
    #[error("the number of sender threads must be at least 1")]
    NoThreads,
    /// Thread index not below the number of threads.
    #[error("thread {thread} does not exist: threads are numbered 0 to {}", .threads - 1)]
    Thread {
        /// The requested thread.
        thread: u32,
        /// The number of threads.
        threads: u32,
    },
}

/// A seeded permutation of `0..n` (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cyclic {
    prime: u64,
    generator: u64,
    start: u64,
    n: u64,
}

impl Cyclic {
    /// The permutation of `0..n` chosen by `seed`. `n == 0` gives an empty permutation.
    ///
    /// # Panics
    /// If `n > MAX_N` (2^48, i.e. more than 2^32 addresses × 2^16 ports).
    pub fn new(n: u64, seed: u64) -> Cyclic {
        assert!(
            n <= MAX_N,
            "cannot permute {n} targets: the maximum is 2^48"
        );
        let prime = next_prime_above(n);
        if prime == 2 {
            // The trivial group {1}: one position, element 1.
            return Cyclic {
                prime,
                generator: 1,
                start: 1,
                n,
            };
        }
        let factors = prime_factors(prime - 1);
        let mut rng = SplitMix64(seed);
        let generator = loop {
            let g = rng.in_range(2, prime - 1);
            if factors
                .iter()
                .all(|&q| pow_mod(g, (prime - 1) / q, prime) != 1)
            {
                break g;
            }
        };
        let start = rng.in_range(1, prime - 1);
        Cyclic {
            prime,
            generator,
            start,
            n,
        }
    }

    /// The prime `p`: the smallest prime greater than `n`.
    pub fn prime(&self) -> u64 {
        self.prime
    }

    /// The primitive root `g` modulo `p`.
    pub fn generator(&self) -> u64 {
        self.generator
    }

    /// The start element, in `1..p`.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The number of elements permuted.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The number of positions in the cycle, `p - 1` (at least `n`).
    pub fn positions(&self) -> u64 {
        self.prime - 1
    }

    /// The walk for thread `thread` of `threads` in shard `shard` of `shards`, from the
    /// beginning. See [`Cyclic::try_walk_from`].
    ///
    /// # Panics
    /// If `shards` or `threads` is 0, `shard >= shards` or `thread >= threads`; use
    /// [`Cyclic::try_walk_from`] to get an error instead.
    pub fn walk(&self, shard: u32, shards: u32, thread: u32, threads: u32) -> Walk {
        match self.try_walk_from(shard, shards, thread, threads, 0) {
            Ok(walk) => walk,
            Err(e) => panic!("{e}"),
        }
    }

    /// The walk for thread `thread` of `threads` in shard `shard` of `shards`, resumed after
    /// `position` positions of it have been consumed (see [`Walk::position`]); invalid
    /// shard or thread numbers are an error. The walk covers the positions
    /// `shard + shards·thread + k·shards·threads`; a `position` past its end gives an
    /// exhausted walk.
    pub fn try_walk_from(
        &self,
        shard: u32,
        shards: u32,
        thread: u32,
        threads: u32,
        position: u64,
    ) -> Result<Walk, SplitError> {
        if shards == 0 {
            return Err(SplitError::NoShards);
        }
        if shard >= shards {
            return Err(SplitError::Shard { shard, shards });
        }
        if threads == 0 {
            return Err(SplitError::NoThreads);
        }
        if thread >= threads {
            return Err(SplitError::Thread { thread, threads });
        }
        let (shard, shards, thread, threads) = (
            u64::from(shard),
            u64::from(shards),
            u64::from(thread),
            u64::from(threads),
        );
        // Both fit in u64: (2^32-1)·(2^32-1) + (2^32-1) < 2^64.
        let offset = shard + shards * thread;
        let stride = shards * threads;
        let cycle = self.positions();
        let total = if offset >= cycle {
            0
        } else {
            (cycle - 1 - offset) / stride + 1
        };
        let consumed = position.min(total);
        let current = if consumed < total {
            // offset + consumed·stride is a position of the walk, so below p - 1.
            let exponent = offset + consumed * stride;
            mul_mod(
                self.start,
                pow_mod(self.generator, exponent, self.prime),
                self.prime,
            )
        } else {
            0
        };
        Ok(Walk {
            n: self.n,
            step: FixedMul::new(pow_mod(self.generator, stride, self.prime), self.prime),
            current,
            consumed,
            total,
            yielded: 0,
            limit: u64::MAX,
        })
    }
}

/// One thread's share of a [`Cyclic`] permutation: an iterator over target indices in
/// `0..n`.
#[derive(Clone, Debug)]
pub struct Walk {
    n: u64,
    /// Multiplication by `g^stride mod p`.
    step: FixedMul,
    /// The element at the next position to consume (meaningless once exhausted).
    current: u64,
    /// Positions consumed so far, skipped ones included.
    consumed: u64,
    /// Positions this walk covers.
    total: u64,
    /// Indices yielded by this `Walk` value.
    yielded: u64,
    /// Maximum number of indices to yield.
    limit: u64,
}

impl Walk {
    /// Number of positions consumed so far (skipped ones included), counted from the start
    /// of the walk even if it was resumed: pass it to [`Cyclic::try_walk_from`] to continue right
    /// after the last index yielded.
    pub fn position(&self) -> u64 {
        self.consumed
    }

    /// Positions of this walk not yet consumed (an upper bound on the indices still to come).
    pub fn remaining_positions(&self) -> u64 {
        self.total - self.consumed
    }

    /// Stops the walk after it has yielded `max_yield` more indices (counted from now on,
    /// so a resumed walk needs the cap minus what was already sent). It stops right after
    /// the last index, so [`Walk::position`] is then a valid checkpoint.
    pub fn with_limit(mut self, max_yield: u64) -> Walk {
        self.limit = self.yielded.saturating_add(max_yield);
        self
    }
}

impl Iterator for Walk {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        if self.yielded >= self.limit {
            return None;
        }
        while self.consumed < self.total {
            let element = self.current;
            self.consumed += 1;
            self.current = self.step.mul(element);
            if element <= self.n {
                self.yielded += 1;
                return Some(element - 1);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let upper = self
            .remaining_positions()
            .min(self.limit - self.yielded.min(self.limit));
        (0, usize::try_from(upper).ok())
    }
}

impl std::iter::FusedIterator for Walk {}

/// The most sender threads a shard's walk is split into (`-T`).
pub const MAX_THREADS: u32 = 64;

/// The share of a cap of `total` targets for part `index` of `parts`: `total / parts`, plus
/// one for the first `total % parts` parts, so the shares sum to `total`. Returns 0 if
/// `index >= parts`. With shards and threads, split the cap among shards first, then each
/// shard's share among its threads.
pub fn split_limit(total: u64, parts: u64, index: u64) -> u64 {
    if index >= parts {
        return 0;
    }
    total / parts + u64::from(index < total % parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sieve(limit: usize) -> Vec<bool> {
        let mut prime = vec![true; limit + 1];
        prime[0] = false;
        prime[1] = false;
        let mut i = 2;
        while i * i <= limit {
            if prime[i] {
                for j in (i * i..=limit).step_by(i) {
                    prime[j] = false;
                }
            }
            i += 1;
        }
        prime
    }

    #[test]
    fn is_prime_matches_sieve() {
        let sieve = sieve(100_000);
        for (n, &p) in sieve.iter().enumerate() {
            assert_eq!(is_prime(n as u64), p, "{n}");
        }
    }

    #[test]
    fn is_prime_large_and_tricky() {
        for p in [
            2_147_483_647, // 2^31 - 1
            4_294_967_291, // largest prime below 2^32
            4_294_967_311, // smallest prime above 2^32
            1_000_000_007,
            281_474_976_710_677,        // smallest prime above 2^48
            2_305_843_009_213_693_951,  // 2^61 - 1
            18_446_744_073_709_551_557, // largest prime below 2^64
        ] {
            assert!(is_prime(p), "{p}");
        }
        for c in [
            561u64,
            1105,
            1729,
            2465,
            2821,
            6601,
            8911,
            41041,
            825_265,
            321_197_185,
            2_152_302_898_747,         // strong pseudoprime to bases 2..11
            3_215_031_751,             // strong pseudoprime to bases 2, 3, 5, 7
            3_825_123_056_546_413_051, // strong pseudoprime to bases 2..23
            4_294_967_291 * 4_294_967_291,
            u64::MAX,
            (1 << 61) - 3,
        ] {
            assert!(!is_prime(c), "{c}");
        }
    }

    #[test]
    fn next_prime() {
        assert_eq!(next_prime_above(0), 2);
        assert_eq!(next_prime_above(1), 2);
        assert_eq!(next_prime_above(2), 3);
        assert_eq!(next_prime_above(7), 11);
        assert_eq!(next_prime_above(1 << 24), 16_777_259);
        assert_eq!(next_prime_above(1 << 32), 4_294_967_311);
        assert_eq!(next_prime_above(3 << 32), 12_884_901_893);
        assert_eq!(next_prime_above(MAX_N), 281_474_976_710_677);
    }

    #[test]
    fn factorisation() {
        assert_eq!(prime_factors(0), Vec::<u64>::new());
        assert_eq!(prime_factors(1), Vec::<u64>::new());
        assert_eq!(prime_factors(2), vec![2]);
        assert_eq!(prime_factors(360), vec![2, 3, 5]);
        assert_eq!(prime_factors(16_777_259 - 1), vec![2, 23, 103, 3541]);
        // Two primes near 2^24: the trial-division worst case for our sizes.
        assert_eq!(
            prime_factors(16_777_213 * 16_777_259),
            vec![16_777_213, 16_777_259]
        );
        assert_eq!(prime_factors(25), vec![5]);
        assert_eq!(prime_factors(49 * 11), vec![7, 11]);
        for n in 2..20_000u64 {
            let f = prime_factors(n);
            assert!(f.iter().all(|&q| is_prime(q)) && f.windows(2).all(|w| w[0] < w[1]));
            let mut rest = n;
            for &q in &f {
                assert_eq!(rest % q, 0);
                while rest % q == 0 {
                    rest /= q;
                }
            }
            assert_eq!(rest, 1, "{n}: {f:?}");
        }
    }

    proptest! {
        #[test]
        fn fixed_mul_matches_u128(m in 1u64..FixedMul::LIMIT, w in any::<u64>(), a in any::<u64>()) {
            let w = w % m;
            prop_assert_eq!(FixedMul::new(w, m).mul(a), mul_mod(a, w, m));
        }

        #[test]
        fn pow_mod_matches_repeated_multiplication(b in any::<u64>(), e in 0u64..200, m in 1u64..u64::MAX) {
            let mut expect = 1 % m;
            for _ in 0..e {
                expect = mul_mod(expect, b, m);
            }
            prop_assert_eq!(pow_mod(b, e, m), expect);
        }
    }

    #[test]
    fn fixed_mul_edges() {
        for m in [
            1,
            2,
            3,
            16_777_259,
            281_474_976_710_677,
            FixedMul::LIMIT - 1,
        ] {
            for w in [0, 1, m / 2, m.saturating_sub(2), m - 1] {
                let w = w % m;
                let fixed = FixedMul::new(w, m);
                for a in [0, 1, m / 3, m.saturating_sub(2), m - 1, m, u64::MAX] {
                    assert_eq!(fixed.mul(a), mul_mod(a, w, m), "{a}·{w} mod {m}");
                }
            }
        }
    }

    /// All indices of the full walk, in order.
    fn order(n: u64, seed: u64) -> Vec<u64> {
        Cyclic::new(n, seed).walk(0, 1, 0, 1).collect()
    }

    fn assert_permutation(mut v: Vec<u64>, n: u64, what: &str) {
        assert_eq!(v.len() as u64, n, "{what}: wrong count");
        v.sort_unstable();
        assert!(v.iter().copied().eq(0..n), "{what}: not a permutation");
    }

    #[test]
    fn every_element_exactly_once() {
        let mut rng = SplitMix64(99);
        let mut sizes = vec![1, 2, 3, 4, 5, 7, 8, 100, 256, 1000, 65536];
        sizes.extend((0..4).map(|_| rng.in_range(1, 50_000)));
        for n in sizes {
            for seed in [0, 1, 2, 0xdead_beef, u64::MAX] {
                assert_permutation(order(n, seed), n, &format!("n={n} seed={seed}"));
            }
        }
        assert_eq!(order(0, 5), Vec::<u64>::new());
    }

    #[test]
    fn generator_is_primitive_root() {
        for n in 1..400u64 {
            for seed in 0..4 {
                let c = Cyclic::new(n, seed);
                let p = c.prime();
                assert_eq!(p, next_prime_above(n));
                assert!((1..p).contains(&c.start()));
                // Brute-force order of g.
                let mut x = c.generator() % p;
                let mut order = 1;
                while x != 1 {
                    x = x * c.generator() % p;
                    order += 1;
                }
                assert_eq!(order, p - 1, "n={n} p={p} g={}", c.generator());
            }
        }
    }

    #[test]
    fn seed_determines_order() {
        assert_eq!(order(1000, 7), order(1000, 7));
        assert_eq!(Cyclic::new(1 << 40, 3), Cyclic::new(1 << 40, 3));
        assert_ne!(order(1000, 7), order(1000, 8));
        assert_ne!(order(1000, 0), order(1000, 1));
        assert_ne!(Cyclic::new(1 << 40, 3), Cyclic::new(1 << 40, 4));
    }

    #[test]
    fn order_is_not_the_identity() {
        for seed in 0..10 {
            let v = order(1000, seed);
            let consecutive = v.windows(2).filter(|w| w[0].abs_diff(w[1]) == 1).count();
            assert!(
                consecutive < 50,
                "seed {seed}: {consecutive} consecutive pairs"
            );
        }
    }

    #[test]
    fn shards_and_threads_partition_the_targets() {
        for n in [1u64, 2, 10, 997, 1000, 4096] {
            for shards in 1..=5u32 {
                for variant in 0..3u32 {
                    let c = Cyclic::new(n, u64::from(variant) * 31 + n);
                    let mut all = Vec::new();
                    for shard in 0..shards {
                        // Thread counts vary between shards.
                        let threads = 1 + (shard + variant) % 4;
                        for thread in 0..threads {
                            all.extend(c.walk(shard, shards, thread, threads));
                        }
                    }
                    assert_permutation(all, n, &format!("n={n} shards={shards} v={variant}"));
                }
            }
        }
    }

    #[test]
    fn shards_are_balanced() {
        let c = Cyclic::new(100_000, 1);
        for shard in 0..4 {
            let count = c.walk(shard, 4, 0, 1).count() as i64;
            assert!((count - 25_000).abs() < 100, "{count}");
        }
    }

    #[test]
    fn walk_from_resumes_exactly() {
        let c = Cyclic::new(5000, 42);
        for (shard, shards, thread, threads) in [(0, 1, 0, 1), (1, 3, 2, 4), (2, 3, 0, 1)] {
            let full: Vec<u64> = c.walk(shard, shards, thread, threads).collect();
            let mut walk = c.walk(shard, shards, thread, threads);
            for k in [0, 1, 17, full.len() / 2, full.len()] {
                let mut walk2 = walk.clone();
                let taken: Vec<u64> = walk2.by_ref().take(k).collect();
                assert_eq!(taken, full[..k]);
                let position = walk2.position();
                let resumed = c
                    .try_walk_from(shard, shards, thread, threads, position)
                    .unwrap();
                assert_eq!(resumed.position(), position);
                assert_eq!(resumed.remaining_positions(), walk2.remaining_positions());
                assert_eq!(resumed.collect::<Vec<_>>(), full[k..]);
            }
            // Checkpoints taken mid-walk, position by position.
            let mut seen = Vec::new();
            while let Some(x) = walk.next() {
                seen.push(x);
                let rest: Vec<u64> = c
                    .try_walk_from(shard, shards, thread, threads, walk.position())
                    .unwrap()
                    .collect();
                assert_eq!(rest, full[seen.len()..]);
                if seen.len() > 50 {
                    break;
                }
            }
        }
        // Past the end: exhausted, not a panic.
        assert_eq!(c.try_walk_from(0, 2, 1, 2, u64::MAX).unwrap().next(), None);
    }

    #[test]
    fn limit() {
        let c = Cyclic::new(1000, 9);
        let full: Vec<u64> = c.walk(1, 2, 0, 1).collect();
        let mut limited = c.walk(1, 2, 0, 1).with_limit(10);
        let first: Vec<u64> = limited.by_ref().collect();
        assert_eq!(first, full[..10]);
        assert_eq!(limited.next(), None);
        let rest: Vec<u64> = c
            .try_walk_from(1, 2, 0, 1, limited.position())
            .unwrap()
            .collect();
        assert_eq!(rest, full[10..]);
        assert_eq!(c.walk(0, 1, 0, 1).with_limit(0).count(), 0);
        assert_eq!(c.walk(0, 1, 0, 1).with_limit(5000).count(), 1000);
    }

    #[test]
    fn split_limit_sums_to_total() {
        for total in [0u64, 1, 7, 100, 1001, u64::MAX] {
            for parts in 1..=13u64 {
                let shares: Vec<u64> = (0..parts).map(|i| split_limit(total, parts, i)).collect();
                assert_eq!(
                    shares.iter().map(|&s| u128::from(s)).sum::<u128>(),
                    u128::from(total)
                );
                let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
                assert!(max - min <= 1);
            }
        }
        assert_eq!(split_limit(10, 3, 0), 4);
        assert_eq!(split_limit(10, 3, 2), 3);
        assert_eq!(split_limit(10, 3, 3), 0);
        assert_eq!(split_limit(10, 0, 0), 0);
    }

    #[test]
    fn invalid_splits_are_errors() {
        let c = Cyclic::new(10, 0);
        assert_eq!(
            c.try_walk_from(0, 0, 0, 1, 0).unwrap_err(),
            SplitError::NoShards
        );
        assert_eq!(
            c.try_walk_from(2, 2, 0, 1, 0).unwrap_err().to_string(),
            "shard 2 does not exist: shards are numbered 0 to 1"
        );
        assert_eq!(
            c.try_walk_from(0, 1, 0, 0, 0).unwrap_err(),
            SplitError::NoThreads
        );
        assert!(c.try_walk_from(0, 1, 4, 4, 0).is_err());
        // More walks than positions: the extra ones are empty.
        assert_eq!(c.walk(3, 4, 3, 4).count(), 0);
    }

    #[test]
    fn large_n_steps_are_consistent() {
        // For n = 3·2^32, check a few hundred steps against pow_mod.
        let c = Cyclic::new(3 << 32, 1234);
        assert_eq!(c.prime(), 12_884_901_893);
        let mut walk = c.walk(1, 2, 1, 3);
        let (offset, stride) = (1 + 2, 6);
        let mut position = 0u64;
        for _ in 0..300 {
            let Some(x) = walk.next() else { break };
            // Skip positions whose element is above n (rare: p - 1 - n = 4 of them).
            loop {
                let e = mul_mod(
                    c.start(),
                    pow_mod(c.generator(), offset + position * stride, c.prime()),
                    c.prime(),
                );
                position += 1;
                if e <= c.n() {
                    assert_eq!(x, e - 1);
                    break;
                }
            }
            assert_eq!(walk.position(), position);
        }
    }
}
