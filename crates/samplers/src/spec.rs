//! [`SamplerSpec`]: how an experiment's `[sampler]` table names a sampler, and
//! [`sample`], which runs it on the grid of a `[schedule]`.

use crate::ddpm::X0Clip;
use crate::edm::{self, Churn};
use crate::multistep::ThirdOrderWeight;
use crate::{
    ddpm, langevin, multistep, sde, teleport, Batch, Denoiser, PfOdeSolution, SamplerError, Trace,
};
use rand::Rng;
use schedules::convert::alpha_bar_from_sigma;
use schedules::{Process, ReverseVariance, ScheduleSpec, StridedStep};
use serde::{Deserialize, Serialize};

/// A reverse-time sampler and its parameters (`kind` selects it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SamplerSpec {
    /// EDM Euler on the schedule's σ grid; `skip` steps teleported (Wang & Vastola 2023).
    Euler {
        #[serde(default)]
        skip: usize,
    },
    /// EDM Heun (Karras et al. 2022, Algorithm 1); NFE = 2(N − skip) − 1.
    Heun {
        #[serde(default)]
        skip: usize,
    },
    /// EDM stochastic sampler (Karras et al. 2022, Algorithm 2).
    EdmStochastic {
        #[serde(default)]
        skip: usize,
        #[serde(default)]
        s_churn: f64,
        #[serde(default)]
        s_min: f64,
        #[serde(default = "infinity")]
        s_max: f64,
        #[serde(default = "one")]
        s_noise: f64,
    },
    /// DPM-Solver++(2M) (Lu et al. 2022) on the σ grid; NFE = N − skip.
    #[serde(rename = "dpmpp_2m")]
    Dpmpp2m {
        #[serde(default)]
        skip: usize,
    },
    /// DPM-Solver++(2S) (Lu et al. 2022), single-step second order on the σ grid;
    /// NFE = 2(N − skip) − 1.
    #[serde(rename = "dpmpp_2s")]
    Dpmpp2s {
        #[serde(default)]
        skip: usize,
    },
    /// DPM-Solver++(3M) (Lu et al. 2022) on the σ grid; NFE = N − skip.
    #[serde(rename = "dpmpp_3m")]
    Dpmpp3m {
        #[serde(default)]
        skip: usize,
        /// The weight of the D2 term: "taylor" (third order) or "lu2022" (the reference
        /// code's and diffusers' half weight).
        #[serde(default)]
        third_order: ThirdOrderWeight,
    },
    /// DPM-Solver multistep with noise prediction (Lu et al. 2022), order 1–3 (default 2)
    /// on the σ grid; NFE = N − skip.
    DpmSolver {
        #[serde(default)]
        skip: usize,
        #[serde(default = "two")]
        order: usize,
        /// As for dpmpp_3m, at order 3.
        #[serde(default)]
        third_order: ThirdOrderWeight,
    },
    /// UniPC, B(h) = e^{−h} − 1 with its corrector (Zhao et al. 2023), order 1–3 (default 2)
    /// on the σ grid; NFE = N − skip.
    Unipc {
        #[serde(default)]
        skip: usize,
        #[serde(default = "two")]
        order: usize,
    },
    /// DEIS tAB (Zhang & Chen 2023), order 1–3 (default 3) on the σ grid; NFE = N − skip.
    Deis {
        #[serde(default)]
        skip: usize,
        #[serde(default = "three")]
        order: usize,
    },
    /// Euler ancestral (k-diffusion) on the σ grid with noise fraction η ∈ [0, 1]
    /// (default 1); NFE = N − skip.
    EulerAncestral {
        #[serde(default)]
        skip: usize,
        #[serde(default = "one")]
        eta: f64,
    },
    /// DDPM ancestral sampling (Ho et al. 2020, Algorithm 2). On a ddpm schedule it visits
    /// the schedule's timesteps; on any other it visits the σ grid through ᾱ = 1/(1 + σ²).
    /// `clip_x0 = [−1, 1]` clips x̂0 to the data range before each step (Ho et al.'s sampler).
    Ancestral {
        #[serde(default)]
        variance: ReverseVariance,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clip_x0: Option<X0Clip>,
    },
    /// DDIM with η (Song, Meng & Ermon 2021), on the same steps as `ancestral`; `clip_x0` as
    /// there.
    Ddim {
        #[serde(default)]
        eta: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clip_x0: Option<X0Clip>,
    },
    /// Reverse-SDE Euler–Maruyama; needs a vp, ve or edm schedule.
    EulerMaruyama {},
    /// Probability-flow ODE, Euler; needs a vp, ve or edm schedule.
    PfOdeEuler {},
    /// Probability-flow ODE, Heun; needs a vp, ve or edm schedule.
    PfOdeHeun {},
    /// Predictor–corrector (Song et al. 2021); needs a vp, ve or edm schedule.
    PredictorCorrector {
        #[serde(default = "one_usize")]
        corrector_steps: usize,
        #[serde(default = "default_snr")]
        snr: f64,
    },
    /// Annealed Langevin dynamics (Song & Ermon 2019) over the schedule's σ > 0.
    AnnealedLangevin {
        #[serde(default = "default_langevin_eps")]
        epsilon: f64,
        #[serde(default = "default_steps_per_level")]
        steps_per_level: usize,
        #[serde(default = "yes")]
        denoise_final: bool,
    },
}

fn infinity() -> f64 {
    f64::INFINITY
}
fn one() -> f64 {
    1.0
}
fn one_usize() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn default_snr() -> f64 {
    0.16
}
fn default_langevin_eps() -> f64 {
    2e-5
}
fn default_steps_per_level() -> usize {
    100
}

impl SamplerSpec {
    /// The `kind` tag as written in files.
    pub fn kind(&self) -> &'static str {
        match self {
            SamplerSpec::Euler { .. } => "euler",
            SamplerSpec::Heun { .. } => "heun",
            SamplerSpec::EdmStochastic { .. } => "edm_stochastic",
            SamplerSpec::Dpmpp2m { .. } => "dpmpp_2m",
            SamplerSpec::Dpmpp2s { .. } => "dpmpp_2s",
            SamplerSpec::Dpmpp3m { .. } => "dpmpp_3m",
            SamplerSpec::DpmSolver { .. } => "dpm_solver",
            SamplerSpec::Unipc { .. } => "unipc",
            SamplerSpec::Deis { .. } => "deis",
            SamplerSpec::EulerAncestral { .. } => "euler_ancestral",
            SamplerSpec::Ancestral { .. } => "ancestral",
            SamplerSpec::Ddim { .. } => "ddim",
            SamplerSpec::EulerMaruyama {} => "euler_maruyama",
            SamplerSpec::PfOdeEuler {} => "pf_ode_euler",
            SamplerSpec::PfOdeHeun {} => "pf_ode_heun",
            SamplerSpec::PredictorCorrector { .. } => "predictor_corrector",
            SamplerSpec::AnnealedLangevin { .. } => "annealed_langevin",
        }
    }

    /// Steps skipped by the analytic teleport (0 for samplers without it).
    pub fn skip(&self) -> usize {
        match *self {
            SamplerSpec::Euler { skip }
            | SamplerSpec::Heun { skip }
            | SamplerSpec::EdmStochastic { skip, .. }
            | SamplerSpec::Dpmpp2m { skip }
            | SamplerSpec::Dpmpp2s { skip }
            | SamplerSpec::Dpmpp3m { skip, .. }
            | SamplerSpec::DpmSolver { skip, .. }
            | SamplerSpec::Unipc { skip, .. }
            | SamplerSpec::Deis { skip, .. }
            | SamplerSpec::EulerAncestral { skip, .. } => skip,
            _ => 0,
        }
    }

    /// Checks the parameters and that the schedule suits the sampler.
    pub fn validate(&self, schedule: &ScheduleSpec) -> Result<(), SamplerError> {
        self.validate_params(schedule.kind())?;
        self.validate_skip(schedule.steps())?;
        self.validate_order(schedule.steps())?;
        if self.works_in_log_sigma() {
            validate_log_sigma_grid(self.kind(), schedule)?;
        }
        Ok(())
    }

    /// Whether the sampler is a deterministic solver of the PF-ODE on the schedule's σ grid
    /// (EDM frame, from σ_max·z).
    pub fn solves_the_pf_ode(&self) -> bool {
        matches!(
            self,
            SamplerSpec::Euler { .. }
                | SamplerSpec::Heun { .. }
                | SamplerSpec::Dpmpp2m { .. }
                | SamplerSpec::Dpmpp2s { .. }
                | SamplerSpec::Dpmpp3m { .. }
                | SamplerSpec::DpmSolver { .. }
                | SamplerSpec::Unipc { .. }
                | SamplerSpec::Deis { .. }
        )
    }

    /// The order of a multistep solver with an `order` key.
    pub fn order(&self) -> Option<usize> {
        match *self {
            SamplerSpec::DpmSolver { order, .. }
            | SamplerSpec::Unipc { order, .. }
            | SamplerSpec::Deis { order, .. } => Some(order),
            _ => None,
        }
    }

    /// Whether the solver steps in λ = −log σ, so that its grid must be strictly
    /// decreasing and positive before the final 0.
    fn works_in_log_sigma(&self) -> bool {
        matches!(
            self,
            SamplerSpec::Dpmpp2m { .. }
                | SamplerSpec::Dpmpp2s { .. }
                | SamplerSpec::Dpmpp3m { .. }
                | SamplerSpec::DpmSolver { .. }
                | SamplerSpec::Unipc { .. }
        )
    }

    /// Checks that `order` is 1–3 and that the steps left after the teleport reach it.
    fn validate_order(&self, steps: usize) -> Result<(), SamplerError> {
        let Some(order) = self.order() else {
            return Ok(());
        };
        if !(1..=3).contains(&order) {
            return Err(SamplerError::invalid("order", order, "must be 1, 2 or 3"));
        }
        let left = steps.saturating_sub(self.skip());
        if left < order {
            return Err(SamplerError::invalid(
                "order",
                order,
                format!(
                    "needs at least {order} steps of the grid after the teleport; schedule.steps = {steps} with skip = {} leaves {left}",
                    self.skip()
                ),
            ));
        }
        Ok(())
    }

    /// Checks the sampler's own parameters, and that an SDE/PF-ODE sampler is not given a
    /// ddpm schedule (`kind` is the schedule's kind).
    fn validate_params(&self, kind: &str) -> Result<(), SamplerError> {
        match *self {
            SamplerSpec::EdmStochastic {
                s_churn,
                s_min,
                s_max,
                s_noise,
                ..
            } => validate_churn(s_churn, s_min, s_max, s_noise),
            SamplerSpec::Ddim { eta, clip_x0 } => {
                non_negative("eta", eta)?;
                valid_clip(clip_x0)
            }
            SamplerSpec::Ancestral { clip_x0, .. } => valid_clip(clip_x0),
            SamplerSpec::EulerAncestral { eta, .. } if !(0.0..=1.0).contains(&eta) => {
                Err(SamplerError::invalid("eta", eta, "must be in [0, 1]"))
            }
            SamplerSpec::EulerMaruyama {}
            | SamplerSpec::PfOdeEuler {}
            | SamplerSpec::PfOdeHeun {}
            | SamplerSpec::PredictorCorrector { .. }
                if kind == "ddpm" =>
            {
                Err(SamplerError::invalid(
                    "kind",
                    self.kind(),
                    "needs a continuous schedule (vp, ve or edm), got \"ddpm\"",
                ))
            }
            SamplerSpec::PredictorCorrector { snr, .. } => non_negative("snr", snr),
            SamplerSpec::AnnealedLangevin {
                epsilon,
                steps_per_level,
                ..
            } => validate_langevin(epsilon, steps_per_level),
            _ => Ok(()),
        }
    }

    /// Checks that the teleported steps leave at least one of the schedule's `steps`.
    fn validate_skip(&self, steps: usize) -> Result<(), SamplerError> {
        if self.skip() >= steps {
            return Err(SamplerError::invalid(
                "skip",
                self.skip(),
                format!("must be < schedule.steps = {steps}"),
            ));
        }
        Ok(())
    }
}

/// Checks that the schedule's σ grid is strictly decreasing and positive before its final
/// 0: the λ = −log σ solvers divide by the step h = log(σ_i/σ_{i+1}).
fn validate_log_sigma_grid(kind: &str, schedule: &ScheduleSpec) -> Result<(), SamplerError> {
    let sigmas = schedule.sampling_sigmas().map_err(schedule_error)?;
    let last = sigmas.len() - 1;
    let bad = sigmas
        .windows(2)
        .enumerate()
        .find(|&(i, w)| !(w[1] < w[0] && w[0] > 0.0 && (w[1] > 0.0 || i + 1 == last)));
    match bad {
        None => Ok(()),
        Some((i, w)) => Err(SamplerError::invalid(
            "kind",
            kind,
            format!(
                "steps in log σ and needs a strictly decreasing σ grid, positive before its final value; schedule.kind = \"{}\" has σ_{i} = {} then σ_{} = {}",
                schedule.kind(),
                w[0],
                i + 1,
                w[1]
            ),
        )),
    }
}

/// Checks the churn parameters of the EDM stochastic sampler (Karras et al. 2022,
/// Algorithm 2).
fn validate_churn(s_churn: f64, s_min: f64, s_max: f64, s_noise: f64) -> Result<(), SamplerError> {
    non_negative("s_churn", s_churn)?;
    non_negative("s_min", s_min)?;
    if s_max.is_nan() || s_max < s_min {
        return Err(SamplerError::invalid(
            "s_max",
            s_max,
            format!("must be ≥ s_min = {s_min}"),
        ));
    }
    non_negative("s_noise", s_noise)
}

/// Checks the step size and steps per level of annealed Langevin dynamics.
fn validate_langevin(epsilon: f64, steps_per_level: usize) -> Result<(), SamplerError> {
    if !(epsilon > 0.0 && epsilon.is_finite()) {
        return Err(SamplerError::invalid("epsilon", epsilon, "must be > 0"));
    }
    if steps_per_level == 0 {
        return Err(SamplerError::invalid("steps_per_level", 0, "must be ≥ 1"));
    }
    Ok(())
}

fn non_negative(key: &str, value: f64) -> Result<(), SamplerError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(SamplerError::invalid(key, value, "must be finite and ≥ 0"))
    }
}

fn valid_clip(clip: Option<X0Clip>) -> Result<(), SamplerError> {
    match clip {
        Some(c) if !c.is_valid() => Err(SamplerError::invalid(
            "clip_x0",
            format!("[{}, {}]", c.low, c.high),
            "must be [low, high] with finite low < high",
        )),
        _ => Ok(()),
    }
}

fn schedule_error(err: schedules::ScheduleError) -> SamplerError {
    SamplerError::invalid("schedule", "", err.to_string())
}

/// What every sampler family draws with: the schedule, the denoiser, and the standard
/// normal draw z of the initial state (`n` rows of dimension `d`).
struct Draw<'a> {
    schedule: &'a ScheduleSpec,
    denoiser: &'a dyn Denoiser,
    z: Batch,
}

/// Draws `n` samples with `spec` on the grid of `schedule`, starting from the prior of
/// the schedule (σ_max·z in the EDM frame, N(0, I) for DDPM), and returns them in the
/// data frame (x̂ = x/s) with the trace. `teleport` is the closed-form PF-ODE solution
/// used for `skip > 0`. z is the first draw from `rng` ([`sample_from_noise`]).
pub fn sample<R: Rng + ?Sized>(
    spec: &SamplerSpec,
    schedule: &ScheduleSpec,
    denoiser: &dyn Denoiser,
    teleport_solution: Option<&dyn PfOdeSolution>,
    n: usize,
    rng: &mut R,
) -> Result<(Batch, Trace), SamplerError> {
    spec.validate(schedule)?;
    let z = Batch::standard_normal(n, denoiser.dim(), rng);
    sample_from_noise(spec, schedule, denoiser, teleport_solution, z, rng)
}

/// [`sample`] from a given standard-normal draw `z` of the initial state (one row per
/// sample), e.g. the noise another framework's run used: the initial state is σ_max·z in
/// the EDM frame, z for DDPM, s(t₀)σ(t₀)·z for the SDE samplers. `rng` drives only the
/// samplers' own noise.
pub fn sample_from_noise<R: Rng + ?Sized>(
    spec: &SamplerSpec,
    schedule: &ScheduleSpec,
    denoiser: &dyn Denoiser,
    teleport_solution: Option<&dyn PfOdeSolution>,
    z: Batch,
    rng: &mut R,
) -> Result<(Batch, Trace), SamplerError> {
    spec.validate(schedule)?;
    if z.dim() != denoiser.dim() {
        return Err(SamplerError::invalid(
            "initial_noise",
            z.dim(),
            format!("rows must have the denoiser's dimension {}", denoiser.dim()),
        ));
    }
    let draw = Draw {
        schedule,
        denoiser,
        z,
    };
    let mut trace = Trace::new();
    let out = match *spec {
        SamplerSpec::Euler { skip }
        | SamplerSpec::Heun { skip }
        | SamplerSpec::EdmStochastic { skip, .. }
        | SamplerSpec::Dpmpp2m { skip }
        | SamplerSpec::Dpmpp2s { skip }
        | SamplerSpec::Dpmpp3m { skip, .. }
        | SamplerSpec::DpmSolver { skip, .. }
        | SamplerSpec::Unipc { skip, .. }
        | SamplerSpec::Deis { skip, .. }
        | SamplerSpec::EulerAncestral { skip, .. } => {
            sample_edm(spec, &draw, skip, teleport_solution, rng, &mut trace)?
        }
        SamplerSpec::Ancestral { .. } | SamplerSpec::Ddim { .. } => {
            sample_ddpm(spec, &draw, rng, &mut trace)?
        }
        SamplerSpec::EulerMaruyama {}
        | SamplerSpec::PfOdeEuler {}
        | SamplerSpec::PfOdeHeun {}
        | SamplerSpec::PredictorCorrector { .. } => sample_sde(spec, &draw, rng, &mut trace)?,
        SamplerSpec::AnnealedLangevin {
            epsilon,
            steps_per_level,
            denoise_final,
        } => {
            let params = LangevinParams {
                epsilon,
                steps_per_level,
                denoise_final,
            };
            sample_langevin(&draw, &params, rng, &mut trace)?
        }
    };
    Ok((out, trace))
}

/// Runs an EDM sampler (Euler, Heun or stochastic) from σ_max·z on the schedule's σ grid,
/// teleporting past the first `skip` steps (Wang & Vastola 2023).
fn sample_edm<R: Rng + ?Sized>(
    spec: &SamplerSpec,
    draw: &Draw<'_>,
    skip: usize,
    teleport_solution: Option<&dyn PfOdeSolution>,
    rng: &mut R,
    trace: &mut Trace,
) -> Result<Batch, SamplerError> {
    let sigmas = draw.schedule.sampling_sigmas().map_err(schedule_error)?;
    let x = draw.z.scaled(sigmas[0]);
    let (x, tail) = edm_start(x, &sigmas, skip, teleport_solution)?;
    Ok(run_edm(spec, draw.denoiser, x, tail, rng, trace))
}

/// The start of an EDM run: `x` on the whole grid, or, for `skip > 0`, `x` teleported
/// with `teleport_solution` to σ_skip together with the rest of the grid.
fn edm_start<'s>(
    x: Batch,
    sigmas: &'s [f64],
    skip: usize,
    teleport_solution: Option<&dyn PfOdeSolution>,
) -> Result<(Batch, &'s [f64]), SamplerError> {
    match (skip, teleport_solution) {
        (0, _) => Ok((x, sigmas)),
        (_, Some(solution)) => teleport::teleport(solution, &x, sigmas, skip),
        (_, None) => Err(SamplerError::invalid(
            "skip",
            skip,
            "needs a Gaussian to teleport with",
        )),
    }
}

/// Runs the EDM sampler `spec` names from `x` down the σ grid `tail` (Karras et al. 2022,
/// Algorithms 1 and 2).
fn run_edm<R: Rng + ?Sized>(
    spec: &SamplerSpec,
    denoiser: &dyn Denoiser,
    x: Batch,
    tail: &[f64],
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    match *spec {
        SamplerSpec::Euler { .. } => edm::euler(denoiser, x, tail, trace),
        SamplerSpec::Heun { .. } => edm::heun(denoiser, x, tail, trace),
        SamplerSpec::EdmStochastic {
            s_churn,
            s_min,
            s_max,
            s_noise,
            ..
        } => {
            let churn = Churn {
                s_churn,
                s_min,
                s_max,
                s_noise,
            };
            edm::stochastic(denoiser, x, tail, &churn, rng, trace)
        }
        SamplerSpec::Dpmpp2m { .. } => edm::dpmpp_2m(denoiser, x, tail, trace),
        SamplerSpec::Dpmpp2s { .. } => edm::dpmpp_2s(denoiser, x, tail, trace),
        SamplerSpec::Dpmpp3m { third_order, .. } => {
            edm::dpmpp_3m(denoiser, x, tail, third_order, trace)
        }
        SamplerSpec::DpmSolver {
            order, third_order, ..
        } => multistep::dpm_solver(denoiser, x, tail, order, third_order, trace),
        SamplerSpec::Unipc { order, .. } => multistep::unipc(denoiser, x, tail, order, trace),
        SamplerSpec::Deis { order, .. } => multistep::deis(denoiser, x, tail, order, trace),
        SamplerSpec::EulerAncestral { eta, .. } => {
            edm::euler_ancestral(denoiser, x, tail, eta, rng, trace)
        }
        _ => unreachable!(),
    }
}

/// Runs DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) or DDIM (Song, Meng & Ermon
/// 2021) from N(0, I) on the schedule's DDPM steps.
fn sample_ddpm<R: Rng + ?Sized>(
    spec: &SamplerSpec,
    draw: &Draw<'_>,
    rng: &mut R,
    trace: &mut Trace,
) -> Result<Batch, SamplerError> {
    let steps = ddpm_steps(draw.schedule)?;
    let x = draw.z.clone();
    Ok(match *spec {
        SamplerSpec::Ancestral { variance, clip_x0 } => {
            ddpm::ancestral(draw.denoiser, x, &steps, variance, clip_x0, rng, trace)
        }
        SamplerSpec::Ddim { eta, clip_x0 } => {
            ddpm::ddim(draw.denoiser, x, &steps, eta, clip_x0, rng, trace)
        }
        _ => unreachable!(),
    })
}

/// Runs a reverse-SDE or PF-ODE sampler on the schedule's process from s(t0)·σ(t0)·z,
/// and returns the result divided by s at the end of the grid.
fn sample_sde<R: Rng + ?Sized>(
    spec: &SamplerSpec,
    draw: &Draw<'_>,
    rng: &mut R,
    trace: &mut Trace,
) -> Result<Batch, SamplerError> {
    let process = draw.schedule.process().map_err(schedule_error)?;
    let ts = sde_grid(draw.schedule)?;
    let t0 = ts[0];
    let x = draw.z.scaled(process.s(t0) * process.sigma(t0));
    let x = run_sde(spec, draw.denoiser, process.as_ref(), x, &ts, rng, trace);
    Ok(x.scaled(1.0 / process.s(*ts.last().expect("non-empty grid"))))
}

/// The time grid of the SDE/PF-ODE samplers: the schedule's SDE times, or for an EDM
/// schedule its σ grid without the final 0.
fn sde_grid(schedule: &ScheduleSpec) -> Result<Vec<f64>, SamplerError> {
    match schedule {
        // The EDM process has t = σ; stop at σ_min, where the SDE is still regular.
        ScheduleSpec::Edm { .. } => {
            let mut sigmas = schedule.edm_sigmas().map_err(schedule_error)?;
            sigmas.pop();
            Ok(sigmas)
        }
        _ => schedule.sde_times().map_err(schedule_error),
    }
}

/// Runs the SDE/PF-ODE sampler `spec` names from `x` along the time grid `ts` (the
/// predictor–corrector is Song et al. 2021's).
fn run_sde<R: Rng + ?Sized>(
    spec: &SamplerSpec,
    denoiser: &dyn Denoiser,
    process: &dyn Process,
    x: Batch,
    ts: &[f64],
    rng: &mut R,
    trace: &mut Trace,
) -> Batch {
    match *spec {
        SamplerSpec::EulerMaruyama {} => sde::euler_maruyama(denoiser, process, x, ts, rng, trace),
        SamplerSpec::PfOdeEuler {} => sde::pf_ode_euler(denoiser, process, x, ts, trace),
        SamplerSpec::PfOdeHeun {} => sde::pf_ode_heun(denoiser, process, x, ts, trace),
        SamplerSpec::PredictorCorrector {
            corrector_steps,
            snr,
        } => sde::predictor_corrector(denoiser, process, x, ts, corrector_steps, snr, rng, trace),
        _ => unreachable!(),
    }
}

/// The parameters of annealed Langevin dynamics, as in [`SamplerSpec::AnnealedLangevin`].
struct LangevinParams {
    epsilon: f64,
    steps_per_level: usize,
    denoise_final: bool,
}

/// Runs annealed Langevin dynamics (Song & Ermon 2019) from σ_0·z over the schedule's
/// σ > 0.
fn sample_langevin<R: Rng + ?Sized>(
    draw: &Draw<'_>,
    params: &LangevinParams,
    rng: &mut R,
    trace: &mut Trace,
) -> Result<Batch, SamplerError> {
    let mut ladder = draw.schedule.sampling_sigmas().map_err(schedule_error)?;
    ladder.pop();
    let x = draw.z.scaled(ladder[0]);
    Ok(langevin::annealed_langevin(
        draw.denoiser,
        x,
        &ladder,
        params.epsilon,
        params.steps_per_level,
        params.denoise_final,
        rng,
        trace,
    ))
}

/// The DDPM steps of a schedule: the (strided) timesteps of a ddpm schedule, or, for any
/// other schedule, its σ grid read as a VP discretization with ᾱ = 1/(1 + σ²) (the VP
/// frame's σ² = (1 − ᾱ)/ᾱ; the final σ = 0 is ᾱ = 1).
pub fn ddpm_steps(schedule: &ScheduleSpec) -> Result<Vec<StridedStep>, SamplerError> {
    if let ScheduleSpec::Ddpm { .. } = schedule {
        let ddpm_schedule = schedule.ddpm_schedule().map_err(schedule_error)?;
        let timesteps = schedule.ddpm_timesteps().map_err(schedule_error)?;
        return ddpm_schedule.strided(&timesteps).map_err(schedule_error);
    }
    let sigmas = schedule.sampling_sigmas().map_err(schedule_error)?;
    Ok(sigmas
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            StridedStep::new(
                i,
                Some(i + 1),
                alpha_bar_from_sigma(w[0]),
                alpha_bar_from_sigma(w[1]),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The denoiser of N(0, v·I): D(x, σ) = v/(v + σ²)·x.
    struct Isotropic(f64);
    impl Denoiser for Isotropic {
        fn dim(&self) -> usize {
            2
        }
        fn denoise(&self, x: &Batch, sigma: f64) -> Batch {
            x.scaled(self.0 / (self.0 + sigma * sigma))
        }
    }

    fn spec(text: &str) -> Result<SamplerSpec, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn every_kind_parses_validates_and_samples_with_its_nfe() {
        let edm = ScheduleSpec::Edm {
            sigma_min: 0.002,
            sigma_max: 80.0,
            rho: 7.0,
            steps: 100,
        };
        let ddpm = ScheduleSpec::Ddpm {
            beta_schedule: schedules::BetaScheduleKind::Linear,
            beta_start: 1e-4,
            beta_end: 0.02,
            timesteps: 1000,
            steps: Some(50),
            spacing: schedules::Spacing::Trailing,
        };
        let cases = [
            ("kind = \"euler\"", &edm, 100),
            ("kind = \"heun\"", &edm, 199),
            ("kind = \"edm_stochastic\"\ns_churn = 10.0", &edm, 199),
            ("kind = \"ancestral\"", &ddpm, 50),
            ("kind = \"ddim\"\neta = 0.5", &ddpm, 50),
            ("kind = \"ancestral\"\nvariance = \"fixedsmall\"", &edm, 100),
            ("kind = \"ddim\"", &edm, 100),
            // The SDE samplers stop at σ_min: 100 grid points, 99 steps.
            ("kind = \"euler_maruyama\"", &edm, 99),
            ("kind = \"pf_ode_euler\"", &edm, 99),
            ("kind = \"pf_ode_heun\"", &edm, 198),
            ("kind = \"predictor_corrector\"", &edm, 198),
            (
                "kind = \"annealed_langevin\"\nsteps_per_level = 3\nepsilon = 1e-5",
                &edm,
                100 * 3 + 1,
            ),
        ];
        for (text, schedule, nfe) in cases {
            let s = spec(text).unwrap();
            let (x, trace) = sample(
                &s,
                schedule,
                &Isotropic(1.0),
                None,
                500,
                &mut crate::rng::seeded(1),
            )
            .unwrap();
            assert_eq!(trace.nfe, nfe, "{text}");
            assert!(x.is_finite(), "{text}");
            // Every sampler lands near N(0, I): sample variance within 25% of 1.
            let var = x.covariance()[0];
            assert!((0.75..1.25).contains(&var), "{text}: variance {var}");
        }
    }

    #[test]
    fn clip_x0_keeps_ddpm_and_ddim_samples_in_range() {
        // The last DDPM/DDIM step (ᾱ_prev = 1) returns x̂0 itself, so with the clip every
        // sample lies in [low, high]; N(0, I) samples without it do not.
        let schedule = ScheduleSpec::ddpm();
        for kind in ["ancestral", "ddim"] {
            let draw = |text: &str| {
                let s = spec(text).unwrap();
                let (x, _) = sample(
                    &s,
                    &schedule,
                    &Isotropic(1.0),
                    None,
                    200,
                    &mut crate::rng::seeded(2),
                )
                .unwrap();
                x.as_slice().iter().fold(0f64, |m, v| m.max(v.abs()))
            };
            let clipped = draw(&format!("kind = \"{kind}\"\nclip_x0 = [-0.5, 0.5]"));
            assert!(clipped <= 0.5, "{kind}: max |x| = {clipped}");
            let free = draw(&format!("kind = \"{kind}\""));
            assert!(free > 2.0, "{kind}: max |x| = {free}");
        }
        let s = spec("kind = \"ancestral\"\nclip_x0 = [-1.0, 1.0]").unwrap();
        assert_eq!(
            s,
            SamplerSpec::Ancestral {
                variance: ReverseVariance::FixedLarge,
                clip_x0: Some(X0Clip {
                    low: -1.0,
                    high: 1.0
                }),
            }
        );
        // Written back without the key when unset, so older files keep their cell hashes.
        let plain = toml::to_string(&spec("kind = \"ddim\"").unwrap()).unwrap();
        assert!(!plain.contains("clip_x0"), "{plain}");
    }

    #[test]
    fn bad_clip_ranges_are_named() {
        let err = spec("kind = \"ddim\"\nclip_x0 = [1.0, -1.0]")
            .unwrap()
            .validate(&ScheduleSpec::ddpm())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "sampler.clip_x0 = [1, -1] must be [low, high] with finite low < high"
        );
        for bad in ["1.0", "[1.0]", "[-1.0, 0.0, 1.0]", "[\"a\", 1.0]"] {
            let err = spec(&format!("kind = \"ancestral\"\nclip_x0 = {bad}")).unwrap_err();
            assert!(err.to_string().contains("clip_x0"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_values_and_mismatched_schedules_are_named() {
        assert!(spec("kind = \"heun\"\nstepz = 3")
            .unwrap_err()
            .to_string()
            .contains("stepz"));
        let err = spec("kind = \"pf_ode_heun\"")
            .unwrap()
            .validate(&ScheduleSpec::ddpm())
            .unwrap_err();
        assert_eq!(err.key, "kind");
        assert!(err.to_string().contains("ddpm"), "{err}");
        let err = spec("kind = \"heun\"\nskip = 18")
            .unwrap()
            .validate(&ScheduleSpec::edm())
            .unwrap_err();
        assert_eq!(err.key, "skip");
        assert_eq!(
            err.to_string(),
            "sampler.skip = 18 must be < schedule.steps = 18"
        );
        let err = spec("kind = \"edm_stochastic\"\ns_churn = -1.0")
            .unwrap()
            .validate(&ScheduleSpec::edm())
            .unwrap_err();
        assert_eq!(err.key, "s_churn");
        let s = spec("kind = \"heun\"\nskip = 3").unwrap();
        let err = sample(
            &s,
            &ScheduleSpec::edm(),
            &Isotropic(1.0),
            None,
            2,
            &mut crate::rng::seeded(0),
        )
        .unwrap_err();
        assert_eq!(err.key, "skip");
    }
}
