//! The tabulated schedule `dlab schedule` prints: one row per sampling point.

use super::ScheduleSpec;
use crate::error::Result;
use crate::process::{Process, VpSde};

/// Columns of a schedule in sampling order; NaN where a column does not apply.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleTable {
    /// Row index 0, 1, ….
    pub i: Vec<usize>,
    /// Time (DDPM: integer timestep; EDM: t = σ).
    pub t: Vec<f64>,
    /// Noise level σ of the EDM frame.
    pub sigma: Vec<f64>,
    /// Scale s of the EDM frame.
    pub s: Vec<f64>,
    /// ᾱ (DDPM, VP: s²); NaN for EDM and VE.
    pub alpha_bar: Vec<f64>,
    /// β (DDPM: β_t; VP: β(t)); NaN for EDM and VE.
    pub beta: Vec<f64>,
}

impl ScheduleTable {
    /// Column names, in the order of the fields.
    pub const COLUMNS: [&'static str; 6] = ["i", "t", "sigma", "s", "alpha_bar", "beta"];

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.i.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.i.is_empty()
    }

    fn from_rows(rows: impl Iterator<Item = [f64; 5]>) -> Self {
        let mut table = ScheduleTable {
            i: vec![],
            t: vec![],
            sigma: vec![],
            s: vec![],
            alpha_bar: vec![],
            beta: vec![],
        };
        for (i, [t, sigma, s, alpha_bar, beta]) in rows.enumerate() {
            table.i.push(i);
            table.t.push(t);
            table.sigma.push(sigma);
            table.s.push(s);
            table.alpha_bar.push(alpha_bar);
            table.beta.push(beta);
        }
        table
    }
}

impl ScheduleSpec {
    /// The schedule as a table in sampling order (validated first):
    /// - ddpm without `steps`: all T rows, t = 0…T−1 increasing (the training schedule);
    /// - ddpm with `steps`: the spaced timesteps, decreasing;
    /// - edm: t = σ on the Karras grid plus the final 0, s = 1;
    /// - vp: t uniform from 1 to ε, ᾱ = s², β = β(t);
    /// - ve: t uniform from 1 to ε, s = 1.
    pub fn table(&self) -> Result<ScheduleTable> {
        self.validate()?;
        let nan = f64::NAN;
        Ok(match *self {
            ScheduleSpec::Ddpm { steps, .. } => {
                let schedule = self.ddpm_schedule()?;
                let timesteps: Vec<usize> = match steps {
                    Some(_) => self.ddpm_timesteps()?,
                    None => (0..schedule.num_timesteps()).collect(),
                };
                ScheduleTable::from_rows(timesteps.into_iter().map(|t| {
                    [
                        t as f64,
                        schedule.sigma(t),
                        schedule.s(t),
                        schedule.alpha_bar(t),
                        schedule.beta(t),
                    ]
                }))
            }
            ScheduleSpec::Edm { .. } => ScheduleTable::from_rows(
                self.edm_sigmas()?
                    .into_iter()
                    .map(|sigma| [sigma, sigma, 1.0, nan, nan]),
            ),
            ScheduleSpec::Vp {
                beta_min,
                beta_max,
                eps,
                ..
            } => {
                let vp = VpSde::new(beta_min, beta_max)?.with_eps(eps)?;
                ScheduleTable::from_rows(
                    self.sde_times()?
                        .into_iter()
                        .map(|t| [t, vp.sigma(t), vp.s(t), vp.s(t).powi(2), vp.beta(t)]),
                )
            }
            ScheduleSpec::Ve { .. } => {
                let ve = self.process()?;
                ScheduleTable::from_rows(
                    self.sde_times()?
                        .into_iter()
                        .map(|t| [t, ve.sigma(t), 1.0, nan, nan]),
                )
            }
        })
    }
}
