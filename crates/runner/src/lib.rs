//! The library behind the `dlab` binary: an experiment file in, a Parquet table, plots
//! and a manifest out. The science lives in the crates below it; this crate parses,
//! plans, builds what cells share, calls the tasks and writes. Modules depend one way,
//! in the order of the pipeline:
//!
//! | stage | files | what it does |
//! |---|---|---|
//! | files | `files.rs`, `progress.rs` | atomic writes under unique temporary names, advisory file locks; progress bars |
//! | hash | `hash.rs` | the identity of a configuration (run directories, cells, cache entries) |
//! | config | `config/{mod,sweep,plot,tasks}.rs`, `overrides.rs` | the schema, profiles, `--set`, every check of a key, `file:line` of a key |
//! | plan | `plan.rs` | the cells of a sweep, their seeds and identities, shards |
//! | build | `build/{memo,cache,context,network,features}.rs` | what cells share: data, denoisers, networks, fits, feature networks; once per process, cache entries once under a lock |
//! | tasks | `tasks.rs`, `tasks/*.rs` | what one cell measures, by `experiment.task`, and the columns it writes |
//! | execute | `execute/{mod,preflight,cells,records,assemble,manifest}.rs` | checks before work, parallel cells, records, the table, the manifest |
//! | table, plot, check | `table.rs`, `plot.rs`, `image_grid.rs`, `check.rs` | Parquet tables, figures, baselines |
//! | commands | `commands/*.rs`, `main.rs` | one module per group of `dlab` subcommands; `main.rs` only dispatches |

pub mod build;
pub mod check;
pub mod commands;
pub mod config;
pub mod execute;
pub mod files;
pub mod hash;
pub mod image_grid;
pub mod overrides;
pub mod plan;
pub mod plot;
pub mod progress;
pub mod table;
pub mod tasks;

include!(concat!(env!("OUT_DIR"), "/crate_versions.rs"));

/// (crate, version) pairs recorded in run manifests.
pub fn crate_versions() -> &'static [(&'static str, &'static str)] {
    CRATE_VERSIONS
}
