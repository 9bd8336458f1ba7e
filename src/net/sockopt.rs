//! Small shared helpers for the packet sockets: typed `setsockopt`/`getsockopt`, opening and
//! binding an `AF_PACKET` socket, and [`HeapArray`], a fixed-size heap array whose elements
//! are only ever reached through raw pointers (so the kernel-facing pointer tables built by
//! [`crate::net::tx::TxBatch`] and [`crate::net::rx::RxBatch`] stay valid for their whole
//! life, whatever the batch value is moved to).

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// Sets a socket option whose value is a plain-old-data `T`.
pub(crate) fn setsockopt<T: Copy>(fd: RawFd, level: i32, name: i32, value: T) -> io::Result<()> {
    // SAFETY: `value` lives on the stack for the duration of the call and the length passed is
    // exactly its size; the kernel only reads it.
    syscall!(setsockopt(
        fd,
        level,
        name,
        (&value as *const T).cast(),
        mem::size_of::<T>() as libc::socklen_t,
    ))
    .map(drop)
}

/// Types a socket option may be read into: C structs and integers for which every bit
/// pattern, all-zero included, is a valid value. Sealed: only the types listed here, each
/// checked by hand, can be read with [`getsockopt`].
pub(crate) trait PlainData: Copy + sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! plain_data {
    ($($t:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl PlainData for $t {}
    )*};
}

// Integers, and kernel structs made only of integers (no pointers, enums or bools).
plain_data!(i32, u32, u64, libc::tpacket_stats, libc::xdp_mmap_offsets,);

/// Reads a socket option whose value is a plain-data `T`.
pub(crate) fn getsockopt<T: PlainData>(fd: RawFd, level: i32, name: i32) -> io::Result<T> {
    // SAFETY: `T: PlainData` is sealed to integer types and C structs of integers, for
    // which all-zero bytes are a valid value.
    let mut value: T = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes; `len` tells the kernel the buffer size.
    syscall!(getsockopt(
        fd,
        level,
        name,
        (&mut value as *mut T).cast(),
        &mut len
    ))?;
    Ok(value)
}

/// Sets a buffer size with the `*FORCE` option (which ignores `net.core.[rw]mem_max` but needs
/// CAP_NET_ADMIN), falling back to the plain option when that is not permitted.
pub(crate) fn set_buffer_size(fd: RawFd, force: i32, plain: i32, bytes: usize) -> io::Result<()> {
    let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
    match setsockopt(fd, libc::SOL_SOCKET, force, bytes) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            setsockopt(fd, libc::SOL_SOCKET, plain, bytes)
        }
        Err(e) => Err(e),
    }
}

/// `socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)`: protocol 0 queues nothing until a bind
/// names a protocol.
pub(crate) fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket creation; the descriptor is owned immediately below.
    let fd = syscall!(socket(
        libc::AF_PACKET,
        libc::SOCK_RAW | libc::SOCK_CLOEXEC,
        0
    ))?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A `sockaddr_ll` for interface `ifindex` and EtherType `protocol` (host byte order).
pub(crate) fn sockaddr_ll(ifindex: u32, protocol: u16) -> io::Result<libc::sockaddr_ll> {
    let ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too large"))?;
    // SAFETY: sockaddr_ll is a C struct of integers and byte arrays; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol.to_be();
    addr.sll_ifindex = ifindex;
    Ok(addr)
}

/// Binds a packet socket to `ifindex`, receiving EtherType `protocol` (0: nothing).
pub(crate) fn bind_packet(fd: &OwnedFd, ifindex: u32, protocol: u16) -> io::Result<()> {
    let addr = sockaddr_ll(ifindex, protocol)?;
    // SAFETY: `addr` is a fully initialised sockaddr_ll and the length matches it.
    syscall!(bind(
        fd.as_raw_fd(),
        (&addr as *const libc::sockaddr_ll).cast(),
        mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
    ))
    .map(drop)
}

/// A fixed-length heap array reached only through raw pointers.
///
/// Guarantees: the allocation never moves or changes size while the `HeapArray` lives, so raw
/// pointers into it (stored in `iovec`/`mmsghdr` tables handed to the kernel) stay valid
/// however the owner is moved. No references into it are kept between calls.
pub(crate) struct HeapArray<T> {
    ptr: NonNull<T>,
    len: usize,
}

/// One zeroed allocation of `count` buffers of `size` bytes, and an `iovec` for each: the
/// memory a `sendmmsg`/`recvmmsg` batch points the kernel at. `what` and `unit` name the
/// batch and its buffers in the error for a count of zero or above `max_count`, a size of
/// zero, or a total that overflows.
pub(crate) fn iov_buffers(
    (what, unit): (&str, &str),
    count: usize,
    max_count: usize,
    size: usize,
) -> io::Result<(HeapArray<u8>, HeapArray<libc::iovec>)> {
    let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
    if count == 0 || size == 0 || count > max_count {
        return Err(invalid(format!(
            "{what} needs a non-zero capacity and {unit} size"
        )));
    }
    let total = count
        .checked_mul(size)
        .ok_or_else(|| invalid(format!("{what} size overflows")))?;
    let buf = HeapArray::new(vec![0u8; total]);
    let iovs = HeapArray::new(
        (0..count)
            .map(|i| libc::iovec {
                iov_base: buf.at(i * size).cast(),
                iov_len: size,
            })
            .collect(),
    );
    Ok((buf, iovs))
}

impl<T> HeapArray<T> {
    pub(crate) fn new(items: Vec<T>) -> Self {
        let boxed: Box<[T]> = items.into_boxed_slice();
        let len = boxed.len();
        let raw: *mut [T] = Box::into_raw(boxed);
        // SAFETY: Box::into_raw never returns null.
        let ptr = unsafe { NonNull::new_unchecked(raw.cast::<T>()) };
        Self { ptr, len }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// Pointer to element `i`. Computing it is always safe; dereferencing it is valid only for
    /// `i < len` (checked in debug builds), which every caller guarantees.
    #[inline]
    pub(crate) fn at(&self, i: usize) -> *mut T {
        debug_assert!(i < self.len);
        self.ptr.as_ptr().wrapping_add(i)
    }

    /// The elements `start..start + n` as a mutable slice (bounds are checked).
    #[inline]
    pub(crate) fn slice_mut(&mut self, start: usize, n: usize) -> &mut [T] {
        assert!(
            start <= self.len && n <= self.len - start,
            "HeapArray range"
        );
        // SAFETY: the range is inside the allocation and `&mut self` guarantees exclusivity.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(start), n) }
    }

    /// The elements `start..start + n` as a shared slice (bounds are checked).
    #[inline]
    pub(crate) fn slice(&self, start: usize, n: usize) -> &[T] {
        assert!(
            start <= self.len && n <= self.len - start,
            "HeapArray range"
        );
        // SAFETY: the range is inside the allocation; no `&mut` can coexist with `&self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(start), n) }
    }
}

impl<T> Drop for HeapArray<T> {
    fn drop(&mut self) {
        let raw = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
        // SAFETY: `raw` is exactly the pointer and length Box::into_raw produced in `new`.
        drop(unsafe { Box::from_raw(raw) });
    }
}
