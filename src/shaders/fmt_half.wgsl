// Weight formats F16 and BF16, read in place: two weights per word, weight e
// of the matrix (row-major, any width) in word e / 2 (low half first). BF16
// is the top 16 bits of an f32; F16 is IEEE half. An "item" is 8
// consecutive weights; columns at or past k read as zero weight. `BF16` (a
// const put in front of this file) says which.

fn items_per_row(k: u32) -> u32 {
    return (k + 7u) / 8u;
}

fn wf(row: u32, k: u32, col: u32) -> f32 {
    if (col >= k) {
        return 0.0;
    }
    let e = row * k + col;
    let half = (w[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu;
    if (BF16) {
        return bitcast<f32>(half << 16u);
    }
    return unpack2x16float(half).x;
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
