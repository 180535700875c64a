//! Plots of result tables: one PNG (1024×720) and one SVG per [`PlotSpec`].
//!
//! A plot draws, against one numeric x column, one line per (y column × distinct value of
//! the optional series column), with circle markers, mean ± std error bars when the table
//! has a `<y>_std` column, optional log axes, and published reference numbers as dashed
//! lines. The legend sits in its own panel right of the axes, so it never hides data.
//! Text is drawn with DejaVu Sans embedded in the binary (`assets/fonts/`), so rendering
//! needs no system fonts.

use crate::config::plot::{PlotSpec, ReferenceSeries};
use crate::files::write_through_temp;
use crate::table::{Table, Values};
use anyhow::{anyhow, bail, Context, Result};
use plotters::coord::combinators::BindKeyPoints;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Pixel size of the PNG and SVG files.
pub const FIGURE_SIZE: (u32, u32) = (1024, 720);

/// Font family name every text style below uses; DejaVu Sans is registered under it.
pub(crate) const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

impl ReferenceSeries {
    /// The y values as drawn: divided by `y[0]` when `normalize_to_first`.
    fn drawn_y(&self) -> Vec<f64> {
        match (self.normalize_to_first, self.y.first()) {
            (true, Some(&y0)) => self.y.iter().map(|y| y / y0).collect(),
            _ => self.y.clone(),
        }
    }

    fn validate(&self, plot: &str, log_x: bool, log_y: bool) -> Result<()> {
        let label = &self.label;
        if self.x.is_empty() || self.x.len() != self.y.len() {
            bail!(
                "plot {plot}: reference `{label}` needs equally long, non-empty x and y \
                 (x has {}, y has {})",
                self.x.len(),
                self.y.len()
            );
        }
        if self.normalize_to_first && (self.y[0] == 0.0 || !self.y[0].is_finite()) {
            bail!(
                "plot {plot}: reference `{label}` has normalize_to_first but y[0] = {}",
                self.y[0]
            );
        }
        for (axis, values, log) in [("x", self.x.clone(), log_x), ("y", self.drawn_y(), log_y)] {
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                bail!("plot {plot}: reference `{label}` has {axis}[{i}] = {v}");
            }
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| log && **v <= 0.0) {
                bail!(
                    "plot {plot}: log_{axis} needs positive values but reference `{label}` \
                     has {axis}[{i}] = {v}"
                );
            }
        }
        Ok(())
    }
}

impl PlotSpec {
    /// A plain file stem, a y column and a usable `y_range`.
    fn check_shape(&self) -> Result<()> {
        let plot = &self.name;
        if plot.is_empty() || plot == "." || plot == ".." || plot.contains(['/', '\\']) {
            bail!("plot name `{plot}` must be a plain file stem (no path separators)");
        }
        if self.y.is_empty() {
            bail!("plot {plot}: y lists no columns");
        }
        if let Some([low, high]) = self.y_range {
            if !(low < high && low.is_finite() && high.is_finite()) || (self.log_y && low <= 0.0) {
                bail!("plot {plot}: y_range = [{low}, {high}] must be finite with low < high (and low > 0 with log_y)");
            }
        }
        Ok(())
    }

    /// The checks that need no values, before the run: a plain file stem, a y column, a
    /// usable `y_range`, and every named column (x, y, series, filter keys) among
    /// `columns`, the columns the run's table will have.
    pub fn check_before_run(&self, columns: &[String]) -> Result<()> {
        let plot = &self.name;
        self.check_shape()?;
        let named = [("x", &self.x)]
            .into_iter()
            .chain(self.y.iter().map(|y| ("y", y)))
            .chain(self.series.iter().map(|s| ("series", s)))
            .chain(self.filter.keys().map(|f| ("filter", f)));
        for (role, name) in named {
            if !columns.contains(name) {
                bail!(
                    "plot {plot}: {role} column `{name}` is not in the table (columns: {})",
                    columns.join(", ")
                );
            }
        }
        for reference in &self.reference {
            reference.validate(plot, self.log_x, self.log_y)?;
        }
        Ok(())
    }

    /// Checks the spec against the table: the columns exist, x and y are numeric, log axes
    /// see only positive values, and at least one (x, y) point is finite.
    pub fn validate(&self, table: &Table) -> Result<()> {
        let plot = &self.name;
        self.check_shape()?;
        let x = numeric_column(table, plot, &self.x, "x")?;
        if self.log_x {
            check_positive(plot, "log_x", &self.x, &x)?;
        }
        if let Some(series) = &self.series {
            column(table, plot, series, "series")?;
        }
        let mut finite_points = 0;
        for name in &self.y {
            // On a log y axis non-positive values (e.g. small negative eigenvalues of a
            // network's Jacobian) are left out of the curve, like non-finite ones.
            let y = numeric_column(table, plot, name, "y")?;
            let std_name = format!("{name}_std");
            if column(table, plot, &std_name, "std").is_ok() {
                numeric_column(table, plot, &std_name, "std")?;
            }
            finite_points += x
                .iter()
                .zip(&y)
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_y || **y > 0.0))
                .count();
        }
        if finite_points == 0 {
            bail!(
                "plot {plot}: no row has finite values (positive on a log y axis) in both `{}` and any of {}",
                self.x,
                self.y.join(", ")
            );
        }
        for reference in &self.reference {
            reference.validate(plot, self.log_x, self.log_y)?;
        }
        Ok(())
    }
}

fn column<'t>(table: &'t Table, plot: &str, name: &str, role: &str) -> Result<&'t Values> {
    table
        .columns
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .ok_or_else(|| {
            let available: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
            anyhow!(
                "plot {plot}: {role} column `{name}` is not in the table; available columns: {}",
                available.join(", ")
            )
        })
}

/// The column as f64 (integers converted); strings and booleans are rejected.
fn numeric_column(table: &Table, plot: &str, name: &str, role: &str) -> Result<Vec<f64>> {
    match column(table, plot, name, role)? {
        Values::F64(v) => Ok(v.clone()),
        Values::I64(v) => Ok(v.iter().map(|&i| i as f64).collect()),
        Values::Str(_) => bail!("plot {plot}: {role} column `{name}` holds strings, not numbers"),
        Values::Bool(_) => bail!("plot {plot}: {role} column `{name}` holds booleans, not numbers"),
    }
}

/// NaN is allowed (the row is skipped); zero, negatives and -inf are not.
fn check_positive(plot: &str, axis: &str, name: &str, values: &[f64]) -> Result<()> {
    match values.iter().enumerate().find(|(_, v)| **v <= 0.0) {
        Some((row, v)) => bail!(
            "plot {plot}: {axis} needs positive values but column `{name}` has {v} in row {row}"
        ),
        None => Ok(()),
    }
}

/// The rows of `table` that match every `filter` entry of `spec` (compared as text, so
/// `{ dim = 2 }` matches an integer column and `{ sampler = "heun" }` a string column).
fn filter_rows(table: &Table, spec: &PlotSpec) -> Result<Table> {
    let mut keep: Vec<bool> = vec![true; table.height()];
    for (name, wanted) in &spec.filter {
        let values = column(table, &spec.name, name, "filter")?;
        let wanted = wanted
            .as_str()
            .map_or_else(|| wanted.to_string(), str::to_string);
        for (i, k) in keep.iter_mut().enumerate() {
            let text = cell_text(values, i);
            let matches = text == wanted
                || (text.parse::<f64>().ok().zip(wanted.parse::<f64>().ok()))
                    .is_some_and(|(a, b)| a == b);
            *k &= matches;
        }
    }
    let rows: Vec<usize> = (0..table.height()).filter(|&i| keep[i]).collect();
    let mut out = Table::default();
    for (name, values) in &table.columns {
        let picked = match values {
            Values::F64(v) => Values::F64(rows.iter().map(|&i| v[i]).collect()),
            Values::I64(v) => Values::I64(rows.iter().map(|&i| v[i]).collect()),
            Values::Str(v) => Values::Str(rows.iter().map(|&i| v[i].clone()).collect()),
            Values::Bool(v) => Values::Bool(rows.iter().map(|&i| v[i]).collect()),
        };
        out.push(name, picked)?;
    }
    Ok(out)
}

/// A series value as legend text: at most 38 characters, long ones shortened with "…".
fn legend_text(value: &str) -> String {
    const MAX: usize = 38;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        format!("{}…", value.chars().take(MAX - 1).collect::<String>())
    }
}

/// Row `i` of a column as legend text.
fn cell_text(values: &Values, i: usize) -> String {
    match values {
        Values::F64(v) => v[i].to_string(),
        Values::I64(v) => v[i].to_string(),
        Values::Str(v) => v[i].clone(),
        Values::Bool(v) => v[i].to_string(),
    }
}

/// Tableau 10: distinct, colour-blind-friendlier than plotters' defaults.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One drawn line.
struct Curve {
    label: String,
    color: RGBColor,
    /// Sorted by x; only finite points.
    points: Vec<(f64, f64)>,
    /// Standard deviation per point (NaN: no bar); empty when the table has no `<y>_std`.
    std: Vec<f64>,
    /// Horizontal bars (aggregated plots); empty otherwise.
    x_std: Vec<f64>,
    reference: bool,
}

/// Everything needed to draw, computed once and drawn on both backends.
struct Figure {
    title: String,
    x_label: String,
    y_label: String,
    curves: Vec<Curve>,
    x_range: (f64, f64),
    y_range: (f64, f64),
    log_x: bool,
    log_y: bool,
}

impl Figure {
    fn new(table: &Table, spec: &PlotSpec) -> Result<Figure> {
        let mut curves = data_curves(table, spec)?;
        push_reference_curves(&mut curves, spec);
        Ok(Figure {
            title: spec.title.clone().unwrap_or_else(|| spec.name.clone()),
            x_label: spec.x_label.clone().unwrap_or_else(|| spec.x.clone()),
            y_label: spec.y_label.clone().unwrap_or_else(|| spec.y.join(", ")),
            x_range: x_range(&curves, spec),
            y_range: y_range(&curves, spec),
            curves,
            log_x: spec.log_x,
            log_y: spec.log_y,
        })
    }
}

/// The x, y and optional `<y>_std` values that one y column's curves are drawn from.
struct CurveColumns<'a> {
    x: &'a [f64],
    y: &'a [f64],
    std: Option<&'a [f64]>,
}

/// One curve per (y column × series group) that has at least one drawable point.
fn data_curves(table: &Table, spec: &PlotSpec) -> Result<Vec<Curve>> {
    let plot = &spec.name;
    let x = numeric_column(table, plot, &spec.x, "x")?;
    let groups = series_groups(table, spec)?;
    let mut curves = Vec::new();
    for name in &spec.y {
        let y = numeric_column(table, plot, name, "y")?;
        let std = std_values(table, plot, name)?;
        let columns = CurveColumns {
            x: &x,
            y: &y,
            std: std.as_deref(),
        };
        for (value, rows) in &groups {
            let rows = drawable_rows(rows, &columns, spec.log_y);
            if rows.is_empty() {
                continue;
            }
            let label = curve_label(name, value.as_deref(), spec.y.len() > 1);
            let color = PALETTE[curves.len() % PALETTE.len()];
            curves.push(if spec.aggregate {
                aggregate_curve(table, spec, &rows, &columns, label, color)
            } else {
                row_curve(&rows, &columns, label, color)
            });
        }
    }
    Ok(curves)
}

/// The `<name>_std` column as numbers, or `None` when the table has no such column.
fn std_values(table: &Table, plot: &str, name: &str) -> Result<Option<Vec<f64>>> {
    let std_name = format!("{name}_std");
    column(table, plot, &std_name, "std")
        .ok()
        .map(|_| numeric_column(table, plot, &std_name, "std"))
        .transpose()
}

/// The rows of a group with finite x and y (positive y on a log y axis), sorted by x.
fn drawable_rows(rows: &[usize], columns: &CurveColumns, log_y: bool) -> Vec<usize> {
    let (x, y) = (columns.x, columns.y);
    let mut rows: Vec<usize> = rows
        .iter()
        .copied()
        .filter(|&i| x[i].is_finite() && y[i].is_finite() && (!log_y || y[i] > 0.0))
        .collect();
    rows.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    rows
}

/// Legend text of a data curve: the y column, the series value, or both when several y
/// columns are drawn.
fn curve_label(name: &str, value: Option<&str>, several_y: bool) -> String {
    match (value, several_y) {
        (None, _) => name.to_string(),
        (Some(v), false) => v.to_string(),
        (Some(v), true) => format!("{name}, {v}"),
    }
}

/// One point, the mean of `rows`, with its spread in y and (given `<x>_std`) in x.
fn aggregate_curve(
    table: &Table,
    spec: &PlotSpec,
    rows: &[usize],
    columns: &CurveColumns,
    label: String,
    color: RGBColor,
) -> Curve {
    let x_std = numeric_column(table, &spec.name, &format!("{}_std", spec.x), "std").ok();
    let (mx, sx) = mean_and_spread(rows, columns.x, x_std.as_deref());
    let (my, sy) = mean_and_spread(rows, columns.y, columns.std);
    Curve {
        label,
        color,
        points: vec![(mx, my)],
        std: vec![sy],
        x_std: vec![sx],
        reference: false,
    }
}

/// One point per row of `rows`, with the row's `<y>_std` when the table has that column.
fn row_curve(rows: &[usize], columns: &CurveColumns, label: String, color: RGBColor) -> Curve {
    let (x, y) = (columns.x, columns.y);
    Curve {
        label,
        color,
        points: rows.iter().map(|&i| (x[i], y[i])).collect(),
        std: columns
            .std
            .map_or(vec![], |s| rows.iter().map(|&i| s[i]).collect()),
        x_std: vec![],
        reference: false,
    }
}

/// Appends one dashed curve per published reference series, its points sorted by x.
fn push_reference_curves(curves: &mut Vec<Curve>, spec: &PlotSpec) {
    for reference in &spec.reference {
        let mut points: Vec<(f64, f64)> = reference
            .x
            .iter()
            .copied()
            .zip(reference.drawn_y())
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        curves.push(Curve {
            label: reference.label.clone(),
            color: PALETTE[curves.len() % PALETTE.len()],
            points,
            std: vec![],
            x_std: vec![],
            reference: true,
        });
    }
}

/// The padded x range covering every point and horizontal error bar.
fn x_range(curves: &[Curve], spec: &PlotSpec) -> (f64, f64) {
    let xs = curves.iter().flat_map(|c| {
        c.points.iter().enumerate().flat_map(|(i, &(x, _))| {
            let s = c.x_std.get(i).copied().filter(|s| s.is_finite());
            let s = s.unwrap_or(0.0);
            [x - s, x, x + s]
        })
    });
    let xs = xs.filter(|&x| !spec.log_x || x > 0.0);
    padded_range(extent(xs), spec.log_x)
}

/// The spec's `y_range`, or the padded range covering every point and vertical error bar.
fn y_range(curves: &[Curve], spec: &PlotSpec) -> (f64, f64) {
    let ys = curves.iter().flat_map(|c| {
        c.points.iter().enumerate().flat_map(|(i, &(_, y))| {
            let s = c
                .std
                .get(i)
                .copied()
                .filter(|s| s.is_finite())
                .unwrap_or(0.0);
            [y - s, y, y + s]
        })
    });
    let ys = ys.filter(|&y| !spec.log_y || y > 0.0);
    match spec.y_range {
        Some([low, high]) => (low, high),
        None => padded_range(extent(ys), spec.log_y),
    }
}

/// Mean of `values` over `rows` and their sample standard deviation; for a single row its
/// `std` column entry (NaN without one).
fn mean_and_spread(rows: &[usize], values: &[f64], std: Option<&[f64]>) -> (f64, f64) {
    let picked: Vec<f64> = rows.iter().map(|&i| values[i]).collect();
    let n = picked.len() as f64;
    let mean = picked.iter().sum::<f64>() / n;
    let spread = match (rows, std) {
        ([one], Some(s)) => s[*one],
        ([_], None) => f64::NAN,
        _ => (picked.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt(),
    };
    (mean, spread)
}

/// Row indices per distinct value of the series column (in order of first appearance),
/// or one unnamed group holding every row.
fn series_groups(table: &Table, spec: &PlotSpec) -> Result<Vec<(Option<String>, Vec<usize>)>> {
    let Some(series) = &spec.series else {
        return Ok(vec![(None, (0..table.height()).collect())]);
    };
    let values = column(table, &spec.name, series, "series")?;
    // Group on the full value; shorten only for the legend.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for i in 0..values.len() {
        let text = format!("{series}={}", cell_text(values, i));
        match groups.iter_mut().find(|(v, _)| *v == text) {
            Some((_, rows)) => rows.push(i),
            None => groups.push((text, vec![i])),
        }
    }
    let labels = distinct_legend_texts(groups.iter().map(|(text, _)| text.as_str()));
    Ok(labels
        .into_iter()
        .zip(groups)
        .map(|(label, (_, rows))| (Some(label), rows))
        .collect())
}

/// [`legend_text`] of each value, with " (2)", " (3)", … appended to shortened texts that
/// coincide, so distinct series never share a legend entry.
fn distinct_legend_texts<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for value in values {
        let text = legend_text(value);
        let same = labels
            .iter()
            .filter(|l| **l == text || l.starts_with(&format!("{text} (")))
            .count();
        labels.push(if same == 0 {
            text
        } else {
            format!("{text} ({})", same + 1)
        });
    }
    labels
}

fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// Widens `(lo, hi)` by 5% on each side (in log space for a log axis), and a degenerate
/// range to a visible one.
fn padded_range((lo, hi): (f64, f64), log: bool) -> (f64, f64) {
    if log {
        let f = if hi > lo { (hi / lo).powf(0.05) } else { 2.0 };
        (lo / f, hi * f)
    } else {
        let pad = if hi > lo {
            0.05 * (hi - lo)
        } else {
            (0.1 * lo.abs()).max(1.0)
        };
        (lo - pad, hi + pad)
    }
}

/// Tick positions for a log axis on `[lo, hi]`: (labelled, unlabelled grid lines).
/// Wide ranges label powers of ten (at most ~10 of them); narrow ranges also label the
/// 2× and 5× multiples, or every 1..9 multiple, so at least two ticks are labelled.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let inside = |v: &f64| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9);
    let (k0, k1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let multiples = |ms: &[f64]| -> Vec<f64> {
        (k0..=k1)
            .flat_map(|k| ms.iter().map(move |m| m * 10f64.powi(k)))
            .filter(inside)
            .collect()
    };
    let decades = multiples(&[1.0]);
    if decades.len() >= 3 {
        let step = decades.len().div_ceil(10);
        let bold = decades.iter().copied().step_by(step).collect();
        let light = if step == 1 {
            multiples(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
        } else {
            decades
        };
        return (bold, light);
    }
    let all = multiples(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let one_two_five = multiples(&[1.0, 2.0, 5.0]);
    if one_two_five.len() >= 3 {
        (one_two_five, all)
    } else if all.len() >= 2 {
        (all, vec![])
    } else {
        // Less than a factor 2 wide: fall back to evenly spaced values.
        let ticks = (0..=4)
            .map(|i| lo + (hi - lo) * f64::from(i) / 4.0)
            .collect();
        (ticks, vec![])
    }
}

/// Short tick text: `0.25`, `1500`, `1e-4`, `2.5e6`; no float noise.
fn format_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if (1e-3..1e5).contains(&a) {
        let decimals = (5 - a.log10().floor() as i32).clamp(0, 9) as usize;
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        return if s == "-0" { "0".into() } else { s.into() };
    }
    let s = format!("{v:.2e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    format!("{mantissa}e{exponent}")
}

/// Registers DejaVu Sans as `sans-serif` once per process.
pub(crate) fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        bail!("the embedded DejaVu Sans font could not be loaded")
    }
}

/// Validates `spec` against `table` and writes `<out_dir>/<name>.png` and `.svg`;
/// returns both paths. A plot whose `filter` matches no row (e.g. a profile that runs
/// only one of two grids) is skipped with a warning and returns no paths.
pub fn render(table: &Table, spec: &PlotSpec, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let filtered = filter_rows(table, spec)?;
    if filtered.height() == 0 {
        tracing::warn!(
            "plot {}: filter {:?} matches no row; not drawn",
            spec.name,
            spec.filter
        );
        return Ok(vec![]);
    }
    let table = &filtered;
    spec.validate(table)?;
    let figure = Figure::new(table, spec)?;
    register_fonts()?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let png = out_dir.join(format!("{}.png", spec.name));
    let svg = out_dir.join(format!("{}.svg", spec.name));
    write_through_temp(&png, |tmp| {
        let root = BitMapBackend::new(tmp, FIGURE_SIZE).into_drawing_area();
        draw(&root, &figure).with_context(|| format!("cannot draw {}", png.display()))
    })?;
    write_through_temp(&svg, |tmp| {
        let root = SVGBackend::new(tmp, FIGURE_SIZE).into_drawing_area();
        draw(&root, &figure).with_context(|| format!("cannot draw {}", svg.display()))
    })?;
    Ok(vec![png, svg])
}

fn drawing_error<E: std::error::Error + Send + Sync>(
    e: plotters::drawing::DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow!("{e}")
}

/// Title, legend panel and axes on one drawing area, then writes the file.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure) -> Result<()> {
    root.fill(&WHITE).map_err(drawing_error)?;
    let body = root
        .titled(&figure.title, (FONT, 26))
        .map_err(drawing_error)?;
    let legend_width = legend_width(&body, figure)?;
    let (axes, legend) = body.split_horizontally(body.dim_in_pixel().0 - legend_width);
    let (x0, x1) = figure.x_range;
    let (y0, y1) = figure.y_range;
    let linear = |lo: f64, hi: f64| -> RangedCoordf64 { (lo..hi).into() };
    let log = |lo: f64, hi: f64| {
        let (bold, light) = log_ticks(lo, hi);
        (lo..hi)
            .log_scale()
            .with_key_points(bold)
            .with_light_points(light)
    };
    match (figure.log_x, figure.log_y) {
        (false, false) => draw_axes(&axes, linear(x0, x1), linear(y0, y1), figure)?,
        (true, false) => draw_axes(&axes, log(x0, x1), linear(y0, y1), figure)?,
        (false, true) => draw_axes(&axes, linear(x0, x1), log(y0, y1), figure)?,
        (true, true) => draw_axes(&axes, log(x0, x1), log(y0, y1), figure)?,
    }
    draw_legend(&legend, figure)?;
    root.present().map_err(drawing_error)
}

const LEGEND_FONT: u32 = 17;
const LEGEND_ROW: i32 = 26;
const LEGEND_SAMPLE: i32 = 36;

/// Width of the legend panel: the longest label plus the line sample and padding.
fn legend_width<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, figure: &Figure) -> Result<u32> {
    let mut widest = 0;
    for curve in &figure.curves {
        let (w, _) = area
            .estimate_text_size(&curve.label, &(FONT, LEGEND_FONT).into_text_style(area))
            .map_err(drawing_error)?;
        widest = widest.max(w);
    }
    let max = area.dim_in_pixel().0 * 2 / 5;
    Ok((widest + LEGEND_SAMPLE as u32 + 40).min(max))
}

/// The legend panel: one row per curve, a line sample (with marker or dashes) and label,
/// inside a light frame aligned with the top of the axes.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, figure: &Figure) -> Result<()> {
    let (width, height) = area.dim_in_pixel();
    // Rows that fit; when some do not, the last one says how many were left out.
    let capacity = ((height as i32 - 16 - AXES_MARGIN) / LEGEND_ROW).max(1) as usize;
    let shown = if figure.curves.len() > capacity {
        capacity - 1
    } else {
        figure.curves.len()
    };
    let rows = (shown + usize::from(shown < figure.curves.len())) as i32;
    let frame_bottom = (AXES_MARGIN + 8 + rows * LEGEND_ROW).min(height as i32 - 8);
    let frame = [(4, AXES_MARGIN), (width as i32 - 12, frame_bottom)];
    area.draw(&Rectangle::new(frame, WHITE.filled()))
        .map_err(drawing_error)?;
    area.draw(&Rectangle::new(
        frame,
        RGBColor(180, 180, 180).stroke_width(1),
    ))
    .map_err(drawing_error)?;
    let style = (FONT, LEGEND_FONT)
        .into_text_style(area)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let row_y = |i: usize| AXES_MARGIN + 4 + LEGEND_ROW / 2 + i as i32 * LEGEND_ROW;
    if shown < figure.curves.len() {
        let more = format!("… {} more", figure.curves.len() - shown);
        area.draw(&Text::new(more, (12, row_y(shown)), style.clone()))
            .map_err(drawing_error)?;
    }
    for (i, curve) in figure.curves.iter().take(shown).enumerate() {
        let y = row_y(i);
        let (a, b) = (12, 12 + LEGEND_SAMPLE);
        let line = curve.color.stroke_width(2);
        if curve.reference {
            area.draw(&DashedPathElement::new(vec![(a, y), (b, y)], 8, 5, line))
                .map_err(drawing_error)?;
        } else {
            area.draw(&PathElement::new(vec![(a, y), (b, y)], line))
                .map_err(drawing_error)?;
            area.draw(&Circle::new(((a + b) / 2, y), 4, curve.color.filled()))
                .map_err(drawing_error)?;
        }
        area.draw(&Text::new(curve.label.clone(), (b + 8, y), style.clone()))
            .map_err(drawing_error)?;
    }
    Ok(())
}

const AXES_MARGIN: i32 = 16;

/// Axes, grid, tick labels, axis descriptions and every curve.
fn draw_axes<DB, X, Y>(area: &DrawingArea<DB, Shift>, x: X, y: Y, figure: &Figure) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .margin(AXES_MARGIN)
        .x_label_area_size(64)
        .y_label_area_size(96)
        .build_cartesian_2d(x, y)
        .map_err(drawing_error)?;
    draw_mesh(&mut chart, figure)?;
    for curve in &figure.curves {
        if curve.reference {
            draw_reference(&mut chart, curve)?;
        } else {
            draw_data_curve(&mut chart, curve, figure)?;
        }
    }
    Ok(())
}

/// The chart's coordinate system on a drawing backend.
type Chart<'a, DB, X, Y> = ChartContext<'a, DB, Cartesian2d<X, Y>>;

/// Grid lines, tick labels and axis descriptions.
fn draw_mesh<DB, X, Y>(chart: &mut Chart<'_, DB, X, Y>, figure: &Figure) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(figure.x_label.as_str())
        .y_desc(figure.y_label.as_str())
        .axis_desc_style((FONT, 20))
        .label_style((FONT, 16))
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .bold_line_style(RGBColor(200, 200, 200).stroke_width(1))
        .light_line_style(RGBColor(238, 238, 238).stroke_width(1))
        .max_light_lines(4)
        .draw()
        .map_err(drawing_error)
}

/// A published reference series as a dashed line.
fn draw_reference<DB, X, Y>(chart: &mut Chart<'_, DB, X, Y>, curve: &Curve) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let line = curve.color.stroke_width(2);
    chart
        .draw_series(DashedLineSeries::new(curve.points.clone(), 10, 6, line))
        .map_err(drawing_error)?;
    Ok(())
}

/// A data curve: its line, vertical and horizontal error bars, then circle markers.
fn draw_data_curve<DB, X, Y>(
    chart: &mut Chart<'_, DB, X, Y>,
    curve: &Curve,
    figure: &Figure,
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let line = curve.color.stroke_width(2);
    chart
        .draw_series(LineSeries::new(curve.points.clone(), line))
        .map_err(drawing_error)?;
    draw_y_error_bars(chart, curve, figure)?;
    draw_x_error_bars(chart, curve, figure)?;
    chart
        .draw_series(
            curve
                .points
                .iter()
                .map(|&p| Circle::new(p, 4, curve.color.filled())),
        )
        .map_err(drawing_error)?;
    Ok(())
}

/// Vertical mean ± std bars where the curve has a finite std.
fn draw_y_error_bars<DB, X, Y>(
    chart: &mut Chart<'_, DB, X, Y>,
    curve: &Curve,
    figure: &Figure,
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let y_floor = figure.y_range.0;
    let bars = curve
        .points
        .iter()
        .zip(&curve.std)
        .filter(|(_, s)| s.is_finite());
    chart
        .draw_series(bars.map(|(&(x, y), &s)| {
            // On a log axis a bar reaching zero or below is cut at the axis floor.
            let low = if figure.log_y && y - s <= 0.0 {
                y_floor
            } else {
                y - s
            };
            ErrorBar::new_vertical(x, low, y, y + s, curve.color.stroke_width(1), 10)
        }))
        .map_err(drawing_error)?;
    Ok(())
}

/// Horizontal bars (aggregated plots) where the curve has a finite x spread.
fn draw_x_error_bars<DB, X, Y>(
    chart: &mut Chart<'_, DB, X, Y>,
    curve: &Curve,
    figure: &Figure,
) -> Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let x_bars = curve
        .points
        .iter()
        .zip(&curve.x_std)
        .filter(|(_, s)| s.is_finite());
    chart
        .draw_series(x_bars.map(|(&(x, y), &s)| {
            let low = if figure.log_x && x - s <= 0.0 {
                figure.x_range.0
            } else {
                x - s
            };
            ErrorBar::new_horizontal(y, low, x, x + s, curve.color.stroke_width(1), 10)
        }))
        .map_err(drawing_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// x = skip 0..5, two metrics with stds, two solvers; metric values positive.
    fn table() -> Table {
        let mut t = Table::default();
        let skip: Vec<i64> = (0..5).chain(0..5).collect();
        let solver: Vec<String> = ["euler", "heun"]
            .iter()
            .flat_map(|s| std::iter::repeat_n(s.to_string(), 5))
            .collect();
        let w2: Vec<f64> = (0..10).map(|i| 0.5f64.powi(i % 5 + (i / 5) * 2)).collect();
        let fid: Vec<f64> = (0..10).map(|i| 30.0 / f64::from(1 + i % 5)).collect();
        t.push("skip", Values::I64(skip)).unwrap();
        t.push("solver", Values::Str(solver)).unwrap();
        t.push("w2", Values::F64(w2.clone())).unwrap();
        t.push("w2_std", Values::F64(w2.iter().map(|v| 0.2 * v).collect()))
            .unwrap();
        t.push("fid", Values::F64(fid.clone())).unwrap();
        t.push("fid_std", Values::F64(vec![1.0; 10])).unwrap();
        t
    }

    fn spec() -> PlotSpec {
        PlotSpec {
            name: "w2_vs_skip".into(),
            x: "skip".into(),
            y: vec!["w2".into(), "fid".into()],
            series: Some("solver".into()),
            log_x: false,
            log_y: true,
            title: Some("Sliced W2 and FID against skipped steps".into()),
            x_label: Some("skipped steps".into()),
            y_label: None,
            filter: Default::default(),
            y_range: None,
            aggregate: false,
            reference: vec![ReferenceSeries {
                label: "paper (Table 2)".into(),
                x: vec![0.0, 2.0, 4.0],
                y: vec![20.0, 10.0, 6.0],
                normalize_to_first: false,
            }],
        }
    }

    #[test]
    fn long_series_values_sharing_a_prefix_stay_separate_series() {
        let long = "vlb(parameterization=\"eps\", weighting=\"importance\")";
        let other = "vlb(parameterization=\"eps\", weighting=\"uniform\")";
        let mut t = table();
        let solver = [long, other, long, other, "short"]
            .iter()
            .cycle()
            .take(10)
            .map(|s| s.to_string())
            .collect();
        t.columns.retain(|(name, _)| name != "solver");
        t.push("solver", Values::Str(solver)).unwrap();
        let groups = series_groups(&t, &spec()).unwrap();
        let labels: Vec<String> = groups.iter().map(|(l, _)| l.clone().unwrap()).collect();
        assert_eq!(groups.len(), 3, "{labels:?}");
        assert_eq!(groups[0].1, [0, 2, 5, 7]);
        assert_eq!(groups[1].1, [1, 3, 6, 8]);
        assert_eq!(labels[0].chars().count(), 38);
        assert_eq!(labels[1], format!("{} (2)", labels[0]));
        assert_eq!(labels[2], "solver=short");
    }

    fn temp_dir(test: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dlab-plot-{test}-{}", std::process::id()))
    }

    /// Width and height from the IHDR chunk: bytes 16..20 and 20..24, big-endian.
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&bytes[12..16], b"IHDR");
        let be = |r: std::ops::Range<usize>| u32::from_be_bytes(bytes[r].try_into().unwrap());
        (be(16..20), be(20..24))
    }

    #[test]
    fn aggregate_draws_one_point_per_series_with_spreads_on_both_axes() {
        // Two objectives × three seeds, and one objective with a single row.
        let mut t = Table::default();
        let objective: Vec<String> = ["a", "a", "a", "b", "b", "b", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        t.push("objective", Values::Str(objective)).unwrap();
        t.push("nll", Values::F64(vec![1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0]))
            .unwrap();
        t.push(
            "fid",
            Values::F64(vec![10.0, 12.0, 14.0, 1.0, 3.0, f64::NAN, 7.0]),
        )
        .unwrap();
        t.push("fid_std", Values::F64(vec![0.5; 7])).unwrap();
        let spec = PlotSpec {
            name: "fid_vs_nll".into(),
            x: "nll".into(),
            y: vec!["fid".into()],
            series: Some("objective".into()),
            aggregate: true,
            reference: vec![],
            ..spec()
        };
        let figure = Figure::new(&t, &spec).unwrap();
        let got: Vec<(String, (f64, f64), f64, f64)> = figure
            .curves
            .iter()
            .map(|c| (c.label.clone(), c.points[0], c.std[0], c.x_std[0]))
            .collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("objective=a".into(), (2.0, 12.0), 2.0, 1.0));
        // The NaN row is left out: two rows remain, x spread 0.
        assert_eq!(got[1].1, (4.0, 2.0));
        assert!((got[1].2 - 2f64.sqrt()).abs() < 1e-12 && got[1].3 == 0.0);
        // One row: its own fid_std; no nll_std column, so no horizontal bar.
        assert_eq!(got[2].1, (5.0, 7.0));
        assert!(got[2].2 == 0.5 && got[2].3.is_nan());
        // The x range covers the bars: 2 ± 1 at the left.
        assert!(figure.x_range.0 < 1.0);
        let dir = temp_dir("aggregate");
        assert_eq!(render(&t, &spec, &dir).unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn renders_png_and_svg_with_labels() {
        let dir = temp_dir("render");
        let files = render(&table(), &spec(), &dir).unwrap();
        assert_eq!(
            files,
            vec![dir.join("w2_vs_skip.png"), dir.join("w2_vs_skip.svg")]
        );
        let png = std::fs::read(&files[0]).unwrap();
        assert_eq!(png_size(&png), (1024, 720));
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert!(
            svg.contains(r#"width="1024" height="720""#),
            "{}",
            &svg[..200]
        );
        for text in [
            "skipped steps",
            "w2, fid",
            "w2, solver=heun",
            "paper (Table 2)",
        ] {
            assert!(svg.contains(text), "SVG lacks `{text}`");
        }
        // 2 metrics × 2 solvers with 5 error bars each, drawn as polylines/lines.
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn figure_groups_sorts_and_skips_nan() {
        let mut t = Table::default();
        t.push("x", Values::F64(vec![3.0, 1.0, 2.0, 4.0])).unwrap();
        t.push("y", Values::F64(vec![30.0, 10.0, f64::NAN, 40.0]))
            .unwrap();
        t.push("g", Values::Bool(vec![true, true, true, false]))
            .unwrap();
        let spec = PlotSpec {
            series: Some("g".into()),
            y: vec!["y".into()],
            x: "x".into(),
            log_y: false,
            reference: vec![],
            filter: Default::default(),
            ..spec()
        };
        let figure = Figure::new(&t, &spec).unwrap();
        let labels: Vec<&str> = figure.curves.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["g=true", "g=false"]);
        assert_eq!(figure.curves[0].points, [(1.0, 10.0), (3.0, 30.0)]);
        assert_eq!(figure.curves[1].points, [(4.0, 40.0)]);
        assert_ne!(figure.curves[0].color, figure.curves[1].color);
        // x spans 1..4 padded by 5% of 3; y spans 10..40 padded by 5% of 30.
        let close = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() + (a.1 - b.1).abs() < 1e-12;
        assert!(close(figure.x_range, (0.85, 4.15)), "{:?}", figure.x_range);
        assert!(close(figure.y_range, (8.5, 41.5)), "{:?}", figure.y_range);
    }

    #[test]
    fn reference_normalized_to_first_is_a_ratio() {
        let r = ReferenceSeries {
            label: "paper".into(),
            x: vec![1.0, 2.0],
            y: vec![4.0, 1.0],
            normalize_to_first: true,
        };
        assert_eq!(r.drawn_y(), [1.0, 0.25]);
        let zero_first = ReferenceSeries {
            y: vec![0.0, 1.0],
            ..r.clone()
        };
        let err = zero_first.validate("p", false, false).unwrap_err();
        assert!(err.to_string().contains("y[0] = 0"), "{err}");
    }

    #[test]
    fn validate_names_missing_and_bad_columns() {
        let t = table();
        let missing = PlotSpec {
            y: vec!["w2".into(), "kid".into()],
            ..spec()
        };
        let err = missing.validate(&t).unwrap_err().to_string();
        assert!(err.contains("plot w2_vs_skip"), "{err}");
        assert!(err.contains("`kid`"), "{err}");
        assert!(err.contains("available columns: skip, solver, w2"), "{err}");

        let no_series = PlotSpec {
            series: Some("sampler".into()),
            ..spec()
        };
        let err = no_series.validate(&t).unwrap_err().to_string();
        assert!(err.contains("series column `sampler`"), "{err}");

        let string_x = PlotSpec {
            x: "solver".into(),
            ..spec()
        };
        let err = string_x.validate(&t).unwrap_err().to_string();
        assert!(err.contains("x column `solver` holds strings"), "{err}");

        // skip = 0 cannot sit on a log axis.
        let log_x = PlotSpec {
            log_x: true,
            reference: vec![],
            filter: Default::default(),
            ..spec()
        };
        let err = log_x.validate(&t).unwrap_err().to_string();
        assert!(
            err.contains("log_x needs positive values but column `skip` has 0 in row 0"),
            "{err}"
        );

        let bad_name = PlotSpec {
            name: "../escape".into(),
            ..spec()
        };
        assert!(bad_name.validate(&t).is_err());
        assert!(spec().validate(&t).is_ok());
    }

    #[test]
    fn log_ticks_label_decades_or_finer() {
        let (bold, light) = log_ticks(1e-4, 2.0);
        assert_eq!(bold.len(), 5);
        assert!((bold[0] - 1e-4).abs() < 1e-18 && (bold[4] - 1.0).abs() < 1e-12);
        assert_eq!(light.len(), 4 * 8 + 1); // 2..9 × 1e-4..1e-1, then 2 × 1e0.
        let (bold, _) = log_ticks(0.15, 0.9);
        let expected = [0.2, 0.5];
        assert!(bold.len() >= 2, "{bold:?}");
        assert!(expected
            .iter()
            .all(|e| bold.iter().any(|b| (b - e).abs() < 1e-12)));
    }

    #[test]
    fn tick_text_is_short() {
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(0.30000000000000004), "0.3");
        assert_eq!(format_tick(1500.0), "1500");
        assert_eq!(format_tick(-2.5), "-2.5");
        assert_eq!(format_tick(1e-4), "1e-4");
        assert_eq!(format_tick(2.5e6), "2.5e6");
        assert_eq!(format_tick(0.001), "0.001");
    }
}
