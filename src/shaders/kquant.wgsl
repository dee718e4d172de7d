// What Q4_K and Q5_K share: 256-weight super-blocks whose 8 sub-blocks of 32
// have 6-bit scales and mins packed in 12 bytes (ggml's get_scale_min_k4),
// at byte offset `s` of the block.
const BLOCK: u32 = 256u;
const ITEMS_PER_BLOCK: u32 = 32u;

fn items_per_row(k: u32) -> u32 {
    return (k / BLOCK) * ITEMS_PER_BLOCK;
}

// (scale, min) of sub-block j.
fn scale_min(s: u32, j: u32) -> vec2<f32> {
    if (j < 4u) {
        return vec2<f32>(f32(u8_at(s + j) & 63u), f32(u8_at(s + j + 4u) & 63u));
    }
    let a = u8_at(s + j + 4u);
    return vec2<f32>(f32((a & 15u) | ((u8_at(s + j - 4u) >> 6u) << 4u)), f32((a >> 4u) | ((u8_at(s + j) >> 6u) << 4u)));
}
