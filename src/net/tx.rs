//! Transmit path: a send-only `AF_PACKET` socket and batches of preallocated frames.
//!
//! [`PacketTx`] is `socket(AF_PACKET, SOCK_RAW, 0)` bound to one interface. Protocol 0 means
//! the kernel never queues a received frame on it, so it costs nothing on the receive path.
//!
//! [`TxBatch`] owns one contiguous buffer for `capacity` frames of `frame_cap` bytes each,
//! plus the `iovec` and `mmsghdr` tables that point into it and a destination `sockaddr_ll`.
//! All of it is built once in [`TxBatch::new`]; [`PacketTx::send`] is then a single
//! `sendmmsg(2)` per batch (more only on partial sends) with no allocation.
//!
//! Frames are complete Ethernet frames (destination MAC first); the kernel adds nothing.
//! The `sockaddr_ll` names EtherType IPv4, the only kind of frame synsurvey sends.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::sockopt::{self, HeapArray};

/// Send buffer requested for every [`PacketTx`] (SO_SNDBUFFORCE, else SO_SNDBUF).
pub const TX_SNDBUF_BYTES: usize = 4 << 20;

/// How long [`PacketTx::send`] keeps retrying while the kernel makes no progress at all
/// (ENOBUFS/EAGAIN on every attempt) before it gives up and returns that error.
pub const TX_STALL_LIMIT: Duration = Duration::from_secs(1);

/// A send-only raw packet socket bound to one interface.
#[derive(Debug)]
pub struct PacketTx {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketTx {
    /// Opens a send-only `AF_PACKET` socket on interface `ifindex` (needs CAP_NET_RAW) and
    /// asks for a [`TX_SNDBUF_BYTES`] send buffer.
    pub fn open(ifindex: u32) -> io::Result<Self> {
        let fd = sockopt::packet_socket()?;
        sockopt::bind_packet(&fd, ifindex, 0)?;
        sockopt::set_buffer_size(
            fd.as_raw_fd(),
            libc::SO_SNDBUFFORCE,
            libc::SO_SNDBUF,
            TX_SNDBUF_BYTES,
        )?;
        Ok(Self { fd, ifindex })
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// PACKET_QDISC_BYPASS: hand frames straight to the driver, skipping the qdisc layer.
    /// Faster, but the kernel then drops (ENOBUFS) instead of queueing when the device is busy.
    pub fn set_qdisc_bypass(&self, on: bool) -> io::Result<()> {
        sockopt::setsockopt(
            self.fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            libc::c_int::from(on),
        )
    }

    /// Sends frames `0..count` of `batch` with `sendmmsg(2)`.
    ///
    /// Partial sends are resumed from the first unsent frame. ENOBUFS and EAGAIN (device
    /// queue or socket buffer full) are transient: the call backs off briefly (yield, then a
    /// few microseconds of sleep) and retries; EINTR is retried at once. Returns `count` once
    /// every frame went out, or the first other error. If no frame at all can be sent for
    /// [`TX_STALL_LIMIT`], the transient error is returned (some frames of the batch may have
    /// gone out by then).
    pub fn send(&self, batch: &mut TxBatch, count: usize) -> io::Result<usize> {
        if count > batch.capacity() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "send count exceeds the batch capacity",
            ));
        }
        let fd = self.fd.as_raw_fd();
        let mut sent = 0usize;
        let mut failures = 0u32;
        let mut stalled_since: Option<Instant> = None;
        while sent < count {
            let remaining = (count - sent).min(libc::c_uint::MAX as usize) as libc::c_uint;
            // SAFETY: `batch.msgs` holds `capacity` initialised mmsghdr whose iovecs point into
            // `batch.frames` and whose msg_name points at `batch.dest`, all owned by `batch`,
            // which `&mut` keeps alive and unaliased for the call; `sent + remaining <= capacity`.
            let n = unsafe { libc::sendmmsg(fd, batch.msgs.at(sent), remaining, 0) };
            if n > 0 {
                sent += n as usize;
                failures = 0;
                stalled_since = None;
                continue;
            }
            let err = if n == 0 {
                io::Error::from_raw_os_error(libc::ENOBUFS)
            } else {
                io::Error::last_os_error()
            };
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) | Some(libc::EAGAIN) => {
                    let since = *stalled_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > TX_STALL_LIMIT {
                        return Err(err);
                    }
                    backoff(failures);
                    failures = failures.saturating_add(1);
                }
                _ => return Err(err),
            }
        }
        Ok(sent)
    }
}

/// Short escalating pause after a transient send failure.
#[inline]
fn backoff(failures: u32) {
    if failures < 4 {
        std::thread::yield_now();
    } else {
        let micros = 5u64 << (failures - 4).min(4); // 5, 10, 20, 40, 80 µs
        std::thread::sleep(Duration::from_micros(micros));
    }
}

fd_owner!(PacketTx);

/// Preallocated frames plus the `sendmmsg` tables that point at them.
///
/// Invariants: `frames` has `capacity * frame_cap` bytes; `iovs[i]` points at frame `i` with
/// `iov_len <= frame_cap`; `msgs[i]` points at `iovs[i]` (one iovec) and at `dest`. None of
/// these allocations moves or is resized after construction.
pub struct TxBatch {
    frames: HeapArray<u8>,
    iovs: HeapArray<libc::iovec>,
    msgs: HeapArray<libc::mmsghdr>,
    dest: HeapArray<libc::sockaddr_ll>,
    frame_cap: usize,
}

// SAFETY: the raw pointers inside `iovs`/`msgs` refer only to heap memory owned by this same
// value (`frames`, `iovs`, `dest`), so moving the batch to another thread moves their owner too.
unsafe impl Send for TxBatch {}

impl std::fmt::Debug for TxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxBatch")
            .field("capacity", &self.capacity())
            .field("frame_cap", &self.frame_cap)
            .finish_non_exhaustive()
    }
}

impl TxBatch {
    /// Allocates `capacity` zeroed frames of `frame_cap` bytes for interface `ifindex`. Every
    /// frame's length starts at `frame_cap`; use [`set_all_len`](Self::set_all_len) or
    /// [`set_len`](Self::set_len).
    pub fn new(ifindex: u32, capacity: usize, frame_cap: usize) -> io::Result<Self> {
        let (frames, iovs) =
            sockopt::iov_buffers(("TxBatch", "frame"), capacity, usize::MAX, frame_cap)?;
        let dest = HeapArray::new(vec![sockopt::sockaddr_ll(ifindex, libc::ETH_P_IP as u16)?]);
        let msgs = HeapArray::new(
            (0..capacity)
                .map(|i| {
                    // SAFETY: msghdr/mmsghdr are C structs of pointers and integers; all-zero
                    // is a valid (empty) value, and the fields we need are filled in below.
                    let mut m: libc::mmsghdr = unsafe { mem::zeroed() };
                    m.msg_hdr.msg_name = dest.as_ptr().cast();
                    m.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                    m.msg_hdr.msg_iov = iovs.at(i);
                    m.msg_hdr.msg_iovlen = 1;
                    m
                })
                .collect(),
        );
        Ok(Self {
            frames,
            iovs,
            msgs,
            dest,
            frame_cap,
        })
    }

    /// Number of frames the batch holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.msgs.len()
    }

    /// Size of each frame slot in bytes.
    #[inline]
    pub fn frame_cap(&self) -> usize {
        self.frame_cap
    }

    /// The whole `frame_cap`-byte slot of frame `i`. Panics if `i >= capacity()`.
    #[inline]
    pub fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        assert!(i < self.capacity(), "frame index out of range");
        let cap = self.frame_cap;
        self.frames.slice_mut(i * cap, cap)
    }

    /// The bytes of frame `i` that will be sent (its current length). Panics if out of range.
    pub fn frame(&self, i: usize) -> &[u8] {
        assert!(i < self.capacity(), "frame index out of range");
        // SAFETY: `i < capacity`, so the iovec exists and is initialised.
        let len = unsafe { (*self.iovs.at(i)).iov_len };
        self.frames.slice(i * self.frame_cap, len)
    }

    /// Sets how many bytes of frame `i` are sent. Panics if `i >= capacity()` or
    /// `len > frame_cap()`.
    #[inline]
    pub fn set_len(&mut self, i: usize, len: usize) {
        assert!(i < self.capacity(), "frame index out of range");
        assert!(len <= self.frame_cap, "frame length exceeds frame_cap");
        // SAFETY: `i < capacity`; `&mut self` means no sendmmsg is reading the table.
        unsafe { (*self.iovs.at(i)).iov_len = len };
    }

    /// Sets the EtherType the kernel is told the frames carry (`skb->protocol`; the
    /// frames' own Ethernet headers say the same): 0x0800 by default, 0x86dd for IPv6.
    pub fn set_protocol(&mut self, ethertype: u16) {
        self.dest.slice_mut(0, 1)[0].sll_protocol = ethertype.to_be();
    }

    /// Sets every frame's length to `len`. Panics if `len > frame_cap()`.
    pub fn set_all_len(&mut self, len: usize) {
        assert!(len <= self.frame_cap, "frame length exceeds frame_cap");
        for iov in self.iovs.slice_mut(0, self.capacity()) {
            iov.iov_len = len;
        }
    }

    /// The interface index frames are addressed to.
    pub fn ifindex(&self) -> u32 {
        self.dest.slice(0, 1)[0].sll_ifindex as u32
    }
}
