//! Duplicate suppression over the target space, in memory bounded by the replies.
//!
//! A target is a number `0..n` (see `TargetSpace`), `n` up to 2^48. The set of targets
//! that have answered is a bitmap split into pages of 2^16 bits (8 KiB), allocated the
//! first time one of their targets answers. A scan of all of IPv4 on one port would need
//! 512 MiB for a full bitmap; here memory grows with the answering /16-sized blocks only.

use std::collections::HashMap;

const PAGE_BITS: u32 = 16;
const WORDS: usize = (1 << PAGE_BITS) / 64;

#[derive(Default)]
pub struct Seen {
    pages: HashMap<u64, Box<[u64; WORDS]>>,
}

impl Seen {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `index` as seen; returns true if it already was.
    pub fn check_and_set(&mut self, index: u64) -> bool {
        let page = self
            .pages
            .entry(index >> PAGE_BITS)
            .or_insert_with(|| Box::new([0u64; WORDS]));
        let bit = (index & ((1 << PAGE_BITS) - 1)) as usize;
        let (w, m) = (bit / 64, 1u64 << (bit % 64));
        let was = page[w] & m != 0;
        page[w] |= m;
        was
    }

    pub fn contains(&self, index: u64) -> bool {
        let bit = (index & ((1 << PAGE_BITS) - 1)) as usize;
        self.pages
            .get(&(index >> PAGE_BITS))
            .is_some_and(|p| p[bit / 64] & (1u64 << (bit % 64)) != 0)
    }

    /// Bytes held by the bitmap pages.
    pub fn memory(&self) -> usize {
        self.pages.len() * WORDS * 8
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn first_is_new_then_repeat() {
        let mut s = Seen::new();
        for i in [0u64, 1, 63, 64, 65_535, 65_536, (1 << 48) - 1] {
            assert!(!s.contains(i));
            assert!(!s.check_and_set(i), "{i}");
            assert!(s.check_and_set(i), "{i}");
            assert!(s.contains(i));
        }
        assert!(!s.contains(2));
    }

    #[test]
    fn memory_grows_with_replies_not_space() {
        let mut s = Seen::new();
        assert_eq!(s.memory(), 0);
        // A thousand replies spread over the whole IPv4 space on one port.
        for i in 0..1000u64 {
            s.check_and_set(i * 4_294_967);
        }
        assert!(s.memory() <= 1000 * 8192);
        // A thousand replies in one /16 take one page.
        let mut t = Seen::new();
        for i in 0..1000u64 {
            t.check_and_set(5 << 16 | i);
        }
        assert_eq!(t.memory(), 8192);
    }
}
