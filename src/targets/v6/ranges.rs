//! [`Ranges6`]: a set of IPv6 addresses as sorted, disjoint, merged inclusive `u128`
//! ranges, for blocklists: the family-neutral [`Ranges`] over `u128`. Membership is one
//! binary search; a set costs 32 bytes a range, never anything per address (`::/0` is one
//! range).

use ipnet::Ipv6Net;

use crate::targets::ranges::Ranges;

/// A set of IPv6 addresses (as `u128`) stored as merged inclusive ranges.
pub type Ranges6 = Ranges<u128>;

/// The inclusive range of addresses a network covers.
pub fn net_range(net: &Ipv6Net) -> (u128, u128) {
    let lo = u128::from(net.network());
    let hi = u128::from(net.broadcast());
    (lo, hi)
}

impl Ranges<u128> {
    /// The set covered by the given networks (overlaps are fine).
    pub fn from_nets<'a>(nets: impl IntoIterator<Item = &'a Ipv6Net>) -> Self {
        Self::from_ranges(nets.into_iter().map(net_range).collect())
    }
}

#[cfg(test)]
mod test {
    use super::*;

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
        let doc: Ipv6Net = "2001:db8::/32".parse().unwrap();
        assert_eq!(Ranges6::from_nets(&[doc]).len_saturating(), u64::MAX);
    }
}
