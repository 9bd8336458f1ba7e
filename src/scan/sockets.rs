//! The raw-socket back ends: the senders' transmit paths and the receiver's capture.

use std::time::Duration;

use crate::net::{self, PacketRx, PacketTx, RxBatch, TxBatch};
use crate::probe::FRAME_LEN;
use crate::recv::Capture;
use crate::send::Transmit;

use super::MAX_BATCH;

/// Bytes of each reply the kernel hands us: Ethernet, IPv4 and a full 60-byte TCP header.
pub const SNAPLEN: u32 = 96;
/// The raw-socket transmit back end of one sender thread.
pub struct SocketTx {
    sock: PacketTx,
    batch: TxBatch,
}

impl SocketTx {
    pub fn open(ifindex: u32) -> std::io::Result<SocketTx> {
        let sock = PacketTx::open(ifindex)?;
        // Bypassing the qdisc saves a lock per packet; not every kernel allows it.
        let _ = sock.set_qdisc_bypass(true);
        let mut batch = TxBatch::new(ifindex, MAX_BATCH, FRAME_LEN)?;
        batch.set_all_len(FRAME_LEN);
        Ok(SocketTx { sock, batch })
    }
}

impl Transmit for SocketTx {
    fn capacity(&self) -> usize {
        self.batch.capacity()
    }

    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        self.batch.frame_mut(i)
    }

    fn send(&mut self, n: usize, _probes: &[u16]) -> std::io::Result<()> {
        self.sock.send(&mut self.batch, n).map(|_| ())
    }
}

/// UMEM chunks per AF_XDP sender: 8 batches in flight.
const XDP_FRAMES: usize = 8 * MAX_BATCH;

/// The back end of sender `thread`: AF_XDP on queue `thread` if asked for and available,
/// else an AF_PACKET socket (with one line on stderr saying why).
pub(super) fn open_tx(
    xdp: bool,
    ifindex: u32,
    thread: u32,
) -> anyhow::Result<crate::send::Backend<SocketTx>> {
    use crate::send::Backend;
    if xdp {
        match net::xdp::XdpTx::open(ifindex, thread, MAX_BATCH, XDP_FRAMES, FRAME_LEN) {
            Ok(x) => return Ok(Backend::Xdp(x)),
            Err(e) => eprintln!(
                "synsurvey: AF_XDP unavailable for sender {thread} (queue {thread}): {e}; using AF_PACKET"
            ),
        }
    }
    Ok(Backend::Packet(
        SocketTx::open(ifindex).map_err(|e| socket_error("send socket", e))?,
    ))
}

/// The raw-socket capture of the receiver.
pub struct SocketCapture {
    rx: PacketRx,
    batch: RxBatch,
}

impl SocketCapture {
    /// Opens the receive socket with `filter` attached before it is bound.
    pub fn open(ifindex: u32, filter: &[net::sock_filter]) -> anyhow::Result<SocketCapture> {
        let rx = PacketRx::open(ifindex, filter).map_err(|e| socket_error("receive socket", e))?;
        Ok(SocketCapture {
            rx,
            batch: RxBatch::new(64, 2048)?,
        })
    }
}

impl Capture for SocketCapture {
    fn poll(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(&[u8], bool),
    ) -> std::io::Result<usize> {
        let n = self.rx.recv(&mut self.batch, timeout)?;
        for i in 0..n {
            f(self.batch.packet(i), self.batch.checksum_unverified(i));
        }
        Ok(n)
    }

    fn kernel_drops(&mut self) -> std::io::Result<u64> {
        Ok(self.rx.stats()?.drops)
    }
}

pub(super) fn socket_error(what: &str, e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        anyhow::anyhow!(
            "cannot open the {what}: {e}; raw sockets need CAP_NET_RAW: run as root, or grant the binary \
             `setcap cap_net_raw,cap_net_admin=ep` (see docs/privileges.md)"
        )
    } else {
        anyhow::anyhow!("cannot open the {what}: {e}")
    }
}
