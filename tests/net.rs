//! The kernel-facing pieces of `synsurvey::net` (packet sockets, routes and neighbours from
//! netlink, entering a namespace) against the real kernel, in testbeds of
//! `scripts/testbed.sh` (see `common`): 198.19.0.1 on `veth0` in the scan namespace,
//! 198.19.0.2 on `veth1` on the other side. Nothing is sent from the namespace the test
//! process started in. Frames are built with the crate's own `wire` views (`forge`).

mod common;
mod forge;

use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use forge::{in_netns, mac_of, Forge};
use synsurvey::net::{
    enter_netns, interface, neighbour_mac, privs, reply_filter, resolve_neighbour, route_to,
    PacketRx, PacketTx, Route, RxBatch, RxStats, TxBatch,
};
use synsurvey::wire::tcp::flags::{ACK, RST, SYN};

const A: Ipv4Addr = SCAN_ADDR;
const B: Ipv4Addr = GATEWAY_ADDR;
const SYN_ACK: u8 = SYN | ACK;
/// A target address: the scan namespace routes it via the gateway.
const FAR: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);

/// Receiver thread result: the captured frames and the final socket statistics.
type Collector = std::thread::JoinHandle<(Vec<Vec<u8>>, RxStats)>;

/// The MACs of the two ends of a testbed's link: (`veth0` in the scan namespace, `veth1`).
fn macs(tb: &Testbed) -> ([u8; 6], [u8; 6]) {
    (
        mac_of(&tb.scan_ns(), SCAN_IFACE),
        mac_of(&tb.tgt_ns(), TGT_IFACE),
    )
}

/// An Ethernet/IPv4/TCP frame without options, from one end of the link to the other.
fn segment(macs: ([u8; 6], [u8; 6]), from: Ipv4Addr, sport: u16, dport: u16, fl: u8) -> Forge {
    let (to, dst_mac, src_mac) = if from == B {
        (A, macs.0, macs.1)
    } else {
        (B, macs.1, macs.0)
    };
    let mut f = Forge::syn_ack(from, sport, to, dport, 0);
    f.seq = 0x0102_0304;
    f.dst_mac = dst_mac;
    f.src_mac = src_mac;
    f.flags = fl;
    f.tcp_options.clear();
    f
}

/// Writes `frame` into slot `i` of `batch` and sets its length.
fn put(batch: &mut TxBatch, i: usize, frame: &[u8]) {
    batch.frame_mut(i)[..frame.len()].copy_from_slice(frame);
    batch.set_len(i, frame.len());
}

/// Opens a PacketRx on `veth0` in the scan namespace, reports readiness, then collects
/// frames until `expect` arrived and a further quiet `linger` passed (to catch extras), or
/// `limit` expired.
fn spawn_receiver(
    tb: &Testbed,
    expect: usize,
    linger: Duration,
    limit: Duration,
) -> (mpsc::Receiver<()>, Collector) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = in_netns(&tb.scan_ns(), move || {
        let va = interface(SCAN_IFACE).expect("veth0");
        let filter = reply_filter(&[(A, A)], 40000, 40010, 96);
        let rx = PacketRx::open(va.index, &filter).expect("PacketRx::open");
        ready_tx.send(()).expect("ready");
        let mut batch = RxBatch::default();
        let mut got = Vec::new();
        let start = Instant::now();
        let mut done_at: Option<Instant> = None;
        while start.elapsed() < limit {
            if done_at.is_some_and(|t| t.elapsed() >= linger) {
                break;
            }
            let n = rx
                .recv(&mut batch, Duration::from_millis(20))
                .expect("recv");
            got.extend(batch.iter().take(n).map(<[u8]>::to_vec));
            if got.len() >= expect && done_at.is_none() {
                done_at = Some(Instant::now());
            }
        }
        let stats = rx.stats().expect("stats");
        (got, stats)
    });
    (ready_rx, handle)
}

/// Runs `f` with a send socket on `veth1` of the sink namespace, and returns its result.
fn from_sink<T: Send + 'static>(
    tb: &Testbed,
    f: impl FnOnce(&PacketTx, u32) -> T + Send + 'static,
) -> T {
    in_netns(&tb.tgt_ns(), move || {
        let vb = interface(TGT_IFACE).expect("veth1");
        let tx = PacketTx::open(vb.index).expect("PacketTx::open");
        f(&tx, vb.index)
    })
    .join()
    .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

#[test]
fn tx_to_rx_round_trip_with_filter_and_snaplen() {
    require_privileges!("create network namespaces and send between them");
    let tb = Testbed::sink();
    let m = macs(&tb);
    // 10 long SYN-ACKs (154 bytes, cut to 96), 5 short SYN-ACKs (54 bytes) to port 40005,
    // then 10 plain SYNs to 40005 and 10 SYN-ACKs to 39999, which the filter must drop.
    let (ready, rx) = spawn_receiver(&tb, 15, Duration::from_millis(300), Duration::from_secs(3));
    ready.recv().expect("receiver ready");
    let plan: Vec<(u16, u8, usize)> = std::iter::repeat_n((40005, SYN_ACK, 100), 10)
        .chain(std::iter::repeat_n((40005, SYN_ACK, 0), 5))
        .chain(std::iter::repeat_n((40005, SYN, 0), 10))
        .chain(std::iter::repeat_n((39999, SYN_ACK, 0), 10))
        .collect();
    let sent = from_sink(&tb, move |tx, ifindex| {
        let mut batch = TxBatch::new(ifindex, 64, 256).expect("TxBatch");
        for (i, &(dport, fl, payload)) in plan.iter().enumerate() {
            let mut f = segment(m, B, 1000 + i as u16, dport, fl);
            f.payload = payload;
            put(&mut batch, i, &f.build());
        }
        tx.send(&mut batch, plan.len()).expect("send")
    });
    assert_eq!(sent, 35);
    let (got, stats) = rx.join().expect("receiver");
    assert_eq!(got.len(), 15, "exactly the 15 SYN-ACKs to 40005 pass");
    let mut long = 0;
    for f in &got {
        assert!(f.len() == 96 || f.len() == 54, "len {}", f.len());
        long += usize::from(f.len() == 96);
        assert_eq!(f[30..34], A.octets());
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), 40005);
        assert_eq!(f[47], SYN_ACK);
        let sport = u16::from_be_bytes([f[34], f[35]]);
        assert!((1000..1015).contains(&sport), "sport {sport}");
    }
    assert_eq!(long, 10);
    assert_eq!(
        stats,
        RxStats {
            packets: 15,
            drops: 0
        }
    );
}

#[test]
fn sendmmsg_batches_of_1_7_and_256_all_arrive() {
    require_privileges!("create network namespaces and send between them");
    let tb = Testbed::sink();
    let m = macs(&tb);
    let sizes = [1usize, 7, 256];
    let total: usize = sizes.iter().sum();
    let (ready, rx) = spawn_receiver(
        &tb,
        total,
        Duration::from_millis(200),
        Duration::from_secs(3),
    );
    ready.recv().expect("receiver ready");
    let sent = from_sink(&tb, move |tx, ifindex| {
        tx.set_qdisc_bypass(true).expect("qdisc bypass");
        let mut batch = TxBatch::new(ifindex, 256, 64).expect("TxBatch");
        let mut sent = Vec::new();
        let mut id = 0u16;
        for &n in &sizes {
            for i in 0..n {
                put(&mut batch, i, &segment(m, B, id, 40000, SYN_ACK).build());
                id += 1;
            }
            sent.push(tx.send(&mut batch, n).expect("send"));
        }
        sent
    });
    assert_eq!(sent, sizes);
    let (got, stats) = rx.join().expect("receiver");
    assert_eq!(got.len(), total);
    let mut ids: Vec<u16> = got
        .iter()
        .map(|f| u16::from_be_bytes([f[34], f[35]]))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..total as u16).collect::<Vec<_>>());
    assert_eq!(stats.packets, total as u64);
    assert_eq!(stats.drops, 0);
}

#[test]
fn stats_are_cumulative_and_send_checks_count() {
    require_privileges!("create network namespaces and send between them");
    let tb = Testbed::sink();
    let m = macs(&tb);
    let (ready, rx) = spawn_receiver(&tb, 0, Duration::ZERO, Duration::from_millis(1));
    ready.recv().expect("ready");
    let (_, s0) = rx.join().expect("receiver");
    assert_eq!(s0, RxStats::default());

    // Two reads of stats() around a second burst add up.
    let (res_tx, res_rx) = mpsc::channel();
    let h = in_netns(&tb.scan_ns(), move || {
        let va = interface(SCAN_IFACE).expect("veth0");
        let rx =
            PacketRx::open(va.index, &reply_filter(&[(A, A)], 40000, 40010, 96)).expect("open");
        res_tx.send(None).expect("ready");
        let mut batch = RxBatch::default();
        let mut seen = 0;
        for want in [3, 5] {
            let deadline = Instant::now() + Duration::from_secs(3);
            while seen < want && Instant::now() < deadline {
                seen += rx
                    .recv(&mut batch, Duration::from_millis(20))
                    .expect("recv");
            }
            res_tx
                .send(Some(rx.stats().expect("stats")))
                .expect("stats");
        }
    });
    assert_eq!(res_rx.recv().expect("ready"), None);
    let send = |n: usize| {
        from_sink(&tb, move |tx, ifindex| {
            let mut batch = TxBatch::new(ifindex, 4, 64).expect("batch");
            let rst_ack = segment(m, B, 7, 40001, RST | ACK).build();
            for i in 0..4 {
                put(&mut batch, i, &rst_ack);
            }
            let too_many = tx.send(&mut batch, 5).expect_err("count > capacity");
            assert_eq!(too_many.kind(), std::io::ErrorKind::InvalidInput);
            tx.send(&mut batch, n).expect("send")
        })
    };
    // Three frames, then two more: the receiver's counts add up.
    for (n, total) in [(3, 3), (2, 5)] {
        assert_eq!(send(n), n);
        let got = res_rx.recv().expect("the receiver's stats").expect("stats");
        let want = RxStats {
            packets: total,
            drops: 0,
        };
        assert_eq!(got, want, "after {n} more");
    }
    h.join().expect("receiver");
}

/// Rough transmit rate into the sink, whose peer drops everything at netdev ingress.
/// Prints frames/s for one and two sender threads; asserts only that frames went out.
#[test]
fn tx_throughput_into_dropping_peer() {
    require_privileges!("create network namespaces and send between them");
    let tb = Testbed::sink();
    let m = macs(&tb);
    let run_for = Duration::from_millis(700);
    for threads in [1usize, 2] {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                in_netns(&tb.scan_ns(), move || {
                    let va = interface(SCAN_IFACE).expect("veth0");
                    let tx = PacketTx::open(va.index).expect("open");
                    tx.set_qdisc_bypass(true).expect("bypass");
                    let mut batch = TxBatch::new(va.index, 256, 64).expect("batch");
                    for i in 0..256 {
                        let mut f = segment(m, A, 40000 + t as u16, 1 + i as u16, SYN);
                        f.payload = 6; // pad to the 60-byte Ethernet minimum
                        put(&mut batch, i, &f.build());
                    }
                    let start = Instant::now();
                    let mut frames = 0u64;
                    while start.elapsed() < run_for {
                        frames += tx.send(&mut batch, 256).expect("send") as u64;
                    }
                    (frames, start.elapsed())
                })
            })
            .collect();
        let mut total = 0u64;
        let mut longest = Duration::ZERO;
        for h in handles {
            let (f, d) = h.join().expect("sender");
            total += f;
            longest = longest.max(d);
        }
        assert!(total > 0);
        println!(
            "tx throughput, {threads} thread(s), batches of 256: {:.0} frames/s ({total} frames in {:?})",
            total as f64 / longest.as_secs_f64(),
            longest
        );
    }
}

/// Runs `f` in the scan namespace of `tb` and returns its result.
fn in_scan<T: Send + 'static>(tb: &Testbed, f: impl FnOnce() -> T + Send + 'static) -> T {
    in_netns(&tb.scan_ns(), f)
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Runs `ip -n NS ARGS`, panicking with its stderr on failure.
fn ip_n(ns: &str, args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(["-n", ns])
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip -n {ns} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn route_via_gateway_then_resolve_next_hop() {
    require_privileges!("create network namespaces");
    let tb = Testbed::up(TestbedOpts::default());
    // The testbed resolved the gateway while it came up: forget it, so that the route is
    // seen without a next-hop MAC first.
    ip_n(&tb.scan_ns(), &["neigh", "flush", "dev", SCAN_IFACE]);
    let vb = in_netns(&tb.tgt_ns(), || interface(TGT_IFACE))
        .join()
        .expect("thread")
        .expect("interface veth1");
    assert_eq!(vb.ipv4, vec![B]);

    let (va, before, resolved, after) = in_scan(&tb, || {
        let va = interface(SCAN_IFACE).expect("interface veth0");
        let before = route_to(FAR).expect("route_to before");
        let resolved =
            resolve_neighbour(va.index, B, Duration::from_secs(3)).expect("resolve_neighbour");
        let after = route_to(FAR).expect("route_to after");
        (va, before, resolved, after)
    });
    assert_eq!(va.ipv4, vec![A]);
    assert_eq!(
        before,
        Route {
            ifname: SCAN_IFACE.into(),
            ifindex: va.index,
            src_ip: A,
            src_mac: va.mac,
            link: Some(synsurvey::wire::Link::Ethernet),
            gateway: Some(B),
            next_hop: B,
            next_hop_mac: None,
        }
    );
    assert_eq!(resolved, Some(vb.mac));
    assert_eq!(after.next_hop_mac, Some(vb.mac));
    assert_ne!(va.mac, [0; 6]);
}

#[test]
fn on_link_route_and_static_neighbour() {
    require_privileges!("create network namespaces");
    let tb = Testbed::up(TestbedOpts::default());
    let mac = [0x02, 0x53, 0x53, 0x00, 0x00, 0x07];
    // A permanent entry for B (in place of the one the testbed resolved).
    ip_n(
        &tb.scan_ns(),
        &[
            "neigh",
            "replace",
            &B.to_string(),
            "lladdr",
            "02:53:53:00:00:07",
            "nud",
            "permanent",
            "dev",
            SCAN_IFACE,
        ],
    );
    let (route, other_if, unknown) = in_scan(&tb, || {
        let route = route_to(B).expect("route_to on-link");
        let other_if = neighbour_mac(route.ifindex + 1000, B).expect("neighbour_mac");
        let unknown =
            neighbour_mac(route.ifindex, Ipv4Addr::new(198, 19, 0, 3)).expect("neighbour_mac");
        (route, other_if, unknown)
    });
    assert_eq!(route.ifname, SCAN_IFACE);
    assert_eq!(route.gateway, None);
    assert_eq!(route.next_hop, B);
    assert_eq!(route.src_ip, A);
    assert_eq!(route.next_hop_mac, Some(mac));
    assert_eq!(other_if, None);
    assert_eq!(unknown, None);
}

#[test]
fn missing_interface_and_route_are_errors() {
    require_privileges!("create network namespaces");
    let tb = Testbed::sink();
    // The scan namespace routes 198.18.0.0/16 and its link, nothing else.
    let unrouted = Ipv4Addr::new(198, 19, 200, 1);
    let (missing, no_route, lo) = in_scan(&tb, move || {
        (
            interface("ssv-nope0"),
            route_to(unrouted),
            interface("lo").expect("lo exists"),
        )
    });
    let err = missing.expect_err("no such interface");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("ssv-nope0"), "{err}");
    let err = no_route.expect_err("no route outside the testbed's");
    assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
    assert_eq!(lo.ipv4, vec![Ipv4Addr::LOCALHOST]);
    assert_eq!(lo.mac, [0; 6]);
}

#[test]
fn entering_a_namespace_changes_only_the_calling_thread() {
    require_privileges!("create a network namespace");
    let tb = Testbed::sink();
    let mine = std::fs::read_link("/proc/thread-self/ns/net").expect("own netns");
    let name = tb.scan_ns();
    let theirs = std::thread::spawn(move || {
        enter_netns(&name).expect("enter");
        std::fs::read_link("/proc/thread-self/ns/net").expect("netns link")
    })
    .join()
    .expect("thread");
    assert_ne!(mine, theirs);
    assert_eq!(
        mine,
        std::fs::read_link("/proc/thread-self/ns/net").expect("own netns")
    );
}

/// A `Key:` line of `/proc/.../status`.
fn status_field(status: &str, key: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
}

#[test]
fn dropping_capabilities_in_a_thread_clears_everything() {
    require_privileges!("drop CAP_NET_RAW, which only a privileged process holds");
    // Credentials are per thread: drop in a spawned thread so the harness keeps its own.
    let (before, after, status) = std::thread::spawn(|| {
        let before = privs::capabilities().expect("capget before");
        privs::drop_capabilities().expect("drop_capabilities");
        let after = privs::capabilities().expect("capget after");
        let status = std::fs::read_to_string("/proc/thread-self/status").expect("status");
        (before, after, status)
    })
    .join()
    .expect("thread");
    assert!(
        before.has_effective(privs::CAP_NET_RAW),
        "tests run as root with CAP_NET_RAW"
    );
    assert_eq!(after, privs::Caps::default());
    for set in ["CapEff:", "CapPrm:", "CapInh:", "CapAmb:"] {
        let value = status_field(&status, set);
        assert_eq!(value.as_deref(), Some("0000000000000000"), "{set}");
    }
    assert_eq!(status_field(&status, "NoNewPrivs:").as_deref(), Some("1"));
    // The harness thread is untouched, and the process-wide check sees it.
    assert!(privs::has_net_raw());
    assert!(!privs::no_task_has_capabilities());
}
