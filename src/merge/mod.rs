//! `synsurvey merge`: proves that the shards of a survey cover it, and merges their results.
//!
//! ```text
//! synsurvey merge --metadata META... [-o OUT] [-m SUMMARY] RESULTS...
//! ```
//!
//! The merge first checks the metadata files ([`shards::check`]): one scan, every shard
//! present, every shard's last run completed. Only then does it read the results, in the
//! order given, and write their union with duplicates removed ([`results::Union`]).
//!
//! Guarantees:
//! * exit 0 and one summary line on standard error only when the shards cover the scan
//!   and the results files hold at least as many records as the shards wrote;
//! * exit 1 otherwise, with one line per missing, incomplete or mismatched shard, and
//!   nothing written to `-o` (the output is written under a temporary name and renamed
//!   into place once complete);
//! * exit 2, before anything is written, for a bad command line or an input file that
//!   cannot be read or is not what it claims to be;
//! * memory bounded by the set of keys seen, never by the size of the results (see
//!   [`results`]).

pub mod results;
pub mod shards;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use crate::survey::SurveyIdentity;
use crate::usage::UsageError;
use results::{Stats, Union};
use shards::{Coverage, Problem, ShardRun, Sums};

/// Checks that the shards of a survey are complete and merges their results.
///
/// Exits 0 when the metadata files are every shard of one scan, each finished (resumed
/// runs included), and writes the union of the results, first record per (saddr, sport)
/// kept. Exits 1 naming each missing, incomplete or mismatched shard.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "synsurvey merge",
    bin_name = "synsurvey merge",
    version,
    max_term_width = 100
)]
pub struct MergeArgs {
    /// The metadata files (-m) of the shards' runs: every shard, and for a resumed shard
    /// at least its last run. End the list with -- or another option.
    #[arg(long, value_name = "META", num_args = 1.., required = true)]
    pub metadata: Vec<PathBuf>,

    /// Write the merged results here instead of standard output.
    #[arg(short = 'o', long = "output-file", value_name = "OUT")]
    pub output_file: Option<PathBuf>,

    /// Write a JSON summary of the check and the merge here.
    #[arg(short = 'm', long = "summary-file", value_name = "SUMMARY")]
    pub summary_file: Option<PathBuf>,

    /// The shards' results files (-o), JSON lines or CSV; earlier files win duplicates.
    #[arg(value_name = "RESULTS", required = true)]
    pub results: Vec<PathBuf>,
}

/// Why a merge could not be carried out (as opposed to finding the shards incomplete).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A bad command line, or an input file that cannot be read or parsed: exit 2.
    #[error(transparent)]
    Input(UsageError),
    /// Writing the output failed.
    #[error("writing the merged results: {0}")]
    Output(io::Error),
}

/// The `-m` summary.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The shards cover the scan and the results were merged.
    pub complete: bool,
    pub survey_id: Option<String>,
    pub identity: Option<SurveyIdentity>,
    pub problems: Vec<Problem>,
    /// Over every shard, each counted over all its runs.
    pub shards: Sums,
    pub results: Option<Stats>,
    /// The reader of standard output went away before the merge was written in full.
    pub output_closed: bool,
    pub metadata_files: Vec<PathBuf>,
    pub results_files: Vec<PathBuf>,
    pub output: Option<PathBuf>,
}

/// The `merge` subcommand: exit 0 when the shards cover the scan, 1 when they do not.
pub fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    match merge(&args) {
        Ok(summary) => {
            eprintln!("synsurvey merge: {}", summary_line(&summary));
            Ok(ExitCode::from(u8::from(!summary.complete)))
        }
        Err(MergeError::Input(e)) => Err(e.into()),
        Err(e) => Err(e.into()),
    }
}

/// Checks, merges, writes `-m`. An incomplete survey is an `Ok` summary with problems,
/// printed one per line on standard error.
pub fn merge(args: &MergeArgs) -> Result<Summary, MergeError> {
    check_paths(args)?;
    let mut runs = Vec::new();
    for path in &args.metadata {
        match ShardRun::load(path)? {
            Some(run) => runs.push(run),
            None => eprintln!(
                "synsurvey merge: note: {} is empty (a run killed before it wrote its metadata): ignored",
                path.display()
            ),
        }
    }
    let coverage = shards::check(&runs);
    let mut summary = Summary {
        complete: false,
        survey_id: coverage.id.clone(),
        identity: coverage.identity.clone(),
        problems: coverage.problems.clone(),
        shards: coverage.sums,
        results: None,
        output_closed: false,
        metadata_files: args.metadata.clone(),
        results_files: args.results.clone(),
        output: args.output_file.clone(),
    };
    if summary.problems.is_empty() {
        let (stats, closed) = merge_results(args, &coverage)?;
        summary.output_closed = closed;
        summary.results = Some(stats);
        if !closed && stats.records_read < coverage.sums.results_written {
            summary.problems.push(short_results(&stats, &coverage));
        }
    }
    summary.complete = summary.problems.is_empty();
    for p in &summary.problems {
        eprintln!("synsurvey merge: {p}");
    }
    if let Some(path) = &args.summary_file {
        write_summary(path, &summary)?;
    }
    Ok(summary)
}

/// Refuses an output or summary path that is also an input: it would be truncated.
fn check_paths(args: &MergeArgs) -> Result<(), MergeError> {
    let inputs: Vec<PathBuf> = args
        .metadata
        .iter()
        .chain(&args.results)
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    for (flag, p) in [
        ("-o/--output-file", &args.output_file),
        ("-m/--summary-file", &args.summary_file),
    ] {
        let Some(p) = p else { continue };
        if p.is_dir() {
            return Err(MergeError::Input(UsageError(format!(
                "{flag}: {} is a directory",
                p.display()
            ))));
        }
        if p.canonicalize().is_ok_and(|c| inputs.contains(&c)) {
            return Err(MergeError::Input(UsageError(format!(
                "{flag}: {} is also an input file",
                p.display()
            ))));
        }
    }
    Ok(())
}

/// A results set with fewer records than the shards reported writing.
fn short_results(stats: &Stats, coverage: &Coverage) -> Problem {
    Problem {
        shard: None,
        kind: shards::ProblemKind::Missing,
        files: Vec::new(),
        detail: format!(
            "the results files hold {} records but the shards wrote {}: a results file is missing or cut short",
            stats.records_read, coverage.sums.results_written
        ),
    }
}

/// Streams the results into the output. Returns the counts and whether the reader of
/// standard output went away (a clean stop, as for the scan).
fn merge_results(args: &MergeArgs, coverage: &Coverage) -> Result<(Stats, bool), MergeError> {
    let mut out = Output::open(args.output_file.as_deref())?;
    let mut union = Union::new(BufWriter::with_capacity(1 << 16, &mut out.writer));
    for path in &args.results {
        let f = File::open(path).map_err(|e| {
            MergeError::Input(UsageError(format!("{}: cannot read: {e}", path.display())))
        })?;
        match union.add(
            &path.display().to_string(),
            BufReader::with_capacity(1 << 16, f),
        ) {
            Err(MergeError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                return Ok((union.stats(), true));
            }
            r => r?,
        }
    }
    let stats = union.stats();
    match union.finish() {
        Err(MergeError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            return Ok((stats, true))
        }
        r => drop(r?),
    }
    // Only a survey that is complete gets its merged file.
    if stats.records_read >= coverage.sums.results_written {
        out.commit()?;
    }
    Ok((stats, false))
}

/// Standard output, or a file written under a temporary name and renamed when complete.
struct Output {
    writer: Box<dyn Write>,
    /// (temporary, final) names; the temporary file is removed unless committed.
    file: Option<(PathBuf, PathBuf)>,
}

impl Output {
    fn open(path: Option<&Path>) -> Result<Output, MergeError> {
        let Some(path) = path else {
            return Ok(Output {
                writer: Box::new(io::stdout()),
                file: None,
            });
        };
        let mut name = OsString::from(".");
        name.push(path.file_name().unwrap_or_default());
        name.push(format!(".merging{}", std::process::id()));
        let tmp = path.with_file_name(name);
        // Merged results are as confidential as the shards' (mode 0600).
        let f = crate::output::private::create(&tmp, false, crate::output::private::DEFAULT_MODE)
            .map_err(|e| {
            MergeError::Input(UsageError(format!(
                "-o/--output-file: cannot create {}: {e}",
                tmp.display()
            )))
        })?;
        Ok(Output {
            writer: Box::new(f),
            file: Some((tmp, path.to_path_buf())),
        })
    }

    fn commit(&mut self) -> Result<(), MergeError> {
        if let Some((tmp, path)) = self.file.take() {
            std::fs::rename(&tmp, &path).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                MergeError::Output(io::Error::new(
                    e.kind(),
                    format!("cannot rename {} to {}: {e}", tmp.display(), path.display()),
                ))
            })?;
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.file.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

fn write_summary(path: &Path, summary: &Summary) -> Result<(), MergeError> {
    let err = |e: io::Error| {
        MergeError::Output(io::Error::new(
            e.kind(),
            format!("-m/--summary-file: {}: {e}", path.display()),
        ))
    };
    let mut f = crate::output::private::create(path, false, crate::output::private::DEFAULT_MODE)
        .map_err(err)?;
    serde_json::to_writer_pretty(&mut f, summary)
        .map_err(io::Error::from)
        .and_then(|()| f.write_all(b"\n"))
        .map_err(err)
}

/// The one line printed at the end.
fn summary_line(s: &Summary) -> String {
    let id = s.survey_id.as_deref().unwrap_or("?");
    let n = s.identity.as_ref().map_or(0, |i| i.shards);
    let c = &s.shards;
    let counts = format!(
        "{} runs; planned {}, scanned {}, blocklisted {}, sent {} probes; shards wrote {} results",
        c.runs,
        c.targets_planned,
        c.targets_scanned,
        c.blocklisted_skips,
        c.packets_sent,
        c.results_written
    );
    match (&s.results, s.complete) {
        (Some(r), true) => format!(
            "complete: {n} of {n} shards of scan {id}; {counts}; merged {} of {} records ({} duplicates removed){}",
            r.records_written,
            r.records_read,
            r.duplicates_removed,
            if s.output_closed { "; output closed early" } else { "" }
        ),
        (results, _) => format!(
            "not complete: {} problem(s) in scan {id} ({n} shards); {}",
            s.problems.len(),
            match (results, &s.output) {
                (Some(_), None) => "the results on standard output are not a complete survey",
                _ => "nothing written",
            }
        ),
    }
}
