//! Images laid out in a grid, each with a caption: a denoiser's top Jacobian eigenvectors
//! (Kadkhodaie et al. 2024 Fig. 3) on a symmetric blue–white–red scale around 0, or samples
//! and training images in gray levels.

use crate::plot::{register_fonts, FONT};
use anyhow::{bail, Result};
use plotters::prelude::*;
use std::path::Path;

/// Screen pixels per image pixel: 18 for 8×8 images, fewer for larger ones (5 for 28×28).
fn cell_size(h: usize, w: usize) -> u32 {
    (144 / h.max(w).max(1) as u32).clamp(2, 18)
}
/// Caption height and tile gap, in pixels.
const CAPTION: u32 = 22;
const GAP: u32 = 8;

/// One tile: an `h × w` image (row-major) and its caption.
pub struct Tile {
    pub caption: String,
    pub pixels: Vec<f64>,
}

/// How pixel values map to colours.
#[derive(Clone, Copy, Debug)]
pub enum TileScale {
    /// Blue (negative) – white (0) – red (positive), each tile scaled by its own max |value|,
    /// so eigenvectors (defined up to sign and norm) compare.
    Diverging,
    /// Black at `low`, white at `high` (values outside are clamped): images in data units.
    Gray { low: f64, high: f64 },
}

/// Writes `tiles` (each `h × w`) as a PNG grid with `columns` tiles per row.
pub fn write_image_grid(
    path: &Path,
    tiles: &[Tile],
    (h, w): (usize, usize),
    columns: usize,
    scale: TileScale,
) -> Result<()> {
    if tiles.is_empty() || columns == 0 {
        bail!("an image grid needs at least one tile and one column");
    }
    if let Some(t) = tiles.iter().find(|t| t.pixels.len() != h * w) {
        bail!(
            "tile {:?} has {} pixels, expected {h}×{w}",
            t.caption,
            t.pixels.len()
        );
    }
    register_fonts()?;
    let rows = tiles.len().div_ceil(columns);
    let cell = cell_size(h, w);
    let tile_w = w as u32 * cell;
    let tile_h = h as u32 * cell + CAPTION;
    let size = (
        columns as u32 * (tile_w + GAP) + GAP,
        rows as u32 * (tile_h + GAP) + GAP,
    );
    crate::files::write_through_temp(path, |tmp| {
        draw_tiles(tmp, size, tiles, (h, w), columns, scale)
    })
}

/// Draws the grid into the PNG file `path`.
fn draw_tiles(
    path: &Path,
    size: (u32, u32),
    tiles: &[Tile],
    (h, w): (usize, usize),
    columns: usize,
    scale: TileScale,
) -> Result<()> {
    let cell = cell_size(h, w);
    let tile_w = w as u32 * cell;
    let tile_h = h as u32 * cell + CAPTION;
    let root = BitMapBackend::new(path, size).into_drawing_area();
    let err = |e: plotters::drawing::DrawingAreaErrorKind<_>| anyhow::anyhow!("{e}");
    root.fill(&WHITE).map_err(err)?;
    for (n, tile) in tiles.iter().enumerate() {
        let x0 = GAP as i32 + (n % columns) as i32 * (tile_w + GAP) as i32;
        let y0 = GAP as i32 + (n / columns) as i32 * (tile_h + GAP) as i32;
        root.draw(&Text::new(
            tile.caption.clone(),
            (x0, y0),
            (FONT, 14).into_font(),
        ))
        .map_err(err)?;
        let max_abs = tile
            .pixels
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(1e-300);
        for (i, v) in tile.pixels.iter().enumerate() {
            let (r, c) = ((i / w) as i32, (i % w) as i32);
            let top = (x0 + c * cell as i32, y0 + CAPTION as i32 + r * cell as i32);
            let bottom = (top.0 + cell as i32, top.1 + cell as i32);
            let colour = match scale {
                TileScale::Diverging => diverging(v / max_abs),
                TileScale::Gray { low, high } => gray((v - low) / (high - low)),
            };
            root.draw(&Rectangle::new([top, bottom], colour.filled()))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Black (0) – white (1).
fn gray(v: f64) -> RGBColor {
    let level = (255.0 * v.clamp(0.0, 1.0)).round() as u8;
    RGBColor(level, level, level)
}

/// Blue (−1) – white (0) – red (+1).
fn diverging(v: f64) -> RGBColor {
    let v = v.clamp(-1.0, 1.0);
    let fade = |t: f64| (255.0 * (1.0 - t)) as u8;
    if v >= 0.0 {
        RGBColor(255, fade(v), fade(v))
    } else {
        RGBColor(fade(-v), fade(-v), 255)
    }
}
