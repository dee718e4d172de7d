// Byte access to the weight words `w`, for block formats whose blocks are
// not 4-byte aligned (Q8_0: 34 bytes, Q4_0: 18, Q5_0: 22, Q6_K: 210).

// Four bytes starting at byte offset o (any alignment).
fn u32_at(o: u32) -> u32 {
    let s = (o & 3u) * 8u;
    let a = w[o >> 2u];
    if (s == 0u) {
        return a;
    }
    return (a >> s) | (w[(o >> 2u) + 1u] << (32u - s));
}

// The byte at offset o.
fn u8_at(o: u32) -> u32 {
    return (w[o >> 2u] >> ((o & 3u) * 8u)) & 255u;
}

// The f16 at byte offset o, as f32.
fn f16_at(o: u32) -> f32 {
    return unpack2x16float(u32_at(o) & 0xffffu).x;
}

// Four 4-bit values: the low (hi = false) or high nibbles of the four bytes of v.
fn nibbles(v: u32, hi: bool) -> vec4<u32> {
    let s = select(0u, 4u, hi);
    return vec4<u32>((v >> s) & 15u, (v >> (8u + s)) & 15u, (v >> (16u + s)) & 15u, (v >> (24u + s)) & 15u);
}
