//! ggml tensor types and the block formats Glassbox computes with.
//!
//! Every type ggml defines is known here by name and block size (so a file
//! with an exotic tensor is still parsed and reported clearly); eleven are
//! computed with (`GgmlType::supported`): F32, F16, BF16, Q4_0, Q4_1, Q5_0,
//! Q5_1, Q8_0, Q4_K, Q5_K and Q6_K, each with a reference dequantization
//! (equal to gguf-py's, tests/quant.rs) and dot-product kernels.
//!
//! Q4_1 block (20 bytes, 32 weights): f16 scale d, f16 min m, 16 bytes of
//!   nibbles; byte j holds weight j (low nibble) and weight j+16 (high nibble);
//!   w = d·q + m.
//! Q8_0 block (34 bytes, 32 weights): f16 scale d, 32 × i8 q; w = d·q.
//!
//! Dot products keep 16 partial sums ("lanes") and add the two halves of each
//! 32-weight block in a fixed order, so the fused (dequantize-as-you-go) and
//! the dequantize-then-dot paths give bit-identical results, and the compiler
//! can vectorize both.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

/// (type, ggml id, weights per block, bytes per block)
const TYPES: &[(GgmlType, u32, usize, usize)] = {
    use GgmlType::*;
    &[
        (F32, 0, 1, 4),
        (F16, 1, 1, 2),
        (Q4_0, 2, 32, 18),
        (Q4_1, 3, 32, 20),
        (Q5_0, 6, 32, 22),
        (Q5_1, 7, 32, 24),
        (Q8_0, 8, 32, 34),
        (Q8_1, 9, 32, 36),
        (Q2_K, 10, 256, 84),
        (Q3_K, 11, 256, 110),
        (Q4_K, 12, 256, 144),
        (Q5_K, 13, 256, 176),
        (Q6_K, 14, 256, 210),
        (Q8_K, 15, 256, 292),
        (IQ2_XXS, 16, 256, 66),
        (IQ2_XS, 17, 256, 74),
        (IQ3_XXS, 18, 256, 98),
        (IQ1_S, 19, 256, 50),
        (IQ4_NL, 20, 32, 18),
        (IQ3_S, 21, 256, 110),
        (IQ2_S, 22, 256, 82),
        (IQ4_XS, 23, 256, 136),
        (I8, 24, 1, 1),
        (I16, 25, 1, 2),
        (I32, 26, 1, 4),
        (I64, 27, 1, 8),
        (F64, 28, 1, 8),
        (IQ1_M, 29, 256, 56),
        (BF16, 30, 1, 2),
        (TQ1_0, 34, 256, 54),
        (TQ2_0, 35, 256, 66),
        (MXFP4, 39, 32, 17),
    ]
};

impl GgmlType {
    pub fn from_u32(id: u32) -> Option<GgmlType> {
        TYPES.iter().find(|t| t.1 == id).map(|t| t.0)
    }
    fn row(self) -> &'static (GgmlType, u32, usize, usize) {
        TYPES.iter().find(|t| t.0 == self).expect("every type is in TYPES")
    }
    /// A type by its name, any case: "q4_k", "F16".
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TYPES.iter().find(|t| t.0.to_string().eq_ignore_ascii_case(name)).map(|t| t.0)
    }
    pub fn id(self) -> u32 {
        self.row().1
    }
    /// Weights per block.
    pub fn block_len(self) -> usize {
        self.row().2
    }
    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        self.row().3
    }
    /// Whether Glassbox can compute with this type.
    pub fn supported(self) -> bool {
        use GgmlType::*;
        matches!(self, F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4_K | Q5_K | Q6_K)
    }
    /// Bytes taken by `n` weights (n must be a multiple of the block length).
    pub fn bytes_for(self, n: usize) -> usize {
        n / self.block_len() * self.block_bytes()
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("tensor '{name}' has type {ty}, which Glassbox cannot compute with (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)")]
pub struct UnsupportedType {
    pub name: String,
    pub ty: GgmlType,
}

pub const QK: usize = 32;
pub const Q4_1_BYTES: usize = 20;
pub const Q8_0_BYTES: usize = 34;

/// IEEE half → single, exactly (normals, subnormals, zeros, inf, NaN), in
/// plain integer arithmetic that inlines into the dot kernels (the `half`
/// crate's conversion is an out-of-line call there).
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let h = h as u32;
    let sign = (h & 0x8000) << 16;
    let exp = (h >> 10) & 0x1f;
    let mant = h & 0x3ff;
    if exp == 0 {
        // Zero or subnormal: mant · 2^-24 is exact in f32.
        return f32::from_bits((mant as f32 * (1.0 / 16_777_216.0)).to_bits() | sign);
    }
    if exp == 31 {
        return f32::from_bits(sign | 0x7f80_0000 | (mant << 13));
    }
    f32::from_bits(sign | ((exp + 112) << 23) | (mant << 13))
}

#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[i], b[i + 1]]))
}

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

#[inline(always)]
fn sum_lanes(acc: [f32; 16]) -> f32 {
    // Pairwise, fixed order.
    let mut a = acc;
    for w in [8, 4, 2, 1] {
        for i in 0..w {
            a[i] += a[i + w];
        }
    }
    a[0]
}

/// Dot product of two f32 vectors with the block-lane order used everywhere.
// The generic kernel; on wasm with SIMD128 the simd128 module replaces it.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn dot_f32_impl(w: &[f32], x: &[f32]) -> f32 {
    debug_assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 16];
    let full = w.len() / QK * QK;
    for (wb, xb) in w[..full].chunks_exact(QK).zip(x[..full].chunks_exact(QK)) {
        for j in 0..16 {
            acc[j] += wb[j] * xb[j];
        }
        for j in 0..16 {
            acc[j] += wb[j + 16] * xb[j + 16];
        }
    }
    let mut s = sum_lanes(acc);
    for i in full..w.len() {
        s += w[i] * x[i];
    }
    s
}

// The generic kernel; on wasm with SIMD128 the simd128 module replaces it.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn dot_q4_1_impl(row: &[u8], x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    for (blk, xb) in row.chunks_exact(Q4_1_BYTES).zip(x.chunks_exact(QK)) {
        let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
        let qs: &[u8; 16] = blk[4..20].try_into().unwrap();
        let mut lo = [0f32; 16];
        let mut hi = [0f32; 16];
        for j in 0..16 {
            lo[j] = d * (qs[j] & 0x0f) as f32 + m;
            hi[j] = d * (qs[j] >> 4) as f32 + m;
        }
        for j in 0..16 {
            acc[j] += lo[j] * xb[j];
        }
        for j in 0..16 {
            acc[j] += hi[j] * xb[j + 16];
        }
    }
    sum_lanes(acc)
}

// The generic kernel; on wasm with SIMD128 the simd128 module replaces it.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn dot_q8_0_impl(row: &[u8], x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    for (blk, xb) in row.chunks_exact(Q8_0_BYTES).zip(x.chunks_exact(QK)) {
        let d = f16_at(blk, 0);
        let qs: &[u8; 32] = blk[2..34].try_into().unwrap();
        let mut w = [0f32; 32];
        for j in 0..32 {
            w[j] = d * (qs[j] as i8) as f32;
        }
        for j in 0..16 {
            acc[j] += w[j] * xb[j];
        }
        for j in 0..16 {
            acc[j] += w[j + 16] * xb[j + 16];
        }
    }
    sum_lanes(acc)
}

/// Four rows at once: each the single-row kernel's result to the bit (here,
/// and on AVX2 and SIMD128, it simply runs four times; AVX-512 interleaves
/// the four rows so their sums advance side by side and share the loads of x).
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn dot4_q4_1_impl(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
    rows.map(|r| dot_q4_1_impl(r, x))
}

#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn dot4_q8_0_impl(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
    rows.map(|r| dot_q8_0_impl(r, x))
}

/// Which vector instructions this CPU has: 2 = AVX-512, 1 = AVX2, 0 = baseline.
/// The kernels are the same Rust code compiled for each level; IEEE f32
/// arithmetic in a fixed order gives the same bits whatever the vector width.
#[cfg(target_arch = "x86_64")]
fn simd_level() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static LEVEL: AtomicU8 = AtomicU8::new(u8::MAX);
    let l = LEVEL.load(Ordering::Relaxed);
    if l != u8::MAX {
        return l;
    }
    let l = if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("f16c") {
        2
    } else if std::is_x86_feature_detected!("avx2") {
        1
    } else {
        0
    };
    LEVEL.store(l, Ordering::Relaxed);
    l
}

/// `pub fn $name` runs `$imp` compiled for the best instruction set available.
macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident => $imp:ident ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        $(#[$doc])*
        #[inline]
        pub fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                use avx512::$name as v4;
                use avx2::$name as v3;
                // SAFETY: the features were detected at run time.
                match simd_level() {
                    2 => unsafe { v4($($arg),*) },
                    1 => unsafe { v3($($arg),*) },
                    _ => $imp($($arg),*),
                }
            }
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            return simd128::$name($($arg),*);
            #[cfg(not(any(target_arch = "x86_64", all(target_arch = "wasm32", target_feature = "simd128"))))]
            $imp($($arg),*)
        }
    };
}

/// The same kernels on AVX2: the 16 lanes are two 8-lane registers.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{f16_at, sum_lanes, QK, Q4_1_BYTES, Q8_0_BYTES};

    #[inline(always)]
    fn finish(a0: __m256, a1: __m256) -> f32 {
        let mut a = [0f32; 16];
        // SAFETY: `a` holds 16 floats.
        unsafe {
            _mm256_storeu_ps(a.as_mut_ptr(), a0);
            _mm256_storeu_ps(a.as_mut_ptr().add(8), a1);
        }
        sum_lanes(a)
    }

    /// acc += w · x[0..8] (one 8-lane step, multiply then add, as the scalar code).
    #[inline(always)]
    unsafe fn mac(acc: __m256, w: __m256, x: *const f32) -> __m256 {
        _mm256_add_ps(acc, _mm256_mul_ps(w, _mm256_loadu_ps(x)))
    }

    #[target_feature(enable = "avx2")]
    pub fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
        let len = w.len().min(x.len());
        let full = len / QK * QK;
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for i in (0..full).step_by(QK) {
            // SAFETY: i + 32 <= full <= both lengths.
            unsafe {
                let (wp, xp) = (w.as_ptr().add(i), x.as_ptr().add(i));
                a0 = mac(a0, _mm256_loadu_ps(wp), xp);
                a1 = mac(a1, _mm256_loadu_ps(wp.add(8)), xp.add(8));
                a0 = mac(a0, _mm256_loadu_ps(wp.add(16)), xp.add(16));
                a1 = mac(a1, _mm256_loadu_ps(wp.add(24)), xp.add(24));
            }
        }
        let mut s = finish(a0, a1);
        for i in full..len {
            s += w[i] * x[i];
        }
        s
    }

    #[target_feature(enable = "avx2")]
    pub fn dot_q4_1(row: &[u8], x: &[f32]) -> f32 {
        let n = (row.len() / Q4_1_BYTES).min(x.len() / QK);
        let mask = _mm_set1_epi8(0x0f);
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for b in 0..n {
            let blk = &row[b * Q4_1_BYTES..(b + 1) * Q4_1_BYTES];
            let (d, m) = (_mm256_set1_ps(f16_at(blk, 0)), _mm256_set1_ps(f16_at(blk, 2)));
            // SAFETY: bytes 4..20 of the block and x[32b..32b+32] are in bounds.
            unsafe {
                let q = _mm_loadu_si128(blk.as_ptr().add(4) as *const __m128i);
                let lo = _mm_and_si128(q, mask);
                let hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
                let w = |v: __m128i| _mm256_add_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))), m);
                let xp = x.as_ptr().add(b * QK);
                a0 = mac(a0, w(lo), xp);
                a1 = mac(a1, w(_mm_srli_si128(lo, 8)), xp.add(8));
                a0 = mac(a0, w(hi), xp.add(16));
                a1 = mac(a1, w(_mm_srli_si128(hi, 8)), xp.add(24));
            }
        }
        finish(a0, a1)
    }

    #[target_feature(enable = "avx2")]
    pub fn dot4_q4_1(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
        rows.map(|r| dot_q4_1(r, x))
    }

    #[target_feature(enable = "avx2")]
    pub fn dot4_q8_0(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
        rows.map(|r| dot_q8_0(r, x))
    }

    #[target_feature(enable = "avx2")]
    pub fn dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
        let n = (row.len() / Q8_0_BYTES).min(x.len() / QK);
        let (mut a0, mut a1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for b in 0..n {
            let blk = &row[b * Q8_0_BYTES..(b + 1) * Q8_0_BYTES];
            let d = _mm256_set1_ps(f16_at(blk, 0));
            // SAFETY: bytes 2..34 of the block and x[32b..32b+32] are in bounds.
            unsafe {
                let w = |o: usize| _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(blk.as_ptr().add(2 + o) as *const __m128i))));
                let xp = x.as_ptr().add(b * QK);
                a0 = mac(a0, w(0), xp);
                a1 = mac(a1, w(8), xp.add(8));
                a0 = mac(a0, w(16), xp.add(16));
                a1 = mac(a1, w(24), xp.add(24));
            }
        }
        finish(a0, a1)
    }
}

/// The same kernels on WebAssembly SIMD128 (the page's CPU fallback): the 16
/// lanes are four 4-lane registers.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;

    use super::{f16_at, sum_lanes, QK, Q4_1_BYTES, Q8_0_BYTES};

    #[inline(always)]
    fn finish(a: [v128; 4]) -> f32 {
        let mut out = [0f32; 16];
        for (i, v) in a.iter().enumerate() {
            // SAFETY: out[4i..4i+4] is in bounds.
            unsafe { v128_store(out.as_mut_ptr().add(4 * i) as *mut v128, *v) };
        }
        sum_lanes(out)
    }

    #[inline(always)]
    fn mac(acc: v128, w: v128, x: v128) -> v128 {
        f32x4_add(acc, f32x4_mul(w, x))
    }

    /// Four f32 at `p` (caller checks the bounds).
    #[inline(always)]
    unsafe fn ld(p: *const f32) -> v128 {
        v128_load(p as *const v128)
    }

    pub fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
        let len = w.len().min(x.len());
        let full = len / QK * QK;
        let mut a = [f32x4_splat(0.0); 4];
        for i in (0..full).step_by(QK) {
            for h in 0..2 {
                for (r, acc) in a.iter_mut().enumerate() {
                    let o = i + 16 * h + 4 * r;
                    // SAFETY: o + 4 <= full <= both lengths.
                    *acc = unsafe { mac(*acc, ld(w.as_ptr().add(o)), ld(x.as_ptr().add(o))) };
                }
            }
        }
        let mut s = finish(a);
        for i in full..len {
            s += w[i] * x[i];
        }
        s
    }

    /// Bytes 4r..4r+4 of a 16-byte vector as f32 lanes (unsigned).
    #[inline(always)]
    fn quarter_u(v: v128, r: usize) -> v128 {
        let h = if r < 2 { u16x8_extend_low_u8x16(v) } else { u16x8_extend_high_u8x16(v) };
        let q = if r.is_multiple_of(2) { u32x4_extend_low_u16x8(h) } else { u32x4_extend_high_u16x8(h) };
        f32x4_convert_u32x4(q)
    }

    /// The same, signed.
    #[inline(always)]
    fn quarter_i(v: v128, r: usize) -> v128 {
        let h = if r < 2 { i16x8_extend_low_i8x16(v) } else { i16x8_extend_high_i8x16(v) };
        let q = if r.is_multiple_of(2) { i32x4_extend_low_i16x8(h) } else { i32x4_extend_high_i16x8(h) };
        f32x4_convert_i32x4(q)
    }

    pub fn dot_q4_1(row: &[u8], x: &[f32]) -> f32 {
        let n = (row.len() / Q4_1_BYTES).min(x.len() / QK);
        let mut a = [f32x4_splat(0.0); 4];
        let mask = u8x16_splat(0x0f);
        for b in 0..n {
            let blk = &row[b * Q4_1_BYTES..(b + 1) * Q4_1_BYTES];
            let (d, m) = (f32x4_splat(f16_at(blk, 0)), f32x4_splat(f16_at(blk, 2)));
            // SAFETY: bytes 4..20 of the block and x[32b..32b+32] are in bounds.
            unsafe {
                let q = v128_load(blk.as_ptr().add(4) as *const v128);
                let (lo, hi) = (v128_and(q, mask), v128_and(u8x16_shr(q, 4), mask));
                let xp = x.as_ptr().add(b * QK);
                for (r, acc) in a.iter_mut().enumerate() {
                    *acc = mac(*acc, f32x4_add(f32x4_mul(d, quarter_u(lo, r)), m), ld(xp.add(4 * r)));
                }
                for (r, acc) in a.iter_mut().enumerate() {
                    *acc = mac(*acc, f32x4_add(f32x4_mul(d, quarter_u(hi, r)), m), ld(xp.add(16 + 4 * r)));
                }
            }
        }
        finish(a)
    }

    /// Four rows one after the other: interleaving them (four or two rows
    /// side by side) measured slower in V8 (19 → 10–16 tok/s on the page),
    /// whose 16 vector registers cannot hold the extra accumulators.
    pub fn dot4_q4_1(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
        rows.map(|r| dot_q4_1(r, x))
    }

    pub fn dot4_q8_0(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
        rows.map(|r| dot_q8_0(r, x))
    }

    pub fn dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
        let n = (row.len() / Q8_0_BYTES).min(x.len() / QK);
        let mut a = [f32x4_splat(0.0); 4];
        for b in 0..n {
            let blk = &row[b * Q8_0_BYTES..(b + 1) * Q8_0_BYTES];
            let d = f32x4_splat(f16_at(blk, 0));
            // SAFETY: bytes 2..34 of the block and x[32b..32b+32] are in bounds.
            unsafe {
                let xp = x.as_ptr().add(b * QK);
                for h in 0..2 {
                    let q = v128_load(blk.as_ptr().add(2 + 16 * h) as *const v128);
                    for (r, acc) in a.iter_mut().enumerate() {
                        *acc = mac(*acc, f32x4_mul(d, quarter_i(q, r)), ld(xp.add(16 * h + 4 * r)));
                    }
                }
            }
        }
        finish(a)
    }
}

/// The AVX-512 kernels, written with intrinsics: LLVM's auto-vectorizer
/// splits the 16 lanes badly for these loops (a measured 4× slower). Each
/// lane does exactly the scalar code's operations in the same order, so the
/// results are bit-identical to the other levels (tested).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{sum_lanes, QK, Q4_1_BYTES, Q8_0_BYTES};

    #[inline(always)]
    fn finish(acc: __m512) -> f32 {
        let mut a = [0f32; 16];
        // SAFETY: `a` holds 16 floats.
        unsafe { _mm512_storeu_ps(a.as_mut_ptr(), acc) };
        sum_lanes(a)
    }

    #[target_feature(enable = "avx512f")]
    pub fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
        let full = w.len().min(x.len()) / QK * QK;
        let mut acc = _mm512_setzero_ps();
        for i in (0..full).step_by(QK) {
            // SAFETY: i + 32 <= full <= both lengths.
            unsafe {
                let (wp, xp) = (w.as_ptr().add(i), x.as_ptr().add(i));
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(wp), _mm512_loadu_ps(xp)));
                acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_loadu_ps(wp.add(16)), _mm512_loadu_ps(xp.add(16))));
            }
        }
        let mut s = finish(acc);
        for i in full..w.len().min(x.len()) {
            s += w[i] * x[i];
        }
        s
    }

    /// A block's f16 pair at `p` (d, and m for Q4_1) as f32 lanes 0 and 1
    /// (F16C: exact, as `f16_to_f32`).
    #[inline(always)]
    unsafe fn halves(p: *const u8) -> __m128 {
        // SAFETY (caller): 4 bytes at p.
        _mm_cvtph_ps(_mm_cvtsi32_si128(unsafe { (p as *const i32).read_unaligned() }))
    }

    /// One Q4_1 block's contribution to `acc`: the 16 values its weights can
    /// take, d·q + m for q = 0..15 (computed as `dequantize` does), looked up
    /// by nibble (vpermps reads the low 4 bits of each index), then times x,
    /// in the order of the generic kernel.
    #[inline(always)]
    unsafe fn q4_1_block(acc: __m512, blk: *const u8, x0: __m512, x1: __m512) -> __m512 {
        // SAFETY (caller): blk points at a whole block.
        let (dm, q) = unsafe { (halves(blk), _mm_loadu_si128(blk.add(4) as *const __m128i)) };
        let iota = _mm512_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0);
        let table = _mm512_add_ps(_mm512_mul_ps(_mm512_broadcastss_ps(dm), iota), _mm512_broadcastss_ps(_mm_movehdup_ps(dm)));
        let lo = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(q), table);
        let hi = _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(_mm_srli_epi16(q, 4)), table);
        let acc = _mm512_add_ps(acc, _mm512_mul_ps(lo, x0));
        _mm512_add_ps(acc, _mm512_mul_ps(hi, x1))
    }

    /// One Q8_0 block's contribution to `acc`, in the order of the generic kernel.
    #[inline(always)]
    unsafe fn q8_0_block(acc: __m512, blk: *const u8, x0: __m512, x1: __m512) -> __m512 {
        // SAFETY (caller): blk points at a whole block (and 2 bytes may be read past its scale).
        let (d, q0, q1) = unsafe {
            (
                _mm512_broadcastss_ps(halves(blk)),
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(blk.add(2) as *const __m128i))),
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(blk.add(18) as *const __m128i))),
            )
        };
        let acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_mul_ps(d, q0), x0));
        _mm512_add_ps(acc, _mm512_mul_ps(_mm512_mul_ps(d, q1), x1))
    }

    /// How far ahead of the block being read the weights are prefetched (bytes).
    const PREFETCH: usize = 2048;

    /// R rows of `bytes`-byte blocks times x, their sums side by side.
    #[inline(always)]
    unsafe fn rows_dot<const R: usize>(
        rows: [&[u8]; R],
        x: &[f32],
        bytes: usize,
        block: unsafe fn(__m512, *const u8, __m512, __m512) -> __m512,
    ) -> [f32; R] {
        let n = rows.iter().map(|r| r.len() / bytes).min().unwrap_or(0).min(x.len() / QK);
        let mut acc = [_mm512_setzero_ps(); R];
        for b in 0..n {
            // SAFETY: x[32b..32b+32] and block b of every row are in bounds
            // (a Q8_0 scale read takes 4 bytes: 2 of the block's own quants follow it).
            unsafe {
                let xp = x.as_ptr().add(b * QK);
                let (x0, x1) = (_mm512_loadu_ps(xp), _mm512_loadu_ps(xp.add(16)));
                for i in 0..R {
                    let p = rows[i].as_ptr().add(b * bytes);
                    // The memory ahead, early enough to hide its latency (a hint: it never faults).
                    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH) as *const i8);
                    acc[i] = block(acc[i], p, x0, x1);
                }
            }
        }
        let mut out = [0f32; R];
        for i in 0..R {
            out[i] = finish(acc[i]);
        }
        out
    }

    #[target_feature(enable = "avx512f,f16c")]
    pub fn dot_q4_1(row: &[u8], x: &[f32]) -> f32 {
        // SAFETY: the features are enabled here.
        unsafe { rows_dot([row], x, Q4_1_BYTES, q4_1_block)[0] }
    }

    #[target_feature(enable = "avx512f,f16c")]
    pub fn dot4_q4_1(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
        // SAFETY: the features are enabled here.
        unsafe { rows_dot(rows, x, Q4_1_BYTES, q4_1_block) }
    }

    #[target_feature(enable = "avx512f,f16c")]
    pub fn dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
        // SAFETY: the features are enabled here.
        unsafe { rows_dot([row], x, Q8_0_BYTES, q8_0_block)[0] }
    }

    #[target_feature(enable = "avx512f,f16c")]
    pub fn dot4_q8_0(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
        // SAFETY: the features are enabled here.
        unsafe { rows_dot(rows, x, Q8_0_BYTES, q8_0_block) }
    }
}

dispatch!(
    /// Dot product of two f32 vectors with the block-lane order used everywhere.
    dot_f32 => dot_f32_impl(w: &[f32], x: &[f32]) -> f32);
dispatch!(
    /// Dot product of one Q4_1 row with `x`, dequantizing on the fly
    /// (bit-identical to `dequantize` followed by `dot_f32`).
    dot_q4_1 => dot_q4_1_impl(row: &[u8], x: &[f32]) -> f32);
dispatch!(
    /// Dot product of one Q8_0 row with `x` (bit-identical to dequantize + `dot_f32`).
    dot_q8_0 => dot_q8_0_impl(row: &[u8], x: &[f32]) -> f32);

dispatch!(
    /// `dot_q4_1` of four rows with the same `x` (the same bits, faster).
    dot4_q4_1 => dot4_q4_1_impl(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4]);
dispatch!(
    /// `dot_q8_0` of four rows with the same `x` (the same bits, faster).
    dot4_q8_0 => dot4_q8_0_impl(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4]);

/// Dot product of a row of any supported type with `x`.
#[inline]
pub fn dot_row(ty: GgmlType, row: &[u8], x: &[f32], scratch: &mut Vec<f32>) -> f32 {
    match ty {
        GgmlType::Q4_1 => dot_q4_1(row, x),
        GgmlType::Q8_0 => dot_q8_0(row, x),
        _ => {
            scratch.resize(x.len(), 0.0);
            dequantize(ty, row, scratch);
            dot_f32(scratch, x)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    fn lcg(seed: &mut u64) -> u32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*seed >> 33) as u32
    }

    fn random_blocks(ty: GgmlType, n_blocks: usize, seed: &mut u64) -> Vec<u8> {
        let mut v = Vec::new();
        for _ in 0..n_blocks {
            let scale = f16::from_f32((lcg(seed) % 1000) as f32 / 1e4 - 0.05);
            v.extend_from_slice(&scale.to_bits().to_le_bytes());
            if ty == GgmlType::Q4_1 {
                let min = f16::from_f32((lcg(seed) % 1000) as f32 / 1e3 - 0.5);
                v.extend_from_slice(&min.to_bits().to_le_bytes());
                v.extend((0..16).map(|_| lcg(seed) as u8));
            } else {
                v.extend((0..32).map(|_| lcg(seed) as u8));
            }
        }
        v
    }

    #[test]
    fn f16_conversion_is_exact_for_every_value() {
        for h in 0..=u16::MAX {
            let (ours, theirs) = (f16_to_f32(h), f16::from_bits(h).to_f32());
            assert!(ours.to_bits() == theirs.to_bits() || (ours.is_nan() && theirs.is_nan()), "{h:#06x}: {ours} vs {theirs}");
        }
    }

    #[test]
    fn block_sizes_match_ggml() {
        assert_eq!(GgmlType::Q4_1.block_bytes(), 20);
        assert_eq!(GgmlType::Q8_0.block_bytes(), 34);
        assert_eq!(GgmlType::from_u32(3), Some(GgmlType::Q4_1));
        assert_eq!(GgmlType::from_u32(8), Some(GgmlType::Q8_0));
        assert_eq!(GgmlType::from_u32(4), None); // Q4_2, removed from ggml
        assert_eq!(GgmlType::Q6_K.bytes_for(512), 420);
    }

    #[test]
    fn q4_1_dequantizes_exactly() {
        // d = 0.5, m = -1.0, nibbles: byte j = (j) | (15 - j) << 4
        let mut blk = Vec::new();
        blk.extend_from_slice(&f16::from_f32(0.5).to_bits().to_le_bytes());
        blk.extend_from_slice(&f16::from_f32(-1.0).to_bits().to_le_bytes());
        blk.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let mut out = [0f32; 32];
        dequantize(GgmlType::Q4_1, &blk, &mut out);
        for j in 0..16 {
            assert_eq!(out[j], 0.5 * j as f32 - 1.0);
            assert_eq!(out[j + 16], 0.5 * (15 - j) as f32 - 1.0);
        }
    }

    #[test]
    fn q8_0_dequantizes_exactly() {
        let mut blk = Vec::new();
        blk.extend_from_slice(&f16::from_f32(0.25).to_bits().to_le_bytes());
        blk.extend((0..32i32).map(|j| (j * 8 - 128) as i8 as u8));
        let mut out = [0f32; 32];
        dequantize(GgmlType::Q8_0, &blk, &mut out);
        for (j, &v) in out.iter().enumerate() {
            assert_eq!(v, 0.25 * (j as f32 * 8.0 - 128.0));
        }
    }

    #[test]
    fn fused_dots_equal_dequantize_then_dot_bitwise() {
        let mut seed = 7;
        for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
            for n_blocks in [1, 3, 18, 48] {
                let row = random_blocks(ty, n_blocks, &mut seed);
                let x: Vec<f32> = (0..n_blocks * 32).map(|_| lcg(&mut seed) as f32 / u32::MAX as f32 - 0.5).collect();
                let mut w = vec![0f32; x.len()];
                dequantize(ty, &row, &mut w);
                let fused = if ty == GgmlType::Q4_1 { dot_q4_1(&row, &x) } else { dot_q8_0(&row, &x) };
                assert_eq!(fused.to_bits(), dot_f32(&w, &x).to_bits(), "{ty} {n_blocks} blocks");
                let exact: f64 = w.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
                assert!((fused as f64 - exact).abs() < 1e-4, "{fused} vs {exact}");
            }
        }
    }

    #[test]
    fn every_simd_level_gives_the_same_bits() {
        let mut seed = 11;
        for n_blocks in [1, 2, 18, 48] {
            let x: Vec<f32> = (0..n_blocks * 32 + 5).map(|_| lcg(&mut seed) as f32 / u32::MAX as f32 - 0.5).collect();
            let q4 = random_blocks(GgmlType::Q4_1, n_blocks, &mut seed);
            let q8 = random_blocks(GgmlType::Q8_0, n_blocks, &mut seed);
            let w: Vec<f32> = x.iter().map(|v| v * 3.0 - 0.1).collect();
            let bits = |t: (f32, f32, f32)| (t.0.to_bits(), t.1.to_bits(), t.2.to_bits());
            let generic = bits((dot_q4_1_impl(&q4, &x), dot_q8_0_impl(&q8, &x), dot_f32_impl(&w, &x)));
            assert_eq!(bits((dot_q4_1(&q4, &x), dot_q8_0(&q8, &x), dot_f32(&w, &x))), generic, "dispatched, {n_blocks} blocks");
            #[cfg(target_arch = "x86_64")]
            {
                let mut levels = 0;
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 was detected.
                    let v = unsafe { (avx2::dot_q4_1(&q4, &x), avx2::dot_q8_0(&q8, &x), avx2::dot_f32(&w, &x)) };
                    assert_eq!(bits(v), generic, "AVX2, {n_blocks} blocks");
                    levels += 1;
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: AVX-512F was detected.
                    let v = unsafe { (avx512::dot_q4_1(&q4, &x), avx512::dot_q8_0(&q8, &x), avx512::dot_f32(&w, &x)) };
                    assert_eq!(bits(v), generic, "AVX-512, {n_blocks} blocks");
                    levels += 1;
                }
                eprintln!("checked {levels} SIMD levels against the generic kernels");
            }
        }
    }

    #[test]
    fn four_row_kernels_give_each_row_its_own_bits() {
        let mut seed = 12;
        for n_blocks in [1, 3, 18, 48] {
            let x: Vec<f32> = (0..n_blocks * 32).map(|_| lcg(&mut seed) as f32 / u32::MAX as f32 - 0.5).collect();
            for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
                let rows: Vec<Vec<u8>> = (0..4).map(|_| random_blocks(ty, n_blocks, &mut seed)).collect();
                let r: [&[u8]; 4] = [&rows[0], &rows[1], &rows[2], &rows[3]];
                let (four, one): ([f32; 4], [f32; 4]) = match ty {
                    GgmlType::Q4_1 => (dot4_q4_1(r, &x), r.map(|r| dot_q4_1_impl(r, &x))),
                    _ => (dot4_q8_0(r, &x), r.map(|r| dot_q8_0_impl(r, &x))),
                };
                assert_eq!(four.map(f32::to_bits), one.map(f32::to_bits), "{ty} {n_blocks} blocks");
            }
        }
    }

    #[test]
    fn dot_f32_handles_tails() {
        for n in [0, 1, 5, 31, 33, 70] {
            let w: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let x = vec![1f32; n];
            assert_eq!(dot_f32(&w, &x), (n * n.saturating_sub(1) / 2) as f32);
        }
    }
}
