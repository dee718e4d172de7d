// Weight format: Q6_K, read in place. A super-block is 210 bytes (not 4-byte
// aligned): ql[128], qh[64], 16 signed 8-bit scales, f16 d. Half n (0, 1) of
// 128 weights uses ql[64n..], qh[32n..], scales[8n..]; for l < 32:
//   weight 128n + l      = low nibble of ql[l]      | bits 0-1 of qh[l] << 4, scale l/16
//   weight 128n + 32 + l = low nibble of ql[l + 32] | bits 2-3 of qh[l] << 4, scale l/16 + 2
//   weight 128n + 64 + l = high nibble of ql[l]     | bits 4-5 of qh[l] << 4, scale l/16 + 4
//   weight 128n + 96 + l = high nibble of ql[l + 32]| bits 6-7 of qh[l] << 4, scale l/16 + 6
// w = d·scale·(q − 32).
// An "item" is 4 values of l in one half: h = 0 gives weights +l and +64+l,
// h = 1 weights +32+l and +96+l: columns c0..c0+3 and c0+64..c0+67.

const BLOCK: u32 = 256u;
const ITEMS_PER_BLOCK: u32 = 32u;

fn items_per_row(k: u32) -> u32 {
    return (k / BLOCK) * ITEMS_PER_BLOCK;
}

fn i8_at(o: u32) -> f32 {
    return f32(extractBits(bitcast<i32>(u8_at(o)), 0u, 8u));
}

// Two bits (at `shift`) of each of the four qh bytes in v, moved to bits 4-5.
fn high2(v: u32, shift: u32) -> vec4<u32> {
    return vec4<u32>(((v >> shift) & 3u) << 4u, ((v >> (8u + shift)) & 3u) << 4u, ((v >> (16u + shift)) & 3u) << 4u, ((v >> (24u + shift)) & 3u) << 4u);
}

fn load_item(row: u32, k: u32, item: u32) -> Item {
    let b = item / ITEMS_PER_BLOCK;
    let it = item % ITEMS_PER_BLOCK;
    let n = it / 16u;
    let h = (it / 8u) % 2u;
    let i = it % 8u;
    let l = 4u * i;
    let o = (row * (k / BLOCK) + b) * 210u;
    let d = f16_at(o + 208u);
    let ql = u32_at(o + 64u * n + 32u * h + l);
    let qh = u32_at(o + 128u + 32u * n + l);
    let sc = o + 192u + 8u * n + l / 16u;
    let s_lo = i8_at(sc + 2u * h);
    let s_hi = i8_at(sc + 4u + 2u * h);
    let q_lo = nibbles(ql, false) | high2(qh, 2u * h);
    let q_hi = nibbles(ql, true) | high2(qh, 4u + 2u * h);
    let c0 = b * BLOCK + 128u * n + 32u * h + l;
    return Item((d * s_lo) * (vec4<f32>(q_lo) - 32.0), (d * s_hi) * (vec4<f32>(q_hi) - 32.0), c0, c0 + 64u);
}

fn weight_at(row: u32, k: u32, col: u32) -> f32 {
    let o = (row * (k / BLOCK) + col / BLOCK) * 210u;
    let x = col % BLOCK;
    let n = x / 128u;
    let r = x % 128u;
    let g = r / 32u; // 0..3: which of the four groups
    let l = r % 32u;
    let ql = u8_at(o + 64u * n + l + select(0u, 32u, g % 2u == 1u));
    let q = select(ql & 15u, ql >> 4u, g >= 2u) | (((u8_at(o + 128u + 32u * n + l) >> (2u * g)) & 3u) << 4u);
    let s = i8_at(o + 192u + 8u * n + l / 16u + 2u * g);
    return (f16_at(o + 208u) * s) * (f32(q) - 32.0);
}
