//! Duplicate suppression under a dense, many-port scan (issue 20): every address of a
//! small network answers on every port, every target answers twice (`-P 2`), and the
//! receiver must report each (address, port) exactly once, drop every second SYN-ACK as a
//! duplicate, and hold no more memory than `recv::dedup`'s documented model allows.
//! Every packet stays inside the namespaces the test creates (scripts/testbed.sh).

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use common::accounting::Replies;
use common::live::words_then;
use common::output_ok;
use common::*;

/// The target network and ports: 64 addresses × 4,096 ports = 262,144 targets, i.e. four
/// chunks of 2^16 target indices (`rank(address) · ports + port index`), every one dense.
const NET: &str = "198.18.0.0/26";
const FIRST_PORT: u16 = 1;
const LAST_PORT: u16 = 4096;

/// From the module docs of `recv::dedup`: chunks of 2^16 indices, a chunk past 3,072
/// replies is a bitmap of 8,192 bytes, and the chunk table holds `T` slots of `E + 1 = 33`
/// bytes, `T` at most 16/7 of the chunks.
const CHUNK_TARGETS: u64 = 1 << 16;
const SPARSE_MAX_REPLIES: u64 = 3_072;
const BITMAP_BYTES: u64 = 8_192;
const TABLE_SLOT_BYTES: u64 = 33;

/// SYN-ACKs the target's kernel has sent, counted by an nftables rule of our own in its
/// output hook (syncookies: one SYN-ACK a SYN, never a retransmission).
fn synacks_sent(tb: &Testbed) -> u64 {
    let out = output_ok(&mut tb.exec_tgt(words("nft -j list table inet dedup_test")));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("nft json");
    for item in v["nftables"].as_array().expect("nftables array") {
        for e in item["rule"]["expr"].as_array().into_iter().flatten() {
            if let Some(p) = e["counter"]["packets"].as_u64() {
                return p;
            }
        }
    }
    panic!("no counter in table inet dedup_test");
}

#[test]
fn every_target_of_a_dense_many_port_scan_is_reported_once() {
    require_privileges!("create a network-namespace testbed");
    // A /26 on 4,096 ports is a heavy scan for this machine: run it alone.
    let _guard = exclusive();
    // A listener on every port (the testbed's own, with syncookies always on): stateless,
    // so the target answers every SYN at any rate with exactly one SYN-ACK. (An nftables
    // redirect onto one port would need conntrack NAT, whose reply tuples clash when many
    // targets share a scanner source port, and whose table is capped per namespace.)
    let tb = Testbed::up(TestbedOpts {
        open: vec![NET.into()],
        ports: (FIRST_PORT..=LAST_PORT).collect(),
        ..Default::default()
    });
    add_synack_counter(&tb);

    let (base, prefix) = parse_cidr(NET);
    let addrs: Vec<Ipv4Addr> = (0..1u32 << (32 - prefix))
        .map(|i| Ipv4Addr::from(u32::from(base) + i))
        .collect();
    let ports = u64::from(LAST_PORT - FIRST_PORT + 1);
    let targets = addrs.len() as u64 * ports;

    let port_arg = format!("{FIRST_PORT}-{LAST_PORT}");
    // 524,288 probes at 40,000 a second: about 13 s of sending.
    let r = Scan::new(&words_then(
        "--max-net-rate 0 -P 2 -r 40000 -c 2 -p",
        &[&port_arg, NET],
    ))
    .run(&tb);
    let acc = r.accounting();

    // Ground truth first: whatever went missing must be said plainly, not absorbed.
    let sent = synacks_sent(&tb);
    assert_eq!(acc.packets_sent, 2 * targets, "probes sent");
    assert_eq!(
        sent,
        2 * targets,
        "the target answered {sent} of {} probes: it could not absorb the rate (syn-in \
         counted {}); lower -r",
        2 * targets,
        tb.counter("syn-in")
    );
    assert_eq!(
        acc.kernel_drops, 0,
        "the scanner's capture socket dropped frames: replies were lost, not deduplicated"
    );

    assert_each_target_once(&r.lines, &addrs, targets);
    assert_eq!(acc.replies.unique_success, targets);
    assert_eq!(acc.replies.results_written, targets);

    // Every second SYN-ACK was dropped as a duplicate, and nothing else was dropped.
    assert_eq!(
        acc.nonzero_drops(),
        [("duplicate", sent - targets)],
        "only duplicates dropped, every second SYN-ACK"
    );
    // `replies.synack` counts the SYN-ACKs that passed validation and dedup.
    assert_eq!(acc.replies.synack, targets, "{:?}", acc.replies);

    assert_memory_within_the_model(&acc.replies, targets);
}

/// An nftables counter of the SYN-ACKs the target sends (ground truth for the drops).
fn add_synack_counter(tb: &Testbed) {
    for cmd in [
        "add table inet dedup_test",
        "add chain inet dedup_test out { type filter hook output priority filter; policy accept; }",
        "add rule inet dedup_test out ip saddr 198.18.0.0/16 tcp flags & (syn | ack) == syn | ack counter",
    ] {
        // Fails naming the command.
        output_ok(&mut tb.exec_tgt(["nft", cmd]));
    }
}

/// Every (address, port) of the scan reported exactly once, as a first SYN-ACK.
fn assert_each_target_once(lines: &[Line], addrs: &[Ipv4Addr], targets: u64) {
    // Every (address, port) exactly once, as a first SYN-ACK.
    let mut seen: BTreeMap<(Ipv4Addr, u16), u32> = BTreeMap::new();
    for line in lines {
        assert_eq!(line.classification, "synack", "{line:?}");
        assert!(line.success && !line.repeat, "{line:?}");
        assert_eq!(line.daddr, SCAN_ADDR.to_string());
        *seen.entry((line.saddr(), line.port())).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(twice.is_empty(), "reported more than once: {twice:?}");
    let missing: Vec<_> = addrs
        .iter()
        .flat_map(|&a| (FIRST_PORT..=LAST_PORT).map(move |p| (a, p)))
        .filter(|k| !seen.contains_key(k))
        .collect();
    assert!(
        missing.is_empty(),
        "{} targets not reported, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(seen.len() as u64, targets, "reports from outside the scan");
}

/// `dedup_bytes` and its peak within the memory model of the `recv::dedup` module docs.
fn assert_memory_within_the_model(replies: &Replies, targets: u64) {
    // Memory within the documented model: every index 0..targets answered, so the chunks
    // touched are ceil(targets / 2^16), each past 3,072 replies and so a bitmap.
    let chunks = targets.div_ceil(CHUNK_TARGETS);
    let mut dense = 0;
    for c in 0..chunks {
        let replies = (targets - c * CHUNK_TARGETS).min(CHUNK_TARGETS);
        assert!(replies > SPARSE_MAX_REPLIES);
        dense += 1;
    }
    let table_max = (16 * chunks).div_ceil(7) * TABLE_SLOT_BYTES;
    let bound = dense * BITMAP_BYTES + table_max;
    let (bytes, peak) = (replies.dedup_bytes, replies.dedup_peak_bytes);
    eprintln!(
        "{targets} targets, {chunks} chunks: dedup_bytes {bytes}, peak {peak}, bound {bound}"
    );
    assert!(bytes > 0);
    assert!(
        bytes >= dense * BITMAP_BYTES,
        "dedup_bytes {bytes} is less than {dense} bitmaps: the metadata under-reports"
    );
    assert!(bytes <= bound, "dedup_bytes {bytes} over the bound {bound}");
    assert!(peak >= bytes, "peak {peak} below the final {bytes}");
    assert!(
        peak <= bound,
        "dedup_peak_bytes {peak} over the bound {bound}"
    );
}
