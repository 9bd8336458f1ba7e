//! The command line a checkpoint records, and the command line of a resumed run completed
//! from it (`--resume FILE` alone).
//!
//! * [`record`] turns the flags given on the command line into the checkpoint's
//!   [`Command`]: each flag by its long name with its values as typed, paths made absolute
//!   (a resume may start in another directory), and a hash of each file read as input.
//! * [`complete`] checks the flags given beside `--resume` against the checkpoint's and
//!   fills in the others. A flag that only paces or reports the run ([`MAY_CHANGE`],
//!   [`OUTPUTS`]) or belongs to this run alone ([`PER_RUN`]) takes its new value; any
//!   other must have the checkpoint's value (given again, or a default equal to it), or
//!   the scan is refused with one line that names the flag. Only the flags given count:
//!   a default is no difference. The completed command line is parsed like a typed one, so the
//!   configuration is built, and checked against the checkpoint's identity
//!   ([`super::identity::check`]), exactly as for a scan started by hand.
//!
//! Both work over clap's description of the flags: a flag added later (a new kind of
//! target, a new list) is recorded, compared and filled in with no change here; a line
//! in the tables below is needed only if it may change between runs.

use std::collections::BTreeMap;
use std::fs::File;
use std::hash::Hasher;
use std::io;
use std::path::Path;

use clap::{Arg, CommandFactory, ValueHint};
use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher13;

use super::format::Checkpoint;
use crate::cli::{arg_name, Args};
use crate::usage::{clap_line, UsageError};

/// The command line of the scan, as the checkpoint records it.
///
/// Flags are keyed by their long name (`targets` for the positional addresses), so that a
/// new flag or a new kind of target is recorded with no change to the format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// Every flag given, with its values as typed (paths made absolute); a flag that takes
    /// no value (`quiet`) has an empty list. Defaults are not recorded.
    pub args: BTreeMap<String, Vec<String>>,
    /// The files the scan read its targets and opt-outs from, as they were at its start.
    pub files: Vec<InputFile>,
}

/// A file the scan read (`-w`, `-I`, `-b`), and a hash of its contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// The long name of the flag that named it.
    pub flag: String,
    /// Its absolute path.
    pub path: String,
    pub bytes: u64,
    /// SipHash-1-3 with a zero key of its bytes, hex: to notice a change, not to resist one.
    pub hash: String,
}

impl InputFile {
    /// Reads the file at `path` (absolute) and hashes it.
    pub fn read(flag: &str, path: &str) -> io::Result<InputFile> {
        let mut f = File::open(path)?;
        let mut h = SipHasher13::new_with_keys(0, 0);
        let mut buf = vec![0u8; 1 << 16];
        let mut bytes = 0u64;
        loop {
            match io::Read::read(&mut f, &mut buf) {
                Ok(0) => break,
                // SipHasher's `write` streams: chunks hash as their concatenation would.
                Ok(n) => {
                    h.write(&buf[..n]);
                    bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(InputFile {
            flag: flag.to_string(),
            path: path.to_string(),
            bytes,
            hash: format!("{:016x}", h.finish()),
        })
    }
}

/// Flags about this run only: which checkpoint it continues and where it saves, how long
/// it may send (a resumed scan runs to its end unless given `-t` again), and the listings
/// that print and exit. Never recorded, never compared.
///
/// `-C FILE` is here too: its flags are recorded as if typed (see [`crate::config_file`]).
const PER_RUN: &[&str] = &[
    "resume",
    "config",
    "checkpoint",
    "max-runtime",
    "help",
    "version",
    "list-output-fields",
    "list-output-modules",
    "list-probe-modules",
];

/// Files the scan writes: never hashed, and they may change between runs (a resumed run
/// appends to its `-o`).
const OUTPUTS: &[&str] = &["output-file", "metadata-file", "status-updates-file"];

/// Flags that may differ from the checkpoint's: how fast this run sends, how long it
/// waits for replies, what it prints, and when its guards stop it (a scan stopped by
/// `--min-hitrate` is resumed once the route is mended, maybe with another limit). None
/// of them changes which probes the scan sends. Not given, they keep the checkpoint's value.
const MAY_CHANGE: &[&str] = &[
    "rate",
    "bandwidth",
    "cooldown-time",
    "quiet",
    "min-hitrate",
    "max-sendto-failures",
];

/// Input files whose contents may change between runs: opt-out lists filter probes, they
/// do not number targets (and a running scan re-reads them anyway). Their paths may not.
const CONTENTS_MAY_CHANGE: &[&str] = &["blocklist-file"];

/// What a checkpoint records of the command line `a`: every flag given but the per-run
/// ones, and the input files' hashes. Errors name the flag of a file that cannot be read.
pub fn record(a: &Args) -> Result<Command, UsageError> {
    let mut command = Command::default();
    for arg in Args::command().get_arguments() {
        let name = arg_name(arg);
        let Some(values) = a.given.0.get(&name) else {
            continue;
        };
        if PER_RUN.contains(&name.as_str()) {
            continue;
        }
        let values = normalized(arg, values);
        if is_path(arg) && !OUTPUTS.contains(&name.as_str()) {
            // `-` is standard input: nothing to hash.
            for path in values.iter().filter(|v| *v != "-") {
                let file = InputFile::read(&name, path)
                    .map_err(|e| UsageError(format!("{}: {path}: {e}", flag(arg))))?;
                command.files.push(file);
            }
        }
        command.args.insert(name, values);
    }
    Ok(command)
}

/// The command line of a run that resumes `ck`: the flags given in `a`, checked against
/// the checkpoint's, and the checkpoint's others.
pub fn complete(a: &Args, ck: &Checkpoint) -> Result<Args, UsageError> {
    let Some(saved) = &ck.command else {
        return version_1(a, ck);
    };
    let cmd = Args::command();
    let known: Vec<String> = cmd.get_arguments().map(arg_name).collect();
    if let Some(name) = saved.args.keys().find(|k| !known.contains(k)) {
        return Err(UsageError(format!(
            "--resume: the checkpoint records a flag this version does not know (--{name}); resume it with synsurvey {}",
            ck.synsurvey_version
        )));
    }
    let mut merged = BTreeMap::new();
    for arg in cmd.get_arguments() {
        let name = arg_name(arg);
        let Some(now) = a.given.0.get(&name) else {
            continue;
        };
        let free = [PER_RUN, OUTPUTS, MAY_CHANGE]
            .iter()
            .any(|t| t.contains(&name.as_str()));
        if !free {
            let now = normalized(arg, now);
            let then = checkpoint_value(arg, &name, saved, ck);
            if then.as_ref() != Some(&now) {
                return Err(differs(arg, &now, then.as_deref()));
            }
        }
        merged.insert(name, now.clone());
    }
    for arg in cmd.get_arguments() {
        let name = arg_name(arg);
        match saved.args.get(&name) {
            Some(values) if !merged.contains_key(&name) && !conflicts(&cmd, arg, &merged) => {
                merged.insert(name, values.clone());
            }
            _ => {}
        }
    }
    check_files(&cmd, saved, &merged)?;
    Args::parse_argv(argv(&cmd, &merged)).map_err(|e| {
        UsageError(format!(
            "--resume: the checkpoint's command line does not parse: {}",
            clap_line(&e)
        ))
    })
}

/// A version 1 checkpoint records no command line: the flags must be given again.
fn version_1(a: &Args, ck: &Checkpoint) -> Result<Args, UsageError> {
    if a.target_ports.is_none() {
        let path = a.resume.as_deref().unwrap_or(Path::new("?"));
        return Err(UsageError(format!(
            "--resume: {} is a version {} checkpoint, which does not record the scan's command line: give the scan's flags beside --resume",
            path.display(),
            ck.version
        )));
    }
    Ok(a.clone())
}

/// The checkpoint's value of a flag: as recorded, or else the one the checkpoint holds
/// elsewhere (a seed drawn at random, threads from the CPUs), or else its default.
fn checkpoint_value(
    arg: &Arg,
    name: &str,
    saved: &Command,
    ck: &Checkpoint,
) -> Option<Vec<String>> {
    if let Some(v) = saved.args.get(name) {
        return Some(v.clone());
    }
    match name {
        "seed" => return Some(vec![ck.seed.to_string()]),
        "sender-threads" => return Some(vec![ck.scan.sender_threads.to_string()]),
        _ => {}
    }
    let defaults = arg.get_default_values();
    (!defaults.is_empty()).then(|| {
        defaults
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect()
    })
}

/// A list whose contents decide the targets (`-w`, `-I`) must be the one the scan started
/// with; an opt-out list may have changed.
fn check_files(
    cmd: &clap::Command,
    saved: &Command,
    merged: &BTreeMap<String, Vec<String>>,
) -> Result<(), UsageError> {
    for f in &saved.files {
        if CONTENTS_MAY_CHANGE.contains(&f.flag.as_str()) {
            continue;
        }
        let Some(arg) = cmd.get_arguments().find(|a| arg_name(a) == f.flag) else {
            continue;
        };
        let used = merged
            .get(&f.flag)
            .is_some_and(|v| normalized(arg, v).contains(&f.path));
        if !used {
            continue;
        }
        // A file that cannot be read now is reported by the configuration, with its flag.
        match InputFile::read(&f.flag, &f.path) {
            Ok(now) if now.hash != f.hash || now.bytes != f.bytes => {
                return Err(UsageError(format!(
                    "--resume: {} {} changed since the scan started ({} bytes then, {} now): its targets are no longer the checkpoint's",
                    flag(arg),
                    f.path,
                    f.bytes,
                    now.bytes
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether `arg` excludes a flag already in `merged` (or is excluded by one): a rate given
/// as `-B` replaces a recorded `-r`.
fn conflicts(cmd: &clap::Command, arg: &Arg, merged: &BTreeMap<String, Vec<String>>) -> bool {
    let name = arg_name(arg);
    cmd.get_arguments()
        .filter(|other| merged.contains_key(&arg_name(other)))
        .any(|other| {
            let ids = |a: &Arg| -> Vec<String> {
                cmd.get_arg_conflicts_with(a)
                    .into_iter()
                    .map(arg_name)
                    .collect()
            };
            ids(arg).contains(&arg_name(other)) || ids(other).contains(&name)
        })
}

/// The command line that gives the flags in `merged`: `--long=value` for each value, so
/// that values that begin with `-` or are empty stay values, and the targets after `--`.
fn argv(cmd: &clap::Command, merged: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut argv = vec!["synsurvey".to_string()];
    let mut positional = Vec::new();
    for arg in cmd.get_arguments() {
        let Some(values) = merged.get(&arg_name(arg)) else {
            continue;
        };
        match arg.get_long() {
            None => positional.extend(values.iter().cloned()),
            Some(long) if !arg.get_action().takes_values() => argv.push(format!("--{long}")),
            Some(long) => argv.extend(values.iter().map(|v| format!("--{long}={v}"))),
        }
    }
    if !positional.is_empty() {
        argv.push("--".into());
        argv.extend(positional);
    }
    argv
}

/// Values as recorded: a path absolute (`-`, standard input or output, stays).
fn normalized(arg: &Arg, values: &[String]) -> Vec<String> {
    if !is_path(arg) {
        return values.to_vec();
    }
    values
        .iter()
        .map(|v| match std::path::absolute(v) {
            Ok(p) if v != "-" => p.to_string_lossy().into_owned(),
            _ => v.clone(),
        })
        .collect()
}

fn is_path(arg: &Arg) -> bool {
    matches!(
        arg.get_value_hint(),
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath
    )
}

/// How a flag is named in messages: `-p`, `--shards`, or `targets`.
fn flag(arg: &Arg) -> String {
    match (arg.get_short(), arg.get_long()) {
        (Some(s), _) => format!("-{s}"),
        (None, Some(l)) => format!("--{l}"),
        (None, None) => arg_name(arg),
    }
}

/// `--resume: -p 80 differs from the checkpoint's 443`, in one line.
fn differs(arg: &Arg, now: &[String], then: Option<&[String]>) -> UsageError {
    let f = flag(arg);
    // `targets ... differ`, `-p 80 differs`.
    let verb = if arg.get_long().is_none() {
        "differ"
    } else {
        "differs"
    };
    let mut given = f.clone();
    if !now.is_empty() {
        given = format!("{f} {}", shown(now));
    }
    UsageError(match then {
        Some([]) => format!("--resume: {given} {verb} from the checkpoint's {f}"),
        Some(t) => format!(
            "--resume: {given} {verb} from the checkpoint's {}",
            shown(t)
        ),
        None => format!("--resume: {given} {verb} from the checkpoint, which has no {f}"),
    })
}

/// Values for a message: quoted where a space, a control character or nothing would hide them.
fn shown(values: &[String]) -> String {
    values
        .iter()
        .map(|v| {
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                format!("{v:?}")
            } else {
                v.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::config::Config;
    use crate::resume::format::{ThreadState, Totals, FORMAT, VERSION};
    use crate::validate::Key;

    fn args(argv: &[&str]) -> Args {
        let mut v = vec!["synsurvey", "--no-default-blocklist"];
        v.extend_from_slice(argv);
        Args::parse_argv(v).unwrap()
    }

    /// The checkpoint a scan with this command line would write at its start.
    fn checkpoint(argv: &[&str]) -> Checkpoint {
        let a = args(argv);
        let config = Config::from_args(&a, None).unwrap();
        let scan = crate::plan::identity(&config);
        Checkpoint {
            format: FORMAT.into(),
            version: VERSION,
            synsurvey_version: "0".into(),
            saved_at: String::new(),
            runs: 1,
            complete: false,
            seed: config.targets.seed,
            validation_key: Key([1; 16]),
            config_hash: scan.hash(),
            threads: vec![ThreadState::default(); scan.sender_threads as usize],
            scan,
            totals: Totals::default(),
            command: Some(record(&a).unwrap()),
        }
    }

    fn resume(ck: &Checkpoint, argv: &[&str]) -> Result<Args, String> {
        let mut v = vec!["--resume", "/ck.json"];
        v.extend_from_slice(argv);
        complete(&args(&v), ck).map_err(|e| e.0)
    }

    #[test]
    fn records_what_was_given_with_absolute_paths_and_hashes() {
        // A path relative to the working directory (the tests' cannot be changed: it is
        // the process's).
        let dir = tempfile::tempdir_in("target").unwrap();
        let list = dir.path().join("allow.txt");
        std::fs::write(&list, "198.18.0.0/24\n").unwrap();
        let rel = list
            .strip_prefix(std::env::current_dir().unwrap())
            .unwrap_or(&list);
        let rel = rel.to_str().unwrap();
        assert!(!rel.starts_with('/'), "{rel}");
        let a = args(&["-p", "80", "-w", rel, "-q", "--checkpoint", "ck.json"]);
        let c = record(&a).unwrap();
        let abs = list.canonicalize().unwrap().to_string_lossy().into_owned();
        assert_eq!(c.args["allowlist-file"], vec![abs.clone()]);
        assert_eq!(c.args["target-ports"], vec!["80"]);
        assert_eq!(c.args["quiet"], Vec::<String>::new());
        assert_eq!(c.args["no-default-blocklist"], Vec::<String>::new());
        assert!(!c.args.contains_key("checkpoint"), "per run");
        assert!(!c.args.contains_key("probes"), "a default is not recorded");
        assert_eq!(c.files.len(), 1);
        assert_eq!(
            (c.files[0].flag.as_str(), c.files[0].bytes),
            ("allowlist-file", 14)
        );
        assert_eq!(c.files[0].path, abs);
        let c = record(&args(&["-p", "80", "-t", "5"])).unwrap();
        assert!(!c.args.contains_key("max-runtime"), "per run");
    }

    #[test]
    fn the_file_alone_gives_the_whole_command_line() {
        let ck = checkpoint(&[
            "198.18.0.0/22",
            "198.18.9.0/24",
            "-p",
            "80,443",
            "-r",
            "700",
            "-P",
            "2",
            "--output-filter",
            "",
            "--contact",
            "a b",
            "-o",
            "/tmp/out.json",
        ]);
        let a = resume(&ck, &[]).unwrap();
        assert_eq!(a.targets, vec!["198.18.0.0/22", "198.18.9.0/24"]);
        assert_eq!(a.target_ports.as_deref(), Some("80,443"));
        assert_eq!(a.rate.as_deref(), Some("700"));
        assert_eq!(a.probes, "2");
        assert_eq!(
            a.output_filter.as_deref(),
            Some(""),
            "an empty value stays a value"
        );
        assert_eq!(a.contact.as_deref(), Some("a b"));
        assert!(a.no_default_blocklist);
        assert_eq!(a.resume.as_deref(), Some(Path::new("/ck.json")));
        // What the next checkpoint records is the same command line.
        assert_eq!(record(&a).unwrap(), *ck.command.as_ref().unwrap());
    }

    #[test]
    fn flags_given_again_must_agree_unless_they_may_change() {
        let ck = checkpoint(&["198.18.0.0/22", "-p", "443", "-r", "700", "-o", "/tmp/a"]);
        // The same values again, defaults given explicitly, the drawn seed and threads.
        let seed = ck.seed.to_string();
        let threads = ck.scan.sender_threads.to_string();
        let same = [
            "198.18.0.0/22",
            "-p",
            "443",
            "-P",
            "1",
            "-e",
            &seed,
            "-T",
            &threads,
        ];
        assert!(resume(&ck, &same).is_ok());
        let a = resume(
            &ck,
            &["-r", "5", "-o", "/tmp/b", "-c", "0", "-q", "-t", "9"],
        )
        .unwrap();
        assert_eq!(a.rate.as_deref(), Some("5"));
        assert_eq!(a.output_file.as_deref(), Some(Path::new("/tmp/b")));
        assert!(a.quiet);
        // -B replaces the recorded -r instead of conflicting with it.
        let a = resume(&ck, &["-B", "10M"]).unwrap();
        assert_eq!((a.rate, a.bandwidth.as_deref()), (None, Some("10M")));
        let cases: &[(&[&str], &str)] = &[
            (
                &["-p", "80"],
                "--resume: -p 80 differs from the checkpoint's 443",
            ),
            (
                &["198.18.0.0/23"],
                "--resume: targets 198.18.0.0/23 differ from the checkpoint's 198.18.0.0/22",
            ),
            (
                &["-P", "2"],
                "--resume: -P 2 differs from the checkpoint's 1",
            ),
            (
                &["-e", "1"],
                &format!("--resume: -e 1 differs from the checkpoint's {seed}"),
            ),
            (
                &["-n", "5"],
                "--resume: -n 5 differs from the checkpoint, which has no -n",
            ),
            (
                &["-d"],
                "--resume: -d differs from the checkpoint, which has no -d",
            ),
            (
                &["--purpose", "x\ny"],
                "--resume: --purpose \"x\\ny\" differs from the checkpoint, which has no --purpose",
            ),
        ];
        for (argv, want) in cases {
            assert_eq!(resume(&ck, argv).unwrap_err(), *want, "{argv:?}");
        }
    }

    #[test]
    fn a_changed_target_list_is_refused_an_opt_out_list_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (allow, block) = (dir.path().join("allow"), dir.path().join("block"));
        std::fs::write(&allow, "198.18.0.0/22\n").unwrap();
        std::fs::write(&block, "198.18.1.0/24\n").unwrap();
        let (allow_s, block_s) = (allow.to_str().unwrap(), block.to_str().unwrap());
        let ck = checkpoint(&["-p", "80", "-w", allow_s, "-b", block_s]);
        assert_eq!(ck.command.as_ref().unwrap().files.len(), 2);
        std::fs::write(&block, "198.18.1.0/24\n198.18.2.0/24\n").unwrap();
        assert!(resume(&ck, &[]).is_ok());
        std::fs::write(&allow, "198.18.0.0/21\n").unwrap();
        let e = resume(&ck, &[]).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "--resume: -w {allow_s} changed since the scan started"
            )),
            "{e}"
        );
    }

    #[test]
    fn a_version_1_checkpoint_needs_the_flags() {
        let mut ck = checkpoint(&["198.18.0.0/22", "-p", "80"]);
        ck.command = None;
        ck.version = 1;
        let e = resume(&ck, &[]).unwrap_err();
        assert!(
            e.contains(
                "/ck.json is a version 1 checkpoint, which does not record the scan's command line"
            ),
            "{e}"
        );
        assert!(resume(&ck, &["198.18.0.0/22", "-p", "80"]).is_ok());
    }

    #[test]
    fn every_flag_has_a_long_name() {
        // `argv` spells flags by their long names.
        for arg in Args::command().get_arguments() {
            assert!(arg.get_long().is_some() || arg.is_positional(), "{arg:?}");
        }
    }
}
