//! The per-network rate ceiling (`--max-net-rate`): how many probes per second any one
//! IPv4 /24 or IPv6 /48 may receive, and the global rate that keeps the busiest network
//! of a scan under it.
//!
//! The permutation spreads a scan's probes evenly over its targets, so a network that
//! holds `k` of the scan's `T` targets receives `k / T` of the send rate, on average.
//! A scan whose busiest network holds `k_max` targets therefore keeps every network under
//! the ceiling `C` when its rate is at most `C * T / k_max`. Shards run at the same time
//! and each walks about `1 / N` of every network's targets, so together they put `N`
//! times one shard's share into a network: each shard's rate is at most
//! `C * T / (k_max * N)`, i.e. each shard gets `1 / N` of the ceiling.
//!
//! The count is an upper bound where it cannot be exact (IPv6 sub-prefix enumerations),
//! which can only make the rate lower, never higher.

use serde::Serialize;

use super::v4::AddrSet;
use super::v6::Addrs6;

/// The default ceiling, in probes per second into one /24 (IPv4) or /48 (IPv6); see
/// docs/ethics.md for the choice.
pub const DEFAULT_MAX_NET_RATE: u64 = 100;

/// What the ceiling did to a scan's rate, for stderr and the metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetRate {
    /// The ceiling in probes per second per network; `None`: turned off (`--max-net-rate 0`).
    pub ceiling_pps: Option<u64>,
    /// `/24` or `/48`.
    pub network: &'static str,
    /// Targets (addresses × ports) in the busiest network, over the whole survey.
    pub busiest_network_targets: u64,
    /// Targets of the whole survey.
    pub total_targets: u64,
    /// The rate asked for (`-r`/`-B`, or the default); `None` for no cap.
    pub requested_pps: Option<u64>,
    /// The rate this shard sends at; `None` for no cap.
    pub effective_pps: Option<u64>,
}

impl NetRate {
    /// Whether the ceiling lowered the rate.
    pub fn lowered(&self) -> bool {
        self.effective_pps != self.requested_pps
    }

    /// The stderr line when the ceiling lowered the rate.
    pub fn note(&self) -> Option<String> {
        if !self.lowered() {
            return None;
        }
        let from = self
            .requested_pps
            .map_or("no cap".to_string(), |r| r.to_string());
        Some(format!(
            "rate lowered from {from} to {} pps: {} probes per {} (--max-net-rate {} pps per {})",
            self.effective_pps.unwrap_or(0),
            self.busiest_network_targets,
            self.network,
            self.ceiling_pps.unwrap_or(0),
            self.network,
        ))
    }
}

/// The rate of one shard under the ceiling: `requested` (`None`: no cap), lowered to
/// `ceiling * total / (busiest * shards)` when that is less, and never below 1 pps.
pub fn capped_rate(
    requested: Option<u64>,
    ceiling: Option<u64>,
    busiest: u64,
    total: u64,
    shards: u32,
) -> Option<u64> {
    let (Some(c), true) = (ceiling, busiest > 0) else {
        return requested;
    };
    let limit =
        (u128::from(c) * u128::from(total)) / (u128::from(busiest) * u128::from(shards.max(1)));
    let limit = limit.clamp(1, u128::from(u64::MAX)) as u64;
    Some(requested.map_or(limit, |r| r.min(limit)))
}

/// Addresses in the busiest /24 of an IPv4 target set.
pub fn busiest_24(addrs: &AddrSet) -> u64 {
    let (mut best, mut cur_net, mut cur) = (0u64, None::<u32>, 0u64);
    for &(lo, hi) in addrs.ranges() {
        let (first, last) = (lo >> 8, hi >> 8);
        // The part of the range in its first /24 adds to that /24's count.
        let first_end = if first == last {
            hi
        } else {
            (first << 8) | 0xff
        };
        let n = u64::from(first_end - lo) + 1;
        if cur_net == Some(first) {
            cur += n;
        } else {
            cur = n;
            cur_net = Some(first);
        }
        best = best.max(cur);
        if last > first {
            // Whole /24s in between, and the start of the last one.
            if last > first + 1 {
                best = best.max(256);
            }
            cur = u64::from(hi & 0xff) + 1;
            cur_net = Some(last);
            best = best.max(cur);
        }
    }
    best
}

/// Addresses in the busiest /48 of an IPv6 target set (an upper bound, see the module docs).
pub fn busiest_48(addrs: &Addrs6) -> u64 {
    addrs.busiest_48()
}

/// The most pairs of a list of pairs in one network, `net` giving an address's network.
/// The pairs are sorted by address, so a network's pairs are adjacent.
pub fn busiest_pairs<T: Copy + Ord>(pairs: &super::Pairs<T>, net: impl Fn(T) -> u128) -> u64 {
    let (mut best, mut cur, mut cur_net) = (0u64, 0u64, None);
    for &(a, _) in pairs.as_slice() {
        let n = net(a);
        if cur_net == Some(n) {
            cur += 1;
        } else {
            (cur, cur_net) = (1, Some(n));
        }
        best = best.max(cur);
    }
    best
}

#[cfg(test)]
mod test {
    use super::*;

    fn set(ranges: &[(u32, u32)]) -> AddrSet {
        AddrSet::from_ranges(ranges.to_vec())
    }

    #[test]
    fn busiest_pairs_counts_pairs_per_network() {
        let p = super::super::Pairs::new(
            vec![
                (0x0a00_0001u32, 80),
                (0x0a00_0001, 443),
                (0x0a00_00ff, 22),
                (0x0a00_0100, 80),
            ],
            u32::to_be_bytes,
        );
        assert_eq!(busiest_pairs(&p, |a| u128::from(a >> 8)), 3);
    }

    #[test]
    fn busiest_24_counts_per_network() {
        let net = |a: u32, b: u32, c: u32| (a << 24) | (b << 16) | (c << 8);
        assert_eq!(
            busiest_24(&set(&[(net(198, 18, 0), net(198, 18, 0) | 255)])),
            256
        );
        // A /16: every /24 is full.
        assert_eq!(
            busiest_24(&set(&[(net(198, 18, 0), net(198, 18, 255) | 255)])),
            256
        );
        // Pieces of one /24 add up; a range across a boundary counts on each side.
        let s = set(&[
            (net(198, 18, 0) | 1, net(198, 18, 0) | 3),
            (net(198, 18, 0) | 10, net(198, 18, 0) | 19),
            (net(198, 18, 1) | 250, net(198, 18, 2) | 4),
        ]);
        assert_eq!(busiest_24(&s), 13);
        assert_eq!(
            busiest_24(&set(&[(net(10, 0, 0) | 7, net(10, 0, 0) | 7)])),
            1
        );
        assert_eq!(busiest_24(&AddrSet::from_ranges(vec![])), 0);
    }

    #[test]
    fn rate_is_lowered_for_concentrated_scans_only() {
        // One /24 on all ports: every probe goes into one network.
        let t = 256 * 65_535;
        assert_eq!(capped_rate(Some(10_000), Some(100), t, t, 1), Some(100));
        // A /16 on two ports: 512 of 131072 targets in each /24 -> 25600 pps allowed.
        assert_eq!(
            capped_rate(Some(10_000), Some(100), 512, 131_072, 1),
            Some(10_000)
        );
        assert_eq!(
            capped_rate(Some(50_000), Some(100), 512, 131_072, 1),
            Some(25_600)
        );
        // No cap asked for: the ceiling sets one.
        assert_eq!(capped_rate(None, Some(100), 512, 131_072, 1), Some(25_600));
        // Off.
        assert_eq!(capped_rate(Some(10_000), None, t, t, 1), Some(10_000));
        // Each of N shards gets 1/N of the ceiling.
        assert_eq!(capped_rate(Some(10_000), Some(100), t, t, 4), Some(25));
        // Never below one packet per second.
        assert_eq!(capped_rate(Some(10_000), Some(1), t, t, 8), Some(1));
    }

    #[test]
    fn note_names_the_networks() {
        let n = NetRate {
            ceiling_pps: Some(400),
            network: "/24",
            busiest_network_targets: 65_535,
            total_targets: 65_535,
            requested_pps: Some(10_000),
            effective_pps: Some(400),
        };
        assert!(n
            .note()
            .unwrap()
            .starts_with("rate lowered from 10000 to 400 pps: 65535 probes per /24"));
        let same = NetRate {
            effective_pps: Some(10_000),
            ..n
        };
        assert_eq!(same.note(), None);
    }
}

#[cfg(test)]
mod config_test {
    use crate::config::for_test as cfg;

    #[test]
    fn the_configuration_applies_the_ceiling() {
        // One /24 on 100 ports at -r 10000, with `more` flags.
        let slash24 = |more: &[&str]| {
            let mut v = vec!["198.18.0.0/24", "-p", "1-100", "-r", "10000"];
            v.extend_from_slice(more);
            cfg(&v)
        };
        // By default: 100 pps.
        let c = slash24(&[]);
        assert_eq!(c.pacing.rate, Some(100));
        assert_eq!(c.pacing.net_rate.busiest_network_targets, 25_600);
        assert!(c
            .pacing
            .net_rate
            .note()
            .unwrap()
            .contains("25600 probes per /24"));
        // Shards: each gets 1/N of the ceiling.
        let c = slash24(&["--shards", "4", "--shard", "1"]);
        assert_eq!(c.pacing.rate, Some(25));
        // Off.
        let c = slash24(&["--max-net-rate", "0"]);
        assert_eq!(c.pacing.rate, Some(10_000));
        assert_eq!(c.pacing.net_rate.ceiling_pps, None);
        assert_eq!(c.pacing.net_rate.note(), None);
        // A /16 on two ports is not slowed.
        let c = cfg(&["198.18.0.0/16", "-p", "80,443", "-r", "10000"]);
        assert_eq!(c.pacing.rate, Some(10_000));
        // IPv6: per /48.
        let c = cfg(&[
            "2001:2::/120",
            "-p",
            "1-10",
            "-r",
            "10000",
            "--max-net-rate",
            "50",
        ]);
        assert_eq!(c.pacing.rate, Some(50));
        assert_eq!(c.pacing.net_rate.network, "/48");
    }
}
