//! The same kernels on AVX2: the 16 lanes are two 8-lane registers.

use std::arch::x86_64::*;

use crate::quant::{QK, Q4_1_BYTES, Q8_0_BYTES};

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

#[target_feature(enable = "avx2")]
pub fn dot4_f32(w: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let Some(len) = super::dot4_len(w, x) else {
        return w.map(|r| dot_f32(r, x));
    };
    let full = len / QK * QK;
    let mut a = [[_mm256_setzero_ps(); 2]; 4];
    for i in (0..full).step_by(QK) {
        for q in 0..4 {
            // Lanes 0-7, 8-15, 0-7, 8-15 of the block's two halves, as `dot_f32`.
            // SAFETY: i + 8q + 8 <= full <= every row's length and x's.
            unsafe {
                let xv = _mm256_loadu_ps(x.as_ptr().add(i + 8 * q));
                for (r, ar) in a.iter_mut().enumerate() {
                    ar[q % 2] = _mm256_add_ps(ar[q % 2], _mm256_mul_ps(_mm256_loadu_ps(w[r].as_ptr().add(i + 8 * q)), xv));
                }
            }
        }
    }
    let mut out = a.map(|ar| finish(ar[0], ar[1]));
    super::dot4_tails(w, x, full, len, &mut out);
    out
}

/// `N` registers of sums (8·N elements of `o` from `c`) kept across all rows.
#[target_feature(enable = "avx2")]
unsafe fn axpy_regs<const N: usize>(o: &mut [f32], c: usize, a: &[f32], v: &[f32], stride: usize) {
    // SAFETY (caller): o[c..c + 8N] and, for every t < a.len(),
    // v[t·stride + c..t·stride + c + 8N] are in bounds.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); N];
        for (j, r) in acc.iter_mut().enumerate() {
            *r = _mm256_loadu_ps(o.as_ptr().add(c + 8 * j));
        }
        for (t, &at) in a.iter().enumerate() {
            let (av, p) = (_mm256_set1_ps(at), v.as_ptr().add(t * stride + c));
            for (j, r) in acc.iter_mut().enumerate() {
                *r = _mm256_add_ps(*r, _mm256_mul_ps(av, _mm256_loadu_ps(p.add(8 * j))));
            }
        }
        for (j, r) in acc.iter().enumerate() {
            _mm256_storeu_ps(o.as_mut_ptr().add(c + 8 * j), *r);
        }
    }
}

#[target_feature(enable = "avx2")]
pub fn axpy_rows(o: &mut [f32], a: &[f32], v: &[f32], stride: usize) {
    super::axpy_rows_blocks(o, a, v, stride, 8, [axpy_regs::<1>, axpy_regs::<2>, axpy_regs::<3>, axpy_regs::<4>]);
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

/// A block's f16 pair at `p` (d, and m for Q4_1) as f32 lanes 0 and 1
/// (F16C: exact, as `f16_to_f32`).
#[inline(always)]
unsafe fn halves(p: *const u8) -> __m128 {
    // SAFETY (caller): 4 bytes at p.
    _mm_cvtph_ps(_mm_cvtsi32_si128(unsafe { (p as *const i32).read_unaligned() }))
}

/// One Q4_1 block's contribution to the two 8-lane halves of the 16 sums:
/// d·q + m (the bits of `dequantize`'s multiply, then add), times x, lanes 0-7 and
/// 8-15 of the low nibbles, then of the high ones, as the generic kernel.
#[inline(always)]
unsafe fn q4_1_block(a: [__m256; 2], blk: *const u8, xp: *const f32) -> [__m256; 2] {
    // SAFETY (caller): blk points at a whole block, xp at 32 floats.
    unsafe {
        let dm = halves(blk);
        let (d, m) = (_mm256_broadcastss_ps(dm), _mm256_broadcastss_ps(_mm_movehdup_ps(dm)));
        let mask = _mm256_set1_epi32(0x0f);
        // Bytes 0-7 and 8-15 of the quants, each widened to 8 lanes.
        let q0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(blk.add(4) as *const __m128i));
        let q1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(blk.add(12) as *const __m128i));
        // d·q is exact in f32 (11 significant bits times 4), so one fused
        // multiply-add rounds d·q + m exactly as the separate add does.
        let w = |q: __m256i| _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), m);
        let a0 = mac(a[0], w(_mm256_and_si256(q0, mask)), xp);
        let a1 = mac(a[1], w(_mm256_and_si256(q1, mask)), xp.add(8));
        let a0 = mac(a0, w(_mm256_srli_epi32::<4>(q0)), xp.add(16));
        let a1 = mac(a1, w(_mm256_srli_epi32::<4>(q1)), xp.add(24));
        [a0, a1]
    }
}

/// One Q8_0 block's contribution, in the order of the generic kernel.
#[inline(always)]
unsafe fn q8_0_block(a: [__m256; 2], blk: *const u8, xp: *const f32) -> [__m256; 2] {
    // SAFETY (caller): blk points at a whole block (and 2 bytes may be read
    // past its scale: its own quants), xp at 32 floats.
    unsafe {
        let d = _mm256_broadcastss_ps(halves(blk));
        let w = |o: usize| _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(blk.add(2 + o) as *const __m128i))));
        let a0 = mac(a[0], w(0), xp);
        let a1 = mac(a[1], w(8), xp.add(8));
        let a0 = mac(a0, w(16), xp.add(16));
        let a1 = mac(a1, w(24), xp.add(24));
        [a0, a1]
    }
}

/// How far ahead of the block being read the weights are prefetched (bytes).
const PREFETCH: usize = 2048;

/// One row of `bytes`-byte blocks times x. (Four rows side by side, as on
/// AVX-512, measured slower here: with 16 registers their sums spill.)
#[inline(always)]
unsafe fn row_dot(row: &[u8], x: &[f32], bytes: usize, block: unsafe fn([__m256; 2], *const u8, *const f32) -> [__m256; 2]) -> f32 {
    let n = (row.len() / bytes).min(x.len() / QK);
    let mut acc = [_mm256_setzero_ps(); 2];
    for b in 0..n {
        // SAFETY: x[32b..32b+32] and block b are in bounds.
        unsafe {
            let p = row.as_ptr().add(b * bytes);
            // The memory ahead, early enough to hide its latency (a hint: it
            // never faults): decode 47 → 62 tok/s on one thread.
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH) as *const i8);
            acc = block(acc, p, x.as_ptr().add(b * QK));
        }
    }
    finish(acc[0], acc[1])
}

#[target_feature(enable = "avx2,f16c,fma")]
pub fn dot_q4_1(row: &[u8], x: &[f32]) -> f32 {
    // SAFETY: the features are enabled here.
    unsafe { row_dot(row, x, Q4_1_BYTES, q4_1_block) }
}

#[target_feature(enable = "avx2,f16c,fma")]
pub fn dot4_q4_1(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
    rows.map(|r| dot_q4_1(r, x))
}

#[target_feature(enable = "avx2,f16c,fma")]
pub fn dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
    // SAFETY: the features are enabled here.
    unsafe { row_dot(row, x, Q8_0_BYTES, q8_0_block) }
}

#[target_feature(enable = "avx2,f16c,fma")]
pub fn dot4_q8_0(rows: [&[u8]; 4], x: &[f32]) -> [f32; 4] {
    rows.map(|r| dot_q8_0(r, x))
}
