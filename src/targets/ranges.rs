//! [`Ranges`]: a set of addresses as integers (`u32` for IPv4, `u128` for IPv6), kept as
//! sorted, disjoint inclusive ranges in which no two ranges overlap or touch (adjacent
//! ranges are merged). Membership, the range that holds an address and the ranges that
//! meet an interval are each one binary search; a set costs one pair a range, never
//! anything per address (the whole space is one range).
//!
//! Both families build on it: the IPv4 [`super::v4::AddrSet`] adds running counts (for
//! the n-th address and the rank) and a compact list form; the IPv6 [`super::v6::Ranges6`]
//! is this set over `u128`.
//!
//! Arithmetic at the top of the type: merging compares `lo` with `last + 1` saturated (the
//! top address touches nothing above it), and subtracting steps to `cut_hi + 1` only when
//! `cut_hi` is below the range's end, so no step overflows.

use std::fmt;
use std::hash::Hasher;

/// An unsigned integer that ranges are kept over: `u32` or `u128`.
pub trait Bound: Copy + Ord + Default + fmt::Debug + Send + Sync + 'static {
    /// `self + 1`, or `self` at the top of the type.
    fn succ_saturating(self) -> Self;
    /// `self + 1`; the caller knows that `self` is not the top.
    fn succ(self) -> Self;
    /// `self - 1`; the caller knows that `self` is not 0.
    fn pred(self) -> Self;
    /// The number of values in `lo..=hi` (`lo <= hi`), saturating at `u128::MAX`.
    fn width(lo: Self, hi: Self) -> u128;
    /// Feeds the value to a fingerprint (as the type's own `Hasher::write_*` does).
    fn hash_into(self, h: &mut impl Hasher);
}

/// Implements [`Bound`] for an unsigned type; `$write` is its `Hasher` method.
macro_rules! bound {
    ($t:ty, $write:ident) => {
        impl Bound for $t {
            #[inline]
            fn succ_saturating(self) -> Self {
                self.saturating_add(1)
            }
            #[inline]
            fn succ(self) -> Self {
                self + 1
            }
            #[inline]
            fn pred(self) -> Self {
                self - 1
            }
            #[inline]
            fn width(lo: Self, hi: Self) -> u128 {
                u128::from(hi - lo).saturating_add(1)
            }
            fn hash_into(self, h: &mut impl Hasher) {
                h.$write(self)
            }
        }
    };
}

bound!(u32, write_u32);
bound!(u128, write_u128);

/// A set of integers stored as sorted, disjoint, non-adjacent inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranges<T> {
    ranges: Vec<(T, T)>,
}

impl<T: Bound> Ranges<T> {
    /// The empty set.
    pub fn new() -> Self {
        Self { ranges: Vec::new() }
    }

    /// The set of ranges that are already sorted, disjoint and non-adjacent.
    pub(crate) fn from_normalized(ranges: Vec<(T, T)>) -> Self {
        debug_assert!(ranges.iter().all(|&(lo, hi)| lo <= hi));
        debug_assert!(ranges
            .windows(2)
            .all(|w| w[0].1 < w[1].0 && w[0].1.succ() < w[1].0));
        Self { ranges }
    }

    /// The set covering inclusive `ranges` `(first, last)` in any order; overlapping and
    /// adjacent ranges are merged. A range with `first > last` is empty and ignored.
    pub fn from_ranges(mut ranges: Vec<(T, T)>) -> Self {
        ranges.retain(|&(lo, hi)| lo <= hi);
        ranges.sort_unstable();
        let mut merged: Vec<(T, T)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.succ_saturating() => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Self { ranges: merged }
    }

    /// Values in `self` or in `other`.
    pub fn union(&self, other: &Self) -> Self {
        Self::from_ranges(self.ranges.iter().chain(&other.ranges).copied().collect())
    }

    /// Values in `self` but not in `other`.
    pub fn subtract(&self, other: &Self) -> Self {
        let cut = &other.ranges;
        let mut out = Vec::with_capacity(self.ranges.len());
        // First range of `other` that may still meet the current or a later range of
        // `self` (the ranges of `self` are visited in increasing order).
        let mut first = 0;
        for &(mut lo, hi) in &self.ranges {
            first += cut[first..].partition_point(|&(_, chi)| chi < lo);
            let mut rest = true;
            for &(clo, chi) in cut[first..].iter().take_while(|c| c.0 <= hi) {
                if clo > lo {
                    out.push((lo, clo.pred()));
                }
                if chi >= hi {
                    rest = false;
                    break;
                }
                lo = chi.succ();
            }
            if rest {
                out.push((lo, hi));
            }
        }
        Self::from_normalized(out)
    }

    /// Values in both `self` and `other`.
    pub fn intersect(&self, other: &Self) -> Self {
        let (a, b) = (&self.ranges, &other.ranges);
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let lo = a[i].0.max(b[j].0);
            let hi = a[i].1.min(b[j].1);
            if lo <= hi {
                out.push((lo, hi));
            }
            // Drop whichever range ends first: it cannot meet any later range of the other.
            if a[i].1 < b[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Self::from_normalized(out)
    }

    /// Index of the first range that does not end before `x`.
    fn first_not_before(&self, x: T) -> usize {
        self.ranges.partition_point(|&(_, hi)| hi < x)
    }

    /// Index of the range containing `x`, if any.
    #[inline]
    pub fn find(&self, x: T) -> Option<usize> {
        let i = self.first_not_before(x);
        self.ranges
            .get(i)
            .is_some_and(|&(lo, _)| lo <= x)
            .then_some(i)
    }

    /// Whether `x` is in the set.
    #[inline]
    pub fn contains(&self, x: T) -> bool {
        self.find(x).is_some()
    }

    /// Whether any value in `lo..=hi` is in the set.
    pub fn overlaps(&self, lo: T, hi: T) -> bool {
        let i = self.first_not_before(lo);
        self.ranges.get(i).is_some_and(|&(rlo, _)| rlo <= hi)
    }

    /// The ranges that meet `lo..=hi`, clipped to it.
    pub fn within(&self, lo: T, hi: T) -> impl Iterator<Item = (T, T)> + '_ {
        let i = self.first_not_before(lo);
        self.ranges[i..]
            .iter()
            .take_while(move |&&(rlo, _)| rlo <= hi)
            .map(move |&(rlo, rhi)| (rlo.max(lo), rhi.min(hi)))
    }

    /// The sorted, disjoint, non-adjacent inclusive ranges.
    pub fn ranges(&self) -> &[(T, T)] {
        &self.ranges
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Number of values, saturating at `u64::MAX` (a single IPv6 /63 already exceeds it).
    pub fn len_saturating(&self) -> u64 {
        let n = self
            .ranges
            .iter()
            .fold(0u128, |n, &(lo, hi)| n.saturating_add(T::width(lo, hi)));
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// A fingerprint of the set: SipHash-1-3 with a zero key over its ranges, in hex. Equal
    /// sets, equal hashes; used by the checkpoint's identity and the metadata's list
    /// versions.
    pub fn hash_hex(&self) -> String {
        let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
        for &(a, b) in &self.ranges {
            a.hash_into(&mut h);
            b.hash_into(&mut h);
        }
        format!("{:016x}", h.finish())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    fn naive_contains<T: Bound>(rs: &[(T, T)], x: T) -> bool {
        rs.iter().any(|&(lo, hi)| lo <= x && x <= hi)
    }

    #[test]
    fn merge_subtract_and_intersect_at_the_top() {
        let top = Ranges::from_ranges(vec![(u32::MAX, u32::MAX), (u32::MAX - 3, u32::MAX - 1)]);
        assert_eq!(top.ranges(), &[(u32::MAX - 3, u32::MAX)]);
        let all = Ranges::from_ranges(vec![(0, u32::MAX)]);
        assert_eq!(all.subtract(&top).ranges(), &[(0, u32::MAX - 4)]);
        assert_eq!(all.intersect(&top), top);
        assert!(top.subtract(&all).is_empty());
        assert_eq!(all.len_saturating(), 1 << 32);
        let all6 = Ranges::from_ranges(vec![(0, u128::MAX)]);
        assert_eq!(all6.len_saturating(), u64::MAX);
        assert!(all6.subtract(&all6).is_empty());
    }

    /// The set operations over `T`, on ranges `(lo, lo + width)`, against a naive set.
    fn check<T: Bound + From<u8> + std::ops::Add<Output = T>>(
        a: &[(u8, u8)],
        b: &[(u8, u8)],
        probe: u8,
    ) -> Result<(), TestCaseError> {
        let wide = |v: &[(u8, u8)]| -> Vec<(T, T)> {
            v.iter()
                .map(|&(lo, w)| (T::from(lo), T::from(lo) + T::from(w)))
                .collect()
        };
        let (a, b, probe) = (wide(a), wide(b), T::from(probe));
        let (sa, sb) = (
            Ranges::from_ranges(a.clone()),
            Ranges::from_ranges(b.clone()),
        );
        let (in_a, in_b) = (naive_contains(&a, probe), naive_contains(&b, probe));
        prop_assert_eq!(sa.contains(probe), in_a);
        prop_assert_eq!(sa.subtract(&sb).contains(probe), in_a && !in_b);
        prop_assert_eq!(sa.intersect(&sb).contains(probe), in_a && in_b);
        prop_assert_eq!(sa.union(&sb).contains(probe), in_a || in_b);
        let near = sa.overlaps(probe, probe + T::from(5));
        prop_assert_eq!(
            near,
            (0..=5).any(|d| naive_contains(&a, probe + T::from(d)))
        );
        Ok(())
    }

    proptest! {
        #[test]
        fn operations_agree_with_a_naive_set(
            a in proptest::collection::vec((0u8..200, 0u8..20), 0..8),
            b in proptest::collection::vec((0u8..200, 0u8..20), 0..8),
            probe in 0u8..230,
        ) {
            check::<u32>(&a, &b, probe)?;
            check::<u128>(&a, &b, probe)?;
        }
    }
}
