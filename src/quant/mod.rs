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

mod dequant;
mod simd;

pub use dequant::{dequantize, QK_K};
pub use simd::{axpy_rows, dot4_f32, dot4_q4_1, dot4_q8_0, dot_f32, dot_f32_tile, dot_q4_1, dot_q8_0, dot_row, level_name as simd_level};

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

