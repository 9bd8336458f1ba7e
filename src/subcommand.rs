//! Subcommands beside the scan: `synsurvey merge`, `report`, `probing-txt`, `split`,
//! `completions` and `man`.
//!
//! A scan's command line has no subcommand (`synsurvey 198.18.0.0/16 -p 80`), as ZMap's,
//! and every such command line keeps working: [`dispatch`] looks only at the first
//! argument, and only a word of [`SUBCOMMANDS`] there (never an address or a flag) selects
//! a subcommand. Adding one is one row in that table. Usage errors exit 2 with one line,
//! as the scan's do.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::Args;

/// Exit code for a usage error, as for the scan.
pub const EXIT_USAGE: u8 = 2;

/// One subcommand: its name, its clap command (for help, the man page and completions)
/// and what runs it, given the arguments after its name.
pub struct Subcommand {
    pub name: &'static str,
    pub command: fn() -> clap::Command,
    pub run: fn(Vec<OsString>) -> ExitCode,
}

/// Every subcommand, in the order the man page lists them.
pub const SUBCOMMANDS: &[Subcommand] = &[
    Subcommand {
        name: "merge",
        command: crate::merge::MergeArgs::command,
        run: crate::merge::command,
    },
    Subcommand {
        name: "report",
        command: crate::report::ReportArgs::command,
        run: crate::report::main,
    },
    Subcommand {
        name: "probing-txt",
        command: crate::notice::probing::clap_command,
        run: crate::notice::probing::command,
    },
    Subcommand {
        name: "split",
        command: crate::split::SplitArgs::command,
        run: crate::split::command,
    },
    Subcommand {
        name: "completions",
        command: CompletionsArgs::command,
        run: completions_main,
    },
    Subcommand {
        name: "man",
        command: ManArgs::command,
        run: man_main,
    },
];

/// Runs the subcommand named by the first argument, if it names one; `None` means the
/// command line is a scan's.
pub fn dispatch(mut argv: Vec<OsString>) -> Option<ExitCode> {
    let first = argv.get(1)?.to_str()?;
    let sub = SUBCOMMANDS.iter().find(|s| s.name == first)?;
    // clap sees `synsurvey report ...`, so that its messages name the subcommand.
    let program = argv.remove(0);
    argv[0] = format!("{} {}", program.to_string_lossy(), sub.name).into();
    Some((sub.run)(argv))
}

/// The whole command line interface as one clap command: the scan's flags, with the
/// subcommands attached, as the man page and the completions describe it.
pub fn full_command() -> clap::Command {
    let mut cmd = Args::command().args_conflicts_with_subcommands(true);
    for sub in SUBCOMMANDS {
        cmd = cmd.subcommand((sub.command)().name(sub.name));
    }
    cmd
}

/// Parses a subcommand's arguments; help and version go to standard output, anything
/// else is a one-line usage error on standard error.
pub fn parse<P: Parser>(argv: Vec<OsString>) -> Result<P, ExitCode> {
    P::try_parse_from(argv).map_err(|e| {
        use clap::error::ErrorKind;
        if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // clap's message up to its usage hint, on one line (a missing argument's name is
        // on the line after the first).
        let text = e.render().to_string();
        let words: Vec<&str> = text
            .lines()
            .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
            .map(str::trim)
            .collect();
        let line = words.join(" ");
        let line = line.strip_prefix("error: ").unwrap_or(&line);
        eprintln!("synsurvey: {line} (see --help)");
        ExitCode::from(EXIT_USAGE)
    })
}

/// Print a completion script for SHELL on standard output.
///
/// bash: `synsurvey completions bash > /usr/share/bash-completion/completions/synsurvey`;
/// zsh: into a directory of `$fpath` as `_synsurvey`; fish: into
/// `~/.config/fish/completions/synsurvey.fish`.
#[derive(Debug, Parser)]
#[command(name = "completions")]
pub struct CompletionsArgs {
    /// bash, zsh or fish (also elvish and powershell).
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Print the manual page (roff) on standard output: `synsurvey man > synsurvey.1`.
///
/// With a subcommand's name, its own page (`synsurvey man report > synsurvey-report.1`).
#[derive(Debug, Parser)]
#[command(name = "man")]
pub struct ManArgs {
    /// A subcommand whose page to print instead of the main one.
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

fn completions_main(argv: Vec<OsString>) -> ExitCode {
    let args: CompletionsArgs = match parse(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut full_command(), "synsurvey", &mut out);
    write_stdout(&out)
}

fn man_main(argv: Vec<OsString>) -> ExitCode {
    let args: ManArgs = match parse(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let cmd = full_command();
    let page = match &args.subcommand {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            // clap_mangen names the page after the command: `synsurvey-report`.
            Some(sub) => sub.clone().name(format!("synsurvey-{name}")),
            None => {
                let names: Vec<&str> = SUBCOMMANDS.iter().map(|s| s.name).collect();
                eprintln!(
                    "synsurvey: man: no subcommand {name:?} (one of: {})",
                    names.join(", ")
                );
                return ExitCode::from(EXIT_USAGE);
            }
        },
    };
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(page).render(&mut out) {
        eprintln!("synsurvey: man: {e}");
        return ExitCode::FAILURE;
    }
    write_stdout(&out)
}

/// Writes all of `bytes` to standard output; a closed pipe (`| head`) is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synsurvey: standard output: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_command_is_consistent() {
        // clap's own checks: no duplicate flags, valid defaults, subcommands well formed.
        full_command().debug_assert();
    }

    #[test]
    fn only_a_leading_subcommand_word_dispatches() {
        let argv = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        // A scan's command lines are left alone, also when a later word is a subcommand's.
        assert!(dispatch(argv(&["synsurvey", "198.18.0.0/16", "-p", "80"])).is_none());
        assert!(dispatch(argv(&["synsurvey", "-p", "80", "report"])).is_none());
        assert!(dispatch(argv(&["synsurvey"])).is_none());
    }
}
