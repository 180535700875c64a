//! One module per `dlab` subcommand.

pub mod schedule;
