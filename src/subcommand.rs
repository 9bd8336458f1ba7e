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
use crate::usage::{self, parse, UsageError};

/// One subcommand: its name, its clap command (for help, the man page and completions)
/// and what runs it, given the arguments after its name (parsed in the table's row).
pub struct Subcommand {
    pub name: &'static str,
    pub command: fn() -> clap::Command,
    pub run: fn(Vec<OsString>) -> anyhow::Result<ExitCode>,
}

/// Every subcommand, in the order the man page lists them.
pub const SUBCOMMANDS: &[Subcommand] = &[
    Subcommand {
        name: "merge",
        command: crate::merge::MergeArgs::command,
        run: |argv| crate::merge::run(parse(argv)?),
    },
    Subcommand {
        name: "report",
        command: crate::report::ReportArgs::command,
        run: |argv| crate::report::run(parse(argv)?),
    },
    Subcommand {
        name: "probing-txt",
        command: crate::notice::probing::clap_command,
        run: |argv| write_stdout(crate::notice::probing::text_for(argv)?.as_bytes()),
    },
    Subcommand {
        name: "split",
        command: crate::split::SplitArgs::command,
        run: |argv| crate::split::run(parse(argv)?),
    },
    Subcommand {
        name: "completions",
        command: CompletionsArgs::command,
        run: |argv| completions(parse(argv)?),
    },
    Subcommand {
        name: "man",
        command: ManArgs::command,
        run: |argv| man(parse(argv)?),
    },
];

/// Runs the subcommand named by the first argument, if it names one; `None` means the
/// command line is a scan's.
pub fn dispatch(mut argv: Vec<OsString>) -> Option<ExitCode> {
    let first = argv.get(1)?.to_str()?;
    let sub = SUBCOMMANDS.iter().find(|s| s.name == first)?;
    // clap sees `synsurvey report ...`, so that its messages name the subcommand.
    let program = format!("synsurvey {}", sub.name);
    argv.remove(0);
    argv[0] = program.clone().into();
    Some(usage::exit(&program, (sub.run)(argv)))
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

fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut full_command(), "synsurvey", &mut out);
    write_stdout(&out)
}

fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let cmd = full_command();
    let page = match &args.subcommand {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            // clap_mangen names the page after the command: `synsurvey-report`.
            Some(sub) => sub.clone().name(format!("synsurvey-{name}")),
            None => {
                let names: Vec<&str> = SUBCOMMANDS.iter().map(|s| s.name).collect();
                return Err(UsageError(format!(
                    "no subcommand {name:?} (one of: {})",
                    names.join(", ")
                ))
                .into());
            }
        },
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    write_stdout(&out)
}

/// Writes all of `bytes` to standard output; a closed pipe (`| head`) is not an error.
pub(crate) fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(anyhow::anyhow!("standard output: {e}")),
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
