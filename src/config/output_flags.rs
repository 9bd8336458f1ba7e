//! The output flags (`-O`, `-f`, `--output-filter`, `-M`, `-u`, `--notes`,
//! `--user-metadata`, the `--list-*` flags), validated into an [`OutputSpec`]. The output
//! stage takes the spec; only this file reads the command line for it.

use crate::cli::Args;
use crate::output::fields::{self, Field};
use crate::output::filter::Filter;
use crate::output::spec::{
    columns, parse_fields, Module, OutputSpec, OUTPUT_MODULES, PROBE_MODULES,
};
use crate::usage::{err, UsageError};

impl OutputSpec {
    /// Validates the output flags; `ports` is the number of probed ports (for ZMap's CSV
    /// default).
    pub fn from_args(a: &Args, ports: usize) -> Result<OutputSpec, UsageError> {
        let module = match a.output_module.as_deref().map(str::trim) {
            None | Some("json") => Module::Json,
            // ZMap's "default" module is CSV.
            Some("csv") | Some("default") => Module::Csv,
            Some(m) => {
                return err(format!(
                    "-O/--output-module: unknown module {m:?} (synsurvey has: {})",
                    OUTPUT_MODULES.join(", ")
                ))
            }
        };
        let probe_module = match a.probe_module.as_deref().map(str::trim) {
            None | Some("tcp_synscan") => PROBE_MODULES[0],
            Some(m) => {
                return err(format!(
                    "-M/--probe-module: unknown module {m:?} (synsurvey has: {})",
                    PROBE_MODULES.join(", ")
                ))
            }
        };
        // ZMap 4.3 decides these by whether -O was given at all (see OutputSpec).
        let named = a.output_module.is_some();
        let fields = match &a.output_fields {
            Some(list) => Some(parse_fields(list)?),
            None if !named => None,
            None if ports > 1 => Some(columns(&[Field::Saddr, Field::Sport])),
            None => Some(columns(&[Field::Saddr])),
        };
        let filter = match (&a.output_filter, a.all_responses) {
            (Some(_), true) => {
                return err("--all-responses is --output-filter=\"\": give one or the other")
            }
            (Some(f), false) => {
                Filter::parse(f).map_err(|e| UsageError(format!("--output-filter: {e}: {f:?}")))?
            }
            (None, true) => Filter::All,
            (None, false) if named => Filter::All,
            (None, false) => Filter::zmap_default(),
        };
        let header_row = module == Module::Csv && !a.no_header_row;
        let user_metadata = a
            .user_metadata
            .as_deref()
            .map(|s| {
                serde_json::from_str::<serde_json::Value>(s)
                    .map_err(|e| UsageError(format!("--user-metadata: not valid JSON ({e})")))
            })
            .transpose()?;
        if let Some(p) = &a.status_updates_file {
            if p.is_dir() {
                return err(format!(
                    "-u/--status-updates-file: {} is a directory",
                    p.display()
                ));
            }
        }
        Ok(OutputSpec {
            module,
            fields,
            filter_text: a.output_filter.clone(),
            filter,
            header_row,
            probe_module,
            status_updates_file: a.status_updates_file.clone(),
            notes: a.notes.clone(),
            user_metadata,
        })
    }
}

/// `--list-output-fields` and `--list-output-modules`/`--list-probe-modules`: the text to
/// print, if one was asked for.
pub fn listing(a: &Args) -> Option<String> {
    if a.list_output_fields {
        return Some(fields::list());
    }
    if a.list_output_modules {
        return Some(format!("{}\n", OUTPUT_MODULES.join("\n")));
    }
    if a.list_probe_modules {
        return Some(format!("{}\n", PROBE_MODULES.join("\n")));
    }
    None
}
