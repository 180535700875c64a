//! One module per group of `dlab` subcommands.

pub mod experiment;
pub mod report;
pub mod schedule;
