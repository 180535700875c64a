//! Adaptive Gauss–Legendre quadrature for the integrals s_t = exp ∫f and σ_t² = ∫g²/s²
//! (Karras et al. 2022, App. B) of processes given only by their coefficients.

use std::sync::OnceLock;

/// Points of the Gauss–Legendre rule applied on each panel.
const ORDER: usize = 10;
/// Most panels one integral may split into; beyond it the current estimate is returned.
const MAX_PANELS: usize = 4096;
/// Deepest bisection (panels no narrower than 2⁻⁵⁰ of the interval).
const MAX_DEPTH: u32 = 50;
/// Relative tolerance of [`integrate`].
pub const DEFAULT_REL_TOL: f64 = 1e-13;

/// ∫_a^b f(x) dx by adaptive bisection with a 10-point Gauss–Legendre rule per panel,
/// to relative tolerance [`DEFAULT_REL_TOL`] (measured against ∫|f|). Exact for polynomials
/// of degree ≤ 19 on one panel; integrable end-point singularities converge slowly.
pub fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    integrate_with_tol(f, a, b, DEFAULT_REL_TOL)
}

/// [`integrate`] with a chosen relative tolerance.
pub fn integrate_with_tol(f: impl Fn(f64) -> f64, a: f64, b: f64, rel_tol: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    let whole = gauss_legendre(&f, a, b);
    let scale = gauss_legendre(&|x| f(x).abs(), a, b).abs();
    let tol = rel_tol * scale.max(f64::MIN_POSITIVE);
    let mut panels = 1;
    bisect(&f, a, b, whole, tol, MAX_DEPTH, &mut panels)
}

fn bisect(
    f: &impl Fn(f64) -> f64,
    a: f64,
    b: f64,
    whole: f64,
    tol: f64,
    depth: u32,
    panels: &mut usize,
) -> f64 {
    let m = 0.5 * (a + b);
    let left = gauss_legendre(f, a, m);
    let right = gauss_legendre(f, m, b);
    let refined = left + right;
    *panels += 1;
    if (refined - whole).abs() <= tol || depth == 0 || *panels >= MAX_PANELS {
        return refined;
    }
    bisect(f, a, m, left, 0.5 * tol, depth - 1, panels)
        + bisect(f, m, b, right, 0.5 * tol, depth - 1, panels)
}

/// One Gauss–Legendre panel: (b−a)/2 Σ w_i f((a+b)/2 + (b−a)/2 x_i).
fn gauss_legendre(f: &impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let (mid, half) = (0.5 * (a + b), 0.5 * (b - a));
    half * legendre_rule()
        .iter()
        .map(|&(x, w)| w * f(mid + half * x))
        .sum::<f64>()
}

/// Nodes and weights of the ORDER-point rule, by Newton's method on P_n (Golub–Welsch free).
fn legendre_rule() -> &'static [(f64, f64); ORDER] {
    static RULE: OnceLock<[(f64, f64); ORDER]> = OnceLock::new();
    RULE.get_or_init(|| {
        let n = ORDER as f64;
        let mut rule = [(0.0, 0.0); ORDER];
        for (i, node) in rule.iter_mut().enumerate() {
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                let (p, d) = legendre_and_derivative(ORDER, x);
                dp = d;
                let dx = p / d;
                x -= dx;
                if dx.abs() < 1e-16 {
                    break;
                }
            }
            let (_, d) = legendre_and_derivative(ORDER, x);
            dp = if d.is_finite() { d } else { dp };
            *node = (x, 2.0 / ((1.0 - x * x) * dp * dp));
        }
        rule
    })
}

/// (P_n(x), P_n'(x)) by the three-term recurrence.
fn legendre_and_derivative(n: usize, x: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, x);
    for k in 2..=n {
        let k = k as f64;
        let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
    }
    let n = n as f64;
    (p1, n * (x * p1 - p0) / (x * x - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_two_and_rule_is_exact_for_degree_19() {
        let sum: f64 = legendre_rule().iter().map(|&(_, w)| w).sum();
        assert!((sum - 2.0).abs() < 1e-14);
        // ∫_0^1 x^19 = 1/20 on a single panel.
        assert!((gauss_legendre(&|x: f64| x.powi(19), 0.0, 1.0) - 0.05).abs() < 1e-15);
    }

    #[test]
    fn integrates_smooth_and_singular_functions() {
        assert!((integrate(f64::exp, 0.0, 3.0) - (3f64.exp() - 1.0)).abs() < 1e-12);
        assert!((integrate(f64::sin, 0.0, std::f64::consts::PI) - 2.0).abs() < 1e-13);
        // ∫_0^1 x^{-1/2} = 2: end-point singularity, converges by bisection.
        let singular = integrate(|x: f64| x.powf(-0.5), 0.0, 1.0);
        assert!((singular - 2.0).abs() < 1e-6, "{singular}");
        assert_eq!(integrate(|x| x, 1.0, 1.0), 0.0);
        assert!((integrate(|x| x, 1.0, 0.0) + 0.5).abs() < 1e-15);
    }
}
