#!/usr/bin/env bash
# `dlab submit` against a real Slurm: a single-node cluster on this machine.
#
# 1. Installs slurm-wlm and munge with apt when they are missing (needs root).
# 2. Writes a minimal slurm.conf (this host, 2 CPUs, no accounting) under a scratch
#    directory and starts munged, slurmctld and slurmd; fails within 60 s if they do not
#    come up.
# 3. dlab submit experiments/sampler_convergence.toml --profile smoke --shards 3, waits
#    for the array and the merge job, and checks that every merged cell record equals the
#    record of a single-process run of the same profile, bit for bit (wall time aside).
# 4. dlab submit experiments/skip_steps.toml --profile smoke --shards 3 from an empty
#    cache: the network the shards share is trained once (one "trained … steps" log line
#    over all shards, one cache entry).
# 5. A failing shard leaves the merge job unstarted, and `dlab merge` names the missing
#    shard; resubmitting that shard alone and merging completes the run.
# The daemons it started are stopped by pid on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "check-slurm: $*"; }
fail() { echo "check-slurm: FAILED: $*" >&2; exit 1; }

if ! command -v sbatch >/dev/null || ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  [ "$(id -u)" = 0 ] || fail "slurm-wlm and munge are missing and installing them needs root"
  say "installing slurm-wlm and munge"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null; } \
    || fail "apt-get install slurm-wlm munge failed"
fi

cargo build --locked --bin dlab -q
dlab="$PWD/${CARGO_TARGET_DIR:-target}/debug/dlab"
scratch="$(mktemp -d /tmp/dlab-slurm.XXXXXX)"
# The daemons this script started, by their pid files (also when it fails half-way).
pid_files=("$scratch/slurmd.pid" "$scratch/slurmctld.pid" "$scratch/munge/munged.pid")
cleanup() {
  local pids=()
  for f in "${pid_files[@]}"; do [ -s "$f" ] && pids+=("$(cat "$f")"); done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

host="$(uname -n | cut -d. -f1)"
cpus=2
mkdir -p "$scratch"/{state,spool,munge,log}
cat >"$scratch/slurm.conf" <<EOF
ClusterName=dlab
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/log/slurmctld.log
SlurmdLogFile=$scratch/log/slurmd.log
SlurmctldPort=$((6817 + RANDOM % 1000))
SlurmdPort=$((7817 + RANDOM % 1000))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$scratch/slurm.conf"

say "starting munged, slurmctld and slurmd (logs in $scratch/log)"
key="$scratch/munge/munge.key"
dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
chmod 400 "$key"
munge_socket="$scratch/munge/munge.socket"
munged --force --key-file="$key" --socket="$munge_socket" \
  --pid-file="$scratch/munge/munged.pid" --log-file="$scratch/log/munged.log" --seed-file="$scratch/munge/seed" \
  || fail "munged did not start (see $scratch/log/munged.log)"
# Slurm's munge plugin reads the socket from its own option.
sed -i "s|^AuthType=auth/munge|AuthType=auth/munge\nAuthInfo=socket=$munge_socket|" "$SLURM_CONF"
slurmctld -i -f "$SLURM_CONF" || fail "slurmctld did not start (see $scratch/log/slurmctld.log)"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start (see $scratch/log/slurmd.log)"
for _ in $(seq 60); do
  [ -s "$scratch/slurmctld.pid" ] && [ -s "$scratch/slurmd.pid" ] && break
  sleep 1
done
[ -s "$scratch/slurmctld.pid" ] || fail "slurmctld wrote no pid file (see $scratch/log/slurmctld.log)"
[ -s "$scratch/slurmd.pid" ] || fail "slurmd wrote no pid file (see $scratch/log/slurmd.log)"
up=""
for _ in $(seq 60); do
  state="$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)"
  case "$state" in idle|mix|alloc) up=1; break ;; esac
  sleep 1
done
[ -n "$up" ] || fail "the node did not become idle within 60 s (sinfo: '${state:-no answer}'; logs in $scratch/log)"
say "Slurm is up: $(sinfo -h -o '%P %D %t %c')"

# Waits for jobs to leave the queue (at most $2 seconds).
wait_jobs() {
  local ids="$1" limit="$2"
  for _ in $(seq "$limit"); do
    [ -z "$(squeue -h -j "$ids" 2>/dev/null)" ] && return 0
    sleep 1
  done
  fail "jobs $ids still queued or running after ${limit} s: $(squeue -j "$ids")"
}

# Runs `dlab submit`, waits for both jobs and prints "<array id> <merge id> <merged dir>".
submit_and_wait() {
  local out array merge merged
  out="$("$dlab" --results "$1" submit "${@:2}")" || fail "dlab submit ${*:2} failed"
  array="$(sed -n 's/^array job \([0-9]*\).*/\1/p' <<<"$out")"
  merge="$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' <<<"$out")"
  merged="$(sed -n 's/^merged table: \(.*\)\/table.parquet$/\1/p' <<<"$out")"
  [ -n "$array" ] && [ -n "$merge" ] && [ -n "$merged" ] || fail "unexpected dlab submit output: $out"
  wait_jobs "$array,$merge" 600
  echo "$array $merge $merged"
}

# Cell records without the wall time, one file per cell, sorted.
records() { for f in "$1"/cells/*.toml; do echo "== $(basename "$f")"; grep -v '^wall_s' "$f"; done; }

say "1/3 sampler_convergence smoke in 3 shards vs one process"
results="$scratch/results"
read -r _ _ merged < <(submit_and_wait "$results" experiments/sampler_convergence.toml --profile smoke --shards 3)
[ -f "$merged/table.parquet" ] || fail "no merged table in $merged (merge log: $(cat "$results"/submit/sampler_convergence/*/merge.log 2>/dev/null))"
"$dlab" --results "$scratch/single" run experiments/sampler_convergence.toml --profile smoke >/dev/null
single="$(ls -d "$scratch"/single/runs/sampler_convergence/smoke-*)"
diff <(records "$merged") <(records "$single") >/dev/null \
  || fail "merged cell records differ from the single-process run ($merged vs $single)"
say "   merged table of $(ls "$merged"/cells | wc -l) cells equals the single-process run bit for bit"

say "2/3 skip_steps smoke in 3 shards from an empty cache: the shared network is trained once"
results="$scratch/shared"
read -r _ _ merged < <(submit_and_wait "$results" experiments/skip_steps.toml --profile smoke --shards 3)
[ -f "$merged/table.parquet" ] || fail "no merged skip_steps table in $merged"
trained="$(cat "$results"/submit/skip_steps/*/shard-*.log | grep -c 'trained [0-9]* steps' || true)"
entries="$(find "$results/cache" -maxdepth 1 -name 'net-*' | wc -l)"
[ "$trained" = 1 ] && [ "$entries" = 1 ] \
  || fail "the shards trained $trained networks into $entries cache entries (expected 1 and 1)"
say "   one training over 3 shards, one cache entry"

say "3/3 a failing shard: the merge job does not start; the failed shard resubmitted alone, then merged"
results="$scratch/failing"
# Shard 1 cannot create its run directory: a plain file stands where it goes.
mapfile -t shards < <("$dlab" --results "$results" submit experiments/sampler_convergence.toml --profile smoke --shards 3 --dry-run \
  | sed -n 's/.* merge //p' | tr ' ' '\n' | tr -d "'")
[ "${#shards[@]}" = 3 ] || fail "dlab submit --dry-run named ${#shards[@]} shard directories, not 3"
mkdir -p "$(dirname "${shards[1]}")"
echo "in the way" >"${shards[1]}"
out="$("$dlab" --results "$results" submit experiments/sampler_convergence.toml --profile smoke --shards 3)" || fail "dlab submit failed"
array="$(sed -n 's/^array job \([0-9]*\).*/\1/p' <<<"$out")"
merge="$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' <<<"$out")"
for _ in $(seq 300); do
  [ -z "$(squeue -h -j "$array" 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h -j "$array" 2>/dev/null)" ] || fail "the array job $array did not finish within 300 s"
reason="$(squeue -h -j "$merge" -o %r 2>/dev/null || true)"
[ -z "$(ls "$results"/submit/sampler_convergence/*/merge.log 2>/dev/null)" ] || fail "the merge job ran although shard 1 failed"
[ -n "$reason" ] && scancel "$merge"
message="$("$dlab" merge "${shards[0]}" "${shards[2]}" 2>&1 || true)"
grep -q "shards 1/3 of 3" <<<"$message" || fail "dlab merge without shard 1 said: $message"
say "   merge job $merge held (${reason:-gone}); dlab merge names the missing shard 1/3"
rm "${shards[1]}"
out="$("$dlab" --results "$results" submit experiments/sampler_convergence.toml --profile smoke --shards 3 --only-shards 1)" \
  || fail "resubmitting shard 1 failed"
array="$(sed -n 's/^array job \([0-9]*\).*/\1/p' <<<"$out")"
merge="$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' <<<"$out")"
wait_jobs "$array,$merge" 600
[ -f "$(dirname "${shards[0]}")/$(basename "${shards[0]}" .shard-0-of-3)/table.parquet" ] \
  || fail "no merged table after resubmitting shard 1 (merge log: $(cat "$results"/submit/sampler_convergence/*/merge.log 2>/dev/null))"
say "   shard 1 resubmitted alone, merged with the other two"
say "passed"
