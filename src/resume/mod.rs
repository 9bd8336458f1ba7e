//! Checkpoints and `--resume`: one room for the file, the command line it records, and
//! the identity that says which scan it belongs to.
//!
//! * [`format`]: the checkpoint file (seed, key, walk positions, totals), read back with
//!   its checks and saved atomically. It knows targets and keys, never the scan that
//!   writes it (the periodic saves of a live scan are `scan::checkpointing`'s).
//! * [`command`]: the command line a checkpoint records, and a resumed run's completed
//!   from it.
//! * [`identity`]: what identifies a scan ([`ScanIdentity`]) and the checks that a
//!   checkpoint belongs to the scan about to run.
//!
//! A resumed scan starts in `main`: [`start`] loads the checkpoint and completes the
//! command line before the configuration is built from it; once it is built, the plan
//! checks the checkpoint against it (`plan::check_resume`).

pub mod command;
pub mod format;
pub mod identity;

pub use command::{record, Command, InputFile};
pub use format::{Checkpoint, ThreadProgress, ThreadState, Totals};
pub use identity::{json_hash, Differences, ScanIdentity};

use crate::cli::Args;
use crate::usage::UsageError;

/// The command line to build the configuration from, and the checkpoint it continues: with
/// `--resume FILE`, the checkpoint read and the command line completed from it; else `a`
/// as given.
pub fn start(a: Args) -> Result<(Args, Option<Checkpoint>), UsageError> {
    let Some(path) = a.resume.as_deref() else {
        return Ok((a, None));
    };
    let checkpoint = Checkpoint::load(path)?;
    let completed = command::complete(&a, &checkpoint)?;
    Ok((completed, Some(checkpoint)))
}
