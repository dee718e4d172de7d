//! Dot products of a row of weights with a vector, dequantizing as they
//! go: the generic kernels (here), and the same kernels for each instruction
//! set (AVX2, AVX-512, WebAssembly SIMD128), chosen at run time. Every level
//! keeps 16 partial sums in the same order, so every result is the same bits
//! (tested below).

use crate::quant::{dequantize, f16_at, GgmlType, QK, Q4_1_BYTES, Q8_0_BYTES};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

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

/// The scalar tails of a tile (past the last whole block), added to each
/// pair's lane sum as `dot_f32` does.
#[inline(always)]
fn tile_tails(w: [&[f32]; 4], x: [&[f32]; 4], full: usize, len: usize, out: &mut [[f32; 4]; 4]) {
    for (i, wi) in w.iter().enumerate() {
        for (r, xr) in x.iter().enumerate() {
            for k in full..len {
                out[i][r] += wi[k] * xr[k];
            }
        }
    }
}

/// The common length of a tile's rows.
#[inline(always)]
fn tile_len(w: [&[f32]; 4], x: [&[f32]; 4]) -> usize {
    w.iter().chain(x.iter()).map(|v| v.len()).min().unwrap_or(0)
}

// The generic kernel; on wasm with SIMD128 the simd128 module replaces it.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn dot_f32_tile_impl(w: [&[f32]; 4], x: [&[f32]; 4]) -> [[f32; 4]; 4] {
    let len = tile_len(w, x);
    let full = len / QK * QK;
    let mut acc = [[[0f32; 16]; 4]; 4];
    for b in (0..full).step_by(QK) {
        for h in 0..2 {
            for i in 0..4 {
                for r in 0..4 {
                    for j in 0..16 {
                        acc[i][r][j] += w[i][b + 16 * h + j] * x[r][b + 16 * h + j];
                    }
                }
            }
        }
    }
    let mut out = [[0f32; 4]; 4];
    for i in 0..4 {
        for r in 0..4 {
            out[i][r] = sum_lanes(acc[i][r]);
        }
    }
    tile_tails(w, x, full, len, &mut out);
    out
}

/// `dot_f32` of four rows with one vector (rows of one length; others go
/// one by one): the same bits for each row.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn dot4_f32_impl(w: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    w.map(|w| dot_f32_impl(w, x))
}

/// o[i] += a[t] · v[t·stride + i] for t = 0, 1, … in order, each a multiply
/// then an add: attention's weighted sum of value rows (each element's sum
/// is its own, so any grouping of the elements gives the same bits).
#[inline(always)]
fn axpy_rows_impl(o: &mut [f32], a: &[f32], v: &[f32], stride: usize) {
    let len = o.len();
    for (t, &at) in a.iter().enumerate() {
        for (oi, &vi) in o.iter_mut().zip(&v[t * stride..t * stride + len]) {
            *oi += at * vi;
        }
    }
}

/// `dot4_f32`'s common length, when the four rows have one length (a
/// level's kernel takes them together only then).
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn dot4_len(w: [&[f32]; 4], x: &[f32]) -> Option<usize> {
    w.iter().all(|r| r.len() == w[0].len()).then(|| w[0].len().min(x.len()))
}

/// The scalar tails of `dot4_f32` (past the last whole block), added to
/// each row's lane sum as `dot_f32` does.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
#[inline(always)]
fn dot4_tails(w: [&[f32]; 4], x: &[f32], full: usize, len: usize, out: &mut [f32; 4]) {
    for (o, r) in out.iter_mut().zip(w) {
        for i in full..len {
            *o += r[i] * x[i];
        }
    }
}

/// One block of a level's `axpy_rows`: `N` registers of sums, for the
/// elements `c..c + N·width` of `o`, kept across all the rows; a level
/// gives its four, N = 1 to 4.
type AxpyBlock = unsafe fn(o: &mut [f32], c: usize, a: &[f32], v: &[f32], stride: usize);

/// `axpy_rows` on a level whose registers hold `width` floats: blocks of
/// up to four registers of sums, then the elements left with the generic
/// loop (each element's sum is its own, so the grouping changes no bits).
#[inline(always)]
fn axpy_rows_blocks(o: &mut [f32], a: &[f32], v: &[f32], stride: usize, width: usize, blocks: [AxpyBlock; 4]) {
    if a.is_empty() {
        return;
    }
    assert!((a.len() - 1) * stride + o.len() <= v.len(), "axpy_rows: value rows out of bounds");
    let full = o.len() / width * width;
    let mut c = 0;
    while c < full {
        let n = ((full - c) / width).min(4);
        // SAFETY: c + n·width <= full <= o.len(), and the assert above bounds every row.
        unsafe { blocks[n - 1](o, c, a, v, stride) };
        c += n * width;
    }
    axpy_rows_impl(&mut o[full..], a, &v[full..], stride);
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

/// The vector instructions the kernels use on this CPU, by name.
pub fn level_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    return ["baseline x86-64", "AVX2", "AVX-512"][simd_level() as usize];
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return "wasm SIMD128";
    #[allow(unreachable_code)]
    "baseline"
}

/// Which vector instructions this CPU has: 2 = AVX-512, 1 = AVX2 (each with F16C and FMA),
/// 0 = baseline; `GLASSBOX_SIMD` may hold it lower.
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
    let (f16c, fma) = (std::is_x86_feature_detected!("f16c"), std::is_x86_feature_detected!("fma"));
    let found = if std::is_x86_feature_detected!("avx512f") && f16c && fma {
        2
    } else if std::is_x86_feature_detected!("avx2") && f16c && fma {
        1
    } else {
        0
    };
    // GLASSBOX_SIMD=avx2 or =baseline holds the kernels below what the CPU
    // has (to measure a lesser machine's code here); never above it.
    let cap = match std::env::var("GLASSBOX_SIMD").as_deref() {
        Ok("baseline") => 0,
        Ok("avx2") => 1,
        _ => 2,
    };
    let l = found.min(cap);
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

dispatch!(
    /// Dot product of two f32 vectors with the block-lane order used everywhere.
    dot_f32 => dot_f32_impl(w: &[f32], x: &[f32]) -> f32);
dispatch!(
    /// `dot_f32` of four rows with four rows: out[i][r] = dot_f32(w[i], x[r]),
    /// the same bits, with the products of a block for 16 pairs in flight
    /// (prefill's register tile: each weight and activation vector loaded
    /// once per four uses).
    dot_f32_tile => dot_f32_tile_impl(w: [&[f32]; 4], x: [&[f32]; 4]) -> [[f32; 4]; 4]);
dispatch!(
    /// `dot_f32` of four rows with the same `x`: each row's own bits, the
    /// vector loaded once for four (attention's scores, four keys at a time).
    dot4_f32 => dot4_f32_impl(w: [&[f32]; 4], x: &[f32]) -> [f32; 4]);
dispatch!(
    /// o[i] += a[t] · v[t·stride + i], t in order (attention's weighted sum
    /// of value rows; the sums stay in registers across the rows).
    axpy_rows => axpy_rows_impl(o: &mut [f32], a: &[f32], v: &[f32], stride: usize) -> ());
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
    use crate::quant::*;
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
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: AVX2, F16C and FMA were detected.
                    let v = unsafe { (avx2::dot_q4_1(&q4, &x), avx2::dot_q8_0(&q8, &x), avx2::dot_f32(&w, &x)) };
                    assert_eq!(bits(v), generic, "AVX2, {n_blocks} blocks");
                    levels += 1;
                }
                if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: AVX-512F, F16C and FMA were detected.
                    let v = unsafe { (avx512::dot_q4_1(&q4, &x), avx512::dot_q8_0(&q8, &x), avx512::dot_f32(&w, &x)) };
                    assert_eq!(bits(v), generic, "AVX-512, {n_blocks} blocks");
                    levels += 1;
                }
                eprintln!("checked {levels} SIMD levels against the generic kernels");
            }
        }
    }

    #[test]
    fn tiles_give_each_pair_the_bits_of_its_own_dot_at_every_level() {
        let mut seed = 13;
        for len in [0, 5, 32, 33, 64, 576, 1536 + 7] {
            let v = |seed: &mut u64| -> Vec<f32> { (0..len).map(|_| lcg(seed) as f32 / u32::MAX as f32 * 4.0 - 2.0).collect() };
            let ws: Vec<Vec<f32>> = (0..4).map(|_| v(&mut seed)).collect();
            let xs: Vec<Vec<f32>> = (0..4).map(|_| v(&mut seed)).collect();
            let w: [&[f32]; 4] = [&ws[0], &ws[1], &ws[2], &ws[3]];
            let x: [&[f32]; 4] = [&xs[0], &xs[1], &xs[2], &xs[3]];
            let want: Vec<u32> = (0..16).map(|k| dot_f32_impl(w[k / 4], x[k % 4]).to_bits()).collect();
            let flat = |t: [[f32; 4]; 4]| t.iter().flatten().map(|v| v.to_bits()).collect::<Vec<u32>>();
            assert_eq!(flat(dot_f32_tile_impl(w, x)), want, "generic, length {len}");
            assert_eq!(flat(dot_f32_tile(w, x)), want, "dispatched, length {len}");
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 was detected.
                    assert_eq!(flat(unsafe { avx2::dot_f32_tile(w, x) }), want, "AVX2, length {len}");
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: AVX-512F was detected.
                    assert_eq!(flat(unsafe { avx512::dot_f32_tile(w, x) }), want, "AVX-512, length {len}");
                }
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
                #[cfg(target_arch = "x86_64")]
                {
                    let bits = |v: [f32; 4]| v.map(f32::to_bits);
                    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("fma") {
                        // SAFETY: AVX2, F16C and FMA were detected.
                        let (four, single) = unsafe {
                            match ty {
                                GgmlType::Q4_1 => (avx2::dot4_q4_1(r, &x), r.map(|r| avx2::dot_q4_1(r, &x))),
                                _ => (avx2::dot4_q8_0(r, &x), r.map(|r| avx2::dot_q8_0(r, &x))),
                            }
                        };
                        assert_eq!((bits(four), bits(single)), (bits(one), bits(one)), "AVX2 {ty} {n_blocks} blocks");
                    }
                    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("f16c") && std::is_x86_feature_detected!("fma") {
                        // SAFETY: AVX-512F, F16C and FMA were detected.
                        let four = unsafe {
                            match ty {
                                GgmlType::Q4_1 => avx512::dot4_q4_1(r, &x),
                                _ => avx512::dot4_q8_0(r, &x),
                            }
                        };
                        assert_eq!(bits(four), bits(one), "AVX-512 {ty} {n_blocks} blocks");
                    }
                }
            }
        }
    }

    /// The AVX2 and AVX-512 Q4_1 kernels compute d·q + m as one fused
    /// multiply-add. That is the same bits as a multiply then an add because
    /// d·q is exact in f32: checked for every f16 d (normals, subnormals,
    /// zeros, infinities, NaNs), every q and a spread of f16 m.
    #[test]
    fn q4_1_fused_multiply_add_rounds_as_multiply_then_add() {
        let mut seed = 17;
        let mut ms: Vec<u16> = vec![0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00];
        ms.extend((0..51).map(|_| lcg(&mut seed) as u16));
        let mut checked = 0u64;
        for d in 0..=u16::MAX {
            let d = f16_to_f32(d);
            for q in 0..16 {
                let dq = d * q as f32;
                for &m in &ms {
                    let m = f16_to_f32(m);
                    let (fused, apart) = (d.mul_add(q as f32, m), dq + m);
                    assert!(fused.to_bits() == apart.to_bits() || (fused.is_nan() && apart.is_nan()), "d {d:e} q {q} m {m:e}: {fused:e} vs {apart:e}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 65536 * 16 * 64);
    }

    /// Attention's kernels: the scores of four keys at once and the weighted
    /// sum of value rows give the generic kernels' bits at every level, for
    /// awkward lengths (tails of every size, rows of unequal length) on
    /// seeded random input; the worst difference from an f64 sum is shown.
    #[test]
    fn attention_kernels_give_the_generic_bits_at_every_level() {
        let mut seed = 19;
        let rnd = |n: usize, seed: &mut u64| -> Vec<f32> { (0..n).map(|_| lcg(seed) as f32 / u32::MAX as f32 * 4.0 - 2.0).collect() };
        for len in [0, 1, 5, 31, 32, 33, 64, 100, 576 + 7] {
            for unequal in [false, true] {
                let rows: Vec<Vec<f32>> = (0..4).map(|i| rnd(if unequal && i == 2 { len / 2 } else { len }, &mut seed)).collect();
                let x = rnd(len, &mut seed);
                let w: [&[f32]; 4] = [&rows[0], &rows[1], &rows[2], &rows[3]];
                let want = w.map(|r| dot_f32_impl(r, &x).to_bits());
                assert_eq!(dot4_f32_impl(w, &x).map(f32::to_bits), want, "generic, length {len}");
                assert_eq!(dot4_f32(w, &x).map(f32::to_bits), want, "dispatched, length {len}");
                #[cfg(target_arch = "x86_64")]
                {
                    if std::is_x86_feature_detected!("avx2") {
                        // SAFETY: AVX2 was detected.
                        assert_eq!(unsafe { avx2::dot4_f32(w, &x) }.map(f32::to_bits), want, "AVX2, length {len}, unequal {unequal}");
                    }
                    if std::is_x86_feature_detected!("avx512f") {
                        // SAFETY: AVX-512F was detected.
                        assert_eq!(unsafe { avx512::dot4_f32(w, &x) }.map(f32::to_bits), want, "AVX-512, length {len}, unequal {unequal}");
                    }
                }
            }
        }
        let mut worst = 0f64;
        for len in [0, 1, 7, 8, 15, 16, 17, 33, 64, 65, 100] {
            for rows in [0, 1, 3, 50] {
                let stride = len + (lcg(&mut seed) % 9) as usize;
                let v = rnd(rows.max(1) * stride + len, &mut seed);
                let a = rnd(rows, &mut seed);
                let o0 = rnd(len, &mut seed);
                let mut want = o0.clone();
                axpy_rows_impl(&mut want, &a, &v, stride);
                let exact: Vec<f64> = (0..len).map(|i| o0[i] as f64 + (0..rows).map(|t| a[t] as f64 * v[t * stride + i] as f64).sum::<f64>()).collect();
                worst = want.iter().zip(&exact).map(|(w, e)| (*w as f64 - e).abs()).fold(worst, f64::max);
                let bits = |o: &[f32]| o.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
                let mut got = o0.clone();
                axpy_rows(&mut got, &a, &v, stride);
                assert_eq!(bits(&got), bits(&want), "dispatched, length {len}, {rows} rows");
                #[cfg(target_arch = "x86_64")]
                {
                    if std::is_x86_feature_detected!("avx2") {
                        let mut got = o0.clone();
                        // SAFETY: AVX2 was detected.
                        unsafe { avx2::axpy_rows(&mut got, &a, &v, stride) };
                        assert_eq!(bits(&got), bits(&want), "AVX2, length {len}, {rows} rows");
                    }
                    if std::is_x86_feature_detected!("avx512f") {
                        let mut got = o0.clone();
                        // SAFETY: AVX-512F was detected.
                        unsafe { avx512::axpy_rows(&mut got, &a, &v, stride) };
                        assert_eq!(bits(&got), bits(&want), "AVX-512, length {len}, {rows} rows");
                    }
                }
            }
        }
        eprintln!("axpy_rows: worst difference from the f64 sum {worst:e}");
        assert!(worst < 1e-3, "{worst}");
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
