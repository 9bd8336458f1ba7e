//! The `synsurvey` command: parse, validate, run, and turn the outcome into an exit code.

use std::process::ExitCode;

use synsurvey::cli::Args;
use synsurvey::config::Config;
use synsurvey::plan;
use synsurvey::scan::End;

/// Exit code for a usage error: bad flags, values or files, refused before anything is sent.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    // `synsurvey merge ...`, `report`, `completions`, `man`: a leading word; anything else
    // is a scan.
    if let Some(code) = synsurvey::subcommand::dispatch(std::env::args_os().collect()) {
        return code;
    }
    let args = match Args::parse_argv(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // clap's message, first line only: the usage hint that follows is noise here.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("synsurvey: {first} (see --help)");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Some(text) = synsurvey::output::spec::listing(&args) {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    // The configuration, then the check that a checkpoint to resume belongs to it.
    let config = match Config::from_args(&args).and_then(|c| plan::check_resume(&c).map(|()| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("synsurvey: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("synsurvey: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &Config) -> anyhow::Result<ExitCode> {
    if config.dryrun() {
        let mut out = match synsurvey::output::open(
            config.output_target(),
            config.resuming(),
            config.file_mode(),
        ) {
            Ok(out) => out,
            // A bad -o path is a usage error like any other file named on the command line.
            Err(e) => {
                eprintln!("synsurvey: {e}");
                return Ok(ExitCode::from(EXIT_USAGE));
            }
        };
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
