//! inotify(7): being told at once when a file changes, without polling or a thread.
//!
//! [`Inotify`] is a non-blocking inotify descriptor. Its owner waits on it with
//! [`Inotify::wait`] (poll(2) with a timeout, so a caller that also has periodic work needs
//! no extra thread) and gets back the events queued since the last call. The kernel queues an
//! event when the change happens; nothing is lost between two calls, except that a full
//! queue is reported as one event with [`IN_Q_OVERFLOW`] (the caller must then assume that
//! anything may have changed).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

pub use libc::{
    IN_CLOSE_WRITE, IN_CREATE, IN_DELETE_SELF, IN_IGNORED, IN_MODIFY, IN_MOVED_TO, IN_MOVE_SELF,
    IN_Q_OVERFLOW,
};

/// Size of the fixed part of `struct inotify_event` (wd, mask, cookie, len).
const HEADER: usize = std::mem::size_of::<libc::inotify_event>();

/// One event: which watch, what happened, and for a directory watch the entry's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub wd: i32,
    pub mask: u32,
    /// The directory entry concerned (empty for events on the watched object itself).
    pub name: OsString,
}

#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
}

impl Inotify {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain descriptor creation; the descriptor is owned immediately below.
        let fd = syscall!(inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC))?;
        // SAFETY: `fd` was just returned by inotify_init1(2) and is owned by nobody else.
        Ok(Inotify {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches `path` (following a symbolic link) for the events in `mask`. Watching the same
    /// inode again returns the same descriptor with the new mask; watching a path that now
    /// names another inode (after a rename over it) returns a new one.
    pub fn add(&self, path: &Path, mask: u32) -> io::Result<i32> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
        // SAFETY: `c` is a NUL-terminated string that outlives the call.
        syscall!(inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask))
    }

    /// Waits up to `timeout` for events and returns every event queued (none on timeout or
    /// when a signal interrupts the wait).
    pub fn wait(&self, timeout: Duration) -> io::Result<Vec<Event>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: `pfd` is one valid pollfd on the stack.
        match syscall!(poll(&mut pfd, 1, ms)) {
            Ok(0) => return Ok(Vec::new()),
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        let mut events = Vec::new();
        loop {
            // Room for many events, and at least one with the longest name.
            let mut buf = [0u8; 8192];
            // SAFETY: `buf` is a writable buffer of exactly the length passed, owned here.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n == 0 {
                // Not expected from inotify; in any case nothing more to read.
                return Ok(events);
            }
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(events),
                    _ => Err(e),
                };
            }
            let bytes = buf.get(..n as usize).unwrap_or_default();
            parse(bytes, &mut events);
        }
    }
}

/// Decodes the events in `bytes` (whole events, as one read(2) returns them).
fn parse(mut bytes: &[u8], out: &mut Vec<Event>) {
    while bytes.len() >= HEADER {
        let word = |i: usize| {
            let mut w = [0u8; 4];
            w.copy_from_slice(&bytes[i * 4..i * 4 + 4]);
            u32::from_ne_bytes(w)
        };
        let (wd, mask, len) = (word(0) as i32, word(1), word(3) as usize);
        let Some(name) = bytes.get(HEADER..HEADER + len) else {
            return;
        };
        // The name is NUL-padded to an aligned length.
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        out.push(Event {
            wd,
            mask,
            name: OsStr::from_bytes(name).to_os_string(),
        });
        bytes = &bytes[HEADER + len..];
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::io::Write;

    #[test]
    fn reports_writes_truncations_and_renames_over_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("list.txt");
        std::fs::write(&p, "a\n").unwrap();
        let ino = Inotify::new().unwrap();
        let fwd = ino
            .add(
                &p,
                IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF,
            )
            .unwrap();
        let dwd = ino.add(dir.path(), IN_MOVED_TO | IN_CREATE).unwrap();
        assert!(ino.wait(Duration::ZERO).unwrap().is_empty(), "nothing yet");
        // Truncated, then written: as `cat > list.txt` does.
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"b\n").unwrap();
        drop(f);
        let ev = ino.wait(Duration::from_secs(5)).unwrap();
        assert!(
            ev.iter().any(|e| e.wd == fwd && e.mask & IN_MODIFY != 0),
            "{ev:?}"
        );
        assert!(
            ev.iter()
                .any(|e| e.wd == fwd && e.mask & IN_CLOSE_WRITE != 0),
            "{ev:?}"
        );
        // Replaced by a rename: the directory names the entry.
        let tmp = dir.path().join("list.new");
        std::fs::write(&tmp, "c\n").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let ev = ino.wait(Duration::from_secs(5)).unwrap();
        assert!(
            ev.iter()
                .any(|e| e.wd == dwd && e.mask & IN_MOVED_TO != 0 && e.name == "list.txt"),
            "{ev:?}"
        );
        // The old inode is gone: its watch ends; the path now names a new inode.
        let again = ino.add(&p, IN_MODIFY).unwrap();
        assert_ne!(again, fwd);
    }

    #[test]
    fn parses_names_and_stops_at_a_truncated_event() {
        let mut b = Vec::new();
        for (wd, mask, name) in [(1i32, IN_MODIFY, &b""[..]), (2, IN_CREATE, b"x.txt\0\0\0")] {
            b.extend_from_slice(&wd.to_ne_bytes());
            b.extend_from_slice(&mask.to_ne_bytes());
            b.extend_from_slice(&0u32.to_ne_bytes());
            b.extend_from_slice(&(name.len() as u32).to_ne_bytes());
            b.extend_from_slice(name);
        }
        let mut out = Vec::new();
        parse(&b[..b.len() - 3], &mut out);
        assert_eq!(out.len(), 1, "an event cut short is not decoded");
        out.clear();
        parse(&b, &mut out);
        assert_eq!(out[1].name, "x.txt");
        assert_eq!(
            (out[0].wd, out[0].mask, out[0].name.len()),
            (1, IN_MODIFY, 0)
        );
    }
}
