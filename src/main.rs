//! The `synsurvey` command: parse, validate, run, and turn the outcome into an exit code.

use std::ffi::OsString;
use std::process::ExitCode;

use synsurvey::cli::Args;
use synsurvey::config::Config;
use synsurvey::scan::End;
use synsurvey::usage::{self, UsageError};
use synsurvey::{plan, resume};

fn main() -> ExitCode {
    // `synsurvey merge ...`, `report`, `completions`, `man`: a leading word; anything else
    // is a scan.
    if let Some(code) = synsurvey::subcommand::dispatch(std::env::args_os().collect()) {
        return code;
    }
    usage::exit("synsurvey", scan(std::env::args_os().collect()))
}

/// A scan: the command line (completed from the checkpoint with `--resume`), the
/// configuration, the check that a checkpoint to resume belongs to it, and the run.
fn scan(argv: Vec<OsString>) -> anyhow::Result<ExitCode> {
    let args = Args::parse_argv(argv.clone())?;
    let (args, from_file) = synsurvey::config_file::expand(args, &argv)?;
    if let Some(text) = synsurvey::config::output_flags::listing(&args) {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let (args, checkpoint) = resume::start(args)?;
    let config = Config::from_args(&args, checkpoint).map_err(|e| from_file.attribute(e))?;
    plan::check_resume(&config)?;
    run(&config)
}

fn run(config: &Config) -> anyhow::Result<ExitCode> {
    if config.dryrun() {
        // A bad -o path is a usage error like any other file named on the command line.
        let mut out = synsurvey::output::open(
            config.output_target(),
            config.resuming(),
            config.file_mode(),
        )
        .map_err(|e| UsageError(e.to_string()))?;
        return Ok(exit_code(synsurvey::scan::dry_run(config, &mut out)?));
    }
    let argv: Vec<String> = std::env::args().collect();
    Ok(exit_code(synsurvey::scan::live(config, argv)?))
}

fn exit_code(end: End) -> ExitCode {
    match end {
        End::Interrupted(sig) => ExitCode::from((128 + sig).clamp(0, 255) as u8),
        End::Failed => ExitCode::FAILURE,
        End::Completed | End::MaxRuntime | End::MaxResults | End::OutputClosed => ExitCode::SUCCESS,
    }
}
