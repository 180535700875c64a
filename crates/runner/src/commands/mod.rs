//! One module per group of `dlab` subcommands.

pub mod bench;
pub mod experiment;
pub mod features;
pub mod fid;
pub mod report;
pub mod schedule;
pub mod submit;
pub mod validate;
