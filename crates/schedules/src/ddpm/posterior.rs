//! The forward posterior q(x_{t−1} | x_t, x0) and the reverse variances of Ho et al. 2020.

/// Which fixed variance the reverse step p(x_{t−1} | x_t) uses (Ho et al. 2020 §3.2): the
/// one variance choice of the workspace, for ancestral sampling, the DDPM bound and its
/// training objectives. Written `fixed_large` / `fixed_small` (or `fixedlarge` /
/// `fixedsmall`, Ho et al.'s code's names) in experiment files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReverseVariance {
    /// σ_t² = β_t ("fixedlarge"; optimal for x0 ~ N(0, I)).
    #[default]
    #[serde(alias = "fixedlarge")]
    FixedLarge,
    /// σ_t² = β̃_t ("fixedsmall"; optimal for x0 deterministic).
    #[serde(alias = "fixedsmall")]
    FixedSmall,
}

/// (coef_x0, coef_xt) = (√ᾱ_{t−1}β_t/(1 − ᾱ_t), √α_t(1 − ᾱ_{t−1})/(1 − ᾱ_t)), the posterior
/// mean μ̃_t = coef_x0·x0 + coef_xt·x_t of q(x_{t−1} | x_t, x0), Ho et al. 2020 eq. 7,
/// with α_t = 1 − β_t. Also valid for a strided step with its effective β.
pub fn posterior_mean_coefs(beta: f64, alpha_bar: f64, alpha_bar_prev: f64) -> (f64, f64) {
    let alpha = 1.0 - beta;
    let coef_x0 = alpha_bar_prev.sqrt() * beta / (1.0 - alpha_bar);
    let coef_xt = alpha.sqrt() * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar);
    (coef_x0, coef_xt)
}

/// β̃_t = β_t(1 − ᾱ_{t−1})/(1 − ᾱ_t), the posterior variance, Ho et al. 2020 eq. 7.
pub fn posterior_variance(beta: f64, alpha_bar: f64, alpha_bar_prev: f64) -> f64 {
    beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
}

/// log β̃_t (−∞ where β̃_t = 0; see `DdpmSchedule::posterior_log_variance_clipped`).
pub fn posterior_log_variance(beta: f64, alpha_bar: f64, alpha_bar_prev: f64) -> f64 {
    posterior_variance(beta, alpha_bar, alpha_bar_prev).ln()
}
