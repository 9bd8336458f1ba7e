//! The man page and the shell completions, checked with the programs that consume them:
//! `man -l` renders the page, and bash, zsh and fish parse the completion scripts; bash
//! also completes a flag and a subcommand. None of this needs privileges.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use common::*;

/// The standard output of `synsurvey ARGS`, which must succeed.
fn stdout_of(args: &[&str]) -> String {
    String::from_utf8(output_ok(Command::new(synsurvey()).args(args)).stdout).unwrap()
}

/// Every long flag that `--help` lists (of the scan, or of a subcommand).
fn long_flags(help: &str) -> BTreeSet<String> {
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .collect()
}

/// `man -l FILE` as plain text, wide enough that no flag is hyphenated across lines.
fn render_man(roff: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("synsurvey.1");
    std::fs::write(&page, roff).unwrap();
    let out = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANWIDTH", "300")
        .env("LANG", "C")
        .env("MAN_DISABLE_SECCOMP", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run man (apt-get install man-db)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "man -l: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn man_page_renders_and_documents_every_flag() {
    let text = render_man(&stdout_of(&["man"]));
    let flags = long_flags(&stdout_of(&["--help"]));
    assert!(flags.len() > 25, "{flags:?}");
    for flag in &flags {
        assert!(
            text.contains(flag.as_str()),
            "{flag} missing from the man page:\n{text}"
        );
    }
    for sub in ["report", "completions", "man"] {
        assert!(text.contains(sub), "subcommand {sub} missing:\n{text}");
    }
    // The report's own page, with its own flags.
    let report = render_man(&stdout_of(&["man", "report"]));
    for flag in long_flags(&stdout_of(&["report", "--help"])) {
        assert!(report.contains(flag.as_str()), "{flag} missing:\n{report}");
    }
}

#[test]
fn man_refuses_an_unknown_subcommand() {
    let err = usage_error(["man", "nope"]);
    assert!(err.contains("\"nope\""), "{err}");
}

/// What bash's programmable completion offers for the words of `line` (the last one is
/// being completed), with the script `synsurvey completions bash` printed.
fn bash_complete(script: &std::path::Path, line: &[&str]) -> BTreeSet<String> {
    let words = line
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let program = format!(
        "source '{}'\nCOMP_WORDS=({words})\nCOMP_CWORD={}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n_synsurvey synsurvey \"${{COMP_WORDS[COMP_CWORD]}}\" \
         \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        line.len() - 1
    );
    let out = output_ok(Command::new("bash").args(["--norc", "--noprofile", "-c", &program]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn bash_completion_parses_and_completes_flags_and_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("synsurvey.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    output_ok(Command::new("bash").arg("-n").arg(&script));

    let got = bash_complete(&script, &["synsurvey", "--target-p"]);
    assert_eq!(got, BTreeSet::from(["--target-ports".to_string()]));
    let got = bash_complete(&script, &["synsurvey", "--sender"]);
    assert_eq!(got, BTreeSet::from(["--sender-threads".to_string()]));
    let got = bash_complete(&script, &["synsurvey", "rep"]);
    assert!(got.contains("report"), "{got:?}");
    let got = bash_complete(&script, &["synsurvey", "report", "--metad"]);
    assert_eq!(got, BTreeSet::from(["--metadata-file".to_string()]));
    let got = bash_complete(&script, &["synsurvey", "completions", "z"]);
    assert_eq!(got, BTreeSet::from(["zsh".to_string()]));
}

#[test]
fn zsh_and_fish_completions_parse() {
    for (shell, check) in [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])] {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join(format!("synsurvey.{shell}"));
        let text = stdout_of(&["completions", shell]);
        assert!(text.contains("target-ports"), "{shell}: {text}");
        std::fs::write(&script, text).unwrap();
        output_ok(Command::new(check[0]).arg(check[1]).arg(&script));
    }
}

#[test]
fn scan_command_lines_keep_working_beside_subcommands() {
    let probes = stdout_of(&words("-d --no-default-blocklist 198.18.0.0/30 -p 80 -q"));
    assert_eq!(read_probes(probes.as_bytes()).len(), 4);
    // A word that is no subcommand is a target, refused as one (exit 2, one line).
    let err = usage_error(["reprot", "-p", "80"]);
    assert!(err.contains("target \"reprot\""), "{err}");
}

/// Every command reports a bad flag the same way: one line that names the command, the
/// flag and `--help`, exit 2, nothing on standard output; `--help` is exit 0.
#[test]
fn every_command_has_one_usage_error_path() {
    for (cmd, program) in [
        (&[][..], "synsurvey: "),
        (&["merge"][..], "synsurvey merge: "),
        (&["report"][..], "synsurvey report: "),
        (&["completions"][..], "synsurvey completions: "),
        (&["man"][..], "synsurvey man: "),
    ] {
        let mut args = cmd.to_vec();
        args.push("--no-such-flag");
        let err = usage_error(&args);
        assert!(err.starts_with(program), "{args:?}: {err}");
        assert!(
            err.contains("'--no-such-flag'") && err.trim_end().ends_with("(see --help)"),
            "{args:?}: {err}"
        );
        let mut args = cmd.to_vec();
        args.push("--help");
        assert!(stdout_of(&args).contains("Usage:"), "{args:?}");
    }
}
