//! The same kernels on AVX2: the 16 lanes are two 8-lane registers.

use std::arch::x86_64::*;

use crate::quant::{f16_at, QK, Q4_1_BYTES, Q8_0_BYTES};

#[inline(always)]
fn finish(a0: __m256, a1: __m256) -> f32 {
    // `sum_lanes` in registers (lanes 0-7 in a0, 8-15 in a1): i + (i + 8),
    // then + 4, + 2, + 1, the same additions in the same order.
    // SAFETY: AVX is enabled by every caller.
    unsafe {
        let s8 = _mm256_add_ps(a0, a1);
        let s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps::<1>(s8));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        let s1 = _mm_add_ss(s2, _mm_shuffle_ps::<1>(s2, s2));
        _mm_cvtss_f32(s1)
    }
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

/// Four rows by four rows, as 2 × 2 sub-tiles (16 ymm accumulators would
/// not leave room for the loads): each pair's lanes as `dot_f32`.
#[target_feature(enable = "avx2")]
pub fn dot_f32_tile(w: [&[f32]; 4], x: [&[f32]; 4]) -> [[f32; 4]; 4] {
    let len = super::tile_len(w, x);
    let full = len / QK * QK;
    let mut out = [[0f32; 4]; 4];
    for (i0, r0) in [(0, 0), (0, 2), (2, 0), (2, 2)] {
        let mut a = [[[_mm256_setzero_ps(); 2]; 2]; 2];
        for b in (0..full).step_by(QK) {
            for q in 0..4 {
                // Lanes 0-7, 8-15, 0-7, 8-15 of the block's two halves, as `dot_f32`.
                let (o, half) = (b + 8 * q, q % 2);
                // SAFETY: o + 8 <= full <= every row's length.
                unsafe {
                    let wv = [_mm256_loadu_ps(w[i0].as_ptr().add(o)), _mm256_loadu_ps(w[i0 + 1].as_ptr().add(o))];
                    for (i, wv) in wv.iter().enumerate() {
                        for r in 0..2 {
                            a[i][r][half] = mac(a[i][r][half], *wv, x[r0 + r].as_ptr().add(o));
                        }
                    }
                }
            }
        }
        for i in 0..2 {
            for r in 0..2 {
                out[i0 + i][r0 + r] = finish(a[i][r][0], a[i][r][1]);
            }
        }
    }
    super::tile_tails(w, x, full, len, &mut out);
    out
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
