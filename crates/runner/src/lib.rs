//! The library behind the `dlab` binary: experiment files, sweeps, execution with
//! resume and caching, result tables, plots, manifests, regression checks and reports.
//! The science lives in the crates below it; this crate parses, plans, calls and writes.

pub mod build;
pub mod check;
pub mod commands;
pub mod config;
pub mod execute;
pub mod files;
pub mod image_grid;
pub mod overrides;
pub mod plan;
pub mod plot;
pub mod table;
pub mod tasks;

include!(concat!(env!("OUT_DIR"), "/crate_versions.rs"));

/// (crate, version) pairs recorded in run manifests.
pub fn crate_versions() -> &'static [(&'static str, &'static str)] {
    CRATE_VERSIONS
}
