//! Receive path: a filtered `AF_PACKET` socket and batches for `recvmmsg(2)`.
//!
//! [`PacketRx::open`] creates the socket with protocol 0 (so nothing is queued yet), attaches
//! the caller's classic BPF program, and only then binds it to the interface with EtherType
//! IPv4. No frame the filter would reject can therefore ever sit in the socket's queue.
//!
//! [`RxBatch`] is the receive twin of [`crate::net::TxBatch`]: one contiguous buffer of
//! fixed-size slots with prebuilt `iovec`/`mmsghdr` tables, filled by one `recvmmsg` call.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::sockopt::{self, HeapArray};

/// Receive buffer requested for every [`PacketRx`] (SO_RCVBUFFORCE, else SO_RCVBUF).
pub const RX_RCVBUF_BYTES: usize = 8 << 20;

/// Cumulative counters of a [`PacketRx`] since it was opened (from PACKET_STATISTICS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxStats {
    /// Frames that passed the filter, including those then dropped (kernel `tp_packets`).
    pub packets: u64,
    /// Frames that passed the filter but were dropped because the socket queue was full.
    pub drops: u64,
}

/// A receive-only raw packet socket with a classic BPF filter, bound to one interface.
#[derive(Debug)]
pub struct PacketRx {
    fd: OwnedFd,
    ifindex: u32,
    packets: AtomicU64,
    drops: AtomicU64,
}

impl PacketRx {
    /// Opens a packet socket on `ifindex` that queues only IPv4 frames accepted by `filter`
    /// (needs CAP_NET_RAW; CAP_NET_ADMIN lets the 8 MiB receive buffer exceed rmem_max).
    pub fn open(ifindex: u32, filter: &[libc::sock_filter]) -> io::Result<Self> {
        Self::open_ethertype(ifindex, filter, libc::ETH_P_IP as u16)
    }

    /// As [`PacketRx::open`], for frames of EtherType `ethertype` (0x86dd for IPv6).
    pub fn open_ethertype(
        ifindex: u32,
        filter: &[libc::sock_filter],
        ethertype: u16,
    ) -> io::Result<Self> {
        if filter.is_empty() || filter.len() > usize::from(u16::MAX) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "BPF filter must have between 1 and 65535 instructions",
            ));
        }
        let fd = sockopt::packet_socket()?;
        let raw = fd.as_raw_fd();
        let prog = libc::sock_fprog {
            len: filter.len() as libc::c_ushort,
            filter: filter.as_ptr().cast_mut(),
        };
        // The kernel copies the program during setsockopt and never writes through `filter`.
        sockopt::setsockopt(raw, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, prog)?;
        sockopt::set_buffer_size(raw, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, RX_RCVBUF_BYTES)?;
        // Ask for each frame's tpacket_auxdata: it says whether the checksum was left for
        // hardware to fill in (veth and offloading NICs), see RxBatch::checksum_unverified.
        sockopt::setsockopt(
            raw,
            libc::SOL_PACKET,
            libc::PACKET_AUXDATA,
            1 as libc::c_int,
        )?;
        sockopt::bind_packet(&fd, ifindex, ethertype)?;
        Ok(Self {
            fd,
            ifindex,
            packets: AtomicU64::new(0),
            drops: AtomicU64::new(0),
        })
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Waits up to `timeout` for frames, then takes as many as are queued (up to the batch
    /// capacity) with one non-blocking `recvmmsg`. Returns how many frames are now in
    /// `batch`; 0 on timeout or when interrupted by a signal (EINTR), and 0 for the
    /// ENETDOWN the kernel reports once when the interface goes down: frames come again
    /// when it is back up (a link flap is the senders' failure, not the receiver's).
    pub fn recv(&self, batch: &mut RxBatch, timeout: Duration) -> io::Result<usize> {
        batch.count = 0;
        let fd = self.fd.as_raw_fd();
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // Round up so a sub-millisecond timeout still waits rather than spinning.
        let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `pfd` is one valid pollfd on the stack.
        match syscall!(poll(&mut pfd, 1, ms)) {
            Ok(0) => return Ok(0),
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Ok(0),
            Err(e) => return Err(e),
        }
        batch.reset_control();
        // SAFETY: `batch.msgs` holds `capacity` initialised mmsghdr whose single iovecs point at
        // disjoint `slot`-byte regions of `batch.buf`, all owned by `batch`, which `&mut` keeps
        // alive and unaliased; the kernel writes at most iov_len bytes per frame.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                batch.msgs.as_ptr(),
                batch.capacity() as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::ENETDOWN) => Ok(0),
                _ => Err(err),
            };
        }
        batch.count = n as usize;
        Ok(batch.count)
    }

    /// Cumulative packet and drop counts since the socket was opened. The kernel resets its
    /// counters on every read, so the totals are accumulated here.
    pub fn stats(&self) -> io::Result<RxStats> {
        let st: libc::tpacket_stats = sockopt::getsockopt(
            self.fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
        )?;
        let packets = self
            .packets
            .fetch_add(u64::from(st.tp_packets), Ordering::Relaxed)
            + u64::from(st.tp_packets);
        let drops = self
            .drops
            .fetch_add(u64::from(st.tp_drops), Ordering::Relaxed)
            + u64::from(st.tp_drops);
        Ok(RxStats { packets, drops })
    }
}

fd_owner!(PacketRx);

/// Preallocated receive slots plus the `recvmmsg` tables that point at them.
///
/// Invariants: `buf` has `capacity * slot` bytes; `msgs[i]` points at `iovs[i]`, which covers
/// slot `i` exactly; no allocation moves after construction. `count` frames are valid.
pub struct RxBatch {
    buf: HeapArray<u8>,
    /// Owned only so the `msg_iov` pointers in `msgs` stay valid; never read directly.
    _iovs: HeapArray<libc::iovec>,
    msgs: HeapArray<libc::mmsghdr>,
    /// Control-message space for each slot (PACKET_AUXDATA), `CONTROL_LEN` bytes each.
    _ctl: HeapArray<u64>,
    slot: usize,
    count: usize,
}

/// Bytes of control-message space per frame: room for one tpacket_auxdata cmsg.
const CONTROL_LEN: usize = 64;

// SAFETY: the raw pointers inside `iovs`/`msgs` refer only to heap memory owned by this same
// value, so moving the batch to another thread moves their owner too.
unsafe impl Send for RxBatch {}

impl std::fmt::Debug for RxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxBatch")
            .field("capacity", &self.capacity())
            .field("slot", &self.slot)
            .field("len", &self.count)
            .finish_non_exhaustive()
    }
}

impl RxBatch {
    /// Default number of frames per `recvmmsg`.
    pub const DEFAULT_CAPACITY: usize = 64;
    /// Default bytes per slot (frames are cut to the filter's snap length before this).
    pub const DEFAULT_SLOT: usize = 2048;

    /// Allocates `capacity` slots of `slot` bytes each.
    pub fn new(capacity: usize, slot: usize) -> io::Result<Self> {
        let (buf, iovs) = sockopt::iov_buffers(
            ("RxBatch", "slot"),
            capacity,
            libc::c_uint::MAX as usize,
            slot,
        )?;
        // u64 elements keep every control area aligned for cmsghdr.
        let ctl = HeapArray::new(vec![0u64; capacity * CONTROL_LEN / 8]);
        let msgs = HeapArray::new(
            (0..capacity)
                .map(|i| {
                    // SAFETY: all-zero is a valid mmsghdr (no name, no control data).
                    let mut m: libc::mmsghdr = unsafe { mem::zeroed() };
                    m.msg_hdr.msg_iov = iovs.at(i);
                    m.msg_hdr.msg_iovlen = 1;
                    m.msg_hdr.msg_control = ctl.at(i * CONTROL_LEN / 8).cast();
                    m.msg_hdr.msg_controllen = CONTROL_LEN;
                    m
                })
                .collect(),
        );
        Ok(Self {
            buf,
            _iovs: iovs,
            msgs,
            _ctl: ctl,
            slot,
            count: 0,
        })
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.msgs.len()
    }

    /// Number of frames received by the last [`PacketRx::recv`].
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the last receive returned no frame.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The captured bytes of frame `i` (`i < len()`, else panics): at most the filter's snap
    /// length and at most the slot size.
    pub fn packet(&self, i: usize) -> &[u8] {
        assert!(i < self.count, "packet index out of range");
        // SAFETY: `i < count <= capacity`, so the mmsghdr exists; recvmmsg set msg_len.
        let len = unsafe { (*self.msgs.at(i)).msg_len } as usize;
        self.buf.slice(i * self.slot, len.min(self.slot))
    }

    /// True if frame `i` was longer than its slot and was cut (MSG_TRUNC). Frames cut by the
    /// filter's snap length are not flagged. Panics if `i >= len()`.
    pub fn truncated(&self, i: usize) -> bool {
        assert!(i < self.count, "packet index out of range");
        // SAFETY: as in `packet`.
        let flags = unsafe { (*self.msgs.at(i)).msg_hdr.msg_flags };
        flags & libc::MSG_TRUNC != 0
    }

    /// Restores every slot's control length, which recvmmsg overwrites.
    fn reset_control(&mut self) {
        for i in 0..self.capacity() {
            // SAFETY: `i < capacity`; `&mut self` means no other reference to the table exists.
            unsafe { (*self.msgs.at(i)).msg_hdr.msg_controllen = CONTROL_LEN };
        }
    }

    /// The `tp_status` of frame `i` from its PACKET_AUXDATA, if the kernel sent one.
    pub fn status(&self, i: usize) -> Option<u32> {
        assert!(i < self.count, "packet index out of range");
        // SAFETY: `msgs[i]` is a valid msghdr whose control buffer (owned by `self.ctl`) the
        // kernel filled and whose msg_controllen it set; the CMSG_* macros stay inside it.
        unsafe {
            let hdr = &(*self.msgs.at(i)).msg_hdr;
            let mut c = libc::CMSG_FIRSTHDR(hdr);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_PACKET
                    && (*c).cmsg_type == libc::PACKET_AUXDATA
                    && (*c).cmsg_len as usize
                        >= libc::CMSG_LEN(mem::size_of::<libc::tpacket_auxdata>() as u32) as usize
                {
                    let aux = libc::CMSG_DATA(c)
                        .cast::<libc::tpacket_auxdata>()
                        .read_unaligned();
                    return Some(aux.tp_status);
                }
                c = libc::CMSG_NXTHDR(hdr, c);
            }
        }
        None
    }

    /// True if frame `i`'s transport checksum was never computed: it was sent by this host
    /// (or a namespace of it) with checksum offload and the field holds only a partial sum.
    /// Such a checksum cannot be verified; it is not evidence of corruption.
    pub fn checksum_unverified(&self, i: usize) -> bool {
        self.status(i)
            .is_some_and(|s| s & libc::TP_STATUS_CSUMNOTREADY != 0)
    }

    /// Iterates over the received frames.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.count).map(move |i| self.packet(i))
    }
}

impl Default for RxBatch {
    fn default() -> Self {
        match Self::new(Self::DEFAULT_CAPACITY, Self::DEFAULT_SLOT) {
            Ok(b) => b,
            // Unreachable: the default sizes are non-zero constants.
            Err(_) => unreachable!("default RxBatch sizes are valid"),
        }
    }
}
