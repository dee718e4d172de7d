// Weight format: Q4_0, read in place. A block is 18 bytes: f16 scale d, then
// 16 bytes of nibbles: byte j holds weight j (low nibble) and weight j + 16
// (high nibble); w = (q − 8)·d. Blocks are not 4-byte aligned.
// An "item" is 4 bytes of nibbles: columns c0..c0+3 and c0+16..c0+19.

const BLOCK: u32 = 32u;
const ITEMS_PER_BLOCK: u32 = 4u;

fn items_per_row(k: u32) -> u32 {
    return (k / BLOCK) * ITEMS_PER_BLOCK;
}

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let b = item / ITEMS_PER_BLOCK;
    let j = item % ITEMS_PER_BLOCK;
    let o = (row * (k / BLOCK) + b) * 18u;
    let d = f16_at(o);
    let q = u32_at(o + 2u + 4u * j);
    let c0 = b * BLOCK + 4u * j;
    return Item((vec4<f32>(nibbles(q, false)) - 8.0) * d, (vec4<f32>(nibbles(q, true)) - 8.0) * d, c0, c0 + 16u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    let o = (row * (k / BLOCK) + col / BLOCK) * 18u;
    let i = col % BLOCK;
    let byte = u8_at(o + 2u + i % 16u);
    let q = select(byte & 15u, byte >> 4u, i >= 16u);
    return (f32(q) - 8.0) * f16_at(o);
}
