//! `--probe-args`: each of ZMap's TCP option sets on the wire, byte for byte as ZMap sends
//! it, and each still finds exactly the open set, with the real Linux TCP stack answering.
//! ZMap's probes are `tests/fixtures/zmap-probe-args.txt`, captured from ZMap HEAD on the
//! same testbed by `scripts/zmap-probe-args.sh`. Every packet stays inside namespaces the
//! test creates, toward 198.18.0.0/16.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use common::*;
use synsurvey::wire::tcp::{Options, TcpOption};

/// Byte offsets in an IPv4 probe frame (Ethernet, 20-byte IPv4, TCP).
mod at {
    pub const IP: usize = 14;
    pub const TCP: usize = IP + 20;
    pub const OPTIONS: usize = TCP + 20;
}

const TARGETS: &str = "198.18.7.0/28";
const OPEN: [&str; 4] = ["198.18.7.1", "198.18.7.2", "198.18.7.5", "198.18.7.14"];

/// One line of the fixture: ZMap's probe for a set.
struct ZmapProbe {
    set: String,
    frame: Vec<u8>,
}

fn zmap_probes() -> Vec<ZmapProbe> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/zmap-probe-args.txt"
    );
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let w = words(l);
            let frame = (0..w[1].len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&w[1][i..i + 2], 16).unwrap())
                .collect();
            ZmapProbe {
                set: w[0].to_string(),
                frame,
            }
        })
        .collect()
}

/// Where the TSval is in a probe, from the frame's start, if it has a timestamp option.
fn tsval_at(frame: &[u8]) -> Option<usize> {
    let mut at = at::OPTIONS;
    let end = at::TCP + usize::from(frame[at::TCP + 12] >> 4) * 4;
    while at < end {
        match frame[at] {
            0 => return None,
            1 => at += 1,
            8 => return Some(at + 2),
            _ => at += usize::from(frame[at + 1]).max(2),
        }
    }
    None
}

/// The frame with every field that differs from probe to probe (or between two testbeds)
/// zeroed: MACs, IP id, IP checksum, destination, source port, sequence number, TCP
/// checksum, TSval; and the IP flags, compared apart. Everything else must be the same
/// bytes: EtherType, version, lengths, TOS, TTL, protocol, source address, destination
/// port, ack, data offset, flags, window, urgent pointer and every option byte.
fn constant_part(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    let mut zero = |r: std::ops::Range<usize>| f[r].fill(0);
    zero(0..12);
    zero(at::IP + 4..at::IP + 8);
    zero(at::IP + 10..at::IP + 12);
    zero(at::IP + 16..at::IP + 20);
    zero(at::TCP..at::TCP + 2);
    zero(at::TCP + 4..at::TCP + 8);
    zero(at::TCP + 16..at::TCP + 18);
    if let Some(ts) = tsval_at(frame) {
        zero(ts..ts + 4);
    }
    f
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What a set's options hold, as the crate's own option reader sees them.
#[derive(Debug, Default, PartialEq)]
struct Held {
    mss: Option<u16>,
    wscale: Option<u8>,
    sack: bool,
    timestamp: bool,
}

fn held(frame: &[u8]) -> Held {
    let end = at::TCP + usize::from(frame[at::TCP + 12] >> 4) * 4;
    let mut h = Held::default();
    for o in Options::new(&frame[at::OPTIONS..end]) {
        match o.unwrap() {
            TcpOption::MaxSegmentSize(m) => h.mss = Some(m),
            TcpOption::WindowScale(s) => h.wscale = Some(s),
            TcpOption::SackPermitted => h.sack = true,
            TcpOption::Timestamp { .. } => h.timestamp = true,
            _ => {}
        }
    }
    h
}

#[test]
fn zmap_fixture_is_zmaps_sets() {
    // The fixture itself, as read from ZMap's source: the option bytes of each set (TSval
    // zeroed), and ZMap's default being `windows`.
    let probes = zmap_probes();
    let options = |set: &str| {
        let p = probes.iter().find(|p| p.set == set).unwrap();
        let c = constant_part(&p.frame);
        assert_eq!(hex(&c[at::TCP + 14..at::TCP + 16]), "ffff", "{set}: window");
        hex(&c[at::OPTIONS..])
    };
    assert_eq!(options("smallest-probes"), "020405b4");
    assert_eq!(options("windows"), "020405b40103030801010402");
    assert_eq!(options("linux"), "020405b40402080a000000000000000001030307");
    assert_eq!(
        options("bsd"),
        "020405b4010303060101080a000000000000000004020000"
    );
    let default = probes.iter().find(|p| p.set == "default").unwrap();
    let windows = probes.iter().find(|p| p.set == "windows").unwrap();
    assert_eq!(constant_part(&default.frame), constant_part(&windows.frame));
}

#[test]
fn each_option_set_on_the_wire_and_finds_the_open_set() {
    require_privileges!("create a network-namespace testbed");
    let open: BTreeSet<Ipv4Addr> = OPEN.iter().map(|s| s.parse().unwrap()).collect();
    let tb = Testbed::up(TestbedOpts::open(&open));
    let zmap = zmap_probes();
    for set in ["default", "windows", "linux", "bsd", "smallest-probes"] {
        let mut args = vec![TARGETS, "-p", "80", "-c", "1", "-r", "1000"];
        let flag = format!("--probe-args={set}");
        if set != "default" {
            args.push(&flag);
        }
        let cap = tb.capture_syns();
        let scan = Scan::new(&args).run(&tb);
        let frames = cap.stop_frames();
        assert_eq!(frames.len(), 16, "{set}: one probe per address");

        // On the wire: ZMap's bytes, but for the don't-fragment bit.
        let want = match set {
            // Ours, unchanged: a Linux SYN (MSS 1460, SACK, timestamps, NOP, scale 7),
            // window 64240, DF.
            "default" => None,
            _ => Some(&zmap.iter().find(|p| p.set == set).unwrap().frame),
        };
        for f in &frames {
            let flags = &f[at::IP + 6..at::IP + 8];
            assert_eq!(hex(flags), "4000", "{set}: synsurvey sets DF");
            let mut ours = constant_part(f);
            ours[at::IP + 6] = 0;
            match want {
                Some(z) => {
                    assert_eq!(hex(&z[at::IP + 6..at::IP + 8]), "0000", "ZMap sets no DF");
                    assert_eq!(hex(&ours), hex(&constant_part(z)), "{set}");
                }
                None => {
                    assert_eq!(f.len(), 74, "default: 40-byte TCP header");
                    assert_eq!(hex(&f[at::TCP + 14..at::TCP + 16]), "faf0", "window 64240");
                    assert_eq!(
                        hex(&ours[at::OPTIONS..]),
                        "020405b40402080a000000000000000001030307"
                    );
                    assert_eq!(f[at::IP + 8], 64, "TTL");
                }
            }
        }
        let sent = held(&frames[0]);

        // The open set, exactly; what the Linux stack answers follows the set. The
        // testbed's target answers with SYN cookies (tcp_syncookies=2): a cookie keeps
        // window scale and SACK-permitted only in the timestamp, so Linux echoes them only
        // to a SYN with timestamps, and answers any other with MSS alone.
        let found: BTreeSet<Ipv4Addr> = addrs_of(&scan.lines, "synack");
        assert_eq!(found, open, "{set}");
        let echoed = |asked: bool| asked && sent.timestamp;
        for l in &scan.lines {
            assert_eq!(l.tcpopt_mss, Some(1460), "{set}: {l:?}");
            let wscale = l.tcpopt_wscale.is_some();
            assert_eq!(wscale, echoed(sent.wscale.is_some()), "{set}: {l:?}");
            let sack = l.tcpopt_sack_perm.is_some();
            assert_eq!(sack, echoed(sent.sack), "{set}: {l:?}");
            assert_eq!(l.tcpopt_ts_val.is_some(), sent.timestamp, "{set}: {l:?}");
            // The round-trip time comes from the echoed TSval: only where there is one.
            assert_eq!(l.rtt_us.is_some(), sent.timestamp, "{set}: {l:?}");
        }
        let m = &scan.meta;
        assert_eq!(m["end_reason"], "completed", "{set}");
        assert_eq!(m["replies"]["unique_success"], 4, "{set}");
        let rec = &m["config"]["tcp_options"];
        let want_name = (set != "default").then_some(set);
        assert_eq!(rec["probe_args"].as_str(), want_name, "{set}");
        let first = constant_part(&frames[0]);
        assert_eq!(rec["options_hex"], hex(&first[at::OPTIONS..]), "{set}");
        let window = u16::from_be_bytes([frames[0][at::TCP + 14], frames[0][at::TCP + 15]]);
        assert_eq!(rec["window"], window, "{set}");
        let offset = rec["tsval_offset"]
            .as_u64()
            .map(|o| o as usize + at::OPTIONS);
        assert_eq!(offset, tsval_at(&frames[0]), "{set}");
        if sent.timestamp {
            assert_eq!(m["rtt_us"]["count"], 4, "{set}");
        } else {
            assert!(m["rtt_us"].is_null(), "{set}: {}", m["rtt_us"]);
        }
    }
}

/// Over IPv6 a ZMap set is the same bytes (ZMap's MSS is 1460 whatever the family), with
/// ZMap's window, and still finds the open set; `windows` gives no round-trip time.
#[test]
fn ipv6_probes_carry_zmaps_options() {
    require_privileges!("create a network-namespace testbed");
    let open = ["2001:2::1", "2001:2::6", "2001:2::b"];
    let want: BTreeSet<std::net::Ipv6Addr> = open.iter().map(|s| s.parse().unwrap()).collect();
    let tb = Testbed::up(TestbedOpts::open(&want));
    // Ethernet, 40-byte IPv6, TCP.
    const TCP6: usize = 14 + 40;
    for (set, options) in [
        ("bsd", "020405b4010303060101080a000000000000000004020000"),
        ("windows", "020405b40103030801010402"),
    ] {
        let flag = format!("--probe-args={set}");
        let args = ["2001:2::/124", "-p", "80", "-c", "1", "-r", "1000", &flag];
        let cap = tb.capture_syns();
        let scan = Scan::new(&args).run(&tb);
        let frames = cap.stop_frames();
        assert_eq!(frames.len(), 16, "{set}");
        for f in &frames {
            let end = TCP6 + usize::from(f[TCP6 + 12] >> 4) * 4;
            let mut o = f[TCP6 + 20..end].to_vec();
            if set == "bsd" {
                o[12..16].fill(0);
            }
            assert_eq!(hex(&o), options, "{set}");
            assert_eq!(hex(&f[TCP6 + 14..TCP6 + 16]), "ffff", "{set}: window");
        }
        assert_eq!(addrs_of(&scan.lines, "synack"), want, "{set}");
        for l in &scan.lines {
            assert_eq!(l.rtt_us.is_some(), set == "bsd", "{set}: {l:?}");
        }
    }
}
