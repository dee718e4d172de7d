// Weight format: Q5_K, read in place. A super-block is 176 bytes (44 words):
// f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 32 bytes qh, 128 bytes of
// nibbles. As Q4_K, and weight 64c + l takes bit 2c of qh[l] as its fifth
// bit (16), weight 64c + 32 + l bit 2c + 1; w = d·scale·q − dmin·min.
// An "item" is 4 bytes of nibbles: columns c0..c0+3 and c0+32..c0+35.

// Bit `bit` of the four qh bytes in word v, as 16 or 0.
fn fifth4(v: u32, bit: u32) -> vec4<u32> {
    return vec4<u32>(((v >> bit) & 1u) << 4u, ((v >> (8u + bit)) & 1u) << 4u, ((v >> (16u + bit)) & 1u) << 4u, ((v >> (24u + bit)) & 1u) << 4u);
}

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let b = item / ITEMS_PER_BLOCK;
    let it = item % ITEMS_PER_BLOCK;
    let c = it / 8u;
    let i = it % 8u;
    let o = (row * (k / BLOCK) + b) * 176u;
    let dm = unpack2x16float(w[o / 4u]);
    let s1 = scale_min(o + 4u, 2u * c);
    let s2 = scale_min(o + 4u, 2u * c + 1u);
    let qh = w[(o + 16u + 4u * i) / 4u];
    let q = w[(o + 48u + 32u * c + 4u * i) / 4u];
    let c0 = b * BLOCK + 64u * c + 4u * i;
    let w0 = (dm.x * s1.x) * vec4<f32>(nibbles(q, false) + fifth4(qh, 2u * c)) - dm.y * s1.y;
    let w1 = (dm.x * s2.x) * vec4<f32>(nibbles(q, true) + fifth4(qh, 2u * c + 1u)) - dm.y * s2.y;
    return Item(w0, w1, c0, c0 + 32u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    let o = (row * (k / BLOCK) + col / BLOCK) * 176u;
    let x = col % BLOCK;
    let c = x / 64u;
    let hi = (x % 64u) >= 32u;
    let l = x % 32u;
    let bit = 2u * c + select(0u, 1u, hi);
    let sm = scale_min(o + 4u, bit);
    let byte = u8_at(o + 48u + 32u * c + l);
    let q = select(byte & 15u, byte >> 4u, hi) + (((u8_at(o + 16u + l) >> bit) & 1u) << 4u);
    let dm = unpack2x16float(w[o / 4u]);
    return (dm.x * sm.x) * f32(q) - dm.y * sm.y;
}
