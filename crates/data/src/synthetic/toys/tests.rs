use std::f64::consts::PI;

use samplers::rng::seeded;
use samplers::{Batch, Denoiser};

use crate::synthetic::{
    Checkerboard, ClosedForm, EightGaussians, Rings, SwissRoll, Synthetic, TwentyFiveGaussians,
    TwoMoons,
};

const N: usize = 20_000;

fn mean_var(b: &Batch) -> (Vec<f64>, Vec<f64>) {
    let c = b.covariance();
    let d = b.dim();
    (b.mean(), (0..d).map(|i| c[i * d + i]).collect())
}

fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() < tol,
            "{what}: got {got:?}, want {want:?} ± {tol}"
        );
    }
}

fn all_toys() -> Vec<Box<dyn Synthetic>> {
    vec![
        Box::new(TwoMoons::default()),
        Box::new(SwissRoll::default()),
        Box::new(Checkerboard),
        Box::new(Rings::default()),
        Box::new(EightGaussians::default()),
        Box::new(TwentyFiveGaussians::default()),
    ]
}

#[test]
fn toys_are_finite_two_dimensional_and_seed_reproducible() {
    for toy in all_toys() {
        let a = toy.sample(500, &mut seeded(3));
        assert_eq!((a.n(), a.dim(), toy.dim()), (500, 2, 2), "{}", toy.name());
        assert!(a.is_finite(), "{}", toy.name());
        assert_eq!(a, toy.sample(500, &mut seeded(3)), "{}", toy.name());
        assert_ne!(a, toy.sample(500, &mut seeded(4)), "{}", toy.name());
        let ds = toy.dataset(10, &mut seeded(3));
        assert_eq!(
            (ds.shape, ds.levels, ds.name.clone()),
            ([1, 1, 2], None, toy.name())
        );
    }
}

#[test]
fn moons_mean_and_noiseless_points_on_the_two_arcs() {
    let (mean, _) = mean_var(&TwoMoons::default().sample(N, &mut seeded(1)));
    assert_close(&mean, &[0.0, 0.3], 0.03, "moons mean");
    let clean = TwoMoons::new(0.0).unwrap().sample(2000, &mut seeded(2));
    let mut upper = 0;
    for p in clean.rows() {
        let (u, v) = ((p[0] + 1.0) / 2.0, (p[1] + 0.2) / 2.0); // undo x ↦ 2x + (−1, −0.2)
        let on_upper = ((u * u + v * v) - 1.0).abs() < 1e-9 && v >= 0.0;
        let on_lower = (((u - 1.0).powi(2) + (v - 0.5).powi(2)) - 1.0).abs() < 1e-9 && v <= 0.5;
        assert!(on_upper || on_lower, "{p:?}");
        upper += usize::from(on_upper);
    }
    assert!(
        (900..1100).contains(&upper),
        "{upper} of 2000 on the upper moon"
    );
}

#[test]
fn swiss_roll_lies_on_the_spiral_with_uniform_radius() {
    let clean = SwissRoll::new(0.0).unwrap().sample(N, &mut seeded(5));
    let mut radii = Vec::new();
    for p in clean.rows() {
        let r = p[0].hypot(p[1]);
        assert!((0.3 * PI - 1e-12..=0.9 * PI + 1e-12).contains(&r), "{r}");
        let t = 5.0 * r; // point = (t cos t, t sin t)/5
        assert!((p[0] - r * t.cos()).abs() < 1e-9 && (p[1] - r * t.sin()).abs() < 1e-9);
        radii.push(r);
    }
    let mean_r = radii.iter().sum::<f64>() / radii.len() as f64;
    assert!((mean_r - 0.6 * PI).abs() < 0.01, "mean radius {mean_r}");
    let noisy = SwissRoll::default().sample(N, &mut seeded(5));
    assert_close(
        &(&noisy - &clean).covariance(),
        &[0.04, 0.0, 0.0, 0.04],
        0.002,
        "swiss roll noise",
    );
}

#[test]
fn checkerboard_fills_the_even_squares_of_the_board() {
    let b = Checkerboard.sample(N, &mut seeded(6));
    for p in b.rows() {
        assert!(p.iter().all(|x| (-4.0..4.0).contains(x)), "{p:?}");
        let parity = ((p[0] / 2.0).floor() + (p[1] / 2.0).floor()).rem_euclid(2.0);
        assert_eq!(parity, 0.0, "{p:?}");
    }
    let (mean, var) = mean_var(&b);
    assert_close(&mean, &[0.0, 0.0], 0.05, "checkerboard mean");
    assert_close(
        &var,
        &[16.0 / 3.0, 16.0 / 3.0],
        0.15,
        "checkerboard variance",
    );
}

#[test]
fn rings_have_the_documented_radii_in_equal_shares() {
    let clean = Rings::new(0.0).unwrap().sample(N, &mut seeded(7));
    let mut counts = [0usize; 4];
    for p in clean.rows() {
        let r = p[0].hypot(p[1]);
        let k = Rings::RADII
            .iter()
            .position(|&radius| (radius - r).abs() < 1e-9)
            .expect("on a ring");
        counts[k] += 1;
    }
    assert!(
        counts.iter().all(|&c| (4700..5300).contains(&c)),
        "{counts:?}"
    );
    let (mean, var) = mean_var(&Rings::default().sample(N, &mut seeded(7)));
    // E[x²] = ⅛ Σ R² + noise² = 16.875/8 + 0.0064.
    assert_close(&mean, &[0.0, 0.0], 0.05, "rings mean");
    assert_close(&var, &[2.1158, 2.1158], 0.08, "rings variance");
}

#[test]
fn eight_gaussians_sit_on_the_circle_of_radius_two() {
    let toy = EightGaussians::default();
    let centers = toy.centers();
    assert_close(
        &centers[1],
        &[2.0f64.sqrt(), 2.0f64.sqrt()],
        1e-12,
        "center 1",
    );
    let b = toy.sample(N, &mut seeded(8));
    for p in b.rows() {
        let nearest = centers
            .iter()
            .map(|c| (p[0] - c[0]).hypot(p[1] - c[1]))
            .fold(f64::MAX, f64::min);
        assert!(
            nearest < 6.0 * 0.02 * 1.5,
            "{p:?} is {nearest} from every center"
        );
    }
    let radius = b.rows().map(|p| p[0].hypot(p[1])).sum::<f64>() / N as f64;
    assert!((radius - 2.0).abs() < 1e-3, "mean radius {radius}");
    // Per-coordinate variance R²/2 + std².
    let (mean, var) = mean_var(&b);
    assert_close(&mean, &[0.0, 0.0], 0.04, "8 gaussians mean");
    assert_close(&var, &[2.0004, 2.0004], 0.06, "8 gaussians variance");
}

#[test]
fn twenty_five_gaussians_fill_the_grid() {
    let toy = TwentyFiveGaussians::default();
    assert_eq!(toy.centers().len(), 25);
    assert_eq!(toy.centers()[0], [-4.0, -4.0]);
    let b = toy.sample(N, &mut seeded(9));
    for p in b.rows() {
        let off: Vec<f64> = p.iter().map(|x| x - 2.0 * (x / 2.0).round()).collect();
        assert!(off.iter().all(|o| o.abs() < 6.0 * 0.05), "{p:?}");
    }
    // Per-coordinate variance spacing²·E[i²] + std² = 4·2 + 0.0025.
    let (mean, var) = mean_var(&b);
    assert_close(&mean, &[0.0, 0.0], 0.08, "25 gaussians mean");
    assert_close(&var, &[8.0025, 8.0025], 0.25, "25 gaussians variance");
}

#[test]
fn gaussian_toys_carry_the_exact_mixture_denoiser() {
    let toy = EightGaussians::default();
    let d = toy
        .exact_denoiser()
        .expect("8 gaussians have a closed form");
    assert_eq!(d.dim(), 2);
    // Near center c₀ = (2, 0) only that component matters: D = c + v/(v + σ²)·(x − c),
    // v = 0.02², σ = 0.01, so D = c + 0.8·(x − c).
    let x = Batch::from_vec(1, 2, vec![2.005, -0.01]).unwrap();
    assert_close(
        d.denoise(&x, 0.01).row(0),
        &[2.004, -0.008],
        1e-9,
        "D near a center",
    );
    // By symmetry the origin maps to itself at any σ.
    assert_close(
        d.denoise(&Batch::zeros(1, 2), 1.0).row(0),
        &[0.0, 0.0],
        1e-9,
        "D(0)",
    );
    assert!(toy.distribution().is_some());
    assert!(TwentyFiveGaussians::default().exact_denoiser().is_some());
    for toy in [
        &TwoMoons::default() as &dyn Synthetic,
        &SwissRoll::default(),
        &Checkerboard,
        &Rings::default(),
    ] {
        assert!(
            toy.exact_denoiser().is_none() && toy.distribution().is_none(),
            "{}",
            toy.name()
        );
    }
}

#[test]
fn toy_constructors_reject_bad_parameters_by_name() {
    assert_eq!(
        TwoMoons::new(-1.0).unwrap_err().to_string(),
        "noise = -1.0 must be finite and ≥ 0"
    );
    assert!(SwissRoll::new(f64::NAN)
        .unwrap_err()
        .to_string()
        .starts_with("noise = NaN"));
    assert!(Rings::new(f64::INFINITY).is_err());
    assert!(EightGaussians::new(0.0, 0.1)
        .unwrap_err()
        .to_string()
        .starts_with("radius = 0.0"));
    assert!(TwentyFiveGaussians::new(1.0, -0.1)
        .unwrap_err()
        .to_string()
        .starts_with("std = -0.1"));
}

#[test]
fn closed_form_sets_sample_their_distribution() {
    let mut rng = seeded(10);
    let g = ClosedForm::gaussian(vec![1.0, -1.0, 0.0], &[4.0, 1.0], &mut rng).unwrap();
    assert_eq!((g.dim(), g.name()), (3, "gaussian".to_string()));
    let b = g.sample(N, &mut seeded(11));
    let cov = b.covariance();
    assert_close(&b.mean(), &[1.0, -1.0, 0.0], 0.05, "gaussian mean");
    // Spectrum {4, 1, 0}: tr Σ = 5 and ‖Σ‖_F² = Σ λ² = 17 for any rotation.
    let trace = cov[0] + cov[4] + cov[8];
    let frob2: f64 = cov.iter().map(|c| c * c).sum();
    assert!((trace - 5.0).abs() < 0.15, "trace {trace}");
    assert!((frob2 - 17.0).abs() < 0.8, "squared Frobenius norm {frob2}");
    assert!(g.exact_denoiser().is_some() && g.distribution().is_some());

    let m = ClosedForm::molrg(48, 2, 7, &mut rng).unwrap();
    assert_eq!(m.dim(), 48);
    let b = m.sample(4000, &mut seeded(12));
    let sq = b.squared_norm() / 4000.0; // E‖U_k a‖² = d = 7
    assert!((sq - 7.0).abs() < 0.3, "mean squared norm {sq}");

    let gmm = ClosedForm::gmm(
        vec![0.25, 0.75],
        vec![vec![-2.0], vec![2.0]],
        vec![vec![0.01], vec![0.01]],
    )
    .unwrap();
    assert_close(
        &gmm.sample(N, &mut seeded(13)).mean(),
        &[1.0],
        0.03,
        "gmm mean",
    );
    assert!(ClosedForm::gmm(vec![1.0], vec![vec![0.0], vec![1.0]], vec![vec![1.0]; 2]).is_err());
}
