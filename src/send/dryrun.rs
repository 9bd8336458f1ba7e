//! The dry-run back end: instead of sending a frame, print what it contains.
//!
//! The frames are the ones a live scan would send, crafted by the same code; the printer
//! parses them back with the receiver's parser, so a dry run shows the wire, not intent.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::output::{DryRunRecord, JsonLines, WriteOutcome};
use crate::probe::FRAME_LEN;
use crate::send::Transmit;
use crate::wire::Reply;

pub struct DryRun<'a> {
    frames: Vec<[u8; FRAME_LEN]>,
    thread: u32,
    out: &'a mut JsonLines,
    /// Set when the reader of the output went away.
    closed: &'a AtomicBool,
}

impl<'a> DryRun<'a> {
    pub fn new(
        capacity: usize,
        thread: u32,
        out: &'a mut JsonLines,
        closed: &'a AtomicBool,
    ) -> Self {
        DryRun {
            frames: vec![[0u8; FRAME_LEN]; capacity.max(1)],
            thread,
            out,
            closed,
        }
    }
}

impl Transmit for DryRun<'_> {
    fn capacity(&self) -> usize {
        self.frames.len()
    }

    fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.frames[i]
    }

    fn send(&mut self, n: usize, probes: &[u16]) -> io::Result<()> {
        for (frame, &probe) in self.frames[..n].iter().zip(probes) {
            let p = Reply::parse(frame)
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
                self.closed.store(true, Relaxed);
                break;
            }
        }
        Ok(())
    }
}
