//! `--probe-args`: which TCP option set the probes carry (see [`crate::probe::options`]).

use crate::cli::Args;
use crate::probe::options::{OptionSet, ZMAP_SETS};
use crate::usage::{err, UsageError};

/// The option set `--probe-args` names; synsurvey's own without it.
pub(crate) fn option_set(a: &Args) -> Result<OptionSet, UsageError> {
    let Some(value) = a.probe_args.as_deref() else {
        return Ok(OptionSet::Default);
    };
    match OptionSet::from_zmap_name(value.trim()) {
        Some(set) => Ok(set),
        None => err(format!(
            "--probe-args: {value:?} is not a TCP option set; give one of {}",
            ZMAP_SETS.join(", ")
        )),
    }
}
