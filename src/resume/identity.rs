//! What identifies a scan for `--resume`, and the checks that a checkpoint belongs to the
//! scan about to run.
//!
//! A [`ScanIdentity`] holds everything that decides *which* probes a scan sends and in
//! which order; its [`hash`](ScanIdentity::hash) is recorded in the checkpoint as
//! `config_hash`. The hash is of the identity's JSON, so renaming or reordering a field
//! changes it and makes every existing checkpoint look damaged: the test
//! `the_hash_is_pinned` fails first.

use std::fmt;
use std::hash::Hasher;
use std::path::Path;

use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher13;

use super::format::Checkpoint;
use crate::usage::UsageError;

/// SipHash-1-3 with a zero key of `value`'s JSON, as 16 hex digits: the checkpoint's
/// `config_hash` and the survey id.
pub fn json_hash<T: Serialize>(value: &T) -> String {
    let mut h = SipHasher13::new_with_keys(0, 0);
    // Serializing a struct of numbers and strings cannot fail.
    h.write(serde_json::to_string(value).unwrap_or_default().as_bytes());
    format!("{:016x}", h.finish())
}

/// Everything that decides which probes a scan sends, and in which order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanIdentity {
    /// Number of target addresses after the built-in blocklist.
    pub addresses: u64,
    /// Number of address ranges they form.
    pub address_ranges: u64,
    /// Hash of those ranges (SipHash-1-3 with a zero key, hex).
    pub addresses_hash: String,
    /// The ports, as ranges: `80,443,8000-8100`.
    pub ports: String,
    pub shards: u32,
    pub shard: u32,
    pub probes: u16,
    pub source_ports: String,
    pub sender_threads: u32,
    pub max_targets: Option<u64>,
    pub seed: u64,
    /// `-S` when it names more than one address (as ranges): which source each target's
    /// probes leave from depends on it. Left out otherwise, so that the hash of a scan
    /// with one source is the one it always was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ips: Option<String>,
}

impl ScanIdentity {
    /// The hash recorded in the checkpoint: of the identity's canonical JSON.
    pub fn hash(&self) -> String {
        json_hash(self)
    }

    /// What differs from `other` (this scan) in a few words, e.g. `ports 443 (checkpoint: 80)`.
    pub fn differences(&self, now: &ScanIdentity) -> Vec<String> {
        let mut d = Differences::against("checkpoint");
        if self.addresses != now.addresses {
            d.note(format!(
                "targets {} addresses (checkpoint: {})",
                now.addresses, self.addresses
            ));
        } else if self.addresses_hash != now.addresses_hash {
            d.note("targets: other addresses, as many as in the checkpoint");
        }
        let shard = |i: &ScanIdentity| format!("{}/{}", i.shard, i.shards);
        let source_ips = |i: &ScanIdentity| i.source_ips.clone().unwrap_or_else(|| "one".into());
        d.compare("ports", &self.ports, &now.ports);
        d.compare("shard", shard(self), shard(now));
        d.compare("probes", self.probes, now.probes);
        d.compare("source ports", &self.source_ports, &now.source_ports);
        d.compare("sender threads", self.sender_threads, now.sender_threads);
        d.compare_opt("max targets", self.max_targets, now.max_targets);
        d.compare("seed", self.seed, now.seed);
        d.compare("source addresses", source_ips(self), source_ips(now));
        d.found
    }
}

/// How one record of a scan differs from another (the reference: a checkpoint, the
/// other shards), each difference in a few words: `ports 443 (checkpoint: 80)`.
#[derive(Debug)]
pub struct Differences {
    reference: &'static str,
    /// The differences found, in the order they were compared.
    pub found: Vec<String>,
}

impl Differences {
    /// Differences from the record that `reference` names in the text.
    pub fn against(reference: &'static str) -> Differences {
        Differences {
            reference,
            found: Vec::new(),
        }
    }

    /// Notes `what` when the reference's value and this record's differ.
    pub fn compare<T: PartialEq + fmt::Display>(&mut self, what: &str, reference: T, now: T) {
        if reference != now {
            self.found
                .push(format!("{what} {now} ({}: {reference})", self.reference));
        }
    }

    /// [`Differences::compare`] of optional numbers, `none` for none.
    pub fn compare_opt(&mut self, what: &str, reference: Option<u64>, now: Option<u64>) {
        let text = |v: Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
        self.compare(what, text(reference), text(now));
    }

    /// Notes a difference in words of its own.
    pub fn note(&mut self, text: impl Into<String>) {
        self.found.push(text.into());
    }
}

/// Refuses a checkpoint of another scan: `now` is the identity of the configuration about
/// to run, `threads` the sender threads it would run.
pub fn check(ck: &Checkpoint, now: &ScanIdentity, threads: usize) -> Result<(), UsageError> {
    if now.hash() != ck.config_hash {
        let diff = ck.scan.differences(now);
        let diff = if diff.is_empty() {
            "its hash differs".to_string()
        } else {
            diff.join(", ")
        };
        return Err(UsageError(format!(
            "--resume: the checkpoint was made by a different scan configuration: {diff}"
        )));
    }
    if ck.threads.len() != threads {
        return Err(UsageError(format!(
            "--resume: the checkpoint has {} sender threads but this scan would run {threads} \
             (a rate below -T lowers the thread count; use the original -r)",
            ck.threads.len()
        )));
    }
    Ok(())
}

/// Refuses to save over a directory, or over an existing checkpoint file unless resuming
/// from it.
pub fn check_path(checkpoint_file: &Path, resume_file: Option<&Path>) -> Result<(), UsageError> {
    if checkpoint_file.is_dir() {
        return Err(UsageError(format!(
            "--checkpoint: {} is a directory",
            checkpoint_file.display()
        )));
    }
    if resume_file != Some(checkpoint_file) && checkpoint_file.exists() {
        return Err(UsageError(format!(
            "--checkpoint: {} already exists; continue that scan with --resume {0}, or remove it",
            checkpoint_file.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    /// A fixed identity: its hash must never change, or every checkpoint already written
    /// would be refused as damaged.
    fn fixed() -> ScanIdentity {
        ScanIdentity {
            addresses: 4096,
            address_ranges: 1,
            addresses_hash: "0123456789abcdef".into(),
            ports: "80,443".into(),
            shards: 2,
            shard: 1,
            probes: 1,
            source_ports: "32768-61000".into(),
            sender_threads: 3,
            max_targets: Some(100),
            seed: 42,
            source_ips: None,
        }
    }

    #[test]
    fn the_hash_is_pinned() {
        assert_eq!(fixed().hash(), "bc2047937b5f316e");
        let mut other = fixed();
        other.seed = 43;
        assert_ne!(other.hash(), fixed().hash());
        // A list of sources is part of the identity; one source leaves the hash as it was.
        let mut sources = fixed();
        sources.source_ips = Some("198.19.0.10-198.19.0.17".into());
        assert_ne!(sources.hash(), fixed().hash());
        assert_eq!(
            sources.differences(&fixed()),
            vec!["source addresses one (checkpoint: 198.19.0.10-198.19.0.17)".to_string()]
        );
    }
}
