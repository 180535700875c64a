//! End-to-end tests of the `dlab` binary: resume after SIGKILL, regression checks,
//! strict experiment files, sharding and merging.

mod common;

use common::{dlab, run_dir, scratch, text};
use runner::table::{Table, Values};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const EXPERIMENT: &str = r#"
[experiment]
name = "resume_test"
seed = 3

[data]
kind = "gaussian"
power_law = { dim = 16 }

[teleport]
gaussian = "exact"

[sampler]
kind = "heun"

[metrics]
samples = 60000
sample_seeds = 2
reference_samples = 2000
names = ["frechet_to_data", "mean_err"]

[sweep]
sampler.skip = [0, 1, 2, 3, 4, 5, 6, 7]

[check]
frechet_to_data = { rel = 0.005 }

[run]
max_parallel = 1
"#;

/// Finished cell records (`cells/<id>.toml`; not the hidden temporary files of a write in
/// progress).
fn count_cells(results: &Path) -> usize {
    let Ok(runs) = std::fs::read_dir(results.join("runs/resume_test")) else {
        return 0;
    };
    runs.filter_map(|e| std::fs::read_dir(e.ok()?.path().join("cells")).ok())
        .flatten()
        .filter(|e| {
            e.as_ref().is_ok_and(|e| {
                let path = e.path();
                path.extension().is_some_and(|x| x == "toml") && !runner::files::is_temp_path(&path)
            })
        })
        .count()
}

fn column<'a>(t: &'a Table, name: &str) -> &'a Values {
    &t.columns
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .1
}

#[test]
fn a_killed_run_resumes_with_every_cell_exactly_once() {
    let dir = scratch("resume");
    std::fs::write(dir.join("exp.toml"), EXPERIMENT).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dlab"))
        .current_dir(&dir)
        .args(["run", "exp.toml"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    while count_cells(&dir.join("results")) < 2 && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = count_cells(&dir.join("results"));
    assert!(
        (2..8).contains(&before),
        "the run should be killed part-way, found {before} of 8 cells"
    );

    let out = dlab(&dir, &["run", "exp.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let run = run_dir(&dir.join("results"), "resume_test");
    let log = std::fs::read_to_string(run.join("run.log")).unwrap();
    assert!(
        log.contains(&format!("{} to run, {before} reused", 8 - before)),
        "{log}"
    );
    let table = Table::read_parquet(&run.join("table.parquet")).unwrap();
    assert_eq!(column(&table, "skip"), &Values::I64((0..8).collect()));
    assert_eq!(count_cells(&dir.join("results")), 8);

    // Same numbers as an uninterrupted run: a cell's result does not depend on the others.
    let fresh = scratch("resume-fresh");
    std::fs::write(fresh.join("exp.toml"), EXPERIMENT).unwrap();
    assert!(dlab(&fresh, &["run", "exp.toml"]).status.success());
    let fresh_table =
        Table::read_parquet(&run_dir(&fresh.join("results"), "resume_test").join("table.parquet"))
            .unwrap();
    for name in ["frechet_to_data", "mean_err", "nfe", "seed"] {
        assert_eq!(column(&table, name), column(&fresh_table, name), "{name}");
    }
    // And a rerun reuses everything.
    let again = dlab(&dir, &["run", "exp.toml"]);
    assert!(
        text(&again).contains("(0 run now, 8 reused)"),
        "{}",
        text(&again)
    );
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&fresh).ok();
}

#[test]
fn check_fails_on_a_one_percent_drift_under_a_tighter_tolerance() {
    let dir = scratch("check");
    let quick = EXPERIMENT
        .replace("samples = 60000", "samples = 500")
        .replace("[0, 1, 2, 3, 4, 5, 6, 7]", "[0, 4]");
    std::fs::write(dir.join("exp.toml"), quick).unwrap();
    let missing = dlab(&dir, &["check", "exp.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("dlab bless exp.toml"),
        "{}",
        text(&missing)
    );
    assert!(dlab(&dir, &["bless", "exp.toml"]).status.success());
    let ok = dlab(&dir, &["check", "exp.toml"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));

    // Move the baseline's skip = 4 value by 1 %: the 0.5 % tolerance must catch it.
    let baseline = dir.join("results/baselines/resume_test.default.parquet");
    let mut table = Table::read_parquet(&baseline).unwrap();
    if let Some((_, Values::F64(v))) = table
        .columns
        .iter_mut()
        .find(|(n, _)| n == "frechet_to_data")
    {
        v[1] *= 1.01;
    }
    table.write_parquet(&baseline).unwrap();
    let drift = dlab(&dir, &["check", "exp.toml"]);
    assert_eq!(drift.status.code(), Some(1), "{}", text(&drift));
    let report = text(&drift);
    assert!(
        report.contains("1 value(s) out of tolerance")
            && report.contains("skip=4")
            && report.contains("frechet_to_data"),
        "{report}"
    );
    // A looser tolerance (2 %) accepts the same drift, reusing the run.
    let loose = dlab(
        &dir,
        &[
            "check",
            "exp.toml",
            "--set",
            "check.frechet_to_data.rel=0.02",
        ],
    );
    assert_eq!(loose.status.code(), Some(0), "{}", text(&loose));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_keys_and_values_stop_before_any_work_with_file_line_and_key() {
    let dir = scratch("strict");
    let bad_key = EXPERIMENT.replace("kind = \"heun\"", "kind = \"heun\"\nstepz = 3");
    std::fs::write(dir.join("exp.toml"), bad_key).unwrap();
    let out = text(&dlab(&dir, &["run", "exp.toml"]));
    assert!(
        out.contains("exp.toml:") && out.contains("unknown field `stepz`, expected `skip`"),
        "{out}"
    );
    let line = out
        .split("exp.toml:")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    assert_eq!(line, "15", "{out}");

    let bad_value = EXPERIMENT.replace("samples = 60000", "samples = 0");
    std::fs::write(dir.join("exp.toml"), bad_value).unwrap();
    let out = text(&dlab(&dir, &["run", "exp.toml"]));
    assert!(out.contains("metrics.samples = 0"), "{out}");

    // A value of the wrong kind: serde's message names no key; the error still does.
    let negative = EXPERIMENT.replace("samples = 60000", "samples = -3");
    std::fs::write(dir.join("exp.toml"), negative).unwrap();
    let out = text(&dlab(&dir, &["run", "exp.toml"]));
    assert!(out.contains("metrics.samples = -3: invalid value"), "{out}");

    std::fs::write(dir.join("exp.toml"), EXPERIMENT).unwrap();
    let out = text(&dlab(
        &dir,
        &[
            "run",
            "exp.toml",
            "--set",
            "schedule.kind=edm",
            "--set",
            "schedule.sigma_min=100",
        ],
    ));
    assert!(out.contains("sigma_min = 100"), "{out}");
    let out = text(&dlab(&dir, &["run", "exp.toml", "--profile", "nope"]));
    assert!(out.contains("no [profile.nope]"), "{out}");
    assert!(
        !dir.join("results/runs").exists(),
        "nothing may run on bad input"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn shards_merge_into_the_same_table_as_one_run() {
    let dir = scratch("shards");
    let quick = EXPERIMENT.replace("samples = 60000", "samples = 300");
    std::fs::write(dir.join("exp.toml"), quick).unwrap();
    for i in 0..3 {
        let out = dlab(&dir, &["run", "exp.toml", "--shard", &format!("{i}/3")]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let runs = dir.join("results/runs/resume_test");
    let mut shards: Vec<String> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    shards.sort();
    assert_eq!(shards.len(), 3);
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    let out = dlab(&dir, &args);
    assert!(out.status.success(), "{}", text(&out));
    // Without shard 1 the merge names it (cells are dealt round-robin).
    let partial = dlab(&dir, &["merge", &shards[0], &shards[2]]);
    assert!(
        !partial.status.success() && text(&partial).contains("shards 1/3 of 3 are missing"),
        "{}",
        text(&partial)
    );
    let merged = PathBuf::from(shards[0].split(".shard-").next().unwrap());
    let merged_table = Table::read_parquet(&merged.join("table.parquet")).unwrap();
    let whole = dlab(&dir, &["run", "exp.toml"]);
    assert!(
        text(&whole).contains("(0 run now, 8 reused)"),
        "the merged run is the run: {}",
        text(&whole)
    );
    let table = Table::read_parquet(&merged.join("table.parquet")).unwrap();
    assert_eq!(
        column(&merged_table, "skip"),
        &Values::I64((0..8).collect())
    );
    assert_eq!(
        column(&merged_table, "frechet_to_data"),
        column(&table, "frechet_to_data")
    );
    std::fs::remove_dir_all(&dir).ok();
}

const NETWORK_EXPERIMENT: &str = r#"
[experiment]
name = "device_test"
seed = 4

[data]
kind = "gaussian"
power_law = { dim = 4 }

[teleport]
gaussian = "exact"

[sampler]
kind = "heun"

[metrics]
samples = 50
reference_samples = 50
names = ["mean_err"]

[sweep]
model = [
    { kind = "network", device = "flex", net = { arch = "mlp", width = 16, depth = 1, emb_dim = 8 }, train = { steps = 3, batch_size = 16 } },
    { kind = "exact" },
]
"#;

#[test]
fn device_flag_names_itself_and_reaches_networks_in_sweep_lists() {
    let dir = scratch("device");
    std::fs::write(dir.join("exp.toml"), NETWORK_EXPERIMENT).unwrap();
    let out = dlab(&dir, &["run", "exp.toml", "--device", "bogus"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--device bogus"), "{}", text(&out));
    #[cfg(not(feature = "cuda"))]
    {
        let out = text(&dlab(&dir, &["check", "exp.toml", "--device", "cuda"]));
        assert!(
            out.contains("--device cuda") && out.contains("--features cuda"),
            "{out}"
        );
    }
    assert!(
        !dir.join("results/runs").exists(),
        "nothing may run on a bad device"
    );

    // The sweep's network asks for "flex"; --device cpu rewrites it inside the list.
    let out = dlab(&dir, &["run", "exp.toml", "--device", "cpu"]);
    assert!(out.status.success(), "{}", text(&out));
    let manifest: toml::Table =
        std::fs::read_to_string(run_dir(&dir.join("results"), "device_test").join("manifest.toml"))
            .unwrap()
            .parse()
            .unwrap();
    let models = manifest["config"]["sweep"]["model"].as_array().unwrap();
    assert_eq!(models[0]["device"].as_str(), Some("cpu"), "{manifest}");
    assert_eq!(models[0]["train"]["steps"].as_integer(), Some(3));
    assert!(models[1].get("device").is_none(), "{manifest}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_prints_the_plan_or_the_error_and_runs_nothing() {
    let dir = scratch("validate");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let experiment = root.join("experiments/skip_steps.toml");
    let path = experiment.to_str().unwrap();
    let out = dlab(&dir, &["validate", path, "--profile", "smoke"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = text(&out);
    assert!(plan.contains("skip_steps: "), "{plan}");
    assert!(
        plan.contains("cell   0:") && plan.contains("to train"),
        "{plan}"
    );
    assert!(plan.contains("feature classifier"), "{plan}");
    let out = dlab(
        &dir,
        &[
            "validate",
            path,
            "--profile",
            "smoke",
            "--set",
            "metrics.samples=-3",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("--set metrics.samples=-3"),
        "{}",
        text(&out)
    );
    assert!(!dir.join("results").exists(), "validate ran nothing");
}

#[test]
fn submit_writes_an_array_job_and_a_merge_job_that_waits_for_it() {
    let dir = scratch("submit");
    std::fs::write(dir.join("exp.toml"), EXPERIMENT).unwrap();
    let out = dlab(
        &dir,
        &[
            "submit",
            "exp.toml",
            "--shards",
            "3",
            "--set",
            "metrics.samples=300",
            "--dry-run",
        ],
    );
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    for expected in [
        "#SBATCH --array=0-2",
        "--shard \"${SLURM_ARRAY_TASK_ID}/3\"",
        "--set 'metrics.samples=300'",
        "merge.log",
        ".shard-0-of-3'",
        ".shard-2-of-3'",
    ] {
        assert!(printed.contains(expected), "{expected}: {printed}");
    }
    let only = dlab(
        &dir,
        &[
            "submit",
            "exp.toml",
            "--shards",
            "3",
            "--only-shards",
            "1",
            "--dry-run",
        ],
    );
    assert!(
        text(&only).contains("#SBATCH --array=1\n"),
        "{}",
        text(&only)
    );
    let bad = dlab(
        &dir,
        &["submit", "exp.toml", "--shards", "3", "--only-shards", "3"],
    );
    assert!(
        !bad.status.success() && text(&bad).contains("--only-shards 3"),
        "{}",
        text(&bad)
    );
    std::fs::remove_dir_all(&dir).ok();
}
