//! A typed view of the packet accounting in a scan's metadata: what was sent, what came
//! back as a result, and every frame the receiver dropped, under the crate's own
//! [`DropReason`].
//!
//! Built from the metadata JSON with [`Accounting::of`], which refuses a metadata whose
//! `validation_failures` lacks a reason the crate knows or holds one it does not know, and
//! whose `replies` has a field this view does not know: a renamed counter then fails the
//! test loudly, where an untyped `meta["validation_failures"]["x"]` would read as null.
#![allow(dead_code)]

use std::collections::HashMap;

use serde::Deserialize;
pub use synsurvey::output::Replies;
use synsurvey::validate::DropReason;

/// The packet counters of one scan's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounting {
    pub packets_sent: u64,
    pub frames_received: u64,
    pub kernel_drops: u64,
    pub replies: Replies,
    /// Every reason the crate knows ([`DropReason::ALL`]), with its count.
    pub validation_failures: HashMap<DropReason, u64>,
}

impl Accounting {
    /// Reads the accounting of the metadata `meta` (the whole metadata object). Panics,
    /// naming the field, if a counter is missing or not a count, if `validation_failures`
    /// lacks a reason of [`DropReason::ALL`], or if it has one the crate does not know.
    pub fn of(meta: &serde_json::Value) -> Accounting {
        let count = |field: &str| {
            meta[field]
                .as_u64()
                .unwrap_or_else(|| panic!("metadata has no count {field}: {meta}"))
        };
        let replies = Replies::deserialize(&meta["replies"])
            .unwrap_or_else(|e| panic!("metadata's replies are not as expected ({e}): {meta}"));
        let failures = meta["validation_failures"]
            .as_object()
            .unwrap_or_else(|| panic!("metadata has no validation_failures object: {meta}"));
        for name in failures.keys() {
            assert!(
                DropReason::ALL.iter().any(|r| r.as_str() == name),
                "metadata's validation_failures.{name} is no DropReason the crate knows: {meta}"
            );
        }
        let validation_failures = DropReason::ALL
            .iter()
            .map(|&r| {
                let n = failures.get(r.as_str()).and_then(|v| v.as_u64());
                let n = n.unwrap_or_else(|| {
                    panic!(
                        "metadata has no count validation_failures.{}: {meta}",
                        r.as_str()
                    )
                });
                (r, n)
            })
            .collect();
        Accounting {
            packets_sent: count("packets_sent"),
            frames_received: count("frames_received"),
            kernel_drops: count("kernel_drops"),
            replies,
            validation_failures,
        }
    }

    /// The frames dropped for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.validation_failures[&reason]
    }

    /// The frames dropped for any reason.
    pub fn total_drops(&self) -> u64 {
        self.validation_failures.values().sum()
    }

    /// The reasons with a non-zero count, in the order of [`DropReason::ALL`], with their
    /// counts: empty when nothing was dropped (print it in an assertion's message).
    pub fn nonzero_drops(&self) -> Vec<(&'static str, u64)> {
        DropReason::ALL
            .iter()
            .map(|&r| (r.as_str(), self.drops(r)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }

    /// The replies reported as TCP results: SYN-ACKs and RSTs.
    pub fn tcp_results(&self) -> u64 {
        self.replies.synack + self.replies.rst
    }
}
