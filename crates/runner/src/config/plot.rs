//! `[[plot]]`: what to draw from a run's table (drawn by [`crate::plot`]).

/// What to plot from a table; one `[[plot]]` entry of an experiment file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// File stem: the plot is written to `<name>.png` and `<name>.svg`.
    pub name: String,
    /// Numeric column on the horizontal axis.
    pub x: String,
    /// Numeric columns on the vertical axis, one line each (times the series values).
    pub y: Vec<String>,
    /// Column whose distinct values each get their own line.
    #[serde(default)]
    pub series: Option<String>,
    #[serde(default)]
    pub log_x: bool,
    #[serde(default)]
    pub log_y: bool,
    /// Title above the axes; defaults to `name`.
    #[serde(default)]
    pub title: Option<String>,
    /// Defaults to the x column name.
    #[serde(default)]
    pub x_label: Option<String>,
    /// Defaults to the y column names joined with ", ".
    #[serde(default)]
    pub y_label: Option<String>,
    /// Published numbers drawn as dashed lines for comparison.
    #[serde(default)]
    pub reference: Vec<ReferenceSeries>,
    /// Only rows whose columns equal these values, e.g. `{ dim = 2 }`.
    #[serde(default)]
    pub filter: std::collections::BTreeMap<String, toml::Value>,
    /// Fixed vertical axis `[low, high]` (points outside are clipped); default: fit the data.
    #[serde(default)]
    pub y_range: Option<[f64; 2]>,
    /// One point per series value: the mean over its rows of x and of y, with error bars of
    /// their standard deviation over the rows on both axes (e.g. over training seeds); a
    /// series with one row keeps its `<x>_std` and `<y>_std` columns.
    #[serde(default)]
    pub aggregate: bool,
}

/// Fixed published numbers drawn as a dashed line without markers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSeries {
    pub label: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Draw `y[i] / y[0]` instead of `y[i]`, so the reference overlays a runner column
    /// that is itself a ratio to its first value.
    #[serde(default)]
    pub normalize_to_first: bool,
}
