//! The probe tasks against closed forms: the Jacobian of the exact Gaussian denoiser is
//! Σ(Σ + σ²I)⁻¹ (eigenvalues λ_k/(λ_k + σ²); Kadkhodaie et al. 2024, §3.1), and a denoiser's
//! score agrees with itself (EV = 1) but not with a worse one.

mod common;

use common::numeric_column as f64_column;
use runner::table::Table;

fn run(name: &str, text: &str) -> Table {
    common::run_in_temp("tasks", name, text).unwrap().table
}

#[test]
fn exact_gaussian_jacobian_has_eigenvalues_lambda_over_lambda_plus_sigma2() {
    let table = run(
        "jacobian",
        r#"
[experiment]
name = "jacobian_gaussian"
seed = 1
task = "jacobian"

[data]
kind = "gaussian"
eigenvalues = [4.0, 1.0, 0.25]

[probe]
sigma = 0.5
points = 3
split = "reference"
reference = { kind = "exact" }

[jacobian]
subspace_dim = 2
"#,
    );
    let k = f64_column(&table, "k");
    let eig = f64_column(&table, "eigenvalue");
    assert_eq!(k, [1.0, 2.0, 3.0]);
    let expected = [4.0 / 4.25, 1.0 / 1.25, 0.25 / 0.5];
    for (got, want) in eig.iter().zip(expected) {
        assert!((got - want).abs() < 1e-6, "eigenvalue {got} vs {want}");
    }
    let eff_dim = f64_column(&table, "eff_dim")[0];
    assert!((eff_dim - expected.iter().sum::<f64>()).abs() < 1e-6);
    assert_eq!(f64_column(&table, "rank")[0], 3.0);
    assert!(f64_column(&table, "max_angle_deg")[0] < 1e-3);
    assert!(f64_column(&table, "mse_to_reference")[0] < 1e-20);
}

#[test]
fn a_score_agrees_with_itself_and_less_with_the_isotropic_fit() {
    let table = run(
        "score",
        r#"
[experiment]
name = "score_gaussian"
seed = 2
task = "score_agreement"

[data]
kind = "gaussian"
eigenvalues = [4.0, 1.0, 0.01]

[probe]
sigma = 0.3
points = 500
reference = { kind = "exact" }

[sweep]
model = [{ kind = "exact" }, { kind = "isotropic" }]
"#,
    );
    let ev = f64_column(&table, "ev");
    assert!((ev[0] - 1.0).abs() < 1e-12, "exact vs exact: {}", ev[0]);
    assert!(ev[1] < 0.9, "isotropic vs exact: {}", ev[1]);
}

#[test]
fn finite_differences_of_a_conditional_network_are_an_error_naming_the_key() {
    let err = common::run_in_temp(
        "tasks",
        "jacobian_fd_conditional",
        r#"
[experiment]
name = "jacobian_fd_conditional"
seed = 1
task = "jacobian"

[data]
kind = "digits"

[model]
kind = "network"
conditional = true

[probe]
sigma = 0.5
points = 2

[jacobian]
method = "finite_difference"
"#,
    )
    .err()
    .expect("finite differences of a conditional network must be refused");
    let text = format!("{err:#}");
    assert!(text.contains("jacobian.method"), "{text}");
    assert!(text.contains("class-conditional"), "{text}");
}
