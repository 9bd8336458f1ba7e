//! What makes a set of shards one survey: the `survey` section of the metadata.
//!
//! A survey split with `--shards N` is N scans, often on N machines, each perhaps stopped
//! and resumed several times. `synsurvey merge` must be able to tell, from the metadata
//! files alone, that they are the N parts of one scan and that each part finished. Each
//! metadata file therefore records:
//!
//! * the [`SurveyIdentity`]: everything that decides which (address, port) pairs a shard
//!   probes (seed, target space, ports, `-P`, `-n`, shard count), and its hash `id`, equal
//!   on every shard of one survey. It leaves out what may differ between shards (rate,
//!   `-T`, source ports, interface, output paths);
//! * which shard this is, which run of it (1 for the first, 2 after one `--resume`...),
//!   and whether every sender's walk finished;
//! * [`SurveyTotals`] over every run of the shard so far: the counts a resumed run's own
//!   fields leave out, which until now were only in the checkpoint.
//!
//! The section is additive: no other metadata field changes name or meaning. Both are
//! built from a configuration in [`crate::plan`], which knows the scan; this module
//! knows only what it records.

use serde::{Deserialize, Serialize};

/// Everything that decides which (address, port) pairs the shards of a survey probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyIdentity {
    pub seed: u64,
    /// Number of target addresses the permutation walks (after the built-in blocklist;
    /// the `-b` files filter probes, they do not number targets).
    pub addresses: u64,
    /// Number of address ranges they form.
    pub address_ranges: u64,
    /// Hash of those ranges (as in the checkpoint).
    pub addresses_hash: String,
    /// The ports, as ranges in the scan's order: `80,443,8000-8100`.
    pub ports: String,
    /// (address, port) pairs the permutation walks: addresses times ports. The shards'
    /// walks split exactly these among themselves.
    pub targets: u64,
    pub probes: u16,
    /// `-n`, as a number of targets for the whole survey.
    pub max_targets: Option<u64>,
    pub shards: u32,
}

impl SurveyIdentity {
    /// The survey id: a hash of the identity's canonical JSON (SipHash-1-3, zero key, hex).
    pub fn id(&self) -> String {
        crate::resume::json_hash(self)
    }

    /// How `other` differs from this identity, e.g. `seed 7 (others: 424242)`.
    pub fn differences(&self, other: &SurveyIdentity) -> Vec<String> {
        let mut d = crate::resume::Differences::against("others");
        d.compare("seed", self.seed, other.seed);
        d.compare("shard count", self.shards, other.shards);
        d.compare("target addresses", self.addresses, other.addresses);
        d.compare("ports", &self.ports, &other.ports);
        d.compare("probes", self.probes, other.probes);
        d.compare_opt("max targets", self.max_targets, other.max_targets);
        if self.addresses == other.addresses && self.addresses_hash != other.addresses_hash {
            d.note("other target addresses, as many");
        }
        d.found
    }
}

/// Counts over every run of one shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyTotals {
    /// Targets this shard is to probe (as `targets_planned`): its even share of the
    /// targets. The walk of a shard may hold a few more or fewer (the permutation's
    /// positions are split evenly, and not every position is a target), so coverage is
    /// judged by `complete` and by the sum over all shards, not by this.
    pub targets_planned: u64,
    pub targets_scanned: u64,
    pub blocklisted_skips: u64,
    pub packets_sent: u64,
    pub results_written: u64,
}

/// The metadata's `survey` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Survey {
    /// [`SurveyIdentity::id`]: the same on every shard of one survey.
    pub id: String,
    pub identity: SurveyIdentity,
    pub shard: u32,
    /// Which run of this shard wrote the metadata: 1 for the first, n + 1 after n resumes.
    pub run: u32,
    /// Every sender's walk finished: the shard has nothing left to probe.
    pub complete: bool,
    /// Over runs 1 to `run`. A run that was killed before it could save its checkpoint
    /// a last time is counted up to its last periodic save.
    pub totals: SurveyTotals,
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::Config;

    fn cfg(args: &[&str]) -> Config {
        crate::config::for_test(args)
    }

    #[test]
    fn shards_share_the_id_and_only_what_matters_changes_it() {
        let base = ["198.18.0.0/20", "-p", "80", "--shards", "3"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            SurveyIdentity::of(&cfg(&v))
        };
        let a = with(&["-e", "5", "--shard", "0", "-r", "10", "-T", "1"]);
        // Shard, rate, threads, source ports and cooldown may differ between shards.
        let b = with(&[
            "-e",
            "5",
            "--shard",
            "2",
            "-r",
            "999",
            "-T",
            "4",
            "-s",
            "40000-40010",
            "-c",
            "0",
        ]);
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        // An opt-out list filters probes without renumbering targets: shards started with
        // different versions of it are parts of one survey.
        let optout = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(optout.path(), "198.18.1.0/24\n").unwrap();
        let c = with(&["-e", "5", "-b", optout.path().to_str().unwrap()]);
        assert_eq!(a.id(), c.id());
        for (extra, what) in [
            (&["-e", "6"][..], "seed 6 (others: 5)"),
            (&["-e", "5", "-P", "2"][..], "probes 2 (others: 1)"),
            (
                &["-e", "5", "-n", "100"][..],
                "max targets 100 (others: none)",
            ),
        ] {
            let c = with(extra);
            assert_ne!(a.id(), c.id(), "{extra:?}");
            assert_eq!(a.differences(&c), vec![what.to_string()]);
        }
        let d = SurveyIdentity::of(&cfg(&["198.18.0.0/20", "-p", "80", "-e", "5"]));
        assert_eq!(a.differences(&d), vec!["shard count 1 (others: 3)"]);
        let e = SurveyIdentity::of(&cfg(&[
            "198.18.16.0/20",
            "-p",
            "80",
            "-e",
            "5",
            "--shards",
            "3",
        ]));
        assert_eq!(a.differences(&e), vec!["other target addresses, as many"]);
    }

    #[test]
    fn the_id_is_pinned() {
        // The id of every survey already run: a renamed field or a new hash would make
        // `merge` see shards of one survey as strangers.
        let a = SurveyIdentity::of(&cfg(&["198.18.0.0/20", "-p", "80,443", "-e", "5"]));
        assert_eq!(a.id(), "3d36b7c753609e7a");
    }
}
