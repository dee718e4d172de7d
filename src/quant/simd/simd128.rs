//! The same kernels on WebAssembly SIMD128 (the page's CPU fallback): the 16
//! lanes are four 4-lane registers.

use core::arch::wasm32::*;

use crate::quant::{f16_at, QK, Q4_1_BYTES, Q8_0_BYTES};

/// `sum_lanes` in registers (lanes 4i..4i+4 in a[i]): i + (i + 8), then
/// + 4, + 2, + 1, the same additions in the same order.
#[inline(always)]
fn finish(a: [v128; 4]) -> f32 {
    let s8 = [f32x4_add(a[0], a[2]), f32x4_add(a[1], a[3])];
    let s4 = f32x4_add(s8[0], s8[1]);
    let s2 = f32x4_add(s4, i32x4_shuffle::<2, 3, 2, 3>(s4, s4));
    let s1 = f32x4_add(s2, i32x4_shuffle::<1, 1, 1, 1>(s2, s2));
    f32x4_extract_lane::<0>(s1)
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

/// One row at a time (four rows' sums would spill V8's 16 registers).
pub fn dot4_f32(w: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    w.map(|r| dot_f32(r, x))
}

/// `N` registers of sums (4·N elements of `o` from `c`) kept across all rows.
#[inline(always)]
unsafe fn axpy_regs<const N: usize>(o: &mut [f32], c: usize, a: &[f32], v: &[f32], stride: usize) {
    // SAFETY (caller): o[c..c + 4N] and, for every t < a.len(),
    // v[t·stride + c..t·stride + c + 4N] are in bounds.
    unsafe {
        let mut acc = [f32x4_splat(0.0); N];
        for (j, r) in acc.iter_mut().enumerate() {
            *r = ld(o.as_ptr().add(c + 4 * j));
        }
        for (t, &at) in a.iter().enumerate() {
            let (av, p) = (f32x4_splat(at), v.as_ptr().add(t * stride + c));
            for (j, r) in acc.iter_mut().enumerate() {
                *r = f32x4_add(*r, f32x4_mul(av, ld(p.add(4 * j))));
            }
        }
        for (j, r) in acc.iter().enumerate() {
            v128_store(o.as_mut_ptr().add(c + 4 * j) as *mut v128, *r);
        }
    }
}

pub fn axpy_rows(o: &mut [f32], a: &[f32], v: &[f32], stride: usize) {
    super::axpy_rows_blocks(o, a, v, stride, 4, [axpy_regs::<1>, axpy_regs::<2>, axpy_regs::<3>, axpy_regs::<4>]);
}

/// Four rows by four rows, as 2 × 2 sub-tiles: each pair's four 4-lane
/// accumulators as `dot_f32`.
pub fn dot_f32_tile(w: [&[f32]; 4], x: [&[f32]; 4]) -> [[f32; 4]; 4] {
    let len = super::tile_len(w, x);
    let full = len / QK * QK;
    let mut out = [[0f32; 4]; 4];
    for (i0, r0) in [(0, 0), (0, 2), (2, 0), (2, 2)] {
        let mut a = [[[f32x4_splat(0.0); 4]; 2]; 2];
        for b in (0..full).step_by(QK) {
            for h in 0..2 {
                for q in 0..4 {
                    let o = b + 16 * h + 4 * q;
                    // SAFETY: o + 4 <= full <= every row's length.
                    unsafe {
                        let wv = [ld(w[i0].as_ptr().add(o)), ld(w[i0 + 1].as_ptr().add(o))];
                        let xv = [ld(x[r0].as_ptr().add(o)), ld(x[r0 + 1].as_ptr().add(o))];
                        for i in 0..2 {
                            for r in 0..2 {
                                a[i][r][q] = mac(a[i][r][q], wv[i], xv[r]);
                            }
                        }
                    }
                }
            }
        }
        for i in 0..2 {
            for r in 0..2 {
                out[i0 + i][r0 + r] = finish(a[i][r]);
            }
        }
    }
    super::tile_tails(w, x, full, len, &mut out);
    out
}

/// Bytes 4r..4r+4 of a 16-byte vector as f32 lanes (unsigned).
#[inline(always)]
fn quarter_u(v: v128, r: usize) -> v128 {
    let h = if r < 2 { u16x8_extend_low_u8x16(v) } else { u16x8_extend_high_u8x16(v) };
    let q = if r.is_multiple_of(2) { u32x4_extend_low_u16x8(h) } else { u32x4_extend_high_u16x8(h) };
    // Below 256, so the signed conversion gives the same floats: one x86
    // instruction in V8, where the unsigned one is a sequence of about eight.
    f32x4_convert_i32x4(q)
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
