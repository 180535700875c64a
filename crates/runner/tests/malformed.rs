//! A generated corpus of malformed experiments: every bad value, in the file, in a profile
//! or through `--set`, is refused before any work with an error that names its key and
//! where the value came from — never a panic, never silently accepted.

use runner::execute::{preflight::preflight, resolve, RunOptions};
use runner::overrides::{parse_assignment, set_path};
use std::path::{Path, PathBuf};

/// A network experiment on the digits with a sweep, a plot and a check: most keys exist.
const BASE: &str = r#"
[experiment]
name = "corpus"
seed = 1

[data]
kind = "digits"

[split]
test_fraction = 0.2

[model]
kind = "network"
net = { arch = "mlp", width = 16, depth = 1, emb_dim = 8 }
train = { steps = 10, batch_size = 8, lr = 1e-3 }

[schedule]
kind = "edm"
steps = 4

[sampler]
kind = "heun"

[metrics]
samples = 8
names = ["fd_pixels"]

[run]
max_parallel = 2

[sweep]
sampler.skip = [0, 1]

[[plot]]
name = "fd"
x = "skip"
y = ["fd_pixels"]

[check]
fd_pixels = { rel = 0.1 }
"#;

/// The MoLRG Jacobian experiment (n = 48) and a memorization experiment on the digits.
const JACOBIAN: &str = r#"
[experiment]
name = "corpus_jacobian"
task = "jacobian"

[data]
kind = "molrg"

[model]
kind = "exact"

[probe]
sigma = 0.5
points = 4
"#;

const MEMORIZATION: &str = r#"
[experiment]
name = "corpus_memorization"
task = "memorization"

[data]
kind = "digits"

[model]
kind = "delta"

[sweep]
memorization.size = [10, 20]
"#;

/// (key, bad TOML value) pairs for [`BASE`].
const BAD_VALUES: &[(&str, &str)] = &[
    ("experiment.name", r#""../../escaped""#),
    ("experiment.name", r#""""#),
    ("experiment.name", r#"".hidden""#),
    ("experiment.name", r#""a/b""#),
    ("experiment.name", "3"),
    ("experiment.seed", "-1"),
    ("experiment.seed", r#""x""#),
    ("experiment.seed", "1.5"),
    ("experiment.task", r#""nope""#),
    ("experiment.task", "3"),
    ("experiment.bogus", "1"),
    ("data.kind", r#""nope""#),
    ("data.bogus", "1"),
    ("split.test_fraction", "0.0"),
    ("split.test_fraction", "1.0"),
    ("split.test_fraction", "nan"),
    ("split.test_fraction", "-0.5"),
    ("split.test_fraction", r#""a""#),
    ("split.train", "1"),
    ("split.train", "-1"),
    ("split.bogus", "1"),
    ("model.kind", r#""nope""#),
    ("model.kind", "3"),
    ("model.bogus", "1"),
    ("model.train.steps", "0"),
    ("model.train.steps", "-5"),
    ("model.train.steps", r#""many""#),
    ("model.train.batch_size", "0"),
    ("model.train.lr", "-1.0"),
    ("model.train.lr", "nan"),
    ("model.train.lr", "inf"),
    ("model.train.lr", "0.0"),
    ("model.train.ema_decay", "1.5"),
    ("model.train.ema_decay", "-0.1"),
    ("model.train.weight_decay", "-1.0"),
    ("model.train.grad_clip", "0.0"),
    ("model.train.grad_clip", "-1.0"),
    ("model.train.bogus", "1"),
    ("model.net.arch", r#""nope""#),
    ("model.net.bogus", "1"),
    ("model.net.width", "-1"),
    (
        "model.parameterization",
        r#"{ kind = "edm", sigma_data = "x" }"#,
    ),
    ("model.guidance", "nan"),
    ("model.use_ema", "3"),
    ("schedule.kind", r#""heunn""#),
    ("schedule.steps", "0"),
    ("schedule.steps", "-1"),
    ("schedule.steps", "9223372036854775807"),
    ("schedule.steps", r#""x""#),
    ("schedule.steps", "1.5"),
    ("schedule.sigma_min", "-1.0"),
    ("schedule.sigma_min", "nan"),
    ("schedule.sigma_min", "inf"),
    ("schedule.sigma_min", "0.0"),
    ("schedule.sigma_min", r#""a""#),
    ("schedule.sigma_min", "100.0"),
    ("schedule.sigma_max", "0.0"),
    ("schedule.sigma_max", "nan"),
    ("schedule.sigma_max", "-inf"),
    ("schedule.rho", "0.0"),
    ("schedule.rho", "nan"),
    ("schedule.rho", "-2.0"),
    ("schedule.bogus", "1"),
    ("sampler.kind", r#""heunn""#),
    ("sampler.kind", "7"),
    ("sampler.initial_noise", "7"),
    ("sampler.initial_noise", r#""no/such/noise.npy""#),
    ("metrics.save_samples", r#""jpeg""#),
    ("sampler.bogus", "1"),
    ("metrics.samples", "-3"),
    ("metrics.samples", "0"),
    ("metrics.samples", "1"),
    ("metrics.samples", r#""many""#),
    ("metrics.samples", "1.5"),
    ("metrics.samples", "9223372036854775807"),
    ("metrics.samples", "100000000000"),
    ("metrics.sample_seeds", "0"),
    ("metrics.sample_seeds", "-1"),
    ("metrics.reference_samples", "0"),
    ("metrics.names", r#"["nope"]"#),
    ("metrics.names", r#""fd_pixels""#),
    ("metrics.names", "[3]"),
    ("metrics.projections", "0"),
    ("metrics.reference", r#""nope""#),
    ("metrics.relative_over", r#""schedule.steps""#),
    ("metrics.convergence_over", r#""schedule.steps""#),
    ("metrics.bogus", "1"),
    ("run.memory_mib", "0"),
    ("run.memory_mib", "-1"),
    ("run.max_parallel", "-1"),
    ("run.bogus", "1"),
    ("teleport.gaussian", r#""nope""#),
    ("teleport.bogus", "1"),
    ("check.fd_pixels", "{ abs = -1.0 }"),
    ("check.fd_pixels", "{ rel = nan }"),
    ("check.fd_pixels", "{ bogus = 1 }"),
    ("check.no_such_column", "{ rel = 0.1 }"),
    ("bogus.x", "1"),
    ("sweep.sampler.skip", "[1, 1]"),
    ("sweep.sampler.kind", r#"["heunn"]"#),
    ("sweep.metrics.samples", "[8, -1]"),
    ("sweep.bogus.x", "[1, 2]"),
    ("sweep.names", r#"{ "sampler.skip" = "seed" }"#),
    ("sweep.names", r#"{ "sampler.skip" = "fd_pixels" }"#),
    (
        "plot",
        r#"[{ name = "p", x = "no_such_column", y = ["fd_pixels"] }]"#,
    ),
    (
        "plot",
        r#"[{ name = "p", x = "skip", y = ["no_such_column"] }]"#,
    ),
    (
        "plot",
        r#"[{ name = "../p", x = "skip", y = ["fd_pixels"] }]"#,
    ),
];

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dlab-corpus-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Resolves, plans and preflights `path` (no cell runs); the error text.
fn refusal(path: &Path, profile: Option<&str>, set: &[String]) -> String {
    let options = RunOptions {
        profile: profile.map(str::to_string),
        overrides: set.to_vec(),
        results: path.parent().unwrap().join("results"),
        ..RunOptions::default()
    };
    let checked = resolve(path, &options).and_then(|r| preflight(&r.file, &r.cells));
    match checked {
        Ok(()) => "ACCEPTED".to_string(),
        Err(err) => format!("{err:#}"),
    }
}

/// The experiment text of `base` with `key` set to the TOML `value`.
fn with_value(base: &str, key: &str, value: &str) -> String {
    let mut table: toml::Table = toml::from_str(base).unwrap();
    let (path, value) = parse_assignment(&format!("{key}={value}")).unwrap();
    set_path(&mut table, &path, value).unwrap();
    toml::to_string(&table).unwrap()
}

/// The key a message must name: the swept key for a sweep, the table for a new table.
fn named_key(key: &str) -> &str {
    key.strip_prefix("sweep.").unwrap_or(key)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn every_bad_value_in_the_file_is_refused_naming_its_key_and_line() {
    let dir = scratch("file");
    let mut failures = Vec::new();
    for (i, (key, value)) in BAD_VALUES.iter().enumerate() {
        let text = with_value(BASE, key, value);
        let path = dir.join(format!("case{i}.toml"));
        std::fs::write(&path, &text).unwrap();
        let message = refusal(&path, None, &[]);
        let leaf = named_key(key);
        let located = message.starts_with(&format!("{}:", path.display()));
        if !message.contains(leaf) || !located {
            failures.push(format!("{key} = {value}: {message}"));
        }
    }
    assert!(BAD_VALUES.len() >= 100, "{} cases", BAD_VALUES.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        BAD_VALUES.len(),
        failures.join("\n")
    );
}

#[test]
fn bad_values_from_set_name_the_assignment() {
    let dir = scratch("set");
    let path = dir.join("base.toml");
    std::fs::write(&path, BASE).unwrap();
    let mut failures = Vec::new();
    let cases = BAD_VALUES.iter().filter(|(key, _)| {
        !key.starts_with("sweep.") && !key.starts_with("plot") && !key.starts_with("check.")
    });
    for (key, value) in cases {
        let set = format!("{key}={value}");
        let message = refusal(&path, None, std::slice::from_ref(&set));
        if !message.contains(named_key(key)) || !message.contains("--set") {
            failures.push(format!("{set}: {message}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn bad_values_in_a_profile_or_a_sweep_point_at_their_own_line() {
    let dir = scratch("profile");
    let cases = [
        ("metrics.samples = -3", "metrics.samples"),
        ("schedule.sigma_min = nan", "schedule.sigma_min"),
        ("sampler.kind = \"heunn\"", "sampler.kind"),
        ("model.train.lr = -1.0", "model.train.lr"),
        ("sweep.sampler.skip = [0, 99]", "sampler.skip"),
    ];
    for (i, (line, key)) in cases.iter().enumerate() {
        let text = format!("{BASE}\n[profile.smoke]\n{line}\n");
        let path = dir.join(format!("p{i}.toml"));
        std::fs::write(&path, &text).unwrap();
        let message = refusal(&path, Some("smoke"), &[]);
        let expected = format!("{}:{}:", path.display(), line_of(&text, line));
        assert!(
            message.starts_with(&expected) && message.contains(key),
            "{line}: {message}"
        );
    }
    // A bad value inside a base sweep list: the sweep's line.
    let text = BASE.replace(
        "sampler.skip = [0, 1]",
        "sampler.skip = [0, 1]\nschedule.sigma_max = [80.0, -1.0]",
    );
    let path = dir.join("sweep.toml");
    std::fs::write(&path, &text).unwrap();
    let message = refusal(&path, None, &[]);
    let expected = format!(
        "{}:{}:",
        path.display(),
        line_of(&text, "schedule.sigma_max = [80.0")
    );
    assert!(message.starts_with(&expected), "{message}");
}

#[test]
fn keys_of_plain_models_and_sizes_the_data_cannot_hold_are_refused_before_any_work() {
    let dir = scratch("sizes");
    let cases = [
        (JACOBIAN, "model.bogus", "1"),
        (
            JACOBIAN,
            "probe.reference",
            r#"{ kind = "delta", components = 3 }"#,
        ),
        (JACOBIAN, "jacobian.subspace_dim", "100"),
        (JACOBIAN, "jacobian.eigenvector_images", "49"),
        (JACOBIAN, "probe.points", "100000000"),
        (MEMORIZATION, "sweep.memorization.size", "[10, 100000]"),
    ];
    for (i, (base, key, value)) in cases.iter().enumerate() {
        let path = dir.join(format!("s{i}.toml"));
        std::fs::write(&path, with_value(base, key, value)).unwrap();
        let message = refusal(&path, None, &[]);
        assert!(
            message.contains(named_key(key)),
            "{key} = {value}: {message}"
        );
    }
}

#[test]
fn a_profile_name_that_is_not_a_plain_name_is_refused() {
    let dir = scratch("profile-name");
    let path = dir.join("p.toml");
    std::fs::write(
        &path,
        format!("{BASE}\n[profile.\"../out\"]\nmetrics.samples = 9\n"),
    )
    .unwrap();
    let message = refusal(&path, Some("../out"), &[]);
    assert!(
        message.contains("profile") && message.contains("plain name"),
        "{message}"
    );
}

#[test]
fn solver_orders_too_few_steps_and_solver_error_samplers_are_refused() {
    let dir = scratch("solvers");
    /// (assignments to the base file, the key the error names, what it says)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 4] = [
        (
            &[("sampler", r#"{ kind = "unipc", order = 4 }"#)],
            "sampler.order",
            "must be 1, 2 or 3",
        ),
        (
            &[("sampler", r#"{ kind = "dpm_solver", order = 0 }"#)],
            "sampler.order",
            "must be 1, 2 or 3",
        ),
        (
            &[
                ("sampler", r#"{ kind = "deis", order = 3 }"#),
                ("schedule.steps", "2"),
            ],
            "sampler.order",
            "needs at least 3 steps",
        ),
        (
            &[
                ("sampler", r#"{ kind = "euler_ancestral" }"#),
                ("metrics.names", r#"["solver_error"]"#),
                ("check", "{}"),
                ("plot", "[]"),
            ],
            "metrics.names",
            "deterministic solver of the PF-ODE",
        ),
    ];
    for (i, (assignments, key, reason)) in cases.iter().enumerate() {
        let text = assignments
            .iter()
            .fold(BASE.to_string(), |text, (k, v)| with_value(&text, k, v));
        let path = dir.join(format!("case{i}.toml"));
        std::fs::write(&path, &text).unwrap();
        let message = refusal(&path, None, &[]);
        assert!(
            message.contains(key) && message.contains(reason),
            "{assignments:?}: {message}"
        );
    }
}
