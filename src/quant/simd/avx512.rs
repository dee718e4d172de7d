//! The AVX-512 kernels, written with intrinsics: LLVM's auto-vectorizer
//! splits the 16 lanes badly for these loops (a measured 4× slower). Each
//! lane does exactly the scalar code's operations in the same order, so the
//! results are bit-identical to the other levels (tested).

use std::arch::x86_64::*;

use crate::quant::{QK, Q4_1_BYTES, Q8_0_BYTES};

/// `sum_lanes` in registers: lanes i + (i + 8), then + 4, + 2, + 1: the
/// same additions in the same order, so the same bits.
#[inline(always)]
fn finish(acc: __m512) -> f32 {
    // SAFETY: AVX-512F (and so AVX and SSE) is enabled by every caller.
    unsafe {
        let hi = _mm512_castps512_ps256(_mm512_shuffle_f32x4::<0b11_10_11_10>(acc, acc));
        let s8 = _mm256_add_ps(_mm512_castps512_ps256(acc), hi);
        let s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps::<1>(s8));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<1>(s2, s2));
        _mm_cvtss_f32(s1)
    }
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

/// `finish` of four sums at once, the same additions in the same order for
/// each: lanes i + (i + 8) of two sums side by side, then + 4 of all four,
/// then + 2 and + 1 inside each 128-bit lane.
#[inline(always)]
fn finish4(a: [__m512; 4]) -> [f32; 4] {
    // SAFETY: AVX-512F is enabled by every caller.
    unsafe {
        let ab = _mm512_add_ps(_mm512_shuffle_f32x4::<0x44>(a[0], a[1]), _mm512_shuffle_f32x4::<0xEE>(a[0], a[1]));
        let cd = _mm512_add_ps(_mm512_shuffle_f32x4::<0x44>(a[2], a[3]), _mm512_shuffle_f32x4::<0xEE>(a[2], a[3]));
        let s4 = _mm512_add_ps(_mm512_shuffle_f32x4::<0x88>(ab, cd), _mm512_shuffle_f32x4::<0xDD>(ab, cd));
        let s2 = _mm512_add_ps(s4, _mm512_permute_ps::<0xEE>(s4));
        let s1 = _mm512_add_ps(s2, _mm512_permute_ps::<0x55>(s2));
        let mut lanes = [0f32; 16];
        _mm512_storeu_ps(lanes.as_mut_ptr(), s1);
        [lanes[0], lanes[4], lanes[8], lanes[12]]
    }
}

#[target_feature(enable = "avx512f")]
pub fn dot4_f32(w: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let Some(len) = super::dot4_len(w, x) else {
        return w.map(|r| dot_f32(r, x));
    };
    let full = len / QK * QK;
    let mut acc = [_mm512_setzero_ps(); 4];
    for i in (0..full).step_by(QK) {
        // SAFETY: i + 32 <= full <= every row's length and x's.
        unsafe {
            let (x0, x1) = (_mm512_loadu_ps(x.as_ptr().add(i)), _mm512_loadu_ps(x.as_ptr().add(i + 16)));
            for r in 0..4 {
                acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(_mm512_loadu_ps(w[r].as_ptr().add(i)), x0));
            }
            for r in 0..4 {
                acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(_mm512_loadu_ps(w[r].as_ptr().add(i + 16)), x1));
            }
        }
    }
    let mut out = finish4(acc);
    super::dot4_tails(w, x, full, len, &mut out);
    out
}

/// `N` registers of sums (16·N elements of `o` from `c`) kept across all rows.
#[target_feature(enable = "avx512f")]
unsafe fn axpy_regs<const N: usize>(o: &mut [f32], c: usize, a: &[f32], v: &[f32], stride: usize) {
    // SAFETY (caller): o[c..c + 16N] and, for every t < a.len(),
    // v[t·stride + c..t·stride + c + 16N] are in bounds.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); N];
        for (j, r) in acc.iter_mut().enumerate() {
            *r = _mm512_loadu_ps(o.as_ptr().add(c + 16 * j));
        }
        for (t, &at) in a.iter().enumerate() {
            let (av, p) = (_mm512_set1_ps(at), v.as_ptr().add(t * stride + c));
            for (j, r) in acc.iter_mut().enumerate() {
                *r = _mm512_add_ps(*r, _mm512_mul_ps(av, _mm512_loadu_ps(p.add(16 * j))));
            }
        }
        for (j, r) in acc.iter().enumerate() {
            _mm512_storeu_ps(o.as_mut_ptr().add(c + 16 * j), *r);
        }
    }
}

#[target_feature(enable = "avx512f")]
pub fn axpy_rows(o: &mut [f32], a: &[f32], v: &[f32], stride: usize) {
    super::axpy_rows_blocks(o, a, v, stride, 16, [axpy_regs::<1>, axpy_regs::<2>, axpy_regs::<3>, axpy_regs::<4>]);
}

/// Four rows by four rows: 16 accumulators (one per pair, the lanes of
/// `dot_f32`), each vector loaded once per four products.
#[target_feature(enable = "avx512f")]
pub fn dot_f32_tile(w: [&[f32]; 4], x: [&[f32]; 4]) -> [[f32; 4]; 4] {
    let len = super::tile_len(w, x);
    let full = len / QK * QK;
    let mut acc = [[_mm512_setzero_ps(); 4]; 4];
    for b in (0..full).step_by(QK) {
        for h in 0..2 {
            let o = b + 16 * h;
            // SAFETY: o + 16 <= full <= every row's length.
            unsafe {
                let wv = w.map(|v| _mm512_loadu_ps(v.as_ptr().add(o)));
                let xv = x.map(|v| _mm512_loadu_ps(v.as_ptr().add(o)));
                for i in 0..4 {
                    for r in 0..4 {
                        acc[i][r] = _mm512_add_ps(acc[i][r], _mm512_mul_ps(wv[i], xv[r]));
                    }
                }
            }
        }
    }
    let mut out = [[0f32; 4]; 4];
    for i in 0..4 {
        for r in 0..4 {
            out[i][r] = finish(acc[i][r]);
        }
    }
    super::tile_tails(w, x, full, len, &mut out);
    out
}

/// A block's f16 pair at `p` (d, and m for Q4_1) as f32 lanes 0 and 1
/// (F16C: exact, as `f16_to_f32`).
#[inline(always)]
unsafe fn halves(p: *const u8) -> __m128 {
    // SAFETY (caller): 4 bytes at p.
    _mm_cvtph_ps(_mm_cvtsi32_si128(unsafe { (p as *const i32).read_unaligned() }))
}

/// One Q4_1 block's contribution to `acc`: the 16 values its weights can
/// take, d·q + m for q = 0..15 (the bits of `dequantize`), looked up
/// by nibble (vpermps reads the low 4 bits of each index), then times x,
/// in the order of the generic kernel.
#[inline(always)]
unsafe fn q4_1_block(acc: __m512, blk: *const u8, x0: __m512, x1: __m512) -> __m512 {
    // SAFETY (caller): blk points at a whole block.
    let (dm, q) = unsafe { (halves(blk), _mm_loadu_si128(blk.add(4) as *const __m128i)) };
    let iota = _mm512_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0);
    // One fused multiply-add: d·q is exact in f32 (11 significant bits times
    // 4), so it rounds d·q + m exactly as the separate multiply and add do.
    let table = _mm512_fmadd_ps(_mm512_broadcastss_ps(dm), iota, _mm512_broadcastss_ps(_mm_movehdup_ps(dm)));
    // vpermps reads the low 4 bits of each index: the byte widened once
    // serves both nibbles (the high one shifted down).
    let idx = _mm512_cvtepu8_epi32(q);
    let lo = _mm512_permutexvar_ps(idx, table);
    let hi = _mm512_permutexvar_ps(_mm512_srli_epi32::<4>(idx), table);
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

#[target_feature(enable = "avx512f,f16c,fma")]
pub fn dot_q4_1(row: &[u8], x: &[f32]) -> f32 {
    // SAFETY: the features are enabled here.
    unsafe { rows_dot([row], x, Q4_1_BYTES, q4_1_block)[0] }
}

#[target_feature(enable = "avx512f,f16c,fma")]
pub fn dot4_q4_1(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
    // SAFETY: the features are enabled here.
    unsafe { rows_dot(rows, x, Q4_1_BYTES, q4_1_block) }
}

#[target_feature(enable = "avx512f,f16c,fma")]
pub fn dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
    // SAFETY: the features are enabled here.
    unsafe { rows_dot([row], x, Q8_0_BYTES, q8_0_block)[0] }
}

#[target_feature(enable = "avx512f,f16c,fma")]
pub fn dot4_q8_0(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
    // One row at a time: four rows side by side read four streams of 34-byte
    // blocks and, with the weights out of cache, ran at 9 Gweights/s on a
    // thread where one stream runs at 14 (the lm-head's 28 M weights; Q4_1's
    // 20-byte blocks go as fast either way).
    // SAFETY: the features are enabled here.
    rows.map(|r| unsafe { rows_dot([r], x, Q8_0_BYTES, q8_0_block)[0] })
}
