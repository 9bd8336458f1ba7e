//! Tests of the testbed itself (scripts/testbed.sh and tests/common).
//! These need root: without it each says why and is skipped, except under CI
//! (`CI=true`), where it fails (see `common::privileged`).

mod common;
mod forge;

use common::*;
use forge::Forge;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use synsurvey::wire::tcp::flags;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn netns_list() -> Vec<String> {
    let out = output_ok(Command::new("ip").args(["netns", "list"]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Sends `n` UDP datagrams to `dst` port 9 from the scan namespace.
fn send_udp(tb: &Testbed, n: usize, dst: impl Into<IpAddr>) {
    let dst = dst.into();
    let family = if dst.is_ipv6() { "AF_INET6" } else { "AF_INET" };
    output_ok(tb.exec_scan(["python3", "-c"]).arg(format!(
        "import socket\ns = socket.socket(socket.{family}, socket.SOCK_DGRAM)\n\
         for _ in range({n}): s.sendto(b'synsurvey', ('{dst}', 9))"
    )));
}

/// What the self-tests need of an address family: its testbed's addresses and how to read
/// its captures. The tests below run once for each.
trait Family {
    type A: Copy
        + Ord
        + std::fmt::Debug
        + std::fmt::Display
        + Into<IpAddr>
        + forge::ForgeAddr
        + FamilyAddr;
    /// `ip` and `ping`'s family flag.
    const FLAG: &'static str = if Self::A::IPV6 { "-6" } else { "-4" };
    /// Host `n` of the target network: 198.18.0.0 + n, or 2001:2:: + n.
    fn host(n: u32) -> Self::A {
        let net = if Self::A::IPV6 {
            TARGET_NET6
        } else {
            TARGET_NET
        };
        let base = parse_cidr_of::<Self::A>(net).0.to_bits();
        Self::A::from_bits(base + u128::from(n))
    }
    /// A host far up the target network (AnyIP owns all of it).
    fn far() -> Self::A {
        let far = if Self::A::IPV6 {
            "2001:2::dead:beef:1234:5678"
        } else {
            "198.18.222.173"
        };
        far.parse().unwrap_or_else(|_| unreachable!("an address"))
    }
    /// `random_subset` or `random_subset6`.
    fn subset(cidr: &str, count: usize, seed: u64) -> Vec<Self::A>;
    /// What else a testbed of this family holds (links, routes, neighbours).
    fn check_links(_: &Testbed) {}
}

struct Four;
struct Six;

impl Family for Four {
    type A = Ipv4Addr;
    fn subset(cidr: &str, count: usize, seed: u64) -> Vec<Ipv4Addr> {
        random_subset(cidr, count, seed)
    }
}

impl Family for Six {
    type A = Ipv6Addr;
    fn subset(cidr: &str, count: usize, seed: u64) -> Vec<Ipv6Addr> {
        random_subset6(cidr, count, seed)
    }
    fn check_links(tb: &Testbed) {
        // The scan namespace reaches 2001:2::/64 through the gateway, and nothing else
        // but its own link.
        let routes = ip_out(&tb.scan_ns(), &["-6", "route", "show"]);
        assert!(
            routes.contains(&format!("{TARGET_NET6} via {GATEWAY_ADDR6} dev veth0")),
            "{routes}"
        );
        let addrs = ip_out(&tb.scan_ns(), &["-6", "addr", "show", "dev", "veth0"]);
        assert!(addrs.contains(&format!("{SCAN_ADDR6}/126")), "{addrs}");
        assert!(
            !addrs.contains("tentative"),
            "nodad: usable at once\n{addrs}"
        );
        let neigh = ip_out(&tb.scan_ns(), &["-6", "neigh", "show", "dev", "veth0"]);
        assert!(neigh.contains(&GATEWAY_ADDR6.to_string()), "{neigh}");
        let local = ip_out(&tb.tgt_ns(), &["-6", "route", "show", "table", "local"]);
        assert!(local.contains("local 2001:2::/64 dev lo"), "{local}");
    }
}

/// `HOST/LEN` of the family `F`, LEN `bits_less` below a host route.
fn net<F: Family>(host: u32, bits_less: u8) -> String {
    format!("{}/{}", F::host(host), F::A::BITS - u32::from(bits_less))
}

/// Open, closed, silent and unreachable addresses answer as configured, and `down`
/// removes everything.
fn responses_follow_open_closed_unreach_and_silent<F: Family>() {
    require_privileges!("create a network-namespace testbed");
    let h = F::host;
    let tb = Testbed::up(TestbedOpts {
        silent: vec![h(200).to_string(), h(201).to_string()],
        unreach: vec![net::<F>(0x300, 8)],
        ports: vec![80, 443],
        ..TestbedOpts::open(&[h(1).to_string(), net::<F>(0x10, 2)])
    });
    let short = Duration::from_millis(500);
    assert_eq!(tb.connect(h(1), 80), ConnectOutcome::Open);
    assert_eq!(tb.connect(h(0x12), 443), ConnectOutcome::Open);
    // Any address of the target network exists (AnyIP), not only the low ones.
    assert_eq!(tb.connect(F::far(), 80), ConnectOutcome::Refused);
    assert_eq!(tb.connect(h(2), 80), ConnectOutcome::Refused);
    assert_eq!(tb.connect(h(0x14), 443), ConnectOutcome::Refused);
    // No listener on 81: the kernel itself answers RST, open or not.
    assert_eq!(tb.connect(h(1), 81), ConnectOutcome::Refused);
    assert_eq!(tb.connect(h(3), 81), ConnectOutcome::Refused);
    for a in [h(0x300), h(0x3ff)] {
        let got = tb.connect_timeout(a, 80, short);
        assert_eq!(got, ConnectOutcome::Unreachable, "{a}");
    }
    assert_eq!(
        tb.connect_timeout(h(200), 80, short),
        ConnectOutcome::Timeout
    );
    assert_eq!(
        tb.connect_timeout(h(201), 81, short),
        ConnectOutcome::Timeout
    );
    assert_eq!(tb.counter("closed"), 3, "{}", tb.status());
    assert!(tb.counter("unreach") >= 2, "{}", tb.status());
    assert!(tb.counter("silent") >= 2, "{}", tb.status());
    assert!(tb.counter("syn-in") >= 10, "{}", tb.status());
    assert!(tb.counter("open") >= 2, "{}", tb.status());

    // No default route in either family: nothing leaves the testbed.
    for flag in ["-4", "-6"] {
        let routes = ip_out(&tb.scan_ns(), &[flag, "route", "show"]);
        assert!(!routes.contains("default"), "scan ns routes:\n{routes}");
    }
    F::check_links(&tb);

    let (scan, tgt, name) = (tb.scan_ns(), tb.tgt_ns(), tb.name.clone());
    let listed = netns_list();
    assert!(
        listed.contains(&scan) && listed.contains(&tgt),
        "{listed:?}"
    );
    drop(tb);
    let listed = netns_list();
    assert!(
        !listed.contains(&scan) && !listed.contains(&tgt),
        "namespaces left after down: {listed:?}"
    );
    assert!(!Path::new("/run/synsurvey-testbed").join(&name).exists());
}

/// A capture holds exactly the SYNs of the connects made, in time order.
fn capture_sees_exactly_the_syns_sent<F: Family>() {
    require_privileges!("create a network-namespace testbed");
    let h = F::host;
    let tb = Testbed::up(TestbedOpts {
        unreach: vec![h(7).to_string()],
        ports: vec![80, 443],
        ..TestbedOpts::open([h(1)])
    });
    assert_eq!(tb.is_ipv6(), F::A::IPV6);
    let cap = tb.capture_syns();
    let attempts = [
        (h(1), 80, ConnectOutcome::Open),
        (h(5), 80, ConnectOutcome::Refused),
        (h(6), 22, ConnectOutcome::Refused),
        (h(1), 443, ConnectOutcome::Open),
        (h(7), 443, ConnectOutcome::Unreachable),
    ];
    for &(a, p, want) in &attempts {
        // 0.8 s: shorter than Linux's first SYN retransmission (1 s), one SYN each.
        let got = tb.connect_timeout(a, p, Duration::from_millis(800));
        assert_eq!(got, want, "{a}:{p}");
    }
    let syns = cap.stop_of::<F::A>();
    let mut seen: Vec<(F::A, u16)> = syns.iter().map(|s| (s.daddr, s.dport)).collect();
    let mut want: Vec<(F::A, u16)> = attempts.iter().map(|&(a, p, _)| (a, p)).collect();
    seen.sort();
    want.sort();
    assert_eq!(seen, want, "{syns:#?}");
    for s in &syns {
        assert_eq!(s.saddr, F::A::SCAN);
        assert!(s.sport >= 1024, "{s:?}");
    }
    assert!(syns.windows(2).all(|w| w[0].time <= w[1].time));
    // Plausible wall-clock timestamps (after 2020).
    assert!(syns[0].time > 1.5e9, "{:?}", syns[0]);
}

/// Total loss drops every TCP reply, records the SYN-ACKs dropped, and leaves neighbour
/// discovery alone.
fn total_loss_drops_tcp_replies_only<F: Family>() {
    require_privileges!("create a network-namespace testbed");
    let h = F::host;
    let tb = Testbed::up(TestbedOpts {
        loss_pct: Some(100.0),
        ..TestbedOpts::open([h(1)])
    });
    let t = Duration::from_millis(300);
    assert_eq!(tb.connect_timeout(h(1), 80, t), ConnectOutcome::Timeout);
    assert_eq!(tb.connect_timeout(h(2), 80, t), ConnectOutcome::Timeout);
    assert!(tb.counter("loss") >= 2, "{}", tb.status());
    // Dropped SYN-ACKs are recorded by address and port, RSTs are not.
    let one = std::collections::BTreeSet::from([(h(1).into(), 80)]);
    assert_eq!(tb.lost_synacks(1), one);
    assert!(tb.lost_synacks(2).is_empty());
    assert_eq!(tb.connect_timeout(h(1), 80, t), ConnectOutcome::Timeout);
    assert_eq!(tb.lost_synacks(2), one);
    // Neighbour discovery still works both ways (the drop is TCP only): the scanner's
    // gateway entry was resolved by `up`, and the target resolves the scanner again.
    let flush = ["ip", F::FLAG, "neigh", "flush", "dev", "veth1"];
    assert!(tb.exec_tgt(flush).status().unwrap().success());
    let ping = tb
        .exec_tgt(["ping", F::FLAG, "-c", "1", "-W", "2"])
        .arg(F::A::SCAN.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&ping.stdout);
    assert!(ping.status.success(), "{stdout}");
}

/// The pcap reader finds a pure SYN of the family, behind the family's extension headers,
/// with its addresses, ports, sequence number and time (µs and ns pcap files); a SYN-ACK
/// is no SYN, and the other family's reader takes nothing for one of its own.
fn pcap_reader_parses_a_syn<F: Family>() {
    const MICROS: [u8; 4] = [0xd4, 0xc3, 0xb2, 0xa1];
    const NANOS: [u8; 4] = [0x4d, 0x3c, 0xb2, 0xa1];
    let dst = F::host(0x0304);
    let mut syn = Forge::syn_ack(F::A::SCAN, 40000, dst, 80, 0);
    syn.seq = 0xdead_beef;
    syn.flags = flags::SYN;
    syn.tcp_options.clear();
    if F::A::IPV6 {
        // Hop-by-hop (PadN) before TCP: the reader must step over it.
        syn.ext_headers = vec![(0, vec![0, 0, 1, 4, 0, 0, 0, 0])];
    }
    let frame = syn.build();

    let syns = parse_pcap_of::<F::A>(&pcap_file(MICROS, &frame, 10, 500_000));
    let s = syns[0].clone().expect("a SYN");
    assert_eq!((s.saddr, s.daddr), (F::A::SCAN, dst));
    assert_eq!((s.sport, s.dport, s.seq), (40000, 80, 0xdead_beef));
    assert!((s.time - 10.5).abs() < 1e-9);
    let ns = parse_pcap_of::<F::A>(&pcap_file(NANOS, &frame, 1, 250_000_000));
    assert!((ns[0].as_ref().unwrap().time - 1.25).abs() < 1e-9);
    // Exactly one of the two readers takes it: this family's.
    let file = pcap_file(MICROS, &frame, 0, 0);
    let read = (
        parse_pcap(&file)[0].is_some(),
        parse_pcap6(&file)[0].is_some(),
    );
    assert_eq!(read, (!F::A::IPV6, F::A::IPV6));
    syn.flags = flags::SYN | flags::ACK;
    let synack = pcap_file(MICROS, &syn.build(), 0, 0);
    assert_eq!(parse_pcap_of::<F::A>(&synack), vec![None]);
}

/// `random_subset` (`random_subset6`) is deterministic in its seed, sorted, distinct and
/// inside the network: here 65536 addresses, 198.18.0.0/16 or 2001:2::/112.
fn random_subset_is_deterministic_distinct_and_inside<F: Family>() {
    let cidr = net::<F>(0, 16);
    let a = F::subset(&cidr, 1000, 7);
    assert_eq!(a, F::subset(&cidr, 1000, 7));
    assert_ne!(a, F::subset(&cidr, 1000, 8));
    assert_eq!(a.len(), 1000);
    assert!(a.windows(2).all(|w| w[0] < w[1]), "sorted and distinct");
    let inside = F::host(0)..=F::host(0xffff);
    assert!(a.iter().all(|x| inside.contains(x)), "{a:?}");
}

/// A module of `#[test]`s for each family (`v4::NAME`, `v6::NAME`), each running the
/// generic `NAME` above with that family.
macro_rules! for_each_family {
    ($($name:ident),+ $(,)?) => {
        for_each_family!(@family v4, Four, $($name),+);
        for_each_family!(@family v6, Six, $($name),+);
    };
    (@family $module:ident, $family:ident, $($name:ident),+) => {
        mod $module {
            $(#[test]
            fn $name() {
                super::$name::<super::$family>();
            })+
        }
    };
}

for_each_family!(
    responses_follow_open_closed_unreach_and_silent,
    capture_sees_exactly_the_syns_sent,
    total_loss_drops_tcp_replies_only,
    pcap_reader_parses_a_syn,
    random_subset_is_deterministic_distinct_and_inside,
);

#[test]
fn sinks_count_frames_and_do_not_interfere() {
    require_privileges!("create a network-namespace testbed");
    let a = Testbed::sink();
    let b = Testbed::sink();
    assert_ne!(a.name, b.name);
    assert_eq!(a.sink_count(), 0);
    assert_eq!(b.sink_count(), 0);
    send_udp(&a, 20, ip("198.18.0.9"));
    send_udp(&b, 7, ip("198.18.0.9"));
    let (na, nb) = (a.sink_count(), b.sink_count());
    assert!((20..=22).contains(&na), "sink a counted {na}");
    assert!((7..=9).contains(&nb), "sink b counted {nb}");
    // The scan side resolves the gateway from a permanent entry.
    let neigh = a.exec_scan(["ip", "neigh", "show"]).output().unwrap();
    let neigh = String::from_utf8_lossy(&neigh.stdout);
    assert!(neigh.contains("PERMANENT"), "{neigh}");
}

#[test]
fn two_targets_at_once_do_not_interfere() {
    require_privileges!("create a network-namespace testbed");
    let a = Testbed::up(TestbedOpts::open(["198.18.1.1"]));
    let b = Testbed::up(TestbedOpts::open(["198.18.1.2"]));
    assert_eq!(a.connect(ip("198.18.1.1"), 80), ConnectOutcome::Open);
    assert_eq!(a.connect(ip("198.18.1.2"), 80), ConnectOutcome::Refused);
    assert_eq!(b.connect(ip("198.18.1.2"), 80), ConnectOutcome::Open);
    assert_eq!(b.connect(ip("198.18.1.1"), 80), ConnectOutcome::Refused);
    assert_eq!(a.counter("closed"), 1);
    assert_eq!(b.counter("closed"), 1);
}

#[test]
fn random_subset_takes_a_small_network_whole() {
    // Dense case: the whole /28.
    let all = random_subset("198.18.5.7/28", 16, 1);
    assert_eq!(all.first(), Some(&ip("198.18.5.0")));
    assert_eq!(all.last(), Some(&ip("198.18.5.15")));
    assert_eq!(random_subset("198.18.0.3", 1, 99), vec![ip("198.18.0.3")]);
}

#[test]
fn json_lines_parse_and_report_bad_lines() {
    let v: Vec<serde_json::Value> = read_json_lines(b"{\"a\":1}\n\n{\"b\":[2]}\n");
    assert_eq!(v.len(), 2);
    assert_eq!(v[1]["b"][0], 2);
    let r = std::panic::catch_unwind(|| read_json_lines::<serde_json::Value>(b"{}\nnot json\n"));
    let msg = r.unwrap_err();
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("line 2") && msg.contains("not json"), "{msg}");
}

/// Metadata counters as a scan writes them: every reason of the crate at `n`, and the
/// other counters at small distinct values.
fn metadata_with_drops(n: u64) -> serde_json::Value {
    let failures: serde_json::Map<String, serde_json::Value> = synsurvey::validate::DropReason::ALL
        .iter()
        .map(|r| (r.as_str().to_owned(), n.into()))
        .collect();
    serde_json::json!({
        "packets_sent": 10, "frames_received": 9, "kernel_drops": 0,
        "replies": {"synack": 3, "rst": 4, "icmp_unreach": 1, "unique_success": 3,
                    "results_written": 7, "dedup_bytes": 64, "dedup_peak_bytes": 128},
        "validation_failures": failures,
    })
}

#[test]
fn accounting_reads_every_reason_and_refuses_unknown_or_missing_ones() {
    use synsurvey::validate::DropReason;
    let meta = metadata_with_drops(2);
    let a = Accounting::of(&meta);
    assert_eq!((a.packets_sent, a.frames_received), (10, 9));
    assert_eq!(a.tcp_results(), 7);
    assert_eq!(a.drops(DropReason::Duplicate), 2);
    assert_eq!(a.total_drops(), 2 * DropReason::ALL.len() as u64);
    assert_eq!(a.nonzero_drops().len(), DropReason::ALL.len());
    assert!(Accounting::of(&metadata_with_drops(0))
        .nonzero_drops()
        .is_empty());
    let refuses = |meta: serde_json::Value, says: &str| {
        let r = std::panic::catch_unwind(|| Accounting::of(&meta));
        let msg = r.expect_err("accepted");
        let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains(says), "{msg}");
    };
    let mut unknown = meta.clone();
    unknown["validation_failures"]["bad_vibes"] = 1.into();
    refuses(unknown, "validation_failures.bad_vibes is no DropReason");
    let mut missing = meta.clone();
    missing["validation_failures"]
        .as_object_mut()
        .unwrap()
        .remove("duplicate");
    refuses(missing, "no count validation_failures.duplicate");
    let mut renamed = meta;
    renamed["replies"]["synacks"] = 1.into();
    refuses(renamed, "replies are not as expected");
}

/// A one-record pcap file (little-endian header, Ethernet) holding `frame`.
fn pcap_file(magic: [u8; 4], frame: &[u8], sec: u32, frac: u32) -> Vec<u8> {
    let mut f = magic.to_vec();
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&sec.to_le_bytes());
    f.extend_from_slice(&frac.to_le_bytes());
    f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    f.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    f.extend_from_slice(frame);
    f
}

#[test]
fn exclusive_guard_serialises() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let busy = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let _g = exclusive();
                assert!(!busy.swap(true, Ordering::SeqCst), "two holders at once");
                std::thread::sleep(Duration::from_millis(30));
                busy.store(false, Ordering::SeqCst);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Addresses of the namespace's interfaces (`ip -br addr`).
fn brief_addrs(ns: &str) -> String {
    let out = output_ok(Command::new("ip").args(["-n", ns, "-br", "addr", "show"]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn delay_holds_back_the_targets_frames_and_down_removes_all_three_namespaces() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts {
        delay_ms: Some(500),
        ..TestbedOpts::open(["198.18.0.1"])
    });
    let t = Duration::from_secs(3);
    for _ in 0..2 {
        let (o, d) = tb.connect_timed(ip("198.18.0.1"), 80, t);
        assert_eq!(o, ConnectOutcome::Open, "{}", tb.status());
        assert!(
            d >= Duration::from_millis(500) && d < Duration::from_millis(1500),
            "open connect took {d:?}"
        );
        let (o, d) = tb.connect_timed(ip("198.18.0.2"), 80, t);
        assert_eq!(o, ConnectOutcome::Refused, "{}", tb.status());
        assert!(
            d >= Duration::from_millis(500) && d < Duration::from_millis(1500),
            "refused connect took {d:?}"
        );
    }
    // The relay's namespace is a bare L2 hop: no address of its own.
    let dly_addrs = brief_addrs(&tb.dly_ns());
    assert!(
        dly_addrs
            .lines()
            .filter(|l| !l.starts_with("lo "))
            .all(|l| l.split_whitespace().count() == 2),
        "{dly_addrs}"
    );
    assert!(tb.status().contains("relay: pid"), "{}", tb.status());

    let (scan, tgt, dly, name) = (tb.scan_ns(), tb.tgt_ns(), tb.dly_ns(), tb.name.clone());
    let listed = netns_list();
    for ns in [&scan, &tgt, &dly] {
        assert!(listed.contains(ns), "{ns} missing: {listed:?}");
    }
    drop(tb);
    let listed = netns_list();
    for ns in [&scan, &tgt, &dly] {
        assert!(!listed.contains(ns), "{ns} left after down: {listed:?}");
    }
    assert!(!Path::new("/run/synsurvey-testbed").join(&name).exists());
}

#[test]
fn without_delay_connects_are_immediate_and_there_is_no_relay() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts::open(["198.18.0.1"]));
    for (a, want) in [
        ("198.18.0.1", ConnectOutcome::Open),
        ("198.18.0.2", ConnectOutcome::Refused),
    ] {
        let (o, d) = tb.connect_timed(ip(a), 80, Duration::from_secs(1));
        assert_eq!(o, want, "{a}");
        assert!(d < Duration::from_millis(100), "connect to {a} took {d:?}");
    }
    assert!(!netns_list().contains(&tb.dly_ns()));
    assert!(tb.relay_stats().is_empty());
}

#[test]
fn delay_relay_loses_nothing_in_a_burst() {
    require_privileges!("create a network-namespace testbed");
    // 2048 non-blocking connects as fast as Python makes them (tens of
    // thousands of SYNs per second): every one must get its answer, after
    // the delay, and the relay must not have dropped a frame.
    let tb = Testbed::up(TestbedOpts {
        delay_ms: Some(300),
        ..TestbedOpts::open(["198.18.16.0/24"])
    });
    const PY: &str = r#"
import errno, resource, select, socket, time
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
socks = {}
t0 = time.monotonic()
for i in range(2048):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    s.connect_ex(("198.18.%d.%d" % (16 + i // 256, i % 256), 80))
    socks[s.fileno()] = s
sent = time.monotonic() - t0
p = select.poll()
for fd in socks:
    p.register(fd, select.POLLOUT)
res = {}
first = None
deadline = t0 + 10
while len(res) < len(socks) and time.monotonic() < deadline:
    for fd, _ in p.poll(100):
        if first is None:
            first = time.monotonic() - t0
        e = socks[fd].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        res[fd] = "open" if e == 0 else ("refused" if e == errno.ECONNREFUSED else str(e))
        p.unregister(fd)
vals = list(res.values())
print(vals.count("open"), vals.count("refused"), len(socks) - len(res), sent, first)
"#;
    let out = output_ok(&mut tb.exec_scan(["python3", "-c", PY]));
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 5, "{line}");
    let (open, refused, missing) = (f[0], f[1], f[2]);
    let first: f64 = f[4].parse().unwrap();
    // Wait for the relay's next stats (about once a second).
    std::thread::sleep(Duration::from_millis(1300));
    let stats = tb.relay_stats();
    assert_eq!(
        (open, refused, missing),
        ("256", "1792", "0"),
        "{line}\n{stats:?}"
    );
    assert!(first >= 0.3, "first answer after {first} s");
    assert_eq!(stats["socket_drops_a"], 0, "{stats:?}");
    assert_eq!(stats["socket_drops_b"], 0, "{stats:?}");
    assert_eq!(stats["send_errors_a_to_b"], 0, "{stats:?}");
    assert_eq!(stats["send_errors_b_to_a"], 0, "{stats:?}");
    assert!(stats["frames_a_to_b"] >= 2048, "{stats:?}");
    assert!(stats["frames_b_to_a"] >= 2048, "{stats:?}");
}

// ---- The IPv6 target network (`testbed.sh up --ipv6`) ----

/// `ip -n NS ARGS`, its standard output.
fn ip_out(ns: &str, args: &[&str]) -> String {
    let out = output_ok(Command::new("ip").args(["-n", ns]).args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ipv6_scanners_each_reach_the_target_on_their_own_link() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts {
        scanners: 3,
        ..TestbedOpts::open(["2001:2::1"])
    });
    const PY: &str = "import socket, sys\n\
        s = socket.create_connection(('2001:2::1', 80), timeout=2)\n\
        print(s.getsockname()[0])";
    for k in 1..=3u8 {
        let out = output_ok(&mut tb.exec_scanner(k, ["python3", "-c", PY]));
        let src: Ipv6Addr = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(src, scan_addr6(k), "scanner {k}");
    }
}

#[test]
fn ipv6_sink_counts_probes_but_not_the_scanners_own_icmpv6() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::sink_ipv6(1);
    // The scan namespace's own MLD reports go out within about a second of `up`.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(tb.sink_count(), 0);
    send_udp(&tb, 20, "2001:2::9".parse::<Ipv6Addr>().unwrap());
    assert_eq!(tb.sink_count(), 20);
    send_udp(&tb, 5, ip("198.18.0.9"));
    assert_eq!(tb.sink_count(), 25, "IPv4 still reaches the sink");
    let neigh = ip_out(&tb.scan_ns(), &["-6", "neigh", "show"]);
    assert!(
        neigh.contains(&format!("{GATEWAY_ADDR6} dev veth0")) && neigh.contains("PERMANENT"),
        "{neigh}"
    );
}

#[test]
fn ipv4_unreach_answers_icmp_host_unreachable() {
    require_privileges!("create a network-namespace testbed");
    let tb = Testbed::up(TestbedOpts {
        unreach: vec!["198.18.0.64/30".into()],
        ..Default::default()
    });
    let short = Duration::from_millis(500);
    assert_eq!(
        tb.connect_timeout(ip("198.18.0.65"), 80, short),
        ConnectOutcome::Unreachable
    );
    assert_eq!(tb.connect(ip("198.18.0.68"), 80), ConnectOutcome::Refused);
    assert_eq!(tb.counter("unreach"), 1, "{}", tb.status());
}

#[test]
fn script_refuses_targets_outside_the_test_ranges() {
    require_privileges!("create a network-namespace testbed");
    let name = format!("ssbad{}", std::process::id());
    for (args, says) in [
        (&["--open", "10.0.0.1"][..], "198.18.0.0/16"),
        (&["--ipv6", "--open", "2001:db8::1"][..], "2001:2::/64"),
        (
            &["--ipv6", "--unreach", "2001:2:0:1::/64"][..],
            "2001:2::/64",
        ),
        (&["--ipv6", "--silent", "198.18.0.1"][..], "2001:2::/64"),
        (
            &["--ipv6", "--open", "2001:2::zz"][..],
            "not an IPv6 address",
        ),
        (&["--open", "2001:2::1"][..], "not an IPv4 address"),
    ] {
        let out = Command::new("bash")
            .arg(testbed_script())
            .arg("up")
            .arg(&name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!netns_list().iter().any(|n| n.starts_with(&name)));
    }
    // down of something that does not exist succeeds (idempotent).
    for _ in 0..2 {
        let st = Command::new("bash")
            .arg(testbed_script())
            .args(["down", &name])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

#[test]
fn random_subset6_spreads_over_a_wide_network() {
    let wide = random_subset6("2001:2::/64", 100, 1);
    assert!(wide.iter().all(|x| x.segments()[..4] == [0x2001, 2, 0, 0]));
    // Spread over the whole interface identifier, not only the low bits.
    assert!(wide.iter().any(|x| x.segments()[4] != 0));
}
