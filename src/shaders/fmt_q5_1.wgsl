// Weight format: Q5_1, read in place (q5.wgsl has the quants). A block is
// 24 bytes: f16 scale d, f16 minimum m, a u32 of fifth bits qh, 16 bytes of
// nibbles; w = q·d + m. Blocks are 4-byte aligned only every other block,
// so the byte helpers read them.

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let b = item / ITEMS_PER_BLOCK;
    let j = item % ITEMS_PER_BLOCK;
    let o = (row * (k / BLOCK) + b) * 24u;
    let d = f16_at(o);
    let m = f16_at(o + 2u);
    let q = q5_item(o + 4u, o + 8u, j);
    let c0 = b * BLOCK + 4u * j;
    return Item(vec4<f32>(q[0]) * d + m, vec4<f32>(q[1]) * d + m, c0, c0 + 16u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    let o = (row * (k / BLOCK) + col / BLOCK) * 24u;
    return f32(q5_at(o + 4u, o + 8u, col % BLOCK)) * f16_at(o) + f16_at(o + 2u);
}
