//! The receiver's raw-socket capture: an `AF_PACKET` socket with the reply filter attached
//! before it is bound, read in batches with `recvmmsg`.

use std::time::Duration;

use crate::net::{self, PacketRx, RxBatch};

use super::Capture;

/// The raw-socket capture of the receiver.
pub struct SocketCapture {
    rx: PacketRx,
    batch: RxBatch,
}

impl SocketCapture {
    /// Opens the receive socket for frames of `ethertype` with `filter` attached before
    /// it is bound.
    pub fn open(
        ifindex: u32,
        filter: &[net::sock_filter],
        ethertype: u16,
    ) -> anyhow::Result<SocketCapture> {
        let rx = PacketRx::open_ethertype(ifindex, filter, ethertype)
            .map_err(|e| net::open_error("receive socket", e))?;
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
