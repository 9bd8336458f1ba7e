//! The built-in IPv6 blocklists, from the IANA IPv6 Special-Purpose Address Registry
//! (RFC 6890 and its updates) and the IPv6 addressing architecture (RFC 4291).
//!
//! [`RESERVED`] is the default blocklist: every block of the registry that is not globally
//! reachable, the blocks that embed an IPv4 address (NAT64, 6to4, Teredo: a probe there
//! would reach an IPv4 host past the IPv4 blocklist), and everything outside `2000::/3`,
//! the only space IANA allocates for global unicast. The registry's globally reachable
//! blocks inside `2001::/23` ([`GLOBAL_IN_IETF_BLOCK`]: PCP and TURN anycast, AMT, AS112,
//! ORCHIDv2, DETs) are real hosts and stay scannable, as the IPv4 list leaves AS112 alone.
//! [`NEVER`] is what no scan probes even with `--no-default-blocklist`: addresses that are
//! never a unicast destination on the wire.

use ipnet::Ipv6Net;

use super::ranges::Ranges6;

/// The default IPv6 blocklist as `(CIDR, reason)`.
pub const RESERVED: &[(&str, &str)] = &[
    ("::/128", "unspecified address (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("::ffff:0:0/96", "IPv4-mapped addresses (RFC 4291)"),
    (
        "64:ff9b::/96",
        "IPv4/IPv6 translation, embeds IPv4 (RFC 6052)",
    ),
    (
        "64:ff9b:1::/48",
        "local-use IPv4/IPv6 translation (RFC 8215)",
    ),
    ("100::/64", "discard-only (RFC 6666)"),
    ("100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"),
    ("2001::/23", "IETF protocol assignments (RFC 2928)"),
    ("2001::/32", "Teredo, embeds IPv4 (RFC 4380)"),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("2002::/16", "6to4, embeds IPv4 (RFC 3056)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "segment routing SIDs (RFC 9602)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local unicast (RFC 4291)"),
    ("fec0::/10", "deprecated site-local (RFC 3879)"),
    ("ff00::/8", "multicast (RFC 4291)"),
    ("::/3", "not allocated for global unicast (RFC 4291)"),
    ("4000::/2", "not allocated for global unicast (RFC 4291)"),
    ("8000::/1", "not allocated for global unicast (RFC 4291)"),
];

/// Globally reachable blocks of the registry inside `2001::/23`, taken out of it.
pub const GLOBAL_IN_IETF_BLOCK: &[(&str, &str)] = &[
    ("2001:1::1/128", "port control protocol anycast (RFC 7723)"),
    ("2001:1::2/128", "TURN anycast (RFC 8155)"),
    (
        "2001:1::3/128",
        "DNS-SD service registration anycast (RFC 9665)",
    ),
    ("2001:3::/32", "AMT (RFC 7450)"),
    ("2001:4:112::/48", "AS112-v6 (RFC 7535)"),
    ("2001:20::/28", "ORCHIDv2 (RFC 7343)"),
    ("2001:30::/28", "drone remote ID DETs (RFC 9374)"),
];

/// Never probed, even with `--no-default-blocklist`.
pub const NEVER: &[(&str, &str)] = &[
    ("::/128", "unspecified address (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    (
        "::ffff:0:0/96",
        "IPv4-mapped addresses, never on the wire (RFC 4291)",
    ),
    ("ff00::/8", "multicast (RFC 4291)"),
];

fn builtin(list: &[(&str, &str)]) -> Ranges6 {
    // The entries are tested to parse; a bad one would be skipped, not panic.
    let nets: Vec<Ipv6Net> = list.iter().filter_map(|(c, _)| c.parse().ok()).collect();
    Ranges6::from_nets(&nets)
}

/// The default blocklist: [`RESERVED`] less [`GLOBAL_IN_IETF_BLOCK`].
pub fn reserved() -> Ranges6 {
    builtin(RESERVED).subtract(&builtin(GLOBAL_IN_IETF_BLOCK))
}

/// The always-excluded ranges [`NEVER`].
pub fn never() -> Ranges6 {
    builtin(NEVER)
}

#[cfg(test)]
mod test {
    use super::*;
    use std::net::Ipv6Addr;

    fn a(s: &str) -> u128 {
        u128::from(s.parse::<Ipv6Addr>().unwrap())
    }

    #[test]
    fn entries_parse() {
        for (cidr, _) in RESERVED.iter().chain(GLOBAL_IN_IETF_BLOCK).chain(NEVER) {
            let net: Ipv6Net = cidr.parse().unwrap();
            assert_eq!(net, net.trunc(), "{cidr} has host bits");
        }
    }

    #[test]
    fn reserved_blocks_special_purpose_and_keeps_global_unicast() {
        let r = reserved();
        for blocked in [
            "::",
            "::1",
            "::ffff:198.51.100.1",
            "64:ff9b::1.2.3.4",
            "100::5",
            "2001:2::1",
            "2001:db8::1",
            "2001::1",
            "2002:c000:0201::1",
            "3fff::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "4000::1",
            "::1.2.3.4",
            "1000::1",
            "5f00::1",
        ] {
            assert!(r.contains(a(blocked)), "{blocked} should be blocked");
        }
        for open in [
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "2001:1::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2620:4f:8000::1",
            "2a00:1450::1",
            "3ffe::1",
        ] {
            assert!(!r.contains(a(open)), "{open} should be scannable");
        }
        let n = never();
        assert!(n.contains(a("::1")) && n.contains(a("ff05::2")));
        assert!(!n.contains(a("2001:2::1")) && !n.contains(a("fe80::1")));
    }
}
