// Weight format: Q8_0, read in place. A block is 34 bytes: f16 scale d, then
// 32 signed bytes q; w = d·q. Blocks are not 4-byte aligned (34 = 2 mod 4),
// so words are assembled from two loads where needed.
// An "item" is 8 consecutive weights: columns c0..c0+3 and c1 = c0+4..c0+7.

const BLOCK: u32 = 32u;
const ITEMS_PER_BLOCK: u32 = 4u;

fn items_per_row(k: u32) -> u32 {
    return (k / BLOCK) * ITEMS_PER_BLOCK;
}

fn i8x4(v: u32) -> vec4<f32> {
    let i = bitcast<i32>(v);
    return vec4<f32>(f32(extractBits(i, 0u, 8u)), f32(extractBits(i, 8u, 8u)),
                     f32(extractBits(i, 16u, 8u)), f32(extractBits(i, 24u, 8u)));
}

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let b = item / ITEMS_PER_BLOCK;
    let j = item % ITEMS_PER_BLOCK;
    let o = (row * (k / BLOCK) + b) * 34u;
    let d = unpack2x16float(u32_at(o) & 0xffffu).x;
    let q = o + 2u + 8u * j;
    let c0 = b * BLOCK + 8u * j;
    return Item(d * i8x4(u32_at(q)), d * i8x4(u32_at(q + 4u)), c0, c0 + 4u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    let o = (row * (k / BLOCK) + col / BLOCK) * 34u;
    let d = unpack2x16float(u32_at(o) & 0xffffu).x;
    let q = extractBits(bitcast<i32>(u32_at(o + 2u + col % BLOCK)), 0u, 8u);
    return d * f32(q);
}
