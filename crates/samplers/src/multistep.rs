//! Multistep PF-ODE solvers of current practice, in the EDM frame (s = 1, σ(t) = t, the
//! ODE dx/dσ = ε(x, σ) = (x − D(x, σ))/σ) on a σ grid ending in 0: DPM-Solver with noise
//! prediction (Lu et al. 2022), UniPC (Zhao et al. 2023) and DEIS (Zhang & Chen 2023).
//! Each takes one network evaluation per step (NFE = N on a grid of N σ's plus the final
//! 0), starts at first order and raises the order as earlier evaluations accumulate, and
//! ends with the first-order step to σ = 0, which returns D (or x − σε). In λ = −log σ the
//! EDM frame's updates are those of the VP frame divided by α_t, so the coefficients are
//! the papers' (and diffusers') with α = 1.

use crate::{Batch, Denoiser, Trace};
use serde::{Deserialize, Serialize};

/// An evaluation kept for later steps: the model output (ε or D) at σ.
struct Evaluation {
    output: Batch,
    sigma: f64,
}

/// Drops the oldest evaluations beyond the newest `n` (what the next step of a multistep
/// method of that order uses).
fn keep_newest(history: &mut Vec<Evaluation>, n: usize) {
    let excess = history.len().saturating_sub(n);
    history.drain(..excess);
}

/// λ = −log σ, the half log-SNR of the EDM frame.
fn lambda(sigma: f64) -> f64 {
    -sigma.ln()
}

/// DPM-Solver multistep with noise prediction (Lu et al. 2022, "DPM-Solver", eq. 3.7 for
/// the exact solution x_t = x_s − σ_t∫₀ʰ e^{h−u} ε du in λ; the multistep variants of Lu et
/// al. 2022, "DPM-Solver++", Appendix B; diffusers' `algorithm_type = "dpmsolver"`, midpoint
/// second order) of order 1–3 ([`dpm_solver_update`]). Order 1 is DDIM (= EDM Euler).
pub fn dpm_solver(
    denoiser: &dyn Denoiser,
    x: Batch,
    sigmas: &[f64],
    order: usize,
    weight: ThirdOrderWeight,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(sigmas[0], &x);
    let mut history: Vec<Evaluation> = Vec::new();
    for w in sigmas.windows(2) {
        let (sigma, sigma_next) = (w[0], w[1]);
        let denoised = trace.denoise(denoiser, &x, sigma);
        let eps = x.lincomb(1.0 / sigma, &denoised, -1.0 / sigma);
        if sigma_next == 0.0 {
            x = denoised;
            trace.push(sigma_next, &x);
            break;
        }
        history.push(Evaluation { output: eps, sigma });
        x = dpm_solver_update(&x, sigma_next, &history, weight);
        keep_newest(&mut history, order - 1);
        trace.push(sigma_next, &x);
    }
    x
}

/// One DPM-Solver step from the newest evaluation's σ_s to σ_t, of order `history.len()`,
/// with h = λ_t − λ_s, φ = e^h − 1 and ε expanded in λ about ε_0 (the newest):
/// - order 1: x ← x − σ_t φ ε_0;
/// - order 2 (midpoint), r0 = h_0/h: D1 = (ε_0 − ε_1)/r0, x ← x − σ_t φ ε_0 − ½σ_t φ D1;
/// - order 3: D1_0 = (ε_0 − ε_1)/r0, D1_1 = (ε_1 − ε_2)/r1, D1 = D1_0 + r0/(r0 + r1)(D1_0 −
///   D1_1) ≈ hε′, D2 = (D1_0 − D1_1)/(r0 + r1) ≈ h²ε″/2 and
///   x ← x − σ_t φ ε_0 − σ_t(φ/h − 1) D1 − 2σ_t((φ − h)/h² − ½) D2. That weight of D2 is
///   σ_t∫₀ʰ e^{h−u}u² du/h², the Taylor term; Lu et al.'s reference code and diffusers use
///   half of it ([`ThirdOrderWeight`]).
fn dpm_solver_update(
    x: &Batch,
    sigma_next: f64,
    history: &[Evaluation],
    weight: ThirdOrderWeight,
) -> Batch {
    let newest = &history[history.len() - 1];
    let h = lambda(sigma_next) - lambda(newest.sigma);
    let phi = h.exp_m1();
    let first = x.lincomb(1.0, &newest.output, -sigma_next * phi);
    match history {
        [_] => first,
        [older, newest] => {
            let r0 = (lambda(newest.sigma) - lambda(older.sigma)) / h;
            let d1 = newest.output.lincomb(1.0 / r0, &older.output, -1.0 / r0);
            first.lincomb(1.0, &d1, -0.5 * sigma_next * phi)
        }
        [oldest, older, newest] => {
            let r0 = (lambda(newest.sigma) - lambda(older.sigma)) / h;
            let r1 = (lambda(older.sigma) - lambda(oldest.sigma)) / h;
            let (d1, d2) =
                divided_differences(&newest.output, &older.output, &oldest.output, r0, r1);
            first
                .lincomb(1.0, &d1, -sigma_next * (phi / h - 1.0))
                .lincomb(
                    1.0,
                    &d2,
                    -2.0 * weight.factor() * sigma_next * ((phi - h) / (h * h) - 0.5),
                )
        }
        _ => unreachable!("DPM-Solver keeps at most three evaluations"),
    }
}

/// The weight of the D2 ≈ h²f″/2 term in the third-order multistep DPM-Solver updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThirdOrderWeight {
    /// The Taylor weight ∫₀ʰ e^{±(u−h)}u² du/h² of the exact solution: third order.
    #[default]
    Taylor,
    /// Half of it, as in Lu et al. 2022's reference code, diffusers and k-diffusion:
    /// second order as the steps shrink (measured), but the smaller error at 20–40 steps on
    /// the exact Gaussian's flow.
    Lu2022,
}

impl ThirdOrderWeight {
    /// The multiple of the Taylor weight.
    pub fn factor(self) -> f64 {
        match self {
            ThirdOrderWeight::Taylor => 1.0,
            ThirdOrderWeight::Lu2022 => 0.5,
        }
    }
}

/// (D1 ≈ h f′, D2 ≈ h² f″/2) at the newest of three evaluations f_0, f_1, f_2 spaced r0·h
/// and r1·h apart in λ (Lu et al. 2022, "DPM-Solver++", Appendix B).
pub(crate) fn divided_differences(
    f0: &Batch,
    f1: &Batch,
    f2: &Batch,
    r0: f64,
    r1: f64,
) -> (Batch, Batch) {
    let d1_0 = f0.lincomb(1.0 / r0, f1, -1.0 / r0);
    let d1_1 = f1.lincomb(1.0 / r1, f2, -1.0 / r1);
    let diff = d1_0.lincomb(1.0, &d1_1, -1.0);
    let d1 = d1_0.lincomb(1.0, &diff, r0 / (r0 + r1));
    (d1, diff.scaled(1.0 / (r0 + r1)))
}

/// UniPC with B(h) = e^{−h} − 1 ("bh2") and data prediction (Zhao et al. 2023, "UniPC",
/// Algorithms 2–3; diffusers' `UniPCMultistepScheduler` defaults): each step predicts with
/// UniP of order p ([`unipc_predict`]), and after the next evaluation corrects that
/// prediction with UniC of the same order ([`unipc_correct`]), which raises its order by
/// one at no extra evaluation. The order is lowered only where evaluations are missing (the
/// first steps) and for the step to σ = 0, which returns D; no correction follows it.
/// (diffusers' `lower_order_final` also lowers the order of the last steps before σ = 0,
/// which differs from this for order 3 only.)
pub fn unipc(
    denoiser: &dyn Denoiser,
    x: Batch,
    sigmas: &[f64],
    order: usize,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(sigmas[0], &x);
    let mut history: Vec<Evaluation> = Vec::new();
    let mut last: Option<(Batch, usize)> = None;
    for (i, w) in sigmas.windows(2).enumerate() {
        let (sigma, sigma_next) = (w[0], w[1]);
        let output = trace.denoise(denoiser, &x, sigma);
        let evaluation = Evaluation { output, sigma };
        if let Some((previous, p)) = last.take() {
            x = unipc_correct(&previous, &history, &evaluation, p);
        }
        history.push(evaluation);
        keep_newest(&mut history, order);
        let p = order.min(i + 1);
        let next = unipc_predict(&x, sigma_next, &history[history.len() - p..]);
        last = Some((x, p));
        x = next;
        trace.push(sigma_next, &x);
    }
    x
}

/// The coefficients shared by UniP and UniC for a step from σ_s to σ_t, h = λ_t − λ_s:
/// hφ₁ = e^{−h} − 1 = B(h), and b_k = k!·hφ_{k+1}/B(h) for k = 1..p, where hφ_{k+1} =
/// hφ_k/(−h) − 1/k! (Zhao et al. 2023, eq. 10 and Appendix; φ with the −h of data
/// prediction).
fn unipc_coefficients(h: f64, p: usize) -> (f64, Vec<f64>) {
    let hh = -h;
    let h_phi_1 = hh.exp_m1();
    let b_h = h_phi_1;
    let mut h_phi_k = h_phi_1 / hh - 1.0;
    let mut factorial = 1.0;
    let mut b = Vec::with_capacity(p);
    for k in 1..=p {
        b.push(h_phi_k * factorial / b_h);
        factorial *= (k + 1) as f64;
        h_phi_k = h_phi_k / hh - 1.0 / factorial;
    }
    (b_h, b)
}

/// The ratios r_k = (λ_{s_k} − λ_s)/h and the differences (D_{s_k} − D_s)/r_k of the earlier
/// evaluations `earlier` (newest first) about the evaluation `base` at σ_s.
fn unipc_differences(base: &Evaluation, earlier: &[&Evaluation], h: f64) -> (Vec<f64>, Vec<Batch>) {
    earlier
        .iter()
        .map(|e| {
            let r = (lambda(e.sigma) - lambda(base.sigma)) / h;
            (r, e.output.lincomb(1.0 / r, &base.output, -1.0 / r))
        })
        .unzip()
}

/// UniP-p (Zhao et al. 2023, Algorithm 2, B(h) = e^{−h} − 1): from x at the newest
/// evaluation's σ_s to σ_t, x_t = (σ_t/σ_s)x − hφ₁ D_s − B(h) Σ ρ_k (D_{s_k} − D_s)/r_k with
/// ρ solving Σ_k ρ_k r_k^{j−1} = b_j, j = 1..p − 1 (ρ = ½ for p = 2). At σ_t = 0 it returns
/// D_s (the order is 1 there).
fn unipc_predict(x: &Batch, sigma_next: f64, history: &[Evaluation]) -> Batch {
    let base = &history[history.len() - 1];
    if sigma_next == 0.0 {
        return base.output.clone();
    }
    let p = history.len();
    let h = lambda(sigma_next) - lambda(base.sigma);
    let (b_h, b) = unipc_coefficients(h, p);
    let earlier: Vec<&Evaluation> = history[..p - 1].iter().rev().collect();
    let (r, differences) = unipc_differences(base, &earlier, h);
    let rho = match p {
        1 => vec![],
        2 => vec![0.5],
        _ => solve(&vandermonde(&r, p - 1), &b[..p - 1]),
    };
    let mut out = x.lincomb(sigma_next / base.sigma, &base.output, -b_h);
    for (rho_k, diff) in rho.iter().zip(&differences) {
        out.axpy(-b_h * rho_k, diff);
    }
    out
}

/// UniC-p (Zhao et al. 2023, Algorithm 3): the step from `previous` (x at σ_s, predicted
/// with order p) to the new evaluation `new` at σ_t, redone with the new D_t:
/// x_t^c = (σ_t/σ_s)x − hφ₁ D_s − B(h)(Σ_k ρ_k (D_{s_k} − D_s)/r_k + ρ_p (D_t − D_s)), ρ solving
/// the p×p system with r_p = 1 (ρ = ½ for p = 1). `history` ends with the evaluation at σ_s.
fn unipc_correct(previous: &Batch, history: &[Evaluation], new: &Evaluation, p: usize) -> Batch {
    let base = &history[history.len() - 1];
    let h = lambda(new.sigma) - lambda(base.sigma);
    let (b_h, b) = unipc_coefficients(h, p);
    let earlier: Vec<&Evaluation> = history[history.len() - p..history.len() - 1]
        .iter()
        .rev()
        .collect();
    let (mut r, differences) = unipc_differences(base, &earlier, h);
    r.push(1.0);
    let rho = match p {
        1 => vec![0.5],
        _ => solve(&vandermonde(&r, p), &b),
    };
    let mut out = previous.lincomb(new.sigma / base.sigma, &base.output, -b_h);
    for (rho_k, diff) in rho.iter().zip(&differences) {
        out.axpy(-b_h * rho_k, diff);
    }
    let newest = new.output.lincomb(1.0, &base.output, -1.0);
    out.axpy(-b_h * rho[p - 1], &newest);
    out
}

/// The k×k matrix R_{jk} = r_k^j (j = 0..k − 1) of UniPC's order conditions.
fn vandermonde(r: &[f64], k: usize) -> Vec<Vec<f64>> {
    (0..k)
        .map(|j| r[..k].iter().map(|rk| rk.powi(j as i32)).collect())
        .collect()
}

/// Solves the small dense system A y = b (k ≤ 3 here) by Gaussian elimination with partial
/// pivoting.
fn solve(a: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let k = b.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(row, &bi)| row.iter().copied().chain([bi]).collect())
        .collect();
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))
            .unwrap_or(col);
        m.swap(col, pivot);
        let pivot_row = m[col].clone();
        for row in m.iter_mut().skip(col + 1) {
            let f = row[col] / pivot_row[col];
            for (entry, p) in row.iter_mut().zip(&pivot_row).skip(col) {
                *entry -= f * p;
            }
        }
    }
    let mut y = vec![0.0; k];
    for row in (0..k).rev() {
        let tail: f64 = (row + 1..k).map(|c| m[row][c] * y[c]).sum();
        y[row] = (m[row][k] - tail) / m[row][row];
    }
    y
}

/// DEIS with the polynomial extrapolation in time, tAB (Zhang & Chen 2023, "Fast Sampling
/// of Diffusion Models with Exponential Integrator", eq. 14; k-diffusion's `sample_deis`,
/// `deis_mode = "tab"`): in the EDM frame the ODE dx/dσ = ε has no linear part, so DEIS is
/// the variable-step Adams–Bashforth method x_{i+1} = x_i + Σ_j C_ij ε_{i−j}, where
/// C_ij = ∫_{σ_i}^{σ_{i+1}} ℓ_j(σ) dσ integrates the Lagrange basis through the last p
/// evaluations' σ's. Order 1–3; the first steps use the evaluations there are.
pub fn deis(
    denoiser: &dyn Denoiser,
    x: Batch,
    sigmas: &[f64],
    order: usize,
    trace: &mut Trace,
) -> Batch {
    let mut x = x;
    trace.push(sigmas[0], &x);
    let mut history: Vec<Evaluation> = Vec::new();
    for w in sigmas.windows(2) {
        let (sigma, sigma_next) = (w[0], w[1]);
        let eps = crate::edm::ode_slope(denoiser, &x, sigma, trace);
        history.push(Evaluation { output: eps, sigma });
        let nodes: Vec<f64> = history.iter().map(|e| e.sigma).collect();
        for (e, weight) in history
            .iter()
            .zip(adams_bashforth_weights(&nodes, sigma, sigma_next))
        {
            x.axpy(weight, &e.output);
        }
        keep_newest(&mut history, order - 1);
        trace.push(sigma_next, &x);
    }
    x
}

/// ∫_a^b ℓ_j(s) ds for the Lagrange basis ℓ_j through `nodes` (at most three, so ℓ_j has
/// degree ≤ 2 and the two-point Gauss–Legendre rule is exact).
fn adams_bashforth_weights(nodes: &[f64], a: f64, b: f64) -> Vec<f64> {
    let (mid, half) = ((a + b) / 2.0, (b - a) / 2.0);
    let offset = half / 3f64.sqrt();
    let basis = |j: usize, s: f64| {
        nodes
            .iter()
            .enumerate()
            .filter(|&(k, _)| k != j)
            .map(|(_, &nk)| (s - nk) / (nodes[j] - nk))
            .product::<f64>()
    };
    (0..nodes.len())
        .map(|j| half * (basis(j, mid - offset) + basis(j, mid + offset)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adams_bashforth_weights_integrate_polynomials_exactly() {
        let nodes = [3.0, 2.0, 1.5];
        let w = adams_bashforth_weights(&nodes, 1.5, 0.5);
        // f(s) = s² on the nodes: Σ w_j f(s_j) = ∫_{1.5}^{0.5} s² ds = (0.125 − 3.375)/3
        let integral: f64 = w.iter().zip(nodes).map(|(w, s)| w * s * s).sum();
        assert!(
            (integral - (0.125 - 3.375) / 3.0).abs() < 1e-14,
            "{integral}"
        );
        let one = adams_bashforth_weights(&[2.0], 2.0, 1.0);
        assert_eq!(one, vec![-1.0]);
    }

    #[test]
    fn small_solve_recovers_a_known_solution() {
        let a = vec![
            vec![1.0, 1.0, 1.0],
            vec![-1.0, -2.0, 1.0],
            vec![1.0, 4.0, 1.0],
        ];
        let b: Vec<f64> = a.iter().map(|r| r[0] + 2.0 * r[1] + 3.0 * r[2]).collect();
        let y = solve(&a, &b);
        assert!(
            y.iter()
                .zip([1.0, 2.0, 3.0])
                .all(|(u, v)| (u - v).abs() < 1e-13),
            "{y:?}"
        );
    }

    #[test]
    fn unipc_coefficients_tend_to_the_taylor_values() {
        // B(h) = e^{−h} − 1 ≈ −h; hφ₂/B(h) → ½ and 2!·hφ₃/B(h) → 1/3 as h → 0
        let (b_h, b) = unipc_coefficients(1e-4, 2);
        assert!((b_h + 1e-4).abs() < 1e-8);
        assert!(
            (b[0] - 0.5).abs() < 1e-4 && (b[1] - 1.0 / 3.0).abs() < 1e-4,
            "{b:?}"
        );
    }
}
