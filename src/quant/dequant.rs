//! The reference dequantization of every format Glassbox computes with:
//! the same f32 values as ggml's (and gguf-py's, tests/quant.rs).

use crate::quant::{f16_at, GgmlType, QK, Q4_1_BYTES, Q8_0_BYTES};

/// Dequantize `out.len()` weights of type `ty` from `src` (exact: the same
/// f32 values ggml's reference dequantization produces).
/// Panics if `src` is shorter than `ty.bytes_for(out.len())` or `ty` is unsupported;
/// callers check both when a tensor is loaded.
pub fn dequantize(ty: GgmlType, src: &[u8], out: &mut [f32]) {
    match ty {
        GgmlType::F32 => {
            for (o, b) in out.iter_mut().zip(src.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        GgmlType::F16 => {
            // In chunks through `half`'s slice conversion, which uses the
            // CPU's F16C instructions where it has them (f16 → f32 is exact
            // either way; tests/quant.rs checks every case bit for bit).
            use half::slice::HalfFloatSliceExt;
            let mut halves = [half::f16::ZERO; 256];
            for (o, b) in out.chunks_mut(256).zip(src.chunks(512)) {
                let h = &mut halves[..o.len()];
                for (x, c) in h.iter_mut().zip(b.chunks_exact(2)) {
                    *x = half::f16::from_bits(u16::from_le_bytes([c[0], c[1]]));
                }
                h.convert_to_f32_slice(o);
            }
        }
        GgmlType::Q4_1 => {
            for (blk, o) in src.chunks_exact(Q4_1_BYTES).zip(out.chunks_exact_mut(QK)) {
                let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
                for j in 0..16 {
                    let q = blk[4 + j];
                    o[j] = d * (q & 0x0f) as f32 + m;
                    o[j + 16] = d * (q >> 4) as f32 + m;
                }
            }
        }
        GgmlType::Q8_0 => {
            for (blk, o) in src.chunks_exact(Q8_0_BYTES).zip(out.chunks_exact_mut(QK)) {
                let d = f16_at(blk, 0);
                for j in 0..QK {
                    o[j] = d * (blk[2 + j] as i8) as f32;
                }
            }
        }
        GgmlType::BF16 => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = f32::from_bits((u16::from_le_bytes([src[2 * i], src[2 * i + 1]]) as u32) << 16);
            }
        }
        GgmlType::Q4_0 => {
            for (blk, o) in src.chunks_exact(18).zip(out.chunks_exact_mut(QK)) {
                let d = f16_at(blk, 0);
                for j in 0..16 {
                    let q = blk[2 + j];
                    o[j] = ((q & 0x0f) as i32 - 8) as f32 * d;
                    o[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
                }
            }
        }
        GgmlType::Q5_0 => {
            for (blk, o) in src.chunks_exact(22).zip(out.chunks_exact_mut(QK)) {
                let d = f16_at(blk, 0);
                let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
                for j in 0..16 {
                    let q = blk[6 + j];
                    let h0 = ((qh >> j) << 4) & 0x10;
                    let h1 = (qh >> (j + 12)) & 0x10;
                    o[j] = (((q & 0x0f) as u32 | h0) as i32 - 16) as f32 * d;
                    o[j + 16] = (((q >> 4) as u32 | h1) as i32 - 16) as f32 * d;
                }
            }
        }
        GgmlType::Q5_1 => {
            // f16 d, f16 m, u32 fifth bits, 16 bytes of nibbles: w = q·d + m.
            for (blk, o) in src.chunks_exact(24).zip(out.chunks_exact_mut(QK)) {
                let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
                let qh = u32::from_le_bytes([blk[4], blk[5], blk[6], blk[7]]);
                for j in 0..16 {
                    let q = blk[8 + j];
                    let h0 = ((qh >> j) << 4) & 0x10;
                    let h1 = (qh >> (j + 12)) & 0x10;
                    o[j] = ((q & 0x0f) as u32 | h0) as f32 * d + m;
                    o[j + 16] = ((q >> 4) as u32 | h1) as f32 * d + m;
                }
            }
        }
        GgmlType::Q4_K => {
            for (blk, o) in src.chunks_exact(144).zip(out.chunks_exact_mut(QK_K)) {
                let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
                let scales: &[u8; 12] = blk[4..16].try_into().unwrap();
                for c in 0..4 {
                    let q = &blk[16 + 32 * c..16 + 32 * c + 32];
                    let (sc1, m1) = scale_min_k4(2 * c, scales);
                    let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
                    let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
                    let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
                    for l in 0..32 {
                        o[64 * c + l] = d1 * (q[l] & 0x0f) as f32 - m1;
                        o[64 * c + 32 + l] = d2 * (q[l] >> 4) as f32 - m2;
                    }
                }
            }
        }
        GgmlType::Q5_K => {
            for (blk, o) in src.chunks_exact(176).zip(out.chunks_exact_mut(QK_K)) {
                let (d, dmin) = (f16_at(blk, 0), f16_at(blk, 2));
                let scales: &[u8; 12] = blk[4..16].try_into().unwrap();
                let qh = &blk[16..48];
                for c in 0..4 {
                    let ql = &blk[48 + 32 * c..48 + 32 * c + 32];
                    let (sc1, m1) = scale_min_k4(2 * c, scales);
                    let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
                    let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
                    let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
                    let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
                    for l in 0..32 {
                        let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
                        let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
                        o[64 * c + l] = d1 * ((ql[l] & 0x0f) + h1) as f32 - m1;
                        o[64 * c + 32 + l] = d2 * ((ql[l] >> 4) + h2) as f32 - m2;
                    }
                }
            }
        }
        GgmlType::Q6_K => {
            for (blk, o) in src.chunks_exact(210).zip(out.chunks_exact_mut(QK_K)) {
                let d = f16_at(blk, 208);
                for n in 0..2 {
                    let (ql, qh, sc) = (&blk[64 * n..64 * n + 64], &blk[128 + 32 * n..128 + 32 * n + 32], &blk[192 + 8 * n..192 + 8 * n + 8]);
                    let y = &mut o[128 * n..128 * n + 128];
                    for l in 0..32 {
                        let is = l / 16;
                        let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
                        let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                        let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                        let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                        y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                        y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                        y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                        y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                    }
                }
            }
        }
        other => panic!("dequantize: unsupported type {other}"),
    }
}

/// Weights per K-quant super-block.
pub const QK_K: usize = 256;

/// The 6-bit scale and min of sub-block `j` (0..8) of a Q4_K/Q5_K block,
/// packed in 12 bytes as ggml's `get_scale_min_k4` reads them.
fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}
