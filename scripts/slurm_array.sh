#!/usr/bin/env bash
# Run an experiment as a Slurm job array: one shard per array task, then merge. `dlab submit`
# writes and submits such a job and its merge job for you; this script is the manual route.
#
#   sbatch --array=0-7 scripts/slurm_array.sh experiments/sampler_convergence.toml full
#   # after all tasks finished (or as a dependent job, --dependency=afterok:<jobid>):
#   dlab merge results/runs/sampler_convergence/full-*.shard-*-of-8
#
# Every shard writes its own directory results/runs/<name>/<run-id>.shard-<i>-of-<n>/;
# cells are assigned round-robin and each cell's seed depends only on its parameters, so
# the merged table equals the table of a single run. Works with any batch scheduler that
# provides a task index and count.
#SBATCH --job-name=dlab
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
set -euo pipefail

experiment="${1:?usage: slurm_array.sh EXPERIMENT.toml [PROFILE]}"
profile="${2:-full}"
index="${SLURM_ARRAY_TASK_ID:?run under sbatch --array, or set SLURM_ARRAY_TASK_ID}"
count="${SLURM_ARRAY_TASK_COUNT:?run under sbatch --array, or set SLURM_ARRAY_TASK_COUNT}"
dlab="${DLAB:-target/debug/dlab}"

[ -x "$dlab" ] || cargo build --bin dlab
"$dlab" run "$experiment" --profile "$profile" --shard "${index}/${count}"
