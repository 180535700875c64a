//! The columns `dlab run` predicts before any work (to check `[check]` and `[[plot]]`
//! early) are the columns the runs write: exactly, for runs made here; and a superset of
//! every committed smoke baseline's (a baseline may predate a newer column).

use runner::execute::assemble::predicted_columns;
use runner::execute::{resolve, RunOptions};
use runner::table::Table;
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn predicted_columns_match_every_smoke_baseline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Smoke profiles name files relative to the repository root, as `dlab check` runs
    // there (the other test of this binary uses absolute paths only).
    std::env::set_current_dir(&root).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("experiments")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let options = RunOptions {
            profile: Some("smoke".into()),
            ..RunOptions::default()
        };
        let resolved = resolve(&path, &options).unwrap();
        let name = &resolved.experiment.experiment.name;
        let baseline = root.join(format!("results/baselines/{name}.smoke.parquet"));
        let table = Table::read_parquet(&baseline).unwrap();
        let written: BTreeSet<String> = table.columns.iter().map(|(n, _)| n.clone()).collect();
        let predicted: BTreeSet<String> = predicted_columns(&resolved.cells, &resolved.experiment)
            .unwrap()
            .into_iter()
            .collect();
        let missing: Vec<_> = written.difference(&predicted).collect();
        assert!(
            missing.is_empty(),
            "{}: {missing:?} not predicted",
            path.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
fn predicted_columns_are_the_columns_a_run_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let results = std::env::temp_dir().join(format!("dlab-columns-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    for name in ["molrg", "sampler_convergence", "gaussian_teleport"] {
        let options = RunOptions {
            profile: Some("smoke".into()),
            results: results.clone(),
            ..RunOptions::default()
        };
        let path = root.join(format!("experiments/{name}.toml"));
        let resolved = resolve(&path, &options).unwrap();
        let predicted = predicted_columns(&resolved.cells, &resolved.experiment).unwrap();
        let outcome = runner::execute::run_experiment(&path, &options).unwrap();
        let written: Vec<String> = outcome
            .table
            .columns
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let sorted = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
        assert_eq!(sorted(&predicted), sorted(&written), "{name}");
    }
}
