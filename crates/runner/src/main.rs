//! `dlab`: the command line of the diffusion lab. It parses, plans, calls the library
//! crates and writes results; the science lives in the crates below it.

mod commands;
mod overrides;
mod table;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "dlab",
    version,
    about = "Score-based diffusion research workspace: schedules, samplers, experiments"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a noise schedule as CSV (columns i,t,sigma,s,alpha_bar,beta) or write Parquet.
    Schedule(commands::schedule::ScheduleArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Schedule(args) => commands::schedule::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
