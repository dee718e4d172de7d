//! Dequantization of every block format against gguf-py's reference
//! (`tests/fixtures/quant_blocks.json`, recorded by record_quant.py and
//! cross-checked bit for bit with ggml's own `to_float`): random blocks,
//! extreme scales, f16 subnormals and signed zeros. Exact equality is
//! required, bit for bit: the CPU backend is the reference everything
//! else is compared with.

mod common;

use glassbox::quant::{dequantize, GgmlType};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn dequantization_equals_gguf_py_bit_for_bit() {
    let fx = common::fixture("quant_blocks.json");
    let mut seen = Vec::new();
    for c in fx["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let ty = GgmlType::from_name(c["type"].as_str().unwrap()).unwrap_or_else(|| panic!("{name}: unknown type"));
        assert_eq!(ty.id() as u64, c["ggml_type"].as_u64().unwrap(), "{name}: ggml id");
        assert!(ty.supported(), "{name}: {ty} is used by the requantized files and must be supported");
        let bytes = hex(c["hex"].as_str().unwrap());
        let n = c["n_weights"].as_u64().unwrap() as usize;
        assert_eq!(bytes.len(), ty.bytes_for(n), "{name}: block bytes");
        let want: Vec<f32> = c["values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let mut got = vec![f32::NAN; n];
        dequantize(ty, &bytes, &mut got);
        let mut differ = 0;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if g.to_bits() != w.to_bits() {
                if differ < 5 {
                    eprintln!("{name}[{i}]: ours {g:e} vs gguf-py {w:e}");
                }
                differ += 1;
            }
        }
        assert_eq!(differ, 0, "{name}: {differ} of {n} weights differ");
        seen.push(ty);
    }
    for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::BF16] {
        assert!(seen.contains(&ty), "the fixture covers {ty}");
    }
}
