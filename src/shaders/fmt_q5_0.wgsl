// Weight format: Q5_0, read in place (q5.wgsl has the quants). A block is
// 22 bytes: f16 scale d, a u32 of fifth bits qh, 16 bytes of nibbles;
// w = (q − 16)·d. Blocks are not 4-byte aligned.

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let b = item / ITEMS_PER_BLOCK;
    let j = item % ITEMS_PER_BLOCK;
    let o = (row * (k / BLOCK) + b) * 22u;
    let d = f16_at(o);
    let q = q5_item(o + 2u, o + 6u, j);
    let c0 = b * BLOCK + 4u * j;
    return Item((vec4<f32>(q[0]) - 16.0) * d, (vec4<f32>(q[1]) - 16.0) * d, c0, c0 + 16u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    let o = (row * (k / BLOCK) + col / BLOCK) * 22u;
    return (f32(q5_at(o + 2u, o + 6u, col % BLOCK)) - 16.0) * f16_at(o);
}
