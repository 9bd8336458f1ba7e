//! Links other than a plain Ethernet segment, on testbeds built for them (docs/testbed.md):
//! an IP-layer link (`tun0` <-> `tun1`: no hardware address, no link header, as WireGuard
//! or PPP), where `-X/--iplayer` is the scanner's own choice, and an 802.1Q VLAN, where a
//! relay passes only frames with the scan's tag. Real packets, real kernels on both ends.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use common::*;
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;

/// Scans over a tun testbed on which `open` answers, capturing the probes where they
/// arrive (the target's `tun1`); checks that the scan found exactly `open`, said it
/// framed its probes for an IP-layer link, and that each of its `probes` probes crossed
/// the link once, from the scanner. Returns the scan and the probes seen.
fn scan_tun<A>(open: &[A], args: &str, probes: usize) -> (Scanned, Vec<SeenSyn<A>>)
where
    A: FamilyAddr + Ord + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
{
    let tb = Testbed::up(TestbedOpts {
        tun: true,
        ..TestbedOpts::open(open)
    });
    let cap = tb.capture_syns();
    let r = Scan::new(&words(args)).run(&tb);
    let syns = cap.stop_of::<A>();
    let want: BTreeSet<A> = open.iter().copied().collect();
    assert_eq!(addrs_of::<A>(&r.lines, "synack"), want);
    assert_eq!(link_of(&r.meta), ("ip", None), "{}", r.meta);
    let targets: BTreeSet<A> = syns.iter().map(|s| s.daddr).collect();
    assert_eq!((syns.len(), targets.len()), (probes, probes));
    assert!(syns.iter().all(|s| s.saddr == A::SCAN), "{syns:?}");
    (r, syns)
}

/// The VLAN relay's counters once it has written what it did so far (about once a
/// second; the testbed's own set-up sent an untagged datagram or two through it).
fn vlan_relay(tb: &Testbed) -> std::collections::HashMap<String, u64> {
    std::thread::sleep(std::time::Duration::from_millis(2100));
    tb.relay_stats_of("vlanrelay")
}

/// A scan's `network` metadata says the link it framed its probes for.
fn link_of(meta: &serde_json::Value) -> (&str, Option<u64>) {
    let n = &meta["network"];
    (n["link"].as_str().unwrap_or("?"), n["vlan"].as_u64())
}

/// The tun testbed itself, checked with the kernel's own TCP and `ip`: a link with no
/// hardware address, routed without a gateway, over which the real stack connects.
#[test]
fn tun_testbed_is_an_ip_layer_link() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts {
        tun: true,
        ..TestbedOpts::open(["198.18.1.7"])
    });
    let show = |args: &[&str]| {
        let out = tb.exec_scan(["ip"]).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(show(&["link", "show", "tun0"]).contains("link/none"));
    assert_eq!(
        show(&["route", "get", "198.18.1.7"])
            .split_whitespace()
            .nth(1),
        Some("dev")
    );
    assert_eq!(
        tb.connect(Ipv4Addr::new(198, 18, 1, 7), 80),
        ConnectOutcome::Open
    );
    assert_eq!(
        tb.connect(Ipv4Addr::new(198, 18, 1, 8), 80),
        ConnectOutcome::Refused
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let stats = tb.relay_stats_of("tunrelay");
    assert!(stats["packets_scan_to_tgt"] >= 4, "{stats:?}");
    assert!(stats["packets_tgt_to_scan"] >= 3, "{stats:?}");
}

#[test]
fn iplayer_is_chosen_on_a_tun_link_and_finds_the_open_set() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.2.0/24", 25, 31);
    // No -X: the interface has no hardware address, which is enough.
    let args = "198.18.2.0/24 -p 80 -r 5000 -c 1 --all-responses --max-net-rate 0";
    let (r, syns) = scan_tun(&open, args, 256);
    let all: BTreeSet<Ipv4Addr> = (0..=255).map(|i| Ipv4Addr::new(198, 18, 2, i)).collect();
    let rst: BTreeSet<Ipv4Addr> = all.iter().copied().filter(|a| !open.contains(a)).collect();
    assert_eq!(addrs_of::<Ipv4Addr>(&r.lines, "rst"), rst);
    assert_eq!(r.meta["network"]["interface"], "tun0");
    assert_eq!(r.meta["network"]["gateway_mac"], "", "no MAC on a tun link");
    assert_eq!(r.meta["config"]["iplayer"], false);
    assert_eq!(r.meta["packets_sent"], 256);
    // Every probe reached the target's tun1 as a bare IP packet (LINKTYPE_RAW), once.
    let seen: BTreeSet<Ipv4Addr> = syns.iter().map(|s| s.daddr).collect();
    assert_eq!(seen, all);
    assert!(syns.iter().all(|s| s.dport == 80));
    assert_eq!(r.accounting().total_drops(), 0, "{}", r.meta);
}

#[test]
fn iplayer_ipv6_over_a_tun_link() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset6("2001:2::1:0/120", 20, 32);
    let args = "2001:2::1:0/120 -X -p 80 -r 5000 -c 1 --max-net-rate 0";
    let r = scan_tun(&open, args, 256).0;
    assert_eq!(r.meta["config"]["iplayer"], true);
}

#[test]
fn iplayer_is_refused_on_an_ethernet_link_before_sending() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::default());
    let r = Scan::new(&words("198.18.3.0/28 -X -p 80 -c 0 --max-net-rate 0"))
        .may_fail()
        .run(&tb);
    let line = error_line(&r.output);
    assert!(
        line.contains("-X/--iplayer: veth0 is an Ethernet interface"),
        "{line}"
    );
    assert_eq!(tb.counter("syn-in"), 0, "a probe was sent");
}

/// AF_XDP in copy mode transmits on a tun device (measured on this kernel: the bind to
/// its one queue succeeds and the frames reach the device's reader as they are), so
/// `--xdp` works on an IP-layer link here.
#[test]
fn xdp_on_a_tun_link() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.5.0/26", 8, 33);
    let args = "198.18.5.0/26 -p 80 -r 2000 -c 1 -T 1 --xdp --max-net-rate 0";
    let r = scan_tun(&open, args, 64).0;
    assert_eq!(
        r.meta["transmit"],
        serde_json::json!(["af_xdp_copy"]),
        "{}",
        r.stderr
    );
}

/// A captured frame: its VLAN id if tagged, and the TCP SYN it carries, if any.
type TaggedFrame = (Option<u16>, Option<SeenSyn<IpAddr>>);

/// The frames of a pcap file of an Ethernet link, tagged or not (see [`TaggedFrame`]).
fn tagged_syns(pcap: &[u8]) -> Vec<TaggedFrame> {
    let mut reader = PcapReader::new(pcap).expect("pcap");
    assert_eq!(reader.header().datalink, DataLink::ETHERNET);
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        let f = p.expect("pcap record").data;
        let (vid, ip_at) = match f.get(12..14) {
            Some([0x81, 0x00]) if f.len() >= 18 => {
                (Some(u16::from_be_bytes([f[14], f[15]]) & 0xfff), 18)
            }
            Some(_) => (None, 14),
            None => continue,
        };
        let inner = u16::from_be_bytes([f[ip_at - 2], f[ip_at - 1]]);
        let syn = matches!(inner, 0x0800 | 0x86dd)
            .then(|| parse_ip(&f[ip_at..], 0.0))
            .flatten();
        out.push((vid, syn));
    }
    out
}

/// Scans `cidr` over a VLAN testbed (tag `vid`) on which `open` answers, while capturing
/// on the relay's scanner-side port, where the tags are still on the wire (libpcap puts
/// back the tag the kernel took out of the frame). Checks the tag on every probe, one
/// probe per address, the open set, and the relay's count of tagged frames. Returns the
/// testbed.
fn vlan_scan<A>(cidr: &str, addrs: usize, vid: u16, open: &[A]) -> Testbed
where
    A: FamilyAddr + std::fmt::Display + Into<IpAddr>,
{
    let tb = Testbed::up(TestbedOpts {
        vlan: Some(vid),
        ..TestbedOpts::open(open)
    });
    let before = vlan_relay(&tb);
    let cap = tb.capture_in(&tb.dly_ns(), "a", "");
    let args = format!("{cidr} -p 80 -r 5000 -c 1 --vlan {vid} --max-net-rate 0");
    let r = Scan::new(&words(&args)).run(&tb);
    let frames = tagged_syns(&cap.stop_raw());
    let open: BTreeSet<IpAddr> = open.iter().map(|&a| a.into()).collect();
    assert_eq!(addrs_of::<IpAddr>(&r.lines, "synack"), open);
    assert_eq!(
        link_of(&r.meta),
        ("ethernet", Some(u64::from(vid))),
        "{}",
        r.meta
    );
    assert_eq!(r.meta["config"]["vlan"], vid);
    let probes: Vec<&TaggedFrame> = frames.iter().filter(|(_, syn)| syn.is_some()).collect();
    assert_eq!(probes.len(), addrs, "one SYN per target on the wire");
    let untagged = probes.iter().find(|(v, _)| *v != Some(vid));
    assert!(untagged.is_none(), "a probe without the tag: {untagged:?}");
    let dsts: BTreeSet<IpAddr> = probes
        .iter()
        .filter_map(|(_, s)| Some(s.as_ref()?.daddr))
        .collect();
    assert_eq!(dsts.len(), addrs);
    // The target saw them untagged, through the relay, and the replies went back tagged.
    let after = vlan_relay(&tb);
    let d = |k: &str| after[k] - before[k];
    assert_eq!(d("tagged_in"), addrs as u64, "{after:?}");
    assert_eq!(d("untagged_dropped"), 0, "{after:?}");
    assert!(d("tagged_out") >= addrs as u64, "{after:?}");
    tb
}

#[test]
fn vlan_tags_every_probe_and_finds_the_open_set() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.6.0/24", 25, 34);
    let tb = vlan_scan("198.18.6.0/24", 256, 1234, &open);
    assert_eq!(tb.counter("syn-in"), 256);
}

#[test]
fn vlan_ipv6() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset6("2001:2::6:0/120", 20, 36);
    vlan_scan("2001:2::6:0/120", 256, 4094, &open);
}

#[test]
fn without_vlan_nothing_crosses_the_tagged_link() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.7.0/26", 10, 35);
    let tb = Testbed::up(TestbedOpts {
        vlan: Some(7),
        ..TestbedOpts::open(&open)
    });
    let before = vlan_relay(&tb);
    let r = Scan::new(&words(
        "198.18.7.0/26 -p 80 -r 2000 -c 1 --all-responses --max-net-rate 0",
    ))
    .run(&tb);
    assert!(r.lines.is_empty(), "{:?}", r.lines.first());
    assert_eq!(r.meta["packets_sent"], 64);
    assert_eq!(
        tb.counter("syn-in"),
        0,
        "an untagged probe reached the target"
    );
    // The wrong tag is dropped as well, and the scan on the right one finds the set.
    let r = Scan::new(&words(
        "198.18.7.0/26 -p 80 -r 2000 -c 1 --vlan 8 --max-net-rate 0",
    ))
    .run(&tb);
    assert!(r.lines.is_empty());
    assert_eq!(tb.counter("syn-in"), 0);
    let r = Scan::new(&words(
        "198.18.7.0/26 -p 80 -r 2000 -c 1 --vlan 7 --max-net-rate 0",
    ))
    .run(&tb);
    assert_eq!(
        addrs_of::<Ipv4Addr>(&r.lines, "synack"),
        open.iter().copied().collect()
    );
    let after = vlan_relay(&tb);
    let d = |k: &str| after[k] - before[k];
    assert_eq!(d("untagged_dropped"), 64, "{after:?}");
    assert_eq!(d("wrong_tag"), 64, "{after:?}");
    assert_eq!(d("tagged_in"), 64, "{after:?}");
}
