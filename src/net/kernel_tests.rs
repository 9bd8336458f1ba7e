//! End-to-end tests of the packet sockets, each in its own pair of network namespaces
//! (198.19.0.1 in `a`, 198.19.0.2 in `b`; see `testutil`). Nothing is sent from the
//! namespace the test process started in.

use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::testutil::{build_tcp_frame, Pair};
use super::{interface, reply_filter, PacketRx, PacketTx, RxBatch, RxStats, TxBatch};

const A: [u8; 4] = [198, 19, 0, 1];
const B: [u8; 4] = [198, 19, 0, 2];
const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;

/// Receiver thread result: the captured frames and the final socket statistics.
type Collector = std::thread::JoinHandle<(Vec<Vec<u8>>, RxStats)>;

/// Opens a PacketRx on `va` in namespace `a`, reports readiness, then collects frames until
/// `expect` arrived and a further quiet `linger` passed (to catch extras), or `limit` expired.
fn spawn_receiver(
    pair: &Pair,
    expect: usize,
    linger: Duration,
    limit: Duration,
) -> (mpsc::Receiver<()>, Collector) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = pair.a.spawn(move || {
        let va = interface("va").expect("va");
        let filter = reply_filter(Ipv4Addr::from(A), 40000, 40010, 96);
        let rx = PacketRx::open(va.index, &filter).expect("PacketRx::open");
        ready_tx.send(()).expect("ready");
        let mut batch = RxBatch::default();
        let mut got = Vec::new();
        let start = Instant::now();
        let mut done_at: Option<Instant> = None;
        while start.elapsed() < limit {
            if let Some(t) = done_at {
                if t.elapsed() >= linger {
                    break;
                }
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

fn macs(pair: &Pair) -> ([u8; 6], [u8; 6]) {
    let va = pair.a.run(|| interface("va").expect("va")).mac;
    let vb = pair.b.run(|| interface("vb").expect("vb")).mac;
    (va, vb)
}

#[test]
fn tx_to_rx_round_trip_with_filter_and_snaplen() {
    require_privileges!("create network namespaces and send between them");
    let pair = Pair::new("rr");
    let (va_mac, vb_mac) = macs(&pair);
    // 10 long SYN-ACKs (154 bytes, cut to 96), 5 short SYN-ACKs (54 bytes) to port 40005,
    // then 10 plain SYNs to 40005 and 10 SYN-ACKs to 39999, which the filter must drop.
    let (ready, rx) = spawn_receiver(
        &pair,
        15,
        Duration::from_millis(300),
        Duration::from_secs(3),
    );
    ready.recv().expect("receiver ready");
    let sent = pair.b.run(move || {
        let vb = interface("vb").expect("vb");
        let tx = PacketTx::open(vb.index).expect("PacketTx::open");
        let mut batch = TxBatch::new(vb.index, 64, 256).expect("TxBatch");
        let plan: Vec<(u16, u8, usize)> = std::iter::repeat_n((40005, SYN_ACK, 100), 10)
            .chain(std::iter::repeat_n((40005, SYN_ACK, 0), 5))
            .chain(std::iter::repeat_n((40005, SYN, 0), 10))
            .chain(std::iter::repeat_n((39999, SYN_ACK, 0), 10))
            .collect();
        for (i, &(dport, flags, payload)) in plan.iter().enumerate() {
            let len = build_tcp_frame(
                batch.frame_mut(i),
                va_mac,
                vb_mac,
                B,
                A,
                1000 + i as u16,
                dport,
                flags,
                payload,
            );
            batch.set_len(i, len);
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
        assert_eq!(&f[30..34], &A);
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
    let pair = Pair::new("bs");
    let (va_mac, vb_mac) = macs(&pair);
    let sizes = [1usize, 7, 256];
    let total: usize = sizes.iter().sum();
    let (ready, rx) = spawn_receiver(
        &pair,
        total,
        Duration::from_millis(200),
        Duration::from_secs(3),
    );
    ready.recv().expect("receiver ready");
    let sent = pair.b.run(move || {
        let vb = interface("vb").expect("vb");
        let tx = PacketTx::open(vb.index).expect("PacketTx::open");
        tx.set_qdisc_bypass(true).expect("qdisc bypass");
        let mut batch = TxBatch::new(vb.index, 256, 64).expect("TxBatch");
        let mut sent = Vec::new();
        let mut id = 0u16;
        for &n in &sizes {
            for i in 0..n {
                build_tcp_frame(
                    batch.frame_mut(i),
                    va_mac,
                    vb_mac,
                    B,
                    A,
                    id,
                    40000,
                    SYN_ACK,
                    0,
                );
                id += 1;
            }
            batch.set_all_len(54);
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
    let pair = Pair::new("st");
    let (va_mac, vb_mac) = macs(&pair);
    let (ready, rx) = spawn_receiver(&pair, 0, Duration::ZERO, Duration::from_millis(1));
    ready.recv().expect("ready");
    let (_, s0) = rx.join().expect("receiver");
    assert_eq!(s0, RxStats::default());

    // Two reads of stats() around a second burst add up.
    let (res_tx, res_rx) = mpsc::channel();
    let h = pair.a.spawn(move || {
        let va = interface("va").expect("va");
        let rx = PacketRx::open(va.index, &reply_filter(Ipv4Addr::from(A), 40000, 40010, 96))
            .expect("open");
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
        pair.b.run(move || {
            let vb = interface("vb").expect("vb");
            let tx = PacketTx::open(vb.index).expect("open");
            let mut batch = TxBatch::new(vb.index, 4, 64).expect("batch");
            for i in 0..4 {
                build_tcp_frame(batch.frame_mut(i), va_mac, vb_mac, B, A, 7, 40001, 0x14, 0);
            }
            batch.set_all_len(54);
            let too_many = tx.send(&mut batch, 5).expect_err("count > capacity");
            assert_eq!(too_many.kind(), std::io::ErrorKind::InvalidInput);
            tx.send(&mut batch, n).expect("send")
        })
    };
    assert_eq!(send(3), 3);
    let first = res_rx.recv().expect("first").expect("stats");
    assert_eq!(
        first,
        RxStats {
            packets: 3,
            drops: 0
        }
    );
    assert_eq!(send(2), 2);
    let second = res_rx.recv().expect("second").expect("stats");
    assert_eq!(
        second,
        RxStats {
            packets: 5,
            drops: 0
        }
    );
    h.join().expect("receiver");
}

/// Rough transmit rate into a veth whose peer drops everything at netdev ingress (nftables).
/// Prints frames/s for one and two sender threads; asserts only that frames went out.
#[test]
fn tx_throughput_into_dropping_peer() {
    require_privileges!("create network namespaces and send between them");
    let pair = Pair::new("tp");
    let nft = |args: &str| {
        let argv: Vec<&str> = args.split_whitespace().collect();
        pair.b.exec("nft", &argv);
    };
    nft("add table netdev ssv");
    nft(
        "add chain netdev ssv in { type filter hook ingress device vb priority 0 ; policy drop ; }",
    );
    let (va_mac, vb_mac) = macs(&pair);
    let run_for = Duration::from_millis(700);
    for threads in [1usize, 2] {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                pair.a.spawn(move || {
                    let va = interface("va").expect("va");
                    let tx = PacketTx::open(va.index).expect("open");
                    tx.set_qdisc_bypass(true).expect("bypass");
                    let mut batch = TxBatch::new(va.index, 256, 64).expect("batch");
                    for i in 0..256 {
                        build_tcp_frame(
                            batch.frame_mut(i),
                            vb_mac,
                            va_mac,
                            A,
                            B,
                            40000 + t as u16,
                            1 + i as u16,
                            SYN,
                            6, // pad to the 60-byte Ethernet minimum
                        );
                    }
                    batch.set_all_len(60);
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
