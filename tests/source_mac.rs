//! `--source-mac`: every probe leaves with the given source MAC address (counted on the
//! target side by an nftables ingress rule on the address), and the scan still finds
//! exactly the open set. Bad addresses exit 2 before anything is sent.
//!
//! Every packet stays inside namespaces these tests create, toward 198.18.0.0/16.

mod common;

use common::live::{nft_load, words_then};
use common::offline;
use common::*;

const MAC: &str = "02:00:5e:10:00:01";

#[test]
fn probes_carry_the_source_mac_and_find_the_open_set() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.0.0/22", 60, 19);
    let tb = Testbed::up(TestbedOpts::open(&open));
    // Ground truth on the target side, before the target's own rules: SYNs by source MAC.
    let rules = format!(
        "table netdev srcmac {{\n chain in {{\n  type filter hook ingress device {TGT_IFACE} priority -500;\n  \
         ether saddr {MAC} tcp flags & (syn | ack) == syn counter comment \"src-mac\"\n  \
         tcp flags & (syn | ack) == syn counter comment \"all-syns\"\n }}\n}}\n"
    );
    nft_load(&tb, &rules);
    let s = Scan::new(&words_then(
        "198.18.0.0/22 -p 80 -r 20000 -c 1 --source-mac",
        &[MAC],
    ))
    .run(&tb);
    assert_eq!(
        addrs_of::<std::net::Ipv4Addr>(&s.lines, "synack"),
        open.iter().copied().collect()
    );
    assert_eq!(tb.counter("all-syns"), 1024);
    assert_eq!(tb.counter("src-mac"), 1024, "every SYN from {MAC}");
    assert_eq!(s.meta["network"]["source_mac"], MAC);
    assert_eq!(s.meta["config"]["source_mac"], MAC);
}

#[test]
fn bad_source_macs_exit_2() {
    for (mac, want) in [
        ("zz:00:00:00:00:01", "is not a MAC address"),
        ("02:00:5e:10:00", "is not a MAC address"),
        ("01:00:5e:00:00:01", "group (multicast) address"),
        ("00:00:00:00:00:00", "is no address"),
    ] {
        let args = words_then(
            "-d -p 80 --no-default-blocklist 198.18.0.0/30 --source-mac",
            &[mac],
        );
        let o = offline(&args).output().unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{mac}: {e}");
        assert!(o.stdout.is_empty());
        assert!(e.contains("--source-mac") && e.contains(want), "{mac}: {e}");
    }
}
