//! Records the versions of the workspace's key crates (from Cargo.lock) for run manifests.

use std::path::Path;

const TRACKED: [&str; 14] = [
    "schedules",
    "samplers",
    "analytic",
    "data",
    "models",
    "metrics",
    "runner",
    "faer",
    "polars",
    "plotters",
    "rand",
    "rand_chacha",
    "rayon",
    "burn",
];

fn main() {
    let lock_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock_path.display());
    let lock = std::fs::read_to_string(&lock_path).unwrap_or_default();
    let mut entries = Vec::new();
    let mut name: Option<String> = None;
    for line in lock.lines() {
        if let Some(v) = line.strip_prefix("name = ") {
            name = Some(v.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            if TRACKED.contains(&n.as_str())
                && !entries.iter().any(|(e, _): &(String, String)| *e == n)
            {
                entries.push((n, v.trim_matches('"').to_string()));
            }
        }
    }
    let body: Vec<String> = entries
        .iter()
        .map(|(n, v)| format!("({n:?}, {v:?})"))
        .collect();
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("crate_versions.rs");
    std::fs::write(out, format!("/// (crate, version) from Cargo.lock.\npub const CRATE_VERSIONS: &[(&str, &str)] = &[{}];\n", body.join(", "))).expect("write crate_versions.rs");
}
