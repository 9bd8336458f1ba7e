//! The kernel's ceiling for the AF_PACKET send path on one interface: prebuilt SYN frames,
//! nothing crafted, `sendmmsg` batches of 256 through synsurvey's own `PacketTx`/`TxBatch`.
//! `scripts/bench.sh` runs it next to the scanners so that a loaded machine's figures can
//! be read as a ratio to what the kernel allows right now.
//!
//! Usage (inside a testbed's scan namespace only):
//! `txceiling IFNAME GATEWAY_MAC THREADS PACKETS`
//!
//! Sends to 198.18.0.1 only (RFC 2544 benchmarking space); refuses to run without those
//! four arguments.

use std::time::Instant;

use synsurvey::net::{self, PacketTx, TxBatch};
use synsurvey::probe::{Probe, ProbeFields, ProbeTemplate, TemplateParams};
use synsurvey::wire::ethernet::parse_mac;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 5,
        "usage: txceiling IFNAME GATEWAY_MAC THREADS PACKETS"
    );
    let iface = net::interface(&args[1])?;
    let mac = parse_mac(&args[2]).ok_or_else(|| anyhow::anyhow!("bad MAC {}", args[2]))?;
    let threads: u64 = args[3].parse()?;
    let packets: u64 = args[4].parse()?;
    let src = iface
        .ipv4
        .first()
        .copied()
        .unwrap_or([198, 19, 0, 1].into());
    let template = ProbeTemplate::new(&TemplateParams::linux_like(iface.mac, mac, src))?;
    let frame_len = template.frame_len();
    let t0 = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let mut hs = Vec::new();
        for t in 0..threads {
            let template = &template;
            let share = packets / threads + u64::from(t < packets % threads);
            let index = iface.index;
            hs.push(s.spawn(move || -> std::io::Result<()> {
                let tx = PacketTx::open(index)?;
                let _ = tx.set_qdisc_bypass(true);
                let mut batch = TxBatch::new(index, 256, frame_len)?;
                batch.set_all_len(frame_len);
                for i in 0..256 {
                    template.init(batch.frame_mut(i));
                    let f = ProbeFields {
                        saddr: src,
                        daddr: [198, 18, 0, 1].into(),
                        dport: 80,
                        sport: 40000 + i as u16,
                        seq: i as u32,
                        ipid: 1,
                        tsval: 1,
                    };
                    template.patch(batch.frame_mut(i), &f);
                }
                let mut left = share;
                while left > 0 {
                    let n = left.min(256) as usize;
                    tx.send(&mut batch, n)?;
                    left -= n as u64;
                }
                Ok(())
            }));
        }
        for h in hs {
            h.join().map_err(|_| anyhow::anyhow!("sender panicked"))??;
        }
        Ok(())
    })?;
    let secs = t0.elapsed().as_secs_f64();
    println!("{packets} {secs:.3}");
    Ok(())
}
