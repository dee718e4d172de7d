//! GGUF reader: the real file's facts, and crafted bad files that must each
//! give the expected error without panicking.

mod common;

use common::{gguf, GgufWriter};
use glassbox::gguf::{Gguf, GgufError, GgufHeader, Value};
use glassbox::tensor::TensorData;
use glassbox::quant::GgmlType;

fn small() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.kv_str("general.architecture", "llama")
        .kv_u32("general.alignment", 32)
        .kv_f32("x.eps", 1e-5)
        .kv_str_array("x.list", &["a", "bc", "日本"])
        .tensor("vec", &[5], 0, &[0u8; 20])
        .tensor("q", &[32, 2], 3, &[7u8; 40]);
    w
}

#[test]
fn real_model_has_the_documented_layout() {
    let h = &gguf().header;
    assert_eq!(h.version, 3);
    assert_eq!(h.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(h.get_u64("llama.block_count").unwrap(), 30);
    assert_eq!(h.get_str("tokenizer.ggml.pre").unwrap(), "smollm");
    let count = |ty| h.tensors.iter().filter(|t| t.ty == ty).count();
    assert_eq!(count(GgmlType::Q4_1), 210);
    assert_eq!(count(GgmlType::F32), 61);
    assert_eq!(h.tensor("token_embd.weight").unwrap().ty, GgmlType::Q8_0);
    assert_eq!(h.tensor("token_embd.weight").unwrap().dims, vec![576, 49152]);
    assert!(h.tensor("output.weight").is_err(), "embeddings are tied");
}

#[test]
fn small_file_round_trips() {
    let g = Gguf::from_bytes(small().bytes()).unwrap();
    let h = &g.header;
    assert_eq!(h.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(h.get("x.eps"), Some(&Value::F32(1e-5)));
    let list: Vec<_> = h.get_array("x.list").unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(list, ["a", "bc", "日本"]);
    let q = h.tensor("q").unwrap();
    assert_eq!((q.ty, q.size, q.n_elements()), (GgmlType::Q4_1, 40, 64));
    assert_eq!(g.tensor_data(q), &[7u8; 40]);
    assert_eq!(h.data_offset % 32, 0);
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = small().bytes();
    for n in 0..bytes.len() {
        let err = GgufHeader::parse(&bytes[..n]).expect_err(&format!("truncated at {n} must fail"));
        assert!(
            matches!(err, GgufError::Truncated { .. } | GgufError::AbsurdCount { .. } | GgufError::TensorOutOfBounds { .. }),
            "at {n}: {err}"
        );
    }
    // The real file's header, cut at many places, and its data cut short.
    let real = gguf().bytes();
    let data_offset = gguf().header.data_offset as usize;
    let mut n = 0;
    while n < data_offset {
        assert!(GgufHeader::parse(&real[..n]).is_err(), "real file cut at {n}");
        n += 1 + n / 7;
    }
    for cut in [data_offset, data_offset + 1000, real.len() - 1] {
        assert!(matches!(GgufHeader::parse(&real[..cut]), Err(GgufError::TensorOutOfBounds { .. })), "cut at {cut}");
    }
}

#[test]
fn wrong_magic_and_versions() {
    let mut b = small().bytes();
    b[0] = b'X';
    assert_eq!(GgufHeader::parse(&b).unwrap_err(), GgufError::BadMagic(*b"XGUF"));
    for v in [0u32, 1, 4, 0xffff_ffff] {
        let mut w = small();
        w.version = v;
        assert_eq!(GgufHeader::parse(&w.bytes()).unwrap_err(), GgufError::UnsupportedVersion(v));
    }
    let mut w = small();
    w.version = 2;
    assert!(GgufHeader::parse(&w.bytes()).is_ok());
}

#[test]
fn absurd_counts_and_lengths() {
    // Tensor count and kv count far beyond the file.
    let mut b = small().bytes();
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(GgufHeader::parse(&b), Err(GgufError::AbsurdCount { what: "tensor", .. })));
    let mut b = small().bytes();
    b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(GgufHeader::parse(&b), Err(GgufError::AbsurdCount { what: "metadata key/value", .. })));
    // A key length of 2^63.
    let mut b = small().bytes();
    b[24..32].copy_from_slice(&(1u64 << 63).to_le_bytes());
    assert!(matches!(GgufHeader::parse(&b), Err(GgufError::Truncated { what: "metadata key", .. })));
    // An array claiming 2^61 strings.
    let mut w = GgufWriter::new();
    let mut v = 8u32.to_le_bytes().to_vec();
    v.extend_from_slice(&(1u64 << 61).to_le_bytes());
    w.kv_raw("big", 9, &v);
    assert!(matches!(GgufHeader::parse(&w.bytes()), Err(GgufError::AbsurdCount { what: "array length", .. })));
    // Arrays nested without end.
    let mut w = GgufWriter::new();
    let mut v = Vec::new();
    for _ in 0..100 {
        v.extend_from_slice(&9u32.to_le_bytes());
        v.extend_from_slice(&1u64.to_le_bytes());
    }
    w.kv_raw("deep", 9, &v);
    assert!(matches!(GgufHeader::parse(&w.bytes()), Err(GgufError::TooDeep(_))));
}

#[test]
fn bad_tensors() {
    let check = |w: &GgufWriter, want: fn(&GgufError) -> bool| {
        let err = GgufHeader::parse(&w.bytes()).unwrap_err();
        assert!(want(&err), "unexpected error: {err}");
    };
    let mut w = GgufWriter::new();
    w.tensor("t", &[32], 99, &[0; 4]);
    check(&w, |e| matches!(e, GgufError::UnknownTensorType { ty: 99, .. }));

    let mut w = GgufWriter::new();
    w.tensor("t", &[1 << 30, 1 << 30], 0, &[0; 4]);
    check(&w, |e| matches!(e, GgufError::TensorOutOfBounds { .. }));

    let mut w = GgufWriter::new();
    w.tensor("t", &[u64::MAX, 3], 0, &[0; 4]);
    check(&w, |e| matches!(e, GgufError::BadShape { .. }));

    let mut w = GgufWriter::new();
    w.tensor("t", &[0], 0, &[]);
    check(&w, |e| matches!(e, GgufError::BadShape { .. }));

    // No dimensions at all (it used to panic on dims[0]).
    let mut w = GgufWriter::new();
    w.tensor("t", &[], 0, &[0; 4]);
    check(&w, |e| matches!(e, GgufError::BadShape { .. }));

    let mut w = GgufWriter::new();
    w.tensor("t", &[33], 3, &[0; 40]);
    check(&w, |e| matches!(e, GgufError::PartialBlock { .. }));

    let mut w = GgufWriter::new();
    w.tensor("t", &[1, 1, 1, 1, 1], 0, &[0; 4]);
    check(&w, |e| matches!(e, GgufError::TooManyDims { n_dims: 5, .. }));

    let mut w = GgufWriter::new();
    w.tensor("t", &[4], 0, &[0; 16]).tensor("t", &[4], 0, &[0; 16]);
    check(&w, |e| matches!(e, GgufError::DuplicateTensor(_)));

    let mut w = GgufWriter::new();
    w.kv_u32("general.alignment", 3);
    check(&w, |e| matches!(e, GgufError::BadAlignment(3)));

    let mut w = GgufWriter::new();
    w.kv_u32("a", 1).kv_u32("a", 2);
    check(&w, |e| matches!(e, GgufError::DuplicateKey(_)));

    let mut w = GgufWriter::new();
    w.kv_raw("k", 13, &[0; 8]);
    check(&w, |e| matches!(e, GgufError::UnknownValueType(13, _)));

    let mut w = GgufWriter::new();
    w.kv_raw("k", 8, &[2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe]);
    check(&w, |e| matches!(e, GgufError::BadUtf8(_)));

    // A tensor whose offset points past the data.
    let mut b = small().bytes();
    let h = GgufHeader::parse(&b).unwrap();
    let pos = b.windows(3).position(|x| x == b"vec").unwrap() + 3 + 4 + 8 + 4;
    b[pos..pos + 8].copy_from_slice(&(1u64 << 20).to_le_bytes());
    assert!(matches!(GgufHeader::parse(&b), Err(GgufError::TensorOutOfBounds { .. })));
    // ... or is misaligned.
    b[pos..pos + 8].copy_from_slice(&4u64.to_le_bytes());
    assert!(matches!(GgufHeader::parse(&b), Err(GgufError::Misaligned { offset: 4, .. })));
    assert_eq!(h.tensors.len(), 2);
}

#[test]
fn unsupported_tensor_type_is_named() {
    let mut w = GgufWriter::new();
    w.tensor("blk.0.attn_q.weight", &[256, 2], 10, &[0; 168]); // Q2_K
    let g = Gguf::from_bytes(w.bytes()).unwrap();
    let err = TensorData::get(&g, "blk.0.attn_q.weight", 2, 256).unwrap_err().to_string();
    assert!(err.contains("blk.0.attn_q.weight") && err.contains("Q2_K"), "{err}");
    let err = TensorData::get(&g, "missing.weight", 2, 256).unwrap_err().to_string();
    assert!(err.contains("missing.weight"), "{err}");
}

#[test]
fn random_corruption_never_panics() {
    // Flip bytes all over the real header (where the structure is) and in a
    // small file; every result must be an Ok or an Err, never a panic.
    let real = gguf().bytes();
    let header_len = gguf().header.data_offset as usize;
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut head = real[..header_len].to_vec();
    for _ in 0..150 {
        let saved = head.clone();
        for _ in 0..4 {
            let i = (next() % 4096.min(header_len as u64)) as usize;
            head[i] = next() as u8;
        }
        let _ = GgufHeader::parse(&head);
        head = saved;
    }
    let small = small().bytes();
    for _ in 0..3000 {
        let mut b = small.clone();
        for _ in 0..1 + next() % 4 {
            let i = (next() % b.len() as u64) as usize;
            b[i] = next() as u8;
        }
        let cut = (next() % (b.len() as u64 + 1)) as usize;
        let _ = GgufHeader::parse(&b[..cut]);
    }
}
