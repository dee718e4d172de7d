//! Canvas helpers shared by the heatmap and the model view: the 2D context,
//! and a block of cells turned into pixels with the attention colour scale.

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use crate::web::components::colors::weight_rgb;

/// Light grey of cells the causal mask hides (a key after its query).
pub const MASKED: [u8; 3] = [242, 242, 242];

pub fn context(c: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    c.get_context("2d").ok().flatten().map(|x| x.unchecked_into())
}

/// Write a block of `rows` × `cols` weights into `px` (RGBA, `stride`
/// pixels a row) at (x0, y0); `masked(i, j)` marks cells the mask hides.
#[allow(clippy::too_many_arguments)]
pub fn paint_cells(px: &mut [u8], stride: usize, x0: usize, y0: usize, rows: usize, cols: usize, vals: &[f32], masked: impl Fn(usize, usize) -> bool) {
    paint_cells_in(px, stride, x0, y0, rows, cols, vals, masked, weight_rgb)
}

/// `paint_cells` with another colour scale (compare mode's B − A).
#[allow(clippy::too_many_arguments)]
pub fn paint_cells_in(px: &mut [u8], stride: usize, x0: usize, y0: usize, rows: usize, cols: usize, vals: &[f32], masked: impl Fn(usize, usize) -> bool, colour: fn(f32) -> [u8; 3]) {
    for i in 0..rows {
        for j in 0..cols {
            let rgb = if masked(i, j) { MASKED } else { colour(vals[i * cols + j]) };
            let o = ((y0 + i) * stride + x0 + j) * 4;
            px[o..o + 3].copy_from_slice(&rgb);
            px[o + 3] = 255;
        }
    }
}

/// Put RGBA pixels (w × h) on `c` at (x, y).
pub fn put(c: &CanvasRenderingContext2d, px: &[u8], w: usize, h: usize, x: f64, y: f64) {
    if w == 0 || h == 0 {
        return;
    }
    // A copy in JavaScript's own memory: ImageData refuses a view of the
    // threaded build's shared wasm memory.
    let data = js_sys::Uint8ClampedArray::new_with_length(px.len() as u32);
    data.copy_from(px);
    if let Ok(img) = ImageData::new_with_js_u8_clamped_array_and_sh(&data, w as u32, h as u32) {
        let _ = c.put_image_data(&img, x, y);
    }
}
