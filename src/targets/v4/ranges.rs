//! [`AddrSet`]: a set of IPv4 addresses stored as sorted, disjoint, merged inclusive ranges
//! (the family-neutral [`Ranges`] over `u32`).
//!
//! Every range also records how many addresses precede it (a running count), so the n-th
//! address of the set ([`AddrSet::nth`]) and the index of an address in the set
//! ([`AddrSet::rank`]) are both a binary search over the ranges. Memory is proportional to
//! the number of ranges, never to the number of addresses: `0.0.0.0/0` is one entry.
//!
//! A set of scattered single addresses (`-I`, millions of lines) would cost 16 bytes an
//! address that way; [`AddrSet::from_sorted_addrs`] keeps such a set as a sorted list
//! instead, 4 bytes an address, shared between clones, with the same queries (binary
//! searches over the list). Its ranges are built only if something asks for them.

use std::sync::{Arc, OnceLock};

use ipnet::Ipv4Net;

use crate::targets::ranges::Ranges;

/// A set of IPv4 addresses (as host-order `u32`), kept as sorted, disjoint inclusive ranges
/// in which no two ranges overlap or touch (adjacent ranges are merged), or as a sorted
/// list of single addresses.
#[derive(Clone, Debug, Default)]
pub struct AddrSet {
    /// The ranges (empty in the list form).
    ranges: Ranges<u32>,
    /// `before[i]` is the number of addresses in the ranges before the `i`-th.
    before: Vec<u64>,
    /// Total number of addresses, `0..=2^32`.
    total: u64,
    /// The list form: sorted, distinct addresses (`ranges` and `before` are then empty).
    list: Option<Arc<Vec<u32>>>,
    /// The ranges of the list form, built on first use of [`AddrSet::ranges`].
    list_ranges: OnceLock<Ranges<u32>>,
}

impl PartialEq for AddrSet {
    fn eq(&self, other: &Self) -> bool {
        self.total == other.total && self.ranges() == other.ranges()
    }
}

impl Eq for AddrSet {}

/// Number of addresses in the inclusive range `(lo, hi)` (`lo <= hi`).
fn range_len((lo, hi): (u32, u32)) -> u64 {
    u64::from(hi) - u64::from(lo) + 1
}

impl From<Ranges<u32>> for AddrSet {
    /// The set of `ranges`, with the running counts.
    fn from(ranges: Ranges<u32>) -> Self {
        let mut before = Vec::with_capacity(ranges.ranges().len());
        let mut total = 0u64;
        for &r in ranges.ranges() {
            before.push(total);
            total += range_len(r);
        }
        Self {
            ranges,
            before,
            total,
            ..Self::default()
        }
    }
}

impl AddrSet {
    /// A fingerprint of the set: SipHash-1-3 with a zero key over its ranges, in hex. Equal
    /// sets, equal hashes; used by the checkpoint's identity and the metadata's list versions.
    pub fn hash_hex(&self) -> String {
        self.as_ranges().hash_hex()
    }

    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The set of `addrs`, which must be sorted and distinct, in the list form.
    pub fn from_sorted_addrs(addrs: Vec<u32>) -> Self {
        debug_assert!(addrs.windows(2).all(|w| w[0] < w[1]));
        Self {
            total: addrs.len() as u64,
            list: Some(Arc::new(addrs)),
            ..Self::default()
        }
    }

    /// The list form's addresses that `keep` accepts; the same list (shared) if it keeps
    /// them all, so that filtering a long list by a blocklist it avoids costs nothing.
    fn filter_list(&self, list: &[u32], keep: impl Fn(u32) -> bool) -> Self {
        if list.iter().all(|&a| keep(a)) {
            return self.clone();
        }
        Self::from_sorted_addrs(list.iter().copied().filter(|&a| keep(a)).collect())
    }

    /// Builds the set from inclusive ranges `(first, last)` in any order; overlapping and
    /// adjacent ranges are merged. A range with `first > last` is empty and ignored.
    pub fn from_ranges(ranges: Vec<(u32, u32)>) -> Self {
        Ranges::from_ranges(ranges).into()
    }

    /// Builds the set covered by the given networks (overlaps are fine).
    pub fn from_nets<I: IntoIterator<Item = Ipv4Net>>(nets: I) -> Self {
        Self::from_ranges(
            nets.into_iter()
                .map(|net| (u32::from(net.network()), u32::from(net.broadcast())))
                .collect(),
        )
    }

    /// Addresses in `self` or in `other`.
    pub fn union(&self, other: &Self) -> Self {
        self.as_ranges().union(other.as_ranges()).into()
    }

    /// Addresses in `self` but not in `other`.
    pub fn subtract(&self, other: &Self) -> Self {
        if let Some(list) = &self.list {
            return self.filter_list(list, |a| !other.contains(a));
        }
        self.ranges.subtract(other.as_ranges()).into()
    }

    /// Addresses in both `self` and `other`.
    pub fn intersect(&self, other: &Self) -> Self {
        if let Some(list) = &self.list {
            return self.filter_list(list, |a| other.contains(a));
        }
        if other.list.is_some() {
            return other.intersect(self);
        }
        self.ranges.intersect(&other.ranges).into()
    }

    /// Number of addresses, `0..=2^32`.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether the set has no address.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Whether `addr` is in the set.
    #[inline]
    pub fn contains(&self, addr: u32) -> bool {
        match &self.list {
            Some(l) => l.binary_search(&addr).is_ok(),
            None => self.ranges.contains(addr),
        }
    }

    /// The `index`-th address of the set in increasing order (0-based), or `None` if
    /// `index >= len()`.
    #[inline]
    pub fn nth(&self, index: u64) -> Option<u32> {
        if index >= self.total {
            return None;
        }
        if let Some(l) = &self.list {
            return l.get(index as usize).copied();
        }
        // Last range with fewer than `index + 1` addresses before it; there is one because
        // `before[0] == 0 <= index`.
        let i = self.before.partition_point(|&b| b <= index) - 1;
        let offset = index - self.before[i];
        // `offset` < the range's length, so the sum stays within the range.
        Some(self.ranges.ranges()[i].0 + offset as u32)
    }

    /// The index of `addr` in the set (so that `nth(rank(a)) == Some(a)`), or `None` if
    /// `addr` is not in the set.
    pub fn rank(&self, addr: u32) -> Option<u64> {
        if let Some(l) = &self.list {
            return l.binary_search(&addr).ok().map(|i| i as u64);
        }
        self.ranges
            .find(addr)
            .map(|i| self.before[i] + u64::from(addr - self.ranges.ranges()[i].0))
    }

    /// The set as ranges (for the list form, built on first use).
    pub(crate) fn as_ranges(&self) -> &Ranges<u32> {
        match &self.list {
            Some(l) => self.list_ranges.get_or_init(|| {
                let mut r: Vec<(u32, u32)> = Vec::new();
                for &a in l.iter() {
                    match r.last_mut() {
                        Some(last) if u64::from(last.1) + 1 == u64::from(a) => last.1 = a,
                        _ => r.push((a, a)),
                    }
                }
                Ranges::from_normalized(r)
            }),
            None => &self.ranges,
        }
    }

    /// The sorted, disjoint, non-adjacent inclusive ranges of the set.
    pub fn ranges(&self) -> &[(u32, u32)] {
        self.as_ranges().ranges()
    }

    /// Whether every address of `self` is also in `other`.
    pub fn is_subset(&self, other: &Self) -> bool {
        self.subtract(other).is_empty()
    }
}

impl FromIterator<Ipv4Net> for AddrSet {
    fn from_iter<I: IntoIterator<Item = Ipv4Net>>(iter: I) -> Self {
        Self::from_nets(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> u32 {
        u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
    }

    /// The addresses of a small set, one by one.
    fn model(set: &AddrSet) -> BTreeSet<u32> {
        set.ranges().iter().flat_map(|&(lo, hi)| lo..=hi).collect()
    }

    fn check_invariants(set: &AddrSet) {
        let r = set.ranges();
        assert!(r.iter().all(|&(lo, hi)| lo <= hi), "{r:?}");
        assert!(
            r.windows(2)
                .all(|w| u64::from(w[0].1) + 1 < u64::from(w[1].0)),
            "not sorted, disjoint and merged: {r:?}"
        );
        assert_eq!(set.len(), r.iter().map(|&x| range_len(x)).sum::<u64>());
    }

    /// Small random range lists, placed near 0 or near 255.255.255.255 (to exercise the
    /// overflow edge), with overlaps, adjacency and reversed (empty) ranges.
    fn ranges_strategy() -> impl Strategy<Value = Vec<(u32, u32)>> {
        (
            prop_oneof![Just(0u32), Just(u32::MAX - 63)],
            prop::collection::vec((0u32..64, 0u32..64), 0..8),
        )
            .prop_map(|(base, v)| v.into_iter().map(|(a, b)| (base + a, base + b)).collect())
    }

    fn naive(ranges: &[(u32, u32)]) -> BTreeSet<u32> {
        ranges
            .iter()
            .filter(|&&(lo, hi)| lo <= hi)
            .flat_map(|&(lo, hi)| lo..=hi)
            .collect()
    }

    proptest! {
        #[test]
        fn set_operations_match_naive_model(a in ranges_strategy(), b in ranges_strategy()) {
            let (sa, sb) = (AddrSet::from_ranges(a.clone()), AddrSet::from_ranges(b.clone()));
            let (na, nb) = (naive(&a), naive(&b));
            check_invariants(&sa);
            prop_assert_eq!(model(&sa), na.clone());

            let u = sa.union(&sb);
            check_invariants(&u);
            prop_assert_eq!(model(&u), na.union(&nb).copied().collect::<BTreeSet<_>>());

            let d = sa.subtract(&sb);
            check_invariants(&d);
            prop_assert_eq!(model(&d), na.difference(&nb).copied().collect::<BTreeSet<_>>());

            let i = sa.intersect(&sb);
            check_invariants(&i);
            prop_assert_eq!(model(&i), na.intersection(&nb).copied().collect::<BTreeSet<_>>());

            for x in [0, 1, 31, 63, 64, u32::MAX - 64, u32::MAX - 63, u32::MAX - 1, u32::MAX] {
                prop_assert_eq!(sa.contains(x), na.contains(&x));
            }
        }

        #[test]
        fn nth_and_rank_round_trip(a in ranges_strategy()) {
            let set = AddrSet::from_ranges(a.clone());
            let members: Vec<u32> = naive(&a).into_iter().collect();
            prop_assert_eq!(set.len(), members.len() as u64);
            for (k, &addr) in members.iter().enumerate() {
                prop_assert_eq!(set.nth(k as u64), Some(addr));
                prop_assert_eq!(set.rank(addr), Some(k as u64));
            }
            prop_assert_eq!(set.nth(members.len() as u64), None);
            // Addresses just outside each range have no rank.
            for &(lo, hi) in set.ranges() {
                if let Some(x) = lo.checked_sub(1) {
                    prop_assert_eq!(set.rank(x), None);
                }
                if let Some(x) = hi.checked_add(1) {
                    prop_assert_eq!(set.rank(x), None);
                }
            }
        }
    }

    #[test]
    fn whole_space() {
        let all = AddrSet::from_nets([net("0.0.0.0/0")]);
        assert_eq!(all.len(), 1 << 32);
        assert_eq!(all.ranges(), &[(0, u32::MAX)]);
        assert_eq!(all.nth(0), Some(0));
        assert_eq!(all.nth((1 << 32) - 1), Some(u32::MAX));
        assert_eq!(all.nth(1 << 32), None);
        assert_eq!(all.rank(u32::MAX), Some((1 << 32) - 1));
        assert!(all.contains(ip("8.8.8.8")));
        let none = all.subtract(&all);
        assert!(none.is_empty());
        assert_eq!(none, AddrSet::new());
    }

    #[test]
    fn subtract_keeps_edges() {
        let ten = AddrSet::from_nets([net("10.0.0.0/8")]);
        let low_half = AddrSet::from_nets([net("10.0.0.0/9")]);
        let rest = ten.subtract(&low_half);
        assert_eq!(rest.ranges(), &[(ip("10.128.0.0"), ip("10.255.255.255"))]);
        assert_eq!(rest.len(), 1 << 23);

        // A hole in the middle leaves both edges exactly.
        let hole = AddrSet::from_nets([net("10.1.2.0/24")]);
        let holed = ten.subtract(&hole);
        assert_eq!(
            holed.ranges(),
            &[
                (ip("10.0.0.0"), ip("10.1.1.255")),
                (ip("10.1.3.0"), ip("10.255.255.255"))
            ]
        );
        assert_eq!(holed.len(), (1 << 24) - 256);
        assert!(!holed.contains(ip("10.1.2.0")) && !holed.contains(ip("10.1.2.255")));
        assert!(holed.contains(ip("10.1.1.255")) && holed.contains(ip("10.1.3.0")));
        assert_eq!(
            holed.rank(ip("10.1.3.0")),
            Some(ip("10.1.2.0") as u64 - ip("10.0.0.0") as u64)
        );

        // Removing the top of the address space.
        let all = AddrSet::from_nets([net("0.0.0.0/0")]);
        let top = AddrSet::from_nets([net("255.255.255.255/32")]);
        assert_eq!(all.subtract(&top).ranges(), &[(0, u32::MAX - 1)]);
    }

    #[test]
    fn adjacent_ranges_merge() {
        let set = AddrSet::from_nets([net("10.0.1.0/24"), net("10.0.0.0/24")]);
        assert_eq!(set.ranges(), &[(ip("10.0.0.0"), ip("10.0.1.255"))]);
        let top = AddrSet::from_ranges(vec![
            (u32::MAX, u32::MAX),
            (0, 5),
            (6, 6),
            (u32::MAX - 1, u32::MAX - 1),
        ]);
        assert_eq!(top.ranges(), &[(0, 6), (u32::MAX - 1, u32::MAX)]);
        let u = AddrSet::from_ranges(vec![(0, 9)]).union(&AddrSet::from_ranges(vec![(10, 20)]));
        assert_eq!(u.ranges(), &[(0, 20)]);
        // Reversed ranges are empty.
        assert!(AddrSet::from_ranges(vec![(5, 4)]).is_empty());
    }

    #[test]
    fn subset() {
        let a = AddrSet::from_nets([net("10.0.0.0/9")]);
        let b = AddrSet::from_nets([net("10.0.0.0/8")]);
        assert!(a.is_subset(&b));
        assert!(!b.is_subset(&a));
        assert!(AddrSet::new().is_subset(&a));
    }
}
