// Weight format: F32 (row-major, any width). An "item" is 8 consecutive
// weights; columns at or past k read as zero weight.

fn items_per_row(k: u32) -> u32 {
    return (k + 7u) / 8u;
}

fn wf(row: u32, k: u32, col: u32) -> f32 {
    if (col >= k) {
        return 0.0;
    }
    return bitcast<f32>(w[row * k + col]);
}

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let c0 = item * 8u;
    let w0 = vec4<f32>(wf(row, k, c0), wf(row, k, c0 + 1u), wf(row, k, c0 + 2u), wf(row, k, c0 + 3u));
    let w1 = vec4<f32>(wf(row, k, c0 + 4u), wf(row, k, c0 + 5u), wf(row, k, c0 + 6u), wf(row, k, c0 + 7u));
    return Item(w0, w1, c0, c0 + 4u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    return wf(row, k, col);
}
