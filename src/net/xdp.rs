//! Transmit path over `AF_XDP`: one socket per sender thread, bound to (interface, queue).
//!
//! Built from the kernel's documented ABI (`linux/if_xdp.h`, Documentation/networking/
//! af_xdp.rst): a UMEM (one anonymous mapping of `frames` chunks of [`CHUNK`] bytes) is
//! registered with `XDP_UMEM_REG`; the socket gets a TX ring and the UMEM a completion ring
//! (both mapped into our memory) and a small fill ring that is never used (we receive
//! nothing; there is no RX ring and no XDP program). Zero-copy is tried first and copy mode
//! (`XDP_COPY`, which works on any driver, veth included) is the fall-back.
//!
//! Frames never move: the sender writes a probe straight into a UMEM chunk, puts its
//! address on the TX ring, and gets the chunk back from the completion ring once the kernel
//! is done with it. [`XdpTx`] hands out `capacity` chunks at a time as the "slots" of the
//! next batch ([`XdpTx::frame_mut`]); [`XdpTx::send`] queues the first `n`, kicks the kernel
//! with `sendto` until the TX ring is drained (copy mode transmits only inside that call),
//! and replaces the sent slots with free chunks.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::sockopt;

/// Bytes per UMEM chunk: the smallest the kernel accepts (it must be a power of two
/// between 2048 and the page size in aligned mode).
pub const CHUNK: usize = 2048;
/// Entries of the TX and completion rings (a power of two).
const RING: u32 = 2048;
/// Entries of the unused fill ring (a power of two; the kernel wants one per UMEM).
const FILL_RING: u32 = 64;
/// `XDP_MAX_TX_SKB_BUDGET` (linux/if_xdp.h, 6.17+): how many frames one `sendto` may push
/// in copy mode (default 32). Older kernels answer ENOPROTOOPT, which is fine.
const XDP_MAX_TX_SKB_BUDGET: libc::c_int = 9;
/// Give up when the kernel consumes nothing for this long.
const STALL_LIMIT: Duration = Duration::from_secs(1);

/// How the socket ended up bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    ZeroCopy,
    Copy,
}

/// One mapping, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize, fd: libc::c_int, offset: libc::off_t, shared: bool) -> io::Result<Self> {
        let flags = if shared {
            libc::MAP_SHARED | libc::MAP_POPULATE
        } else {
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE
        };
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL); nothing else refers to it.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; no reference outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A single-producer/single-consumer ring shared with the kernel.
struct Ring {
    /// Owned for its `Drop`: the pointers below point into it until it is unmapped.
    _map: Mapping,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    desc: *mut u8,
    mask: u32,
}

impl Ring {
    fn map(
        fd: libc::c_int,
        off: &libc::xdp_ring_offset,
        entries: u32,
        elem: usize,
        pgoff: u64,
    ) -> io::Result<Ring> {
        let len = off.desc as usize + entries as usize * elem;
        let map = Mapping::new(len, fd, pgoff as libc::off_t, true)?;
        let base = map.ptr.as_ptr();
        // SAFETY: the offsets come from XDP_MMAP_OFFSETS for this socket and lie inside the
        // mapping of `off.desc + entries * elem` bytes; the kernel aligns them for u32/u64.
        unsafe {
            Ok(Ring {
                producer: base.add(off.producer as usize).cast(),
                consumer: base.add(off.consumer as usize).cast(),
                flags: base.add(off.flags as usize).cast(),
                desc: base.add(off.desc as usize),
                mask: entries - 1,
                _map: map,
            })
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into `self.map`, alive as long as `self`; the kernel treats it as a u32
        // that it reads/writes atomically.
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.consumer }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }
}

/// A send-only AF_XDP socket with its own UMEM.
pub struct XdpTx {
    // Field order is drop order: rings and UMEM are unmapped before the socket closes.
    tx: Ring,
    cq: Ring,
    umem: Mapping,
    fd: OwnedFd,
    frames: usize,
    /// UMEM addresses of the next batch's frames.
    slots: Vec<u64>,
    /// Chunks that are neither a slot nor in the kernel's hands.
    free: Vec<u64>,
    /// Per chunk: handed to the kernel on the TX ring and not yet completed. A completion
    /// is accepted only for such a chunk.
    in_flight: Box<[bool]>,
    mode: XdpMode,
    frame_len: u32,
    /// Set when [`XdpTx::init_chunks`] failed: sending would send stale frames.
    broken: Option<io::ErrorKind>,
}

// SAFETY: the raw pointers point into mappings owned by this value; moving it to another
// thread moves their owner along, and nothing is shared.
unsafe impl Send for XdpTx {}

impl std::fmt::Debug for XdpTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpTx")
            .field("frames", &self.frames)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl XdpTx {
    /// Opens an AF_XDP socket on (`ifindex`, `queue`) with `frames` UMEM chunks, of which
    /// `batch` at a time are the slots of the next batch; frames are `frame_len` bytes.
    /// Tries zero-copy first, then copy mode.
    pub fn open(
        ifindex: u32,
        queue: u32,
        batch: usize,
        frames: usize,
        frame_len: usize,
    ) -> io::Result<XdpTx> {
        if batch == 0 || frames < 2 * batch || frame_len > CHUNK || frames > RING as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad AF_XDP sizes",
            ));
        }
        match Self::open_mode(ifindex, queue, batch, frames, frame_len, XdpMode::ZeroCopy) {
            Ok(x) => Ok(x),
            Err(_) => Self::open_mode(ifindex, queue, batch, frames, frame_len, XdpMode::Copy),
        }
    }

    fn open_mode(
        ifindex: u32,
        queue: u32,
        batch: usize,
        frames: usize,
        frame_len: usize,
        mode: XdpMode,
    ) -> io::Result<XdpTx> {
        // SAFETY: plain socket creation; owned at once below.
        let raw = syscall!(socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0))?;
        // SAFETY: `raw` was just returned by socket(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let raw = fd.as_raw_fd();
        let umem = Mapping::new(frames * CHUNK, -1, 0, false)?;
        // SAFETY: xdp_umem_reg is a C struct of integers; all-zero is valid.
        let mut reg: libc::xdp_umem_reg = unsafe { std::mem::zeroed() };
        reg.addr = umem.ptr.as_ptr() as u64;
        reg.len = (frames * CHUNK) as u64;
        reg.chunk_size = CHUNK as u32;
        sockopt::setsockopt(raw, libc::SOL_XDP, libc::XDP_UMEM_REG, reg)?;
        sockopt::setsockopt(raw, libc::SOL_XDP, libc::XDP_UMEM_FILL_RING, FILL_RING)?;
        sockopt::setsockopt(raw, libc::SOL_XDP, libc::XDP_UMEM_COMPLETION_RING, RING)?;
        sockopt::setsockopt(raw, libc::SOL_XDP, libc::XDP_TX_RING, RING)?;
        let _ = sockopt::setsockopt(raw, libc::SOL_XDP, XDP_MAX_TX_SKB_BUDGET, RING);
        let off: libc::xdp_mmap_offsets =
            sockopt::getsockopt(raw, libc::SOL_XDP, libc::XDP_MMAP_OFFSETS)?;
        let tx = Ring::map(
            raw,
            &off.tx,
            RING,
            std::mem::size_of::<libc::xdp_desc>(),
            libc::XDP_PGOFF_TX_RING as u64,
        )?;
        let cq = Ring::map(
            raw,
            &off.cr,
            RING,
            std::mem::size_of::<u64>(),
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )?;
        // SAFETY: sockaddr_xdp is a C struct of integers; all-zero is valid.
        let mut sa: libc::sockaddr_xdp = unsafe { std::mem::zeroed() };
        sa.sxdp_family = libc::AF_XDP as u16;
        sa.sxdp_ifindex = ifindex;
        sa.sxdp_queue_id = queue;
        sa.sxdp_flags = libc::XDP_USE_NEED_WAKEUP
            | match mode {
                XdpMode::ZeroCopy => libc::XDP_ZEROCOPY,
                XdpMode::Copy => libc::XDP_COPY,
            };
        // SAFETY: `sa` is a valid sockaddr_xdp on the stack and the length is its size.
        syscall!(bind(
            raw,
            (&sa as *const libc::sockaddr_xdp).cast(),
            std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t
        ))?;
        let addrs = (0..frames as u64).map(|i| i * CHUNK as u64);
        let mut free: Vec<u64> = addrs.collect();
        let slots = free.split_off(frames - batch);
        Ok(XdpTx {
            tx,
            cq,
            umem,
            fd,
            frames,
            slots,
            free,
            in_flight: vec![false; frames].into_boxed_slice(),
            mode,
            frame_len: frame_len as u32,
            broken: None,
        })
    }

    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Frames per batch.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Calls `f` on every UMEM chunk (slot or not), to write the constant part of the frames
    /// once. Fails if the kernel still holds a chunk (sent, not yet completed).
    /// Waits up to a second for chunks in flight to complete first.
    pub fn init_chunks(&mut self, mut f: impl FnMut(&mut [u8])) -> io::Result<()> {
        let t = Instant::now();
        loop {
            self.reclaim();
            if self.free.len() + self.slots.len() == self.frames {
                break;
            }
            if t.elapsed() > STALL_LIMIT {
                let e = io::Error::new(io::ErrorKind::TimedOut, "AF_XDP frames still in flight");
                self.broken = Some(e.kind());
                return Err(e);
            }
            self.kick()?;
            std::thread::yield_now();
        }
        for k in 0..self.frames {
            // SAFETY: chunk `k` lies inside the UMEM mapping; `&mut self` excludes other
            // borrows, and the kernel holds no chunk now (all are free or slots, checked
            // above), so nothing reads them while `f` writes.
            f(unsafe {
                std::slice::from_raw_parts_mut(self.umem.ptr.as_ptr().add(k * CHUNK), CHUNK)
            });
        }
        Ok(())
    }

    /// The chunk of batch slot `i`.
    #[inline]
    pub fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        let addr = self.slots[i] as usize;
        // SAFETY: `addr` is a chunk start inside the UMEM (all addresses are `k * CHUNK`,
        // `k < frames`); slots are owned by us, not by the kernel.
        unsafe { std::slice::from_raw_parts_mut(self.umem.ptr.as_ptr().add(addr), CHUNK) }
    }

    /// Moves completed chunks to the free list; returns how many.
    fn reclaim(&mut self) -> usize {
        let cons = self.cq.consumer().load(Ordering::Relaxed);
        let prod = self.cq.producer().load(Ordering::Acquire);
        let n = prod.wrapping_sub(cons);
        for k in 0..n {
            let idx = (cons.wrapping_add(k) & self.cq.mask) as usize;
            // SAFETY: `idx <= mask`, inside the ring's descriptor area of u64 addresses; the
            // kernel wrote it before publishing `prod` (Acquire above).
            let addr = unsafe { ptr::read_volatile(self.cq.desc.cast::<u64>().add(idx)) };
            // The address indexes our memory later (`frame_mut`): never trust it unchecked.
            // A refused one is left out (its chunk, if any, stays with the kernel).
            if let Some(k) = completed_chunk(addr, &self.in_flight) {
                self.in_flight[k] = false;
                self.free.push((k * CHUNK) as u64);
            }
        }
        self.cq.consumer().store(prod, Ordering::Release);
        n as usize
    }

    fn kick(&self) -> io::Result<()> {
        // SAFETY: sendto with no buffer and no address is the documented AF_XDP TX wake-up.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null(),
                0,
            )
        };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS) | Some(libc::EINTR) => {
                Ok(())
            }
            _ => Err(e),
        }
    }

    /// Sends the frames of slots `0..n` and refills those slots with free chunks.
    pub fn send(&mut self, n: usize) -> io::Result<()> {
        if let Some(kind) = self.broken {
            return Err(io::Error::new(
                kind,
                "AF_XDP frames could not be initialised",
            ));
        }
        if n > self.slots.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "send count exceeds the batch",
            ));
        }
        // The TX ring holds RING entries and we own at most `frames <= RING` chunks, so there
        // is always room for our slots.
        let prod = self.tx.producer().load(Ordering::Relaxed);
        for (k, &addr) in self.slots[..n].iter().enumerate() {
            let idx = (prod.wrapping_add(k as u32) & self.tx.mask) as usize;
            let d = libc::xdp_desc {
                addr,
                len: self.frame_len,
                options: 0,
            };
            // SAFETY: `idx <= mask`, inside the TX ring's descriptor area; the kernel reads it
            // only after the Release store of the producer below.
            unsafe { ptr::write(self.tx.desc.cast::<libc::xdp_desc>().add(idx), d) };
            self.in_flight[addr as usize / CHUNK] = true;
        }
        let end = prod.wrapping_add(n as u32);
        self.tx.producer().store(end, Ordering::Release);
        // Copy mode transmits only inside sendto (a bounded number per call): kick until the
        // kernel has taken every descriptor. Zero-copy needs a kick only when it asks.
        let mut since: Option<Instant> = None;
        loop {
            if self.mode == XdpMode::Copy || self.tx.needs_wakeup() {
                self.kick()?;
            }
            let consumed = self.tx.consumer().load(Ordering::Acquire);
            if consumed == end || self.mode == XdpMode::ZeroCopy {
                break;
            }
            let t = *since.get_or_insert_with(Instant::now);
            if t.elapsed() > STALL_LIMIT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "AF_XDP TX ring not drained",
                ));
            }
        }
        // Refill the sent slots.
        let mut since: Option<Instant> = None;
        let mut i = 0;
        while i < n {
            if let Some(a) = self.free.pop() {
                self.slots[i] = a;
                i += 1;
                continue;
            }
            if self.reclaim() == 0 {
                if self.tx.needs_wakeup() || self.mode == XdpMode::Copy {
                    self.kick()?;
                }
                let t = *since.get_or_insert_with(Instant::now);
                if t.elapsed() > STALL_LIMIT {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "AF_XDP completions stalled",
                    ));
                }
                std::thread::yield_now();
            }
        }
        Ok(())
    }
}

/// The chunk number a completion-ring address refers to, if it is the start of (or inside)
/// a chunk of this UMEM that was handed to the kernel and not yet completed. Anything else
/// (outside the UMEM, or a chunk we own) is refused: using it would alias our own buffers
/// or point outside the mapping.
fn completed_chunk(addr: u64, in_flight: &[bool]) -> Option<usize> {
    let k = usize::try_from(addr / CHUNK as u64).ok()?;
    in_flight.get(k).copied().unwrap_or(false).then_some(k)
}

impl Drop for XdpTx {
    fn drop(&mut self) {
        // Let queued frames leave before the socket closes (zero-copy sends asynchronously).
        let t = Instant::now();
        while self.tx.consumer().load(Ordering::Acquire)
            != self.tx.producer().load(Ordering::Relaxed)
            && t.elapsed() < Duration::from_millis(100)
        {
            let _ = self.kick();
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn completions_are_checked_against_the_umem() {
        let mut in_flight = vec![false; 4];
        in_flight[1] = true;
        in_flight[3] = true;
        let c = CHUNK as u64;
        assert_eq!(completed_chunk(c, &in_flight), Some(1));
        // An offset inside a chunk (headroom) still names that chunk.
        assert_eq!(completed_chunk(3 * c + 64, &in_flight), Some(3));
        // A chunk we own, one past the UMEM, and an absurd address are all refused.
        assert_eq!(completed_chunk(0, &in_flight), None);
        assert_eq!(completed_chunk(2 * c + 5, &in_flight), None);
        assert_eq!(completed_chunk(4 * c, &in_flight), None);
        assert_eq!(completed_chunk(u64::MAX, &in_flight), None);
    }
}
