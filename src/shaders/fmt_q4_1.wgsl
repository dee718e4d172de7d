// Weight format: Q4_1, read in place. A block is 20 bytes = 5 u32 words:
// word 0 = f16 scale d | f16 min m << 16; words 1..4 = 16 bytes of nibbles,
// byte j holds weight j (low nibble) and weight j + 16 (high nibble); w = d·q + m.
// An "item" is one nibble word: 8 weights, at columns c0..c0+3 and c0+16..c0+19.

const BLOCK: u32 = 32u;
const ITEMS_PER_BLOCK: u32 = 4u;

fn items_per_row(k: u32) -> u32 {
    return (k / BLOCK) * ITEMS_PER_BLOCK;
}

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let b = item / ITEMS_PER_BLOCK;
    let j = item % ITEMS_PER_BLOCK;
    let base = (row * (k / BLOCK) + b) * 5u;
    let dm = unpack2x16float(w[base]);
    let q = w[base + 1u + j];
    let lo = vec4<f32>(f32(q & 15u), f32((q >> 8u) & 15u), f32((q >> 16u) & 15u), f32((q >> 24u) & 15u));
    let hi = vec4<f32>(f32((q >> 4u) & 15u), f32((q >> 12u) & 15u), f32((q >> 20u) & 15u), f32(q >> 28u));
    let c0 = b * BLOCK + 4u * j;
    return Item(dm.x * lo + dm.y, dm.x * hi + dm.y, c0, c0 + 16u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    let b = col / BLOCK;
    let i = col % BLOCK;
    let base = (row * (k / BLOCK) + b) * 5u;
    let dm = unpack2x16float(w[base]);
    let byte = (w[base + 1u + (i % 16u) / 4u] >> (8u * (i % 4u))) & 255u;
    let q = select(byte & 15u, byte >> 4u, i >= 16u);
    return dm.x * f32(q) + dm.y;
}
