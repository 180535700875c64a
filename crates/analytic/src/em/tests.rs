use samplers::rng::seeded;

use crate::test_support::max_diff;
use crate::{Distribution, GaussianMixture};

#[test]
fn em_recovers_a_well_separated_two_component_mixture() {
    let truth = GaussianMixture::new(
        vec![0.3, 0.7],
        vec![vec![-5.0, 0.0], vec![5.0, 1.0]],
        vec![vec![1.0, 0.3, 0.3, 0.5], vec![0.5, -0.2, -0.2, 1.0]],
    )
    .unwrap();
    let data = truth.sample(4_000, &mut seeded(40));
    let fit = GaussianMixture::fit_em(&data, 2, 100, 1e-6, &mut seeded(41)).unwrap();
    // Match components by the sign of the first mean coordinate.
    let order: Vec<usize> = if fit.components()[0].mean()[0] < 0.0 {
        vec![0, 1]
    } else {
        vec![1, 0]
    };
    for (t, &f) in order.iter().enumerate() {
        let (tc, fc) = (&truth.components()[t], &fit.components()[f]);
        assert!(
            (truth.weights()[t] - fit.weights()[f]).abs() < 0.03,
            "weight {t}"
        );
        assert!(
            max_diff(tc.mean(), fc.mean()) < 0.1,
            "mean {t}: {:?}",
            fc.mean()
        );
        assert!(
            max_diff(&tc.covariance(), &fc.covariance()) < 0.12,
            "cov {t}: {:?}",
            fc.covariance()
        );
    }
    // The fit's likelihood is at least the truth's (it is the MLE up to convergence).
    let ll = |m: &GaussianMixture| m.log_density(&data, 0.0).iter().sum::<f64>();
    assert!(ll(&fit) >= ll(&truth) - 1e-6);
}

#[test]
fn em_rejects_bad_arguments() {
    let data = samplers::Batch::standard_normal(10, 2, &mut seeded(42));
    let err = GaussianMixture::fit_em(&data, 0, 10, 1e-6, &mut seeded(0)).unwrap_err();
    assert!(err.to_string().contains("k = 0"), "{err}");
    let err = GaussianMixture::fit_em(&data, 11, 10, 1e-6, &mut seeded(0)).unwrap_err();
    assert!(err.to_string().contains("k = 11"), "{err}");
    let err = GaussianMixture::fit_em(&data, 2, 10, 0.0, &mut seeded(0)).unwrap_err();
    assert!(err.to_string().contains("reg = 0"), "{err}");
}
