//! [`Ranges6`]: a set of IPv6 addresses as sorted, disjoint, merged inclusive `u128`
//! ranges, for blocklists. Membership is one binary search; a set costs 32 bytes a range,
//! never anything per address (`::/0` is one range).

use ipnet::Ipv6Net;

/// A set of IPv6 addresses (as `u128`) stored as merged inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges6 {
    ranges: Vec<(u128, u128)>,
}

/// The inclusive range of addresses a network covers.
pub fn net_range(net: &Ipv6Net) -> (u128, u128) {
    let lo = u128::from(net.network());
    let hi = u128::from(net.broadcast());
    (lo, hi)
}

impl Ranges6 {
    pub fn new() -> Self {
        Self::default()
    }

    /// The set covering `ranges` (in any order, overlapping or adjacent).
    pub fn from_ranges(mut ranges: Vec<(u128, u128)>) -> Self {
        ranges.retain(|&(lo, hi)| lo <= hi);
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Ranges6 { ranges: merged }
    }

    pub fn from_nets<'a>(nets: impl IntoIterator<Item = &'a Ipv6Net>) -> Self {
        Self::from_ranges(nets.into_iter().map(net_range).collect())
    }

    pub fn union(&self, other: &Self) -> Self {
        Self::from_ranges(self.ranges.iter().chain(&other.ranges).copied().collect())
    }

    /// The addresses of `self` that are not in `other`.
    pub fn subtract(&self, other: &Self) -> Self {
        let mut out = Vec::new();
        for &(mut lo, hi) in &self.ranges {
            let first = other.ranges.partition_point(|&(_, ohi)| ohi < lo);
            let mut rest = true;
            for &(olo, ohi) in &other.ranges[first..] {
                if olo > hi {
                    break;
                }
                if olo > lo {
                    out.push((lo, olo - 1));
                }
                if ohi >= hi {
                    rest = false;
                    break;
                }
                lo = ohi + 1;
            }
            if rest {
                out.push((lo, hi));
            }
        }
        Ranges6 { ranges: out }
    }

    pub fn contains(&self, addr: u128) -> bool {
        let i = self.ranges.partition_point(|&(_, hi)| hi < addr);
        self.ranges.get(i).is_some_and(|&(lo, _)| lo <= addr)
    }

    /// Whether any address in `lo..=hi` is in the set.
    pub fn overlaps(&self, lo: u128, hi: u128) -> bool {
        let i = self.ranges.partition_point(|&(_, rhi)| rhi < lo);
        self.ranges.get(i).is_some_and(|&(rlo, _)| rlo <= hi)
    }

    /// The ranges that meet `lo..=hi`, clipped to it.
    pub fn within(&self, lo: u128, hi: u128) -> impl Iterator<Item = (u128, u128)> + '_ {
        let i = self.ranges.partition_point(|&(_, rhi)| rhi < lo);
        self.ranges[i..]
            .iter()
            .take_while(move |&&(rlo, _)| rlo <= hi)
            .map(move |&(rlo, rhi)| (rlo.max(lo), rhi.min(hi)))
    }

    pub fn ranges(&self) -> &[(u128, u128)] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Addresses in the set, saturating at `u64::MAX` (a single /63 already exceeds it).
    pub fn len_saturating(&self) -> u64 {
        let n = self.ranges.iter().fold(0u128, |n, &(lo, hi)| {
            n.saturating_add(hi - lo).saturating_add(1)
        });
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    /// A fingerprint of the set: SipHash-1-3 with a zero key over its ranges, in hex.
    pub fn hash_hex(&self) -> String {
        use std::hash::Hasher;
        let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
        for &(a, b) in &self.ranges {
            h.write_u128(a);
            h.write_u128(b);
        }
        format!("{:016x}", h.finish())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    fn naive_contains(rs: &[(u128, u128)], a: u128) -> bool {
        rs.iter().any(|&(lo, hi)| lo <= a && a <= hi)
    }

    #[test]
    fn merge_and_subtract() {
        let s = Ranges6::from_ranges(vec![(10, 20), (21, 30), (5, 12), (40, 50)]);
        assert_eq!(s.ranges(), &[(5, 30), (40, 50)]);
        let t = s.subtract(&Ranges6::from_ranges(vec![(0, 5), (10, 10), (30, 45)]));
        assert_eq!(t.ranges(), &[(6, 9), (11, 29), (46, 50)]);
        let all = Ranges6::from_ranges(vec![(0, u128::MAX)]);
        assert!(all.subtract(&all).is_empty());
        assert!(all.contains(u128::MAX) && all.contains(0));
        assert_eq!(s.within(8, 45).collect::<Vec<_>>(), [(8, 30), (40, 45)]);
    }

    proptest! {
        #[test]
        fn subtract_and_contains_agree_with_a_naive_set(
            a in proptest::collection::vec((0u128..200, 0u128..20), 0..8),
            b in proptest::collection::vec((0u128..200, 0u128..20), 0..8),
            probe in 0u128..230,
        ) {
            let a: Vec<_> = a.into_iter().map(|(lo, w)| (lo, lo + w)).collect();
            let b: Vec<_> = b.into_iter().map(|(lo, w)| (lo, lo + w)).collect();
            let (sa, sb) = (Ranges6::from_ranges(a.clone()), Ranges6::from_ranges(b.clone()));
            prop_assert_eq!(sa.contains(probe), naive_contains(&a, probe));
            let want = naive_contains(&a, probe) && !naive_contains(&b, probe);
            prop_assert_eq!(sa.subtract(&sb).contains(probe), want);
            prop_assert_eq!(sa.union(&sb).contains(probe), naive_contains(&a, probe) || naive_contains(&b, probe));
        }
    }
}
