//! `-C/--config FILE`: ZMap's configuration file, read as more flags of the command line.
//!
//! The format is the one ZMap's gengetopt parser reads: one option a line, `key value`
//! or `key = value`, the key a long flag name (`rate`, `blocklist-file`, a one-letter key
//! is the short flag), a flag that takes no value as a bare key (`dryrun`), a value in
//! double quotes when it holds spaces or `#`; blank lines and `#` comments, also after a
//! value. A flag the command line gives wins over the file's (so does one that excludes
//! it: `-B` on the command line drops the file's `rate`). A repeatable flag (`-b`) may
//! have several lines. An unknown key, a value clap refuses, or a value the configuration
//! refuses later ([`Lines::attribute`]) is reported with the file and its line, exit 2.
//!
//! The file's flags become flags of the command line ([`expand`]), so that a checkpoint
//! records them as if typed, and `--resume FILE` alone needs neither the file nor its
//! contents as they were: the file itself is not recorded (`config` is a per-run flag).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, CommandFactory};

use crate::cli::{arg_name, Args};
use crate::usage::{clap_line, UsageError};

/// Keys a configuration file may not set: they print and exit, or name another file.
const REFUSED: &[&str] = &["help", "version", "config"];

/// One option of the file: its line (from 1), its key and its value (`None` for a bare key).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    line: usize,
    key: String,
    value: Option<String>,
}

/// Where each flag the file supplied came from: its long name, to the file and line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines {
    file: PathBuf,
    lines: BTreeMap<String, usize>,
}

impl Lines {
    /// `e` prefixed with the file and line of the flag it names, if that flag came from
    /// the file: `zmap.conf, line 3: -r/--rate: ...`. Other errors are returned as they are.
    pub fn attribute(&self, e: UsageError) -> UsageError {
        let named = self.lines.iter().find(|(name, _)| names(&e.0, name));
        match named {
            Some((_, line)) => UsageError(format!("{}, line {line}: {}", self.file.display(), e.0)),
            None => e,
        }
    }
}

/// Whether `msg` names `--name` (not a longer flag that starts with it).
fn names(msg: &str, name: &str) -> bool {
    let needle = format!("--{name}");
    msg.match_indices(&needle).any(|(i, _)| {
        let after = msg[i + needle.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// The command line `argv` with the flags of its `-C` file added (none given: `args` as
/// it is), parsed again, and where each added flag came from.
pub fn expand(args: Args, argv: &[OsString]) -> Result<(Args, Lines), anyhow::Error> {
    let Some(path) = args.config.clone() else {
        return Ok((args, Lines::default()));
    };
    let text = std::fs::read(&path)
        .map_err(|e| UsageError(format!("-C/--config: {}: {e}", path.display())))?;
    let at =
        |line: usize, msg: String| UsageError(format!("{}, line {line}: {msg}", path.display()));
    let text = String::from_utf8(text)
        .map_err(|_| UsageError(format!("-C/--config: {}: not UTF-8 text", path.display())))?;
    let entries = parse(&text).map_err(|(line, msg)| at(line, msg))?;
    let cmd = Args::command();
    let mut tokens: Vec<OsString> = Vec::new();
    let mut lines = Lines {
        file: path.clone(),
        lines: BTreeMap::new(),
    };
    for e in &entries {
        let arg = lookup(&cmd, &e.key).ok_or_else(|| {
            at(
                e.line,
                format!(
                    "unknown key {:?} (a key is a long flag name, as in --help)",
                    e.key
                ),
            )
        })?;
        let name = arg_name(arg);
        if REFUSED.contains(&name.as_str()) {
            return Err(at(
                e.line,
                format!("{name:?} cannot be set in a configuration file"),
            )
            .into());
        }
        let token = token(arg, e).map_err(|m| at(e.line, m))?;
        // The value as clap reads it, alone, so that a refusal names this line.
        cmd.clone()
            .try_get_matches_from([OsString::from("synsurvey"), token.clone()])
            .map_err(|c| at(e.line, clap_line(&c)))?;
        if let Some(first) = lines.lines.get(&name) {
            if !matches!(arg.get_action(), ArgAction::Append) {
                return Err(at(e.line, format!("{name:?} is also set on line {first}")).into());
            }
        }
        if !overridden(&cmd, arg, &args) {
            lines.lines.entry(name).or_insert(e.line);
            tokens.push(token);
        }
    }
    let mut full: Vec<OsString> = argv.iter().take(1).cloned().collect();
    full.extend(tokens);
    full.extend(argv.iter().skip(1).cloned());
    Ok((Args::parse_argv(full)?, lines))
}

/// The flag a key names: a long name or visible alias, or a one-letter short name.
fn lookup<'a>(cmd: &'a clap::Command, key: &str) -> Option<&'a Arg> {
    let mut chars = key.chars();
    let short = match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    };
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(key)
            || a.get_all_aliases().is_some_and(|al| al.contains(&key))
            || (short.is_some() && a.get_short() == short)
    })
}

/// The command-line form of an entry: `--long=value`, or `--long` for a bare key.
fn token(arg: &Arg, e: &Entry) -> Result<OsString, String> {
    let long = arg
        .get_long()
        .ok_or_else(|| format!("{:?} is not a flag", e.key))?;
    match (arg.get_action().takes_values(), &e.value) {
        (true, Some(v)) => Ok(format!("--{long}={v}").into()),
        (true, None) => Err(format!("{:?} needs a value ({long} VALUE)", e.key)),
        (false, None) => Ok(format!("--{long}").into()),
        (false, Some(v)) => Err(format!(
            "{:?} takes no value (a bare {long} line sets it), not {v:?}",
            e.key
        )),
    }
}

/// Whether the command line gives `arg`, or a flag that excludes it: then the file's
/// value gives way.
fn overridden(cmd: &clap::Command, arg: &Arg, args: &Args) -> bool {
    let given = |a: &Arg| args.given.0.contains_key(&arg_name(a));
    given(arg) || cmd.get_arg_conflicts_with(arg).into_iter().any(given)
}

/// The entries of a file, or the line and the reason it cannot be read.
fn parse(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut entries = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if let Some(e) = parse_line(raw).map_err(|m| (i + 1, m))? {
            entries.push(Entry { line: i + 1, ..e });
        }
    }
    Ok(entries)
}

const SPACE: &[char] = &[' ', '\t', '\r', '\n'];

/// One line: `key`, `key value`, `key = value`, `key "quoted value"`, each with an
/// optional `# comment`; `None` for a blank or comment line.
fn parse_line(raw: &str) -> Result<Option<Entry>, String> {
    let line = raw.trim_start_matches(SPACE);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let end = line
        .find(|c| SPACE.contains(&c) || c == '=')
        .unwrap_or(line.len());
    let key = line[..end].to_string();
    let mut rest = line[end..].trim_start_matches(SPACE);
    let equal = rest.starts_with('=');
    if equal {
        rest = rest[1..].trim_start_matches(SPACE);
    }
    let (value, after) = if let Some(quoted) = rest.strip_prefix('"') {
        let close = quoted
            .find('"')
            .ok_or("unterminated string (a value that opens with \" must close with \")")?;
        (Some(quoted[..close].to_string()), &quoted[close + 1..])
    } else {
        let end = rest
            .find(|c| SPACE.contains(&c) || matches!(c, '#' | '\'' | '"'))
            .unwrap_or(rest.len());
        let v = &rest[..end];
        let value = (!v.is_empty() || equal).then(|| v.to_string());
        (value, &rest[end..])
    };
    let after = after.trim_start_matches(SPACE);
    if !(after.is_empty() || after.starts_with('#')) {
        return Err(format!(
            "more than one value after {key:?} (quote a value with spaces: {key} \"a b\")"
        ));
    }
    Ok(Some(Entry {
        line: 0,
        key,
        value,
    }))
}

#[cfg(test)]
mod test {
    use super::*;

    fn entry(key: &str, value: Option<&str>) -> Option<Entry> {
        Some(Entry {
            line: 0,
            key: key.into(),
            value: value.map(Into::into),
        })
    }

    #[test]
    fn lines() {
        assert_eq!(parse_line("").unwrap(), None);
        assert_eq!(parse_line("   # comment").unwrap(), None);
        assert_eq!(parse_line("rate 100").unwrap(), entry("rate", Some("100")));
        assert_eq!(
            parse_line("  rate=100").unwrap(),
            entry("rate", Some("100"))
        );
        assert_eq!(
            parse_line("rate = 100 # pps").unwrap(),
            entry("rate", Some("100"))
        );
        assert_eq!(
            parse_line("rate 100#pps").unwrap(),
            entry("rate", Some("100"))
        );
        assert_eq!(parse_line("dryrun").unwrap(), entry("dryrun", None));
        assert_eq!(parse_line("dryrun # why").unwrap(), entry("dryrun", None));
        assert_eq!(
            parse_line("notes \"a b # c\" # x").unwrap(),
            entry("notes", Some("a b # c"))
        );
        assert_eq!(parse_line("notes =").unwrap(), entry("notes", Some("")));
        assert_eq!(
            parse_line("rate\t100\r").unwrap(),
            entry("rate", Some("100"))
        );
    }

    #[test]
    fn bad_lines() {
        assert!(parse_line("notes \"open")
            .unwrap_err()
            .contains("unterminated"));
        assert!(parse_line("rate 100 200")
            .unwrap_err()
            .contains("more than one value"));
        assert!(parse_line("notes \"a\" b")
            .unwrap_err()
            .contains("more than one value"));
    }

    #[test]
    fn line_numbers() {
        let e = parse("# head\n\nrate 5\n  \nquiet\n").unwrap();
        assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 5]);
        assert_eq!(parse("ok 1\nbad \"x\n").unwrap_err().0, 2);
    }

    #[test]
    fn attributes_errors_to_lines() {
        let l = Lines {
            file: "z.conf".into(),
            lines: [("rate".to_string(), 4)].into(),
        };
        let e = l.attribute(UsageError("-r/--rate: \"x\" is not a number".into()));
        assert_eq!(e.0, "z.conf, line 4: -r/--rate: \"x\" is not a number");
        // `--rate-x` is not `--rate`; an error about another flag is left alone.
        let other = UsageError("--rate-x: bad".into());
        assert_eq!(l.attribute(other.clone()), other);
    }
}
