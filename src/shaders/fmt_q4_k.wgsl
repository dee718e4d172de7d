// Weight format: Q4_K, read in place. A super-block is 144 bytes (36 words):
// f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles. Chunk
// c (0..3) of 64 weights uses bytes 16 + 32c..: weight 64c + l is the low
// nibble of byte l with sub-block 2c, weight 64c + 32 + l the high nibble
// with sub-block 2c + 1; w = d·scale·q − dmin·min.
// An "item" is 4 bytes of nibbles: columns c0..c0+3 and c0+32..c0+35.

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let b = item / ITEMS_PER_BLOCK;
    let it = item % ITEMS_PER_BLOCK;
    let c = it / 8u;
    let i = it % 8u;
    let o = (row * (k / BLOCK) + b) * 144u;
    let dm = unpack2x16float(w[o / 4u]);
    let s1 = scale_min(o + 4u, 2u * c);
    let s2 = scale_min(o + 4u, 2u * c + 1u);
    let q = w[(o + 16u + 32u * c + 4u * i) / 4u];
    let c0 = b * BLOCK + 64u * c + 4u * i;
    let w0 = (dm.x * s1.x) * vec4<f32>(nibbles(q, false)) - dm.y * s1.y;
    let w1 = (dm.x * s2.x) * vec4<f32>(nibbles(q, true)) - dm.y * s2.y;
    return Item(w0, w1, c0, c0 + 32u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    let o = (row * (k / BLOCK) + col / BLOCK) * 144u;
    let x = col % BLOCK;
    let c = x / 64u;
    let hi = (x % 64u) >= 32u;
    let l = x % 32u;
    let sm = scale_min(o + 4u, 2u * c + select(0u, 1u, hi));
    let byte = u8_at(o + 16u + 32u * c + l);
    let q = select(byte & 15u, byte >> 4u, hi);
    let dm = unpack2x16float(w[o / 4u]);
    return (dm.x * sm.x) * f32(q) - dm.y * sm.y;
}
