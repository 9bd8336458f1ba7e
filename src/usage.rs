//! Usage errors: the one error type for a bad command line or a file it names, the one
//! exit code they end with, and the one path from any error to its line on standard error.
//!
//! Every command (the scan and each subcommand) returns `anyhow::Result<ExitCode>` and
//! hands it to [`exit`]: a clap error (a bad flag) and a [`UsageError`] (a bad value or
//! file, found later) become one line and exit [`EXIT_USAGE`], before anything is sent or
//! written; clap's help and version print and exit 0; any other error is one line and
//! exit 1.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

/// Exit code for a usage error: bad flags, values or files, refused before anything is sent.
pub const EXIT_USAGE: u8 = 2;

/// A problem with the command line or a file it names. Displayed as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// `Err(UsageError(msg))`.
pub fn err<T>(msg: impl Into<String>) -> Result<T, UsageError> {
    Err(UsageError(msg.into()))
}

/// Parses a command's arguments (`argv[0]` is the program). A clap error is returned as
/// is, for [`exit`] to print.
pub fn parse<P: Parser>(argv: Vec<OsString>) -> anyhow::Result<P> {
    Ok(P::try_parse_from(argv)?)
}

/// A clap error in one line, without its `error: ` and its usage hint: the message and the
/// lines it announces (a missing argument's name is on the line after the first).
pub fn clap_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let words: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
        .map(str::trim)
        .collect();
    let line = words.join(" ");
    match line.strip_prefix("error: ") {
        Some(l) => l.to_string(),
        None if line.is_empty() => "invalid arguments".to_string(),
        None => line,
    }
}

/// The exit code of a command's outcome, its error printed on standard error as one line
/// that starts with `program` (`synsurvey`, `synsurvey merge`).
pub fn exit(program: &str, outcome: anyhow::Result<ExitCode>) -> ExitCode {
    let e = match outcome {
        Ok(code) => return code,
        Err(e) => e,
    };
    if let Some(c) = e.downcast_ref::<clap::Error>() {
        if matches!(c.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
            let _ = c.print();
            return ExitCode::SUCCESS;
        }
        eprintln!("{program}: {} (see --help)", clap_line(c));
        return ExitCode::from(EXIT_USAGE);
    }
    // `{:#}` keeps the context chain on one line; a usage error may carry context too.
    let line = format!("{e:#}").replace('\n', " ");
    eprintln!("{program}: {line}");
    if e.chain().any(|c| c.is::<UsageError>()) {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[derive(Debug, Parser)]
    struct Demo {
        #[arg(long, required = true)]
        needed: u32,
    }

    fn parse_demo(argv: &[&str]) -> anyhow::Result<Demo> {
        parse(argv.iter().map(OsString::from).collect())
    }

    #[test]
    fn a_clap_error_is_one_line_naming_what_is_wrong() {
        let e = parse_demo(&["demo"]).unwrap_err();
        let line = clap_line(e.downcast_ref::<clap::Error>().unwrap());
        assert!(!line.contains('\n') && line.contains("--needed"), "{line}");
        assert!(!line.starts_with("error:"), "{line}");
        let e = parse_demo(&["demo", "--needed", "x"]).unwrap_err();
        let line = clap_line(e.downcast_ref::<clap::Error>().unwrap());
        assert!(line.contains("'x'") && !line.contains('\n'), "{line}");
    }

    #[test]
    fn codes_follow_the_kind_of_error() {
        let usage = anyhow::Error::new(UsageError("bad".into())).context("reading x");
        assert_eq!(exit("t", Err(usage)), ExitCode::from(EXIT_USAGE));
        assert_eq!(exit("t", Err(anyhow::anyhow!("io"))), ExitCode::FAILURE);
        let clap = parse_demo(&["demo"]).unwrap_err();
        assert_eq!(exit("t", Err(clap)), ExitCode::from(EXIT_USAGE));
        assert_eq!(exit("t", Ok(ExitCode::from(7))), ExitCode::from(7));
    }
}
