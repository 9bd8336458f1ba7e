//! Forged and junk replies during live scans of the namespace testbed.
//!
//! An injector thread moves into the testbed's *target* namespace (setns) and writes frames
//! with an `AF_PACKET` socket on its end of the veth pair, toward the scanner's MAC and
//! address 198.19.0.1. Everything stays inside the two namespaces the test creates; all
//! addresses are in 198.18.0.0/15.

mod common;
mod forge;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::live::{words_then, write_file};
use common::*;
use forge::{in_netns, mac_of, Forge, Syn, Wire};
use serde_json::Value;
use synsurvey::validate::DropReason;
use synsurvey::wire::tcp::flags;

const SPORTS: (u16, u16) = (40000, 40099);

/// Runs the scanner in the scan namespace while `inject` runs in the target namespace;
/// `inject` gets a stop flag that is set once the scanner has exited.
fn scan_while<T: Send + 'static>(
    tb: &Testbed,
    args: &[&str],
    inject: impl FnOnce(Arc<AtomicBool>) -> T + Send + 'static,
) -> (Vec<Line>, Value, Output, T) {
    let stop = Arc::new(AtomicBool::new(false));
    let injector = {
        let stop = stop.clone();
        in_netns(&tb.tgt_ns(), move || inject(stop))
    };
    // Give the injector time to open its sockets before the first probe.
    std::thread::sleep(Duration::from_millis(200));
    let r = Scan::new(args).may_fail().run(tb);
    stop.store(true, Ordering::Relaxed);
    let injected = injector.join().expect("injector thread");
    assert!(
        r.output.status.success(),
        "synsurvey failed: {}\n{}",
        r.output.status,
        r.stderr
    );
    (r.lines, r.meta, r.output, injected)
}

/// What the injector sent, by the reason the receiver must give (`None`: the kernel's
/// reply filter must drop it before the receiver sees it).
#[derive(Debug, Default)]
struct Injected {
    victims: u64,
    by_reason: std::collections::HashMap<DropReason, u64>,
    filtered: u64,
}

impl Injected {
    fn add(&mut self, reason: Option<DropReason>, n: u64) {
        match reason {
            Some(r) => *self.by_reason.entry(r).or_default() += n,
            None => self.filtered += n,
        }
    }
    fn total(&self) -> u64 {
        self.by_reason.values().sum()
    }
}

/// The forged answers to one probe, with the reason each must be dropped for.
fn forgeries(syn: &Syn) -> Vec<(Option<DropReason>, Vec<u8>)> {
    let base = |ack: u32| {
        let mut f = Forge::syn_ack(syn.daddr, syn.dport, syn.saddr, syn.sport, ack);
        f.dst_mac = syn.src_mac;
        f
    };
    let right = syn.seq.wrapping_add(1);
    let other_port = if syn.sport == SPORTS.1 {
        SPORTS.0
    } else {
        syn.sport + 1
    };
    let mut out = Vec::new();
    out.push((
        Some(DropReason::AckMismatch),
        base(right.wrapping_add(1)).build(),
    ));
    let mut rst = base(right.wrapping_add(2));
    rst.flags = flags::RST | flags::ACK;
    out.push((Some(DropReason::AckMismatch), rst.build()));
    let mut opts = base(right ^ 0x0100_0000);
    opts.ip_options = vec![1, 1, 7, 7, 4, 0, 0, 0];
    out.push((Some(DropReason::AckMismatch), opts.build()));
    let mut f = base(right);
    f.dport = other_port;
    out.push((Some(DropReason::PortMismatch), f.build()));
    let mut f = base(right);
    f.dport = SPORTS.0 - 1;
    out.push((None, f.build()));
    let mut f = base(right);
    f.bad_ip_checksum = true;
    out.push((Some(DropReason::BadIpChecksum), f.build()));
    let mut f = base(right);
    f.bad_tcp_checksum = true;
    out.push((Some(DropReason::BadTcpChecksum), f.build()));
    let mut f = base(right);
    f.ip_frag = 0x2000; // first fragment: more to come
    out.push((Some(DropReason::Malformed), f.build()));
    let mut f = base(right);
    f.ip_frag = 0x0005; // a later fragment: the filter drops it
    out.push((None, f.build()));
    // Cut inside the TCP header, after the flags the kernel filter reads.
    let cut = base(right).build()[..14 + 20 + 16].to_vec();
    out.push((Some(DropReason::Malformed), cut));
    out
}

/// Frames that answer no probe, sent once: from an unscanned address, from a blocklisted
/// one, and junk the kernel filter must drop.
fn unsolicited(scanner_mac: [u8; 6], blocked: Ipv4Addr) -> Vec<(Option<DropReason>, Vec<u8>)> {
    let base = |saddr: Ipv4Addr| {
        let mut f = Forge::syn_ack(saddr, 80, SCAN_ADDR, 40050, 12345);
        f.dst_mac = scanner_mac;
        f
    };
    let mut out = vec![
        (
            Some(DropReason::NotATarget),
            base(Ipv4Addr::new(198, 18, 99, 1)).build(),
        ),
        (Some(DropReason::Blocklisted), base(blocked).build()),
    ];
    let mut other_dst = base(Ipv4Addr::new(198, 18, 99, 2));
    other_dst.daddr = Ipv4Addr::new(198, 19, 0, 9);
    out.push((None, other_dst.build()));
    let mut udp = base(Ipv4Addr::new(198, 18, 99, 3)).build();
    udp[14 + 9] = 17;
    forge::refill_ip_checksum(&mut udp);
    out.push((None, udp));
    out.push((None, vec![0xff; 20]));
    out
}

#[test]
fn forged_replies_are_counted_and_never_reported() {
    require_privileges!("create a network-namespace testbed");
    let open = random_subset("198.18.60.0/25", 20, 11);
    let blocked = Ipv4Addr::new(198, 18, 60, 77);
    let tb = Testbed::up(TestbedOpts {
        silent: vec!["198.18.60.192/26".into()],
        ..TestbedOpts::open(&open)
    });
    let scanner_mac = mac_of(&tb.scan_ns(), SCAN_IFACE);
    let dir = tempfile::tempdir().unwrap();
    let list = write_file(dir.path(), "block.txt", format!("{blocked}\n"));
    let is_victim = |a: Ipv4Addr| a.octets()[2] == 60 && a.octets()[3] >= 192;

    let (lines, meta, _, injected) = scan_while(
        &tb,
        &words_then(
            "198.18.60.0/24 -p 80 -r 100 -s 40000-40099 --all-responses -c 1 -b",
            &[list.to_str().unwrap()],
        ),
        move |stop| {
            let mut wire = Wire::open(TGT_IFACE, 64, true);
            let mut inj = Injected::default();
            let mut first = true;
            while !stop.load(Ordering::Relaxed) {
                for syn in wire.syns(Duration::from_millis(20)) {
                    assert_eq!(syn.src_mac, scanner_mac, "probes come from veth0");
                    if first {
                        first = false;
                        for (r, f) in unsolicited(scanner_mac, blocked) {
                            inj.add(r, wire.send(&[f]) as u64);
                        }
                    }
                    if is_victim(syn.daddr) {
                        inj.victims += 1;
                        for (r, f) in forgeries(&syn) {
                            inj.add(r, wire.send(&[f]) as u64);
                        }
                    }
                }
            }
            inj
        },
    );
    eprintln!("injected: {injected:?}");
    // All 64 silent addresses were probed once, and each got its forgeries.
    assert_eq!(injected.victims, 64);

    // The real answers, and nothing else, are in the output.
    let silent: BTreeSet<Ipv4Addr> = (192..=255).map(|i| Ipv4Addr::new(198, 18, 60, i)).collect();
    // The blocklisted address may be one of the open ones: it is never probed.
    let open: BTreeSet<Ipv4Addr> = open.into_iter().filter(|a| *a != blocked).collect();
    let closed: BTreeSet<Ipv4Addr> = (0..=255)
        .map(|i| Ipv4Addr::new(198, 18, 60, i))
        .filter(|a| !open.contains(a) && !silent.contains(a) && *a != blocked)
        .collect();
    assert_eq!(addrs_of(&lines, "synack"), open);
    assert_eq!(addrs_of(&lines, "rst"), closed);
    assert_eq!(
        lines.len(),
        open.len() + closed.len(),
        "one line per target"
    );
    for l in &lines {
        assert_eq!(l.sport, Some(80), "{l:?}");
        assert!(!l.repeat, "{l:?}");
    }

    // Every injected frame that passed the kernel filter is counted under its reason.
    let acc = Accounting::of(&meta);
    for (reason, n) in &injected.by_reason {
        assert_eq!(acc.drops(*reason), *n, "{reason:?}: {meta:#}");
    }
    for reason in [
        DropReason::NotAReply,
        DropReason::WrongDestination,
        DropReason::Duplicate,
    ] {
        assert_eq!(acc.drops(reason), 0, "{reason:?}");
    }
    // Full accounting: every frame the receiver got is a result or a counted drop.
    let (results, drops) = (acc.tcp_results(), acc.total_drops());
    assert_eq!(results, lines.len() as u64);
    assert_eq!(drops, injected.total());
    assert_eq!(
        acc.frames_received,
        results + drops,
        "frames the filter passed = results + drops; the {} filtered frames never arrive",
        injected.filtered
    );
    assert_eq!(acc.kernel_drops, 0);
}

/// Junk and forged SYN-ACKs as fast as one thread can write them, during a capped scan.
fn flood(tgt_ns: &str, scanner_mac: [u8; 6], stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) {
    let ns = tgt_ns.to_string();
    let h = in_netns(&ns, move || {
        let mut wire = Wire::open(TGT_IFACE, 256, false);
        let mut rng = SplitMix64(99);
        // A rotating mix: forged SYN-ACKs from scanned addresses with random acks and ports
        // in the scanner's range (they pass the kernel filter and cost a MAC each), and
        // random junk that the filter drops.
        let mut frames = Vec::new();
        for i in 0..256u32 {
            let r = rng.next_u64();
            if i % 4 == 3 {
                let mut junk: Vec<u8> = (0..60).map(|_| rng.next_u64() as u8).collect();
                junk[..6].copy_from_slice(&scanner_mac);
                frames.push(junk);
            } else {
                let addr = Ipv4Addr::from(0xc612_8000 + (r as u32 & 0x3fff));
                let mut f = Forge::syn_ack(
                    addr,
                    80,
                    SCAN_ADDR,
                    SPORTS.0 + (r >> 32) as u16 % 100,
                    (r >> 16) as u32,
                );
                f.dst_mac = scanner_mac;
                frames.push(f.build());
            }
        }
        for (i, f) in frames.iter().enumerate() {
            wire.batch.frame_mut(i)[..f.len()].copy_from_slice(f);
            wire.batch.set_len(i, f.len());
        }
        while !stop.load(Ordering::Relaxed) {
            if let Ok(n) = wire.tx.send(&mut wire.batch, frames.len()) {
                sent.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    });
    h.join().expect("flood thread");
}

#[test]
fn flood_of_forged_replies() {
    require_privileges!("create a network-namespace testbed");
    let _guard = exclusive();
    let open = random_subset("198.18.128.0/18", 1000, 12);
    let tb = Testbed::up(TestbedOpts::open(&open));
    let scanner_mac = mac_of(&tb.scan_ns(), SCAN_IFACE);
    let args = words("198.18.128.0/18 -p 80 -r 20000 -s 40000-40099 -c 1");
    let open: BTreeSet<Ipv4Addr> = open.into_iter().collect();

    // Baseline: the same scan with nothing injected.
    let (lines0, meta0, _, ()) = scan_while(&tb, &args, |_| ());
    let found0 = addrs_of(&lines0, "synack");
    eprintln!(
        "baseline: found {}/{}, {} pps, kernel drops {}, frames {}",
        found0.len(),
        open.len(),
        meta0["send_rate_achieved_pps"],
        meta0["kernel_drops"],
        meta0["frames_received"]
    );
    assert_eq!(found0, open);

    let sent = Arc::new(AtomicU64::new(0));
    let flood_start = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let (lines, meta, _, elapsed) = {
        let tgt = tb.tgt_ns();
        let sent = sent.clone();
        let flood_start = flood_start.clone();
        scan_while(&tb, &args, move |stop| {
            let t0 = Instant::now();
            *flood_start.lock().unwrap() = Some(t0);
            flood(&tgt, scanner_mac, stop, sent);
            t0.elapsed()
        })
    };
    let sent = sent.load(Ordering::Relaxed);
    let found = addrs_of(&lines, "synack");
    let recall = found.len() as f64 / open.len() as f64;
    let flood_pps = sent as f64 / elapsed.as_secs_f64();
    eprintln!(
        "flood: injected {sent} frames in {:.2}s ({flood_pps:.0} pps); found {}/{} (recall {recall:.4}); \
         scanner sent {} pps; frames received {}; kernel drops {}; failures {}",
        elapsed.as_secs_f64(),
        found.len(),
        open.len(),
        meta["send_rate_achieved_pps"],
        meta["frames_received"],
        meta["kernel_drops"],
        meta["validation_failures"]
    );
    assert!(found.is_subset(&open), "a forged reply was reported");
    assert_eq!(meta["end_reason"], "completed");
    assert!(recall >= 0.99, "recall {recall}");
    let rate = meta["send_rate_achieved_pps"].as_f64().unwrap();
    assert!(rate <= 20000.0 * 1.01, "rate {rate} over the 20000 cap");
    assert_eq!(meta["packets_sent"], 16384);
    assert!(
        flood_pps > 50_000.0,
        "the flood was too slow to test anything"
    );
    // Forged replies that passed the filter were all validated and rejected.
    let acc = Accounting::of(&meta);
    let drops = acc.total_drops();
    assert!(drops > 0);
    // Frames the kernel dropped (a full socket queue) never reached the receiver, and the
    // ones that did are all accounted for.
    let received = acc.frames_received;
    assert_eq!(received, acc.tcp_results() + drops);
    // The kernel's count of frames it could not queue is plausible: what was received plus
    // what was dropped cannot exceed what passed the filter (3 in 4 flood frames, and one
    // real reply per probe), and the scan without a flood dropped nothing.
    assert_eq!(Accounting::of(&meta0).kernel_drops, 0);
    let kernel_drops = acc.kernel_drops;
    let could_pass = sent / 4 * 3 + 16384;
    assert!(
        received + kernel_drops <= could_pass,
        "received {received} + dropped {kernel_drops} > {could_pass} frames that could pass"
    );
}
