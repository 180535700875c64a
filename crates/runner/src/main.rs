//! `dlab`: the command line of the diffusion lab (see the `runner` library for the parts).

use clap::{Parser, Subcommand};
use runner::commands;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "dlab",
    version,
    about = "Score-based diffusion research workspace: schedules, samplers, experiments",
    long_about = "Runs diffusion experiments written as TOML files (experiments/*.toml) and writes \
                  each result as a Parquet table, plots and a manifest under results/runs/. \
                  See experiments/README.md for every key."
)]
struct Cli {
    /// Directory holding runs/, cache/ and baselines/.
    #[arg(long, global = true, default_value = "results")]
    results: PathBuf,
    /// Log progress (tracing) to stderr; -vv for more.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a noise schedule as CSV (columns i,t,sigma,s,alpha_bar,beta) or write Parquet.
    Schedule(commands::schedule::ScheduleArgs),
    /// Run an experiment (resuming finished cells) and write table, plots and manifest.
    Run(commands::experiment::RunArgs),
    /// Check an experiment without running it (every check `run` makes before its first
    /// cell) and print the plan: cells, networks to train, samples per cell. Exit 0 or 1.
    Validate(commands::experiment::ExperimentArgs),
    /// Run (or reuse) an experiment and compare it with its committed baseline; exit 1 on drift.
    Check(commands::experiment::ExperimentArgs),
    /// Run (or reuse) an experiment and write its table as the baseline.
    Bless(commands::experiment::ExperimentArgs),
    /// List the experiments with their profiles and cell counts.
    List {
        /// Directory of experiment files.
        #[arg(default_value = "experiments")]
        dir: PathBuf,
    },
    /// Print a run's table: a run directory or an experiment name (its latest run).
    Show { run: String },
    /// Submit an experiment to Slurm: an array job of N shards (`dlab run --shard i/N`)
    /// and a merge job that runs when all succeeded; prints the job ids and where the
    /// merged table will be. `--dry-run` prints the two scripts instead.
    Submit(commands::submit::SubmitArgs),
    /// Combine shard runs (dlab run --shard i/n) into one run.
    Merge {
        #[arg(required = true)]
        shards: Vec<PathBuf>,
    },
    /// Benchmark training steps (MLP d=64 width 512 batch 256; UNet 8×8 batch 128), the Fréchet distance of 10k×2048 features, the MLP's full Jacobian at 100 points and the FID Inception network on 32 images, against PyTorch/numpy/scipy.
    Bench {
        /// Run one suite only.
        #[arg(long, value_enum)]
        only: Option<commands::bench::Suite>,
    },
    /// Fréchet distance between two feature files (.npy 2-D f32/f64, or Parquet with one numeric column per feature).
    Fd { a: PathBuf, b: PathBuf },
    /// FID between two sets (pytorch-fid's `python -m pytorch_fid A B`): folders of PNG/JPEG
    /// images, .npz with arr_0 or .npy of N×H×W×C images, or .npz statistics (mu, sigma).
    /// Prints `fid: <value>` last.
    Fid {
        a: PathBuf,
        b: PathBuf,
        #[command(flatten)]
        inception: commands::fid::InceptionArgs,
    },
    /// Write the N×2048 Inception-v3 pool3 features of a set of images as float32 .npy.
    Features {
        path: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        inception: commands::fid::InceptionArgs,
    },
    /// Write the FID statistics (mu, sigma as float64) of a set of images as .npz.
    FidStats {
        path: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        inception: commands::fid::InceptionArgs,
    },
    /// Write results/REPORT.md: every experiment's latest table, plots and check status.
    Report {
        /// Directory of experiment files.
        #[arg(long, default_value = "experiments")]
        experiments: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .init();
    let results = &cli.results;
    let outcome = match &cli.command {
        Command::Schedule(args) => commands::schedule::run(args).map(|()| true),
        Command::Run(args) => commands::experiment::run(args, results).map(|()| true),
        Command::Validate(args) => commands::validate::validate(args, results),
        Command::Check(args) => commands::experiment::check(args, results),
        Command::Bless(args) => commands::experiment::bless(args, results).map(|()| true),
        Command::List { dir } => commands::experiment::list(dir).map(|()| true),
        Command::Show { run } => commands::experiment::show(run, results).map(|()| true),
        Command::Submit(args) => commands::submit::submit(args, results).map(|()| true),
        Command::Merge { shards } => commands::experiment::merge(shards).map(|()| true),
        Command::Bench { only } => commands::bench::bench(*only).map(|()| true),
        Command::Fd { a, b } => commands::features::fd(a, b).map(|()| true),
        Command::Fid { a, b, inception } => commands::fid::fid(a, b, inception).map(|()| true),
        Command::Features {
            path,
            out,
            inception,
        } => commands::fid::features(path, out, inception).map(|()| true),
        Command::FidStats {
            path,
            out,
            inception,
        } => commands::fid::fid_stats(path, out, inception).map(|()| true),
        Command::Report { experiments } => {
            commands::report::report(experiments, results).map(|()| true)
        }
    };
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
