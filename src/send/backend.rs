//! The transmit back ends of the senders, in one place: an `AF_PACKET` raw socket with
//! `sendmmsg`, AF_XDP where asked for and available, and the dry run's printer, which
//! parses each crafted frame back with the receiver's parser and prints it, so that a dry
//! run shows the wire, not intent.

use std::io;

use crate::net::{self, PacketTx, TxBatch};
use crate::output::{DryRunRecord, JsonLines, WriteOutcome};
use crate::probe::{Layout, Probe, MAX_FRAME_LEN};
use crate::stop::{Reason, Stop};
use crate::wire::{ethernet, Family, V4};

use super::{Transmit, MAX_BATCH};

/// The raw-socket transmit back end of one sender thread.
pub struct SocketTx {
    sock: PacketTx,
    batch: TxBatch,
}

impl SocketTx {
    /// Buffers hold frames of up to `frame_len` bytes (the template's length, at most
    /// [`MAX_FRAME_LEN`]); [`Transmit::prepare`] sets their length.
    pub fn open(ifindex: u32, frame_len: usize) -> std::io::Result<SocketTx> {
        if frame_len > MAX_FRAME_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a {frame_len}-byte frame is longer than {MAX_FRAME_LEN} bytes"),
            ));
        }
        let sock = PacketTx::open(ifindex)?;
        // Bypassing the qdisc saves a lock per packet; not every kernel allows it.
        let _ = sock.set_qdisc_bypass(true);
        let batch = TxBatch::new(ifindex, MAX_BATCH, frame_len)?;
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

    fn prepare<P: Probe>(&mut self, template: &P) {
        self.batch.set_all_len(template.frame_len());
        self.batch.set_protocol(template.protocol());
        for i in 0..self.capacity() {
            template.init(self.frame_mut(i));
        }
    }

    fn send(&mut self, n: usize, _probes: &[u16]) -> std::io::Result<()> {
        self.sock.send(&mut self.batch, n).map(|_| ())
    }
}

/// UMEM chunks per AF_XDP sender: 8 batches in flight.
const XDP_FRAMES: usize = 8 * MAX_BATCH;

/// The back end of sender `thread`: AF_XDP on queue `thread` if asked for and available,
/// else an AF_PACKET socket (with one line on stderr saying why). AF_XDP frames are
/// `frame_len` bytes: the probe template's length.
pub fn open_tx(
    xdp: bool,
    ifindex: u32,
    thread: u32,
    frame_len: usize,
) -> anyhow::Result<Backend<SocketTx>> {
    if xdp {
        match net::xdp::XdpTx::open(ifindex, thread, MAX_BATCH, XDP_FRAMES, frame_len) {
            Ok(x) => return Ok(Backend::Xdp(x)),
            Err(e) => eprintln!(
                "synsurvey: AF_XDP unavailable for sender {thread} (queue {thread}): {e}; using AF_PACKET"
            ),
        }
    }
    Ok(Backend::Packet(
        SocketTx::open(ifindex, frame_len).map_err(|e| net::open_error("send socket", e))?,
    ))
}

impl Transmit for crate::net::xdp::XdpTx {
    fn capacity(&self) -> usize {
        crate::net::xdp::XdpTx::capacity(self)
    }

    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        crate::net::xdp::XdpTx::frame_mut(self, i)
    }

    /// Every UMEM chunk, not only the current slots: a chunk becomes a slot again after its
    /// completion, and must already hold the template's constant part then.
    fn prepare<P: Probe>(&mut self, template: &P) {
        // On failure (chunks the kernel never gave back) the socket refuses to send, and
        // the sender reports that error at its first batch.
        let _ = self.init_chunks(|c| template.init(c));
    }

    fn send(&mut self, n: usize, _probes: &[u16]) -> io::Result<()> {
        crate::net::xdp::XdpTx::send(self, n)
    }
}

/// A sender's back end chosen at run time: a packet socket `P`, or AF_XDP.
// One per sender thread, built once and never moved on the hot path: its size is moot.
#[allow(clippy::large_enum_variant)]
pub enum Backend<P> {
    Packet(P),
    Xdp(crate::net::xdp::XdpTx),
}

impl<P> Backend<P> {
    /// What the metadata calls it: `af_packet`, `af_xdp_zerocopy` or `af_xdp_copy`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Packet(_) => "af_packet",
            Backend::Xdp(x) => match x.mode() {
                crate::net::xdp::XdpMode::ZeroCopy => "af_xdp_zerocopy",
                crate::net::xdp::XdpMode::Copy => "af_xdp_copy",
            },
        }
    }
}

impl<P: Transmit> Transmit for Backend<P> {
    fn capacity(&self) -> usize {
        match self {
            Backend::Packet(p) => p.capacity(),
            Backend::Xdp(x) => Transmit::capacity(x),
        }
    }

    #[inline]
    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        match self {
            Backend::Packet(p) => p.frame_mut(i),
            Backend::Xdp(x) => Transmit::frame_mut(x, i),
        }
    }

    fn prepare<Q: Probe>(&mut self, template: &Q) {
        match self {
            Backend::Packet(p) => p.prepare(template),
            Backend::Xdp(x) => Transmit::prepare(x, template),
        }
    }

    fn send(&mut self, n: usize, probes: &[u16]) -> io::Result<()> {
        match self {
            Backend::Packet(p) => p.send(n, probes),
            Backend::Xdp(x) => Transmit::send(x, n, probes),
        }
    }
}

/// The dry run's printer; `F` is the family whose parser reads the frames back.
pub struct DryRun<'a, F: Family = V4> {
    frames: Vec<[u8; MAX_FRAME_LEN]>,
    /// The template's layout, known once [`Transmit::prepare`] ran.
    layout: Option<Layout>,
    thread: u32,
    out: &'a mut JsonLines,
    /// Told when the reader of the output went away.
    stop: &'a Stop,
    family: std::marker::PhantomData<F>,
}

impl<'a, F: Family> DryRun<'a, F> {
    pub fn new(capacity: usize, thread: u32, out: &'a mut JsonLines, stop: &'a Stop) -> Self {
        DryRun {
            frames: vec![[0u8; MAX_FRAME_LEN]; capacity.max(1)],
            layout: None,
            thread,
            out,
            stop,
            family: std::marker::PhantomData,
        }
    }
}

impl<F: Family> Transmit for DryRun<'_, F> {
    fn capacity(&self) -> usize {
        self.frames.len()
    }

    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.frames[i]
    }

    fn prepare<P: Probe>(&mut self, template: &P) {
        self.layout = Some(*template.layout());
        for frame in &mut self.frames {
            template.init(frame);
        }
    }

    fn send(&mut self, n: usize, probes: &[u16]) -> io::Result<()> {
        let layout = self
            .layout
            .ok_or_else(|| io::Error::other("the dry run sent before it was prepared"))?;
        let mut scratch = [0u8; MAX_FRAME_LEN + ethernet::HEADER_LEN];
        for (frame, &probe) in self.frames[..n].iter().zip(probes) {
            let frame = as_ethernet::<F>(&frame[..layout.len], layout.ip, &mut scratch);
            let p = F::parse_reply(frame)
                .map_err(|e| io::Error::other(format!("crafted an unreadable frame: {e}")))?;
            let rec = DryRunRecord {
                saddr: p.saddr.to_string(),
                daddr: p.daddr.to_string(),
                sport: p.sport,
                dport: p.dport,
                seqnum: p.seq,
                ipid: p.ipid,
                probe,
                thread: self.thread,
            };
            if self.out.write(&rec)? == WriteOutcome::Closed {
                self.stop.request(Reason::OutputClosed);
                break;
            }
        }
        Ok(())
    }
}

/// The frame as the Ethernet parser reads it: as it is if it has a plain Ethernet header,
/// else its IP packet (from `ip`) behind a blank Ethernet header of the family, in `scratch`.
fn as_ethernet<'s, F: Family>(frame: &'s [u8], ip: usize, scratch: &'s mut [u8]) -> &'s [u8] {
    if ip == ethernet::HEADER_LEN {
        return frame;
    }
    let packet = &frame[ip..];
    let len = ethernet::HEADER_LEN + packet.len();
    scratch[..ethernet::HEADER_LEN].fill(0);
    ethernet::Frame::new_unchecked(&mut scratch[..]).set_ethertype(F::ETHERTYPE);
    scratch[ethernet::HEADER_LEN..len].copy_from_slice(packet);
    &scratch[..len]
}
