//! The metadata check: are these files the complete set of shards of one scan?
//!
//! Each metadata file (`-m` of a shard's run) carries a [`Survey`] section. The check
//! takes the survey id that most files share as the scan's, then requires:
//!
//! * every file to carry that id (same seed, targets, ports, probes, shard count, `-n`);
//! * every shard `0..N` to be present, each run number of a shard at most once;
//! * the last run of every shard (resumed runs write run 2, 3...) to have ended
//!   `completed` with every walk finished;
//! * without `-n`, the shards' totals over all runs to cover the target space: scanned
//!   plus blocklisted skips at least the identity's `targets` (the shards' walks split
//!   exactly these; a resumed run only adds repeats). A shard's own `targets_planned` is
//!   an even share, which its walk may miss by a few either way, so it is not a test.
//!
//! Every failure is a [`Problem`] that names the shard (and file), so that a researcher
//! knows which task to resume or re-run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::MergeError;
use crate::survey::{Survey, SurveyIdentity};
use crate::usage::UsageError;

/// The part of a metadata file that the merge reads; every other field is ignored.
#[derive(Debug, Deserialize)]
struct MetaFile {
    end_reason: String,
    survey: Option<Survey>,
}

/// One metadata file: one run of one shard.
#[derive(Debug, Clone)]
pub struct ShardRun {
    pub path: PathBuf,
    pub end_reason: String,
    pub survey: Survey,
}

impl ShardRun {
    /// Reads a metadata file. A file that is not one (or predates the survey section) is
    /// an input error: the merge cannot tell which shard it belongs to. An empty file is
    /// `None`: a scan creates its metadata file at start and fills it at the end, so a run
    /// killed outright leaves it empty, and a later run of that shard may cover it.
    pub fn load(path: &Path) -> Result<Option<ShardRun>, MergeError> {
        let e = |msg: String| {
            MergeError::Input(UsageError(format!("--metadata: {}: {msg}", path.display())))
        };
        let text = std::fs::read(path).map_err(|err| e(format!("cannot read: {err}")))?;
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let m: MetaFile = serde_json::from_slice(&text).map_err(|err| {
            e(format!(
                "not a synsurvey metadata file ({err}); is it a results file? End the --metadata list with -- or another option"
            ))
        })?;
        let survey = m.survey.ok_or_else(|| {
            e("has no survey section: it was written by an older synsurvey; re-run that shard with this version".into())
        })?;
        Ok(Some(ShardRun {
            path: path.to_path_buf(),
            end_reason: m.end_reason,
            survey,
        }))
    }
}

/// Why the files are not one complete scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProblemKind {
    Missing,
    Incomplete,
    Mismatched,
}

/// One reason the merge fails, about one shard (or, with no shard, about the whole set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub shard: Option<u32>,
    pub kind: ProblemKind,
    /// The metadata file(s) at fault; none for a missing shard.
    pub files: Vec<PathBuf>,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ProblemKind::Missing => "missing",
            ProblemKind::Incomplete => "incomplete",
            ProblemKind::Mismatched => "mismatched",
        };
        match self.shard {
            Some(n) => write!(f, "shard {n}")?,
            None => write!(f, "survey")?,
        }
        if !self.files.is_empty() {
            let names: Vec<String> = self.files.iter().map(|p| p.display().to_string()).collect();
            write!(f, " ({})", names.join(", "))?;
        }
        write!(f, ": {kind}: {}", self.detail)
    }
}

/// Counts summed over the last run of every shard (each holds the totals of its runs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sums {
    pub runs: u64,
    pub targets_planned: u64,
    pub targets_scanned: u64,
    pub blocklisted_skips: u64,
    pub packets_sent: u64,
    pub results_written: u64,
}

/// The outcome of the check.
#[derive(Debug, Clone)]
pub struct Coverage {
    /// The scan most files belong to (none without files).
    pub identity: Option<SurveyIdentity>,
    pub id: Option<String>,
    pub problems: Vec<Problem>,
    pub sums: Sums,
}

/// The id most runs carry; on a tie, the one seen first.
fn majority_id(runs: &[ShardRun]) -> Option<&ShardRun> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for r in runs {
        *count.entry(r.survey.id.as_str()).or_default() += 1;
    }
    let best = count.values().copied().max()?;
    runs.iter().find(|r| count[r.survey.id.as_str()] == best)
}

/// Checks that `runs` are the complete set of shards of one scan.
pub fn check(runs: &[ShardRun]) -> Coverage {
    let mut problems = Vec::new();
    let Some(reference) = majority_id(runs) else {
        problems.push(Problem {
            shard: None,
            kind: ProblemKind::Missing,
            files: Vec::new(),
            detail: "no metadata file with content: no run of any shard has finished".into(),
        });
        return Coverage {
            identity: None,
            id: None,
            problems,
            sums: Sums::default(),
        };
    };
    let (id, identity) = (&reference.survey.id, &reference.survey.identity);
    let by_shard = by_shard(runs, id, identity, &mut problems);
    let sums = sum_shards(identity, &by_shard, &mut problems);
    if problems.is_empty() {
        problems.extend(short_of_space(identity, &sums));
    }
    problems.sort_by_key(|p| p.shard);
    Coverage {
        identity: Some(identity.clone()),
        id: Some(id.clone()),
        problems,
        sums,
    }
}

/// Shard -> run number -> the files of that run.
type ByShard<'a> = BTreeMap<u32, BTreeMap<u32, Vec<&'a ShardRun>>>;

/// Files the runs of the scan `id` by shard and run; the others are problems.
fn by_shard<'a>(
    runs: &'a [ShardRun],
    id: &str,
    identity: &SurveyIdentity,
    problems: &mut Vec<Problem>,
) -> ByShard<'a> {
    let mut by_shard = ByShard::new();
    for r in runs {
        let s = &r.survey;
        // The id is recomputed: a file edited by hand cannot claim another scan's id.
        if s.id != *id || s.identity.id() != *id {
            let mut why = identity.differences(&s.identity);
            if why.is_empty() {
                why.push(format!("survey id {} (others: {id})", s.id));
            }
            problems.push(mismatched(s.shard, r, why.join(", ")));
        } else if s.shard >= identity.shards {
            problems.push(mismatched(
                s.shard,
                r,
                format!("shard index out of range for {} shards", identity.shards),
            ));
        } else {
            by_shard
                .entry(s.shard)
                .or_default()
                .entry(s.run)
                .or_default()
                .push(r);
        }
    }
    by_shard
}

/// The totals of every shard's last run, and the problems of missing, repeated and
/// incomplete runs.
fn sum_shards(identity: &SurveyIdentity, by_shard: &ByShard, problems: &mut Vec<Problem>) -> Sums {
    let mut sums = Sums::default();
    for shard in 0..identity.shards {
        let Some(shard_runs) = by_shard.get(&shard) else {
            problems.push(Problem {
                shard: Some(shard),
                kind: ProblemKind::Missing,
                files: Vec::new(),
                detail: "no metadata file".into(),
            });
            continue;
        };
        for (run, files) in shard_runs.iter().filter(|(_, f)| f.len() > 1) {
            problems.push(Problem {
                shard: Some(shard),
                kind: ProblemKind::Mismatched,
                files: files.iter().map(|r| r.path.clone()).collect(),
                detail: format!(
                    "{} metadata files of run {run}: the shard was started more than once without --resume",
                    files.len()
                ),
            });
        }
        // The last run holds the totals of every run before it.
        let Some((_, last)) = shard_runs.last_key_value() else {
            continue;
        };
        let last = last[0];
        if let Some(p) = incomplete(last) {
            problems.push(p);
        }
        let t = &last.survey.totals;
        sums.runs += u64::from(last.survey.run);
        sums.targets_planned += t.targets_planned;
        sums.targets_scanned += t.targets_scanned;
        sums.blocklisted_skips += t.blocklisted_skips;
        sums.packets_sent += t.packets_sent;
        sums.results_written += t.results_written;
    }
    sums
}

fn mismatched(shard: u32, r: &ShardRun, why: String) -> Problem {
    Problem {
        shard: Some(shard),
        kind: ProblemKind::Mismatched,
        files: vec![r.path.clone()],
        detail: format!("another scan: {why}"),
    }
}

/// Whether the last run of a shard left targets unprobed.
fn incomplete(last: &ShardRun) -> Option<Problem> {
    let s = &last.survey;
    (last.end_reason != "completed" || !s.complete).then(|| Problem {
        shard: Some(s.shard),
        kind: ProblemKind::Incomplete,
        files: vec![last.path.clone()],
        detail: format!(
            "its last run (run {}) ended {}; continue it with --resume and its checkpoint",
            s.run, last.end_reason
        ),
    })
}

/// Without `-n`, whether the shards together fell short of the target space. Only asked
/// when every shard is present and complete: it then means the counts are off.
fn short_of_space(identity: &SurveyIdentity, sums: &Sums) -> Option<Problem> {
    let covered = sums.targets_scanned + sums.blocklisted_skips;
    (identity.max_targets.is_none() && covered < identity.targets).then(|| Problem {
        shard: None,
        kind: ProblemKind::Incomplete,
        files: Vec::new(),
        detail: format!(
            "the shards scanned {} and skipped {} of the scan's {} targets",
            sums.targets_scanned, sums.blocklisted_skips, identity.targets
        ),
    })
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::survey::SurveyTotals;

    fn identity(seed: u64, shards: u32) -> SurveyIdentity {
        SurveyIdentity {
            seed,
            addresses: 4096,
            address_ranges: 1,
            addresses_hash: "00000000deadbeef".into(),
            ports: "80".into(),
            targets: 300,
            probes: 1,
            max_targets: None,
            shards,
        }
    }

    /// A run of `shard` of the scan with `seed` that ended `end`, with 100 targets planned.
    fn run(seed: u64, shard: u32, run: u32, end: &str, scanned: u64) -> ShardRun {
        let identity = identity(seed, 3);
        ShardRun {
            path: PathBuf::from(format!("meta-{shard}-{run}-{seed}.json")),
            end_reason: end.into(),
            survey: Survey {
                id: identity.id(),
                identity,
                shard,
                run,
                complete: end == "completed",
                totals: SurveyTotals {
                    targets_planned: 100,
                    targets_scanned: scanned,
                    blocklisted_skips: 2,
                    packets_sent: scanned,
                    results_written: 10 * u64::from(run),
                },
            },
        }
    }

    fn lines(c: &Coverage) -> Vec<String> {
        c.problems.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn complete_set_with_a_resumed_shard_sums_last_runs() {
        let runs = [
            run(1, 0, 1, "completed", 98),
            run(1, 1, 1, "interrupted", 40),
            run(1, 1, 2, "completed", 99),
            run(1, 2, 1, "completed", 98),
        ];
        let c = check(&runs);
        assert!(c.problems.is_empty(), "{:?}", lines(&c));
        assert_eq!(c.identity, Some(identity(1, 3)));
        assert_eq!(
            c.sums,
            Sums {
                runs: 4,
                targets_planned: 300,
                targets_scanned: 98 + 99 + 98,
                blocklisted_skips: 6,
                packets_sent: 98 + 99 + 98,
                results_written: 10 + 20 + 10,
            }
        );
    }

    #[test]
    fn names_each_missing_incomplete_and_mismatched_shard() {
        let runs = [
            run(1, 0, 1, "completed", 98),
            run(1, 0, 1, "completed", 98),
            run(1, 1, 1, "completed", 98),
            run(1, 1, 2, "interrupted", 60),
            run(7, 2, 1, "completed", 98),
            run(1, 3, 1, "completed", 90),
        ];
        let c = check(&runs);
        assert_eq!(
            lines(&c),
            vec![
                "shard 0 (meta-0-1-1.json, meta-0-1-1.json): mismatched: 2 metadata files of run 1: the shard was started more than once without --resume",
                "shard 1 (meta-1-2-1.json): incomplete: its last run (run 2) ended interrupted; continue it with --resume and its checkpoint",
                "shard 2 (meta-2-1-7.json): mismatched: another scan: seed 7 (others: 1)",
                "shard 2: missing: no metadata file",
                "shard 3 (meta-3-1-1.json): mismatched: another scan: shard index out of range for 3 shards",
            ]
        );
    }

    #[test]
    fn judged_by_the_sum_over_shards_not_each_plan() {
        // 300 targets split 100, 99 and 101 (each with 2 blocklisted): each walk finished
        // although shard 1 holds one fewer than its plan of 100.
        let mut runs = [
            run(1, 0, 1, "completed", 98),
            run(1, 1, 1, "completed", 97),
            run(1, 2, 1, "completed", 99),
        ];
        let c = check(&runs);
        assert!(c.problems.is_empty(), "{:?}", lines(&c));
        // Counts that fall short of the space although every walk says it finished.
        runs[1].survey.totals.targets_scanned -= 1;
        assert_eq!(
            lines(&check(&runs)),
            vec!["survey: incomplete: the shards scanned 293 and skipped 6 of the scan's 300 targets"]
        );
        // With -n the space is not the measure.
        for r in &mut runs {
            r.survey.identity.max_targets = Some(300);
            r.survey.id = r.survey.identity.id();
        }
        assert!(check(&runs).problems.is_empty());
    }

    #[test]
    fn a_hand_edited_id_is_caught() {
        let mut runs = vec![
            run(1, 0, 1, "completed", 98),
            run(1, 1, 1, "completed", 98),
            run(7, 2, 1, "completed", 98),
        ];
        runs[2].survey.id = runs[0].survey.id.clone();
        assert_eq!(
            lines(&check(&runs)),
            vec![
                "shard 2 (meta-2-1-7.json): mismatched: another scan: seed 7 (others: 1)",
                "shard 2: missing: no metadata file"
            ]
        );
    }
}
