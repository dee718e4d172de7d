// Weight format: Q5_1, read in place. A block is 24 bytes: f16 scale d, f16
// minimum m, a u32 of fifth bits qh, 16 bytes of nibbles. Weight j < 16: low
// nibble of byte j with bit j of qh as its fifth bit; weight j + 16: high
// nibble with bit j + 16; w = q·d + m. Blocks are 4-byte aligned only every
// other block, so the byte helpers read them.
// An "item" is 4 bytes of nibbles: columns c0..c0+3 and c0+16..c0+19.

const BLOCK: u32 = 32u;
const ITEMS_PER_BLOCK: u32 = 4u;

fn items_per_row(k: u32) -> u32 {
    return (k / BLOCK) * ITEMS_PER_BLOCK;
}

// Bits j..j+3 of qh as the fifth bit (16) of four weights.
fn fifth(qh: u32, j: u32) -> vec4<u32> {
    return vec4<u32>(((qh >> j) & 1u) << 4u, ((qh >> (j + 1u)) & 1u) << 4u, ((qh >> (j + 2u)) & 1u) << 4u, ((qh >> (j + 3u)) & 1u) << 4u);
}

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let b = item / ITEMS_PER_BLOCK;
    let j = item % ITEMS_PER_BLOCK;
    let o = (row * (k / BLOCK) + b) * 24u;
    let d = f16_at(o);
    let m = f16_at(o + 2u);
    let qh = u32_at(o + 4u);
    let q = u32_at(o + 8u + 4u * j);
    let lo = nibbles(q, false) | fifth(qh, 4u * j);
    let hi = nibbles(q, true) | fifth(qh, 4u * j + 16u);
    let c0 = b * BLOCK + 4u * j;
    return Item(vec4<f32>(lo) * d + m, vec4<f32>(hi) * d + m, c0, c0 + 16u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    let o = (row * (k / BLOCK) + col / BLOCK) * 24u;
    let i = col % BLOCK;
    let byte = u8_at(o + 8u + i % 16u);
    let q = select(byte & 15u, byte >> 4u, i >= 16u) | (((u32_at(o + 4u) >> i) & 1u) << 4u);
    return f32(q) * f16_at(o) + f16_at(o + 2u);
}
