//! `task = "jacobian"`: the geometry of a denoiser at one noise level (Kadkhodaie, Guth,
//! Simoncelli & Mallat 2024, §3.1; Wang et al. 2024 for MoLRG): on probes
//! y = x0 + σε, the Jacobian ∇D(y), the spectrum of its symmetric part (the adaptive basis),
//! its effective dimension tr ∇D, its rank at 99% energy, SURE next to the true MSE, and
//! — against a `[probe] reference` denoiser (e.g. the exact one) — the MSE between the two
//! denoisers and the principal angles between their top eigen-subspaces.

use super::Measured;
use crate::build::context::{cell_data, cell_denoiser, CellData};
use crate::config::tasks::{JacobianMethodSpec, JacobianSpec};
use crate::config::{Experiment, ProbeSplit};
use crate::image_grid::{write_image_grid, Tile, TileScale};
use crate::plan::Cell;
use anyhow::{bail, Context, Result};
use faer::Mat;
use metrics::jacobian::{
    denoiser_jacobians, jacobian_spectrum, principal_angles, rank_at_energy, JacobianMethod,
    JacobianSpectrum,
};
use metrics::sure::sure_term;
use samplers::rng::{derive_seed, seeded};
use samplers::{Batch, Denoiser};
use std::path::Path;
use std::sync::Arc;

impl From<JacobianMethodSpec> for JacobianMethod {
    fn from(spec: JacobianMethodSpec) -> Self {
        match spec {
            JacobianMethodSpec::Auto => JacobianMethod::Auto,
            JacobianMethodSpec::FiniteDifference => JacobianMethod::FiniteDifference,
        }
    }
}

/// Per-probe measurements.
struct ProbeResult {
    spectrum: JacobianSpectrum,
    trace: f64,
    asymmetry: f64,
    sure: f64,
    mse: f64,
}

/// Runs the task for one cell: metrics `sigma`, `eff_dim` (mean tr ∇D) and its sd,
/// `asymmetry` (mean ‖J − Jᵀ‖_F/‖J‖_F), `rank`
/// (mean rank at `energy`), `sure` and `mse` (per probe, mean ± standard error), with a
/// reference: `mse_to_reference` and `max_angle_deg`; one detail row per eigenvalue index
/// `k` (1 = largest) with the mean and sd over probes of the k-th eigenvalue of the
/// symmetric Jacobian and the k-th singular value.
pub fn jacobian_task(cell: &Cell, cache: &Path, artifacts: &Path) -> Result<Measured> {
    let e = &cell.config;
    let spec = &e.jacobian;
    let data = cell_data(e)?;
    let sigma = super::score_agreement::probe_sigma(e)?;
    let model = cell_denoiser(e, &data, cache)?;
    let reference = reference_denoiser(e, &data, cache)?;
    let probes = noisy_probes(e, &data, model.as_ref(), sigma)?;
    let d = probes.x0.dim();
    let reference_denoised = reference.as_ref().map(|r| r.denoise(&probes.y, sigma));
    let model_jacobians = jacobians(model.as_ref(), &probes.y, sigma, spec)?;
    let reference_jacobians = match &reference {
        Some(r) if spec.subspace_dim > 0 => Some(jacobians(r.as_ref(), &probes.y, sigma, spec)?),
        _ => None,
    };
    let (results, to_reference, angles) = probe_results(
        &probes,
        &model_jacobians,
        reference_denoised.as_ref(),
        reference_jacobians.as_deref(),
        spec,
    )?;
    if spec.eigenvector_images > 0 {
        write_eigenvectors(
            cell,
            &data.train.shape,
            &results[0].spectrum,
            sigma,
            spec.eigenvector_images,
            artifacts,
        )?;
    }
    Ok(Measured {
        metrics: summary(sigma, spec.energy, &results, &to_reference, &angles),
        nfe: 0,
        rows: spectrum_rows(&results, d),
    })
}

/// The `[probe] reference` denoiser, when there is one (errors name `probe.reference`).
fn reference_denoiser(
    e: &Experiment,
    data: &CellData,
    cache: &Path,
) -> Result<Option<Arc<dyn Denoiser>>> {
    match &e.probe.reference {
        Some(r) => {
            let mut re = e.clone();
            re.model = r.clone();
            Ok(Some(
                cell_denoiser(&re, data, cache).context("probe.reference")?,
            ))
        }
        None => Ok(None),
    }
}

/// The probes at one σ: clean points x0, noisy points y = x0 + σε and the model's D(y).
struct Probes {
    x0: Batch,
    y: Batch,
    denoised: Batch,
    sigma: f64,
}

/// The probe points with their noise (seeded by σ alone) and the model's denoised output.
fn noisy_probes(
    e: &Experiment,
    data: &CellData,
    model: &dyn Denoiser,
    sigma: f64,
) -> Result<Probes> {
    let x0 = probe_points(e, data)?;
    let d = x0.dim();
    // The same noise for every denoiser at this σ.
    let mut rng = seeded(derive_seed(
        e.experiment.seed,
        &format!("jacobian-noise/{sigma:e}"),
    ));
    let y = x0.lincomb(1.0, &Batch::standard_normal(x0.n(), d, &mut rng), sigma);
    let denoised = model.denoise(&y, sigma);
    Ok(Probes {
        x0,
        y,
        denoised,
        sigma,
    })
}

/// Per-probe results and, against a reference, each probe's squared distance between the
/// two denoisers and (with reference Jacobians) its largest principal angle in degrees.
fn probe_results(
    p: &Probes,
    model_jacobians: &[Vec<f64>],
    reference_denoised: Option<&Batch>,
    reference_jacobians: Option<&[Vec<f64>]>,
    spec: &JacobianSpec,
) -> Result<(Vec<ProbeResult>, Vec<f64>, Vec<f64>)> {
    let d = p.x0.dim();
    let mut results = Vec::with_capacity(p.y.n());
    let mut to_reference = Vec::new();
    let mut angles = Vec::new();
    for (i, jac) in model_jacobians.iter().enumerate() {
        results.push(probe_result(p, i, jac, spec)?);
        if let Some(rd) = reference_denoised {
            to_reference.push(squared_distance(p.denoised.row(i), rd.row(i)));
            if let Some(reference_jacobians) = reference_jacobians {
                let r = spec.subspace_dim.min(d);
                let ours = &results[i].spectrum;
                angles.push(max_angle_deg(ours, &reference_jacobians[i], d, r)?);
            }
        }
    }
    Ok((results, to_reference, angles))
}

/// Probe `i`'s spectrum, trace, asymmetry, SURE and true MSE from its Jacobian `jac`.
fn probe_result(p: &Probes, i: usize, jac: &[f64], spec: &JacobianSpec) -> Result<ProbeResult> {
    let d = p.x0.dim();
    let spectrum = jacobian_spectrum(
        jac,
        d,
        d.min(spec.subspace_dim.max(spec.eigenvector_images)),
    )?;
    let trace = (0..d).map(|j| jac[j * d + j]).sum::<f64>();
    let residual = squared_distance(p.y.row(i), p.denoised.row(i));
    Ok(ProbeResult {
        trace,
        asymmetry: asymmetry(jac, d),
        sure: sure_term(residual, trace, p.sigma, d),
        mse: squared_distance(p.denoised.row(i), p.x0.row(i)),
        spectrum,
    })
}

/// The largest principal angle (degrees) between our top-`r` eigen-subspace and the
/// reference Jacobian's.
fn max_angle_deg(
    ours: &JacobianSpectrum,
    reference_jacobian: &[f64],
    d: usize,
    r: usize,
) -> Result<f64> {
    let ref_spectrum = jacobian_spectrum(reference_jacobian, d, r)?;
    let ours = top_columns(&ours.eigenvectors_sym, r);
    let theirs = top_columns(&ref_spectrum.eigenvectors_sym, r);
    let theta = principal_angles(ours.as_ref(), theirs.as_ref())?;
    Ok(theta.iter().fold(0.0f64, |m, t| m.max(*t)).to_degrees())
}

/// The Jacobians of `denoiser` at every probe: its own (exact or autodiff) under
/// `method = "auto"`, else central finite differences with step `fd_step·σ` (one batched
/// call of 2d rows per probe; accurate to O(h²) for a smooth denoiser).
fn jacobians(
    denoiser: &dyn Denoiser,
    probes: &Batch,
    sigma: f64,
    spec: &JacobianSpec,
) -> Result<Vec<Vec<f64>>> {
    let (jacobians, native) = denoiser_jacobians(
        denoiser,
        probes,
        sigma,
        spec.fd_step * sigma,
        spec.method.into(),
    )?;
    let how = if native {
        "its own"
    } else {
        "finite differences"
    };
    tracing::debug!("Jacobians of {} at σ = {sigma}: {how}", denoiser.name());
    Ok(jacobians)
}

/// The first `probe.points` points of `probe.split`.
pub(super) fn probe_points(e: &Experiment, data: &CellData) -> Result<Batch> {
    let points = match e.probe.split {
        ProbeSplit::Train => &data.train.images,
        ProbeSplit::Test => match &data.test {
            Some(t) => &t.images,
            None => bail!(
                "probe.split = \"test\" needs real data with a test split; data.kind = {} has none",
                e.data.kind()
            ),
        },
        ProbeSplit::Reference => &data.reference,
    };
    Ok(points.slice_rows(0, e.probe.points.min(points.n())))
}

fn summary(
    sigma: f64,
    energy: f64,
    results: &[ProbeResult],
    to_reference: &[f64],
    angles: &[f64],
) -> Vec<(String, f64)> {
    let traces: Vec<f64> = results.iter().map(|r| r.trace).collect();
    let ranks: Vec<f64> = results
        .iter()
        .map(|r| rank_at_energy(&r.spectrum.singular_values, energy) as f64)
        .collect();
    let sure: Vec<f64> = results.iter().map(|r| r.sure).collect();
    let mse: Vec<f64> = results.iter().map(|r| r.mse).collect();
    let (eff_dim, eff_dim_std) = super::mean_std(&traces);
    let asym: Vec<f64> = results.iter().map(|r| r.asymmetry).collect();
    let (rank, rank_std) = super::mean_std(&ranks);
    let (sure_mean, sure_se) = mean_se(&sure);
    let (mse_mean, mse_se) = mean_se(&mse);
    let values = [
        sigma,
        eff_dim,
        eff_dim_std,
        super::mean_std(&asym).0,
        rank,
        rank_std,
        sure_mean,
        sure_se,
        mse_mean,
        mse_se,
    ];
    let mut out: Vec<(String, f64)> = SUMMARY_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .zip(values)
        .collect();
    if !to_reference.is_empty() {
        out.push(("mse_to_reference".into(), super::mean_std(to_reference).0));
    }
    if !angles.is_empty() {
        let (a, a_std) = super::mean_std(angles);
        out.push(("max_angle_deg".into(), a));
        out.push(("max_angle_deg_std".into(), a_std));
    }
    out
}

/// The summary columns every jacobian cell writes (then `mse_to_reference` with a
/// `probe.reference`, and `max_angle_deg(_std)` when `subspace_dim > 0` too).
pub const SUMMARY_COLUMNS: [&str; 10] = [
    "sigma",
    "eff_dim",
    "eff_dim_std",
    "asymmetry",
    "rank",
    "rank_std",
    "sure",
    "sure_se",
    "mse",
    "mse_se",
];

/// The detail-row columns: one row per k.
pub const SPECTRUM_COLUMNS: [&str; 4] = ["k", "eigenvalue", "eigenvalue_std", "singular_value"];

/// Detail rows: k, mean ± sd over probes of the k-th largest symmetric eigenvalue and the
/// k-th singular value.
fn spectrum_rows(results: &[ProbeResult], d: usize) -> Vec<Vec<(String, f64)>> {
    (0..d)
        .map(|k| {
            let eig: Vec<f64> = results
                .iter()
                .map(|r| r.spectrum.eigenvalues_sym[k])
                .collect();
            let sv: Vec<f64> = results
                .iter()
                .map(|r| r.spectrum.singular_values[k])
                .collect();
            let (eig_mean, eig_std) = super::mean_std(&eig);
            let values = [(k + 1) as f64, eig_mean, eig_std, super::mean_std(&sv).0];
            SPECTRUM_COLUMNS
                .iter()
                .map(|c| c.to_string())
                .zip(values)
                .collect()
        })
        .collect()
}

/// Relative asymmetry ‖J − Jᵀ‖_F / ‖J‖_F: 0 for an optimal denoiser, whose Jacobian is a
/// covariance over σ² (Kadkhodaie et al. 2024, §3.1), who find trained networks nearly
/// symmetric.
fn asymmetry(jac: &[f64], d: usize) -> f64 {
    let norm = jac.iter().map(|v| v * v).sum::<f64>().sqrt();
    let skew = (0..d)
        .flat_map(|i| (0..d).map(move |j| (i, j)))
        .map(|(i, j)| (jac[i * d + j] - jac[j * d + i]).powi(2))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 {
        0.0
    } else {
        skew / norm
    }
}

fn top_columns(u: &Mat<f64>, r: usize) -> Mat<f64> {
    Mat::from_fn(u.nrows(), r.min(u.ncols()), |i, j| u[(i, j)])
}

/// Mean and standard error s/√n.
fn mean_se(v: &[f64]) -> (f64, f64) {
    let (mean, std) = super::mean_std(v);
    (mean, std / (v.len() as f64).sqrt())
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// `<artifacts>/eigenvectors_<cell label>.png`: the top eigenvectors of the first probe.
fn write_eigenvectors(
    cell: &Cell,
    shape: &[usize; 3],
    spectrum: &JacobianSpectrum,
    sigma: f64,
    count: usize,
    artifacts: &Path,
) -> Result<()> {
    let [channels, h, w] = *shape;
    if channels != 1 || h * w < 4 {
        bail!("jacobian.eigenvector_images needs single-channel image data; the data has shape {shape:?}");
    }
    let u = &spectrum.eigenvectors_sym;
    let tiles: Vec<Tile> = (0..count.min(u.ncols()))
        .map(|k| Tile {
            caption: format!("σ={sigma} k={} λ={:.3}", k + 1, spectrum.eigenvalues_sym[k]),
            pixels: (0..u.nrows()).map(|i| u[(i, k)]).collect(),
        })
        .collect();
    write_image_grid(
        &artifacts.join(format!("eigenvectors_{}.png", cell.file_label())),
        &tiles,
        (h, w),
        count.min(4),
        TileScale::Diverging,
    )
}
