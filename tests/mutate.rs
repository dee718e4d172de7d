//! The GGUF reader under hostile bytes: a seeded mutation test over the real
//! model's header and tensor table (its vocabulary arrays shortened so that
//! one parse takes microseconds), run through everything short of uploading:
//! the reader (`GgufHeader::parse_prefix`, the file claiming the real
//! model's length), `Config::from_gguf`, the tokenizer built from the
//! metadata, and the weight table checks. Byte flips, truncations, every
//! count and length set to 0, 2^31, 2^63 and u64::MAX, offsets past the
//! end, duplicated and missing tensors, wrong shapes, metadata of the wrong
//! type: no panic, no single allocation beyond a small multiple of the
//! bytes given, and the structural mutations must each be an error.
//! `fuzz/` runs the same pipeline under cargo-fuzz.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use glassbox::gguf::{GgufHeader, Value};
use glassbox::model::{weights, Config};
use glassbox::Tokenizer;

/// The largest single allocation while `TRACK` is on.
struct Watch;
static TRACK: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if TRACK.load(Ordering::Relaxed) {
            LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if TRACK.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new, Ordering::Relaxed);
        }
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Watch = Watch;

use common::Rng;

/// What a field in the serialized header is, for targeted mutations.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Field {
    /// A u64 count or string/array length.
    Len,
    /// A u32 metadata value type or tensor type.
    Type,
    TensorDims,
    TensorDim,
    TensorOffset,
}

/// A GGUF header written by hand from (key, value) and tensor-table
/// entries, remembering where every count, length, type and offset is.
struct Header {
    bytes: Vec<u8>,
    fields: Vec<(usize, Field)>,
}

fn type_of(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) | Value::Numbers(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

impl Header {
    fn len(&mut self, n: u64) {
        self.fields.push((self.bytes.len(), Field::Len));
        self.bytes.extend_from_slice(&n.to_le_bytes());
    }
    fn ty(&mut self, t: u32) {
        self.fields.push((self.bytes.len(), Field::Type));
        self.bytes.extend_from_slice(&t.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.len(s.len() as u64);
        self.bytes.extend_from_slice(s.as_bytes());
    }
    fn value(&mut self, v: &Value) {
        let b = &mut self.bytes;
        match v {
            Value::U8(x) => b.push(*x),
            Value::I8(x) => b.push(*x as u8),
            Value::U16(x) => b.extend_from_slice(&x.to_le_bytes()),
            Value::I16(x) => b.extend_from_slice(&x.to_le_bytes()),
            Value::U32(x) => b.extend_from_slice(&x.to_le_bytes()),
            Value::I32(x) => b.extend_from_slice(&x.to_le_bytes()),
            Value::F32(x) => b.extend_from_slice(&x.to_le_bytes()),
            Value::Bool(x) => b.push(*x as u8),
            Value::U64(x) => b.extend_from_slice(&x.to_le_bytes()),
            Value::I64(x) => b.extend_from_slice(&x.to_le_bytes()),
            Value::F64(x) => b.extend_from_slice(&x.to_le_bytes()),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.ty(items.first().map_or(4, type_of));
                self.len(items.len() as u64);
                for i in items {
                    self.value(i);
                }
            }
            Value::Numbers(n) => {
                self.ty(n.item_type());
                self.len(n.len() as u64);
                for i in n.values() {
                    self.value(&i);
                }
            }
        }
    }

    fn write(kvs: &[(String, Value)], tensors: &[(String, Vec<u64>, u32, u64)]) -> Header {
        let mut h = Header { bytes: b"GGUF".to_vec(), fields: Vec::new() };
        h.bytes.extend_from_slice(&3u32.to_le_bytes());
        h.len(tensors.len() as u64);
        h.len(kvs.len() as u64);
        for (k, v) in kvs {
            h.string(k);
            h.ty(type_of(v));
            h.value(v);
        }
        for (name, dims, ty, offset) in tensors {
            h.string(name);
            h.fields.push((h.bytes.len(), Field::TensorDims));
            h.bytes.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                h.fields.push((h.bytes.len(), Field::TensorDim));
                h.bytes.extend_from_slice(&d.to_le_bytes());
            }
            h.ty(*ty);
            h.fields.push((h.bytes.len(), Field::TensorOffset));
            h.bytes.extend_from_slice(&offset.to_le_bytes());
        }
        while !h.bytes.len().is_multiple_of(32) {
            h.bytes.push(0);
        }
        h
    }
}

/// Everything short of uploading. Ok(()) when the file would load.
fn pipeline(bytes: &[u8], file_len: u64) -> Result<(), String> {
    let h = GgufHeader::parse_prefix(bytes, file_len).map_err(|e| e.to_string())?;
    let c = Config::from_gguf(&h).map_err(|e| e.to_string())?;
    weights::check_header(&h, &c).map_err(|e| e.to_string())?;
    let tok = Tokenizer::from_gguf(&h).map_err(|e| e.to_string())?;
    if tok.vocab_size() != c.vocab_size {
        return Err("vocabulary sizes differ".into());
    }
    Ok(())
}

#[test]
fn two_hundred_thousand_mutated_headers() {
    let g = common::gguf();
    let real = &g.header;
    // The real metadata with the vocabulary cut to its first 400 entries
    // (and the model's vocabulary size with it), the real tensor table with
    // the embedding cut to match; the file claims the real data's length.
    const V: usize = 400;
    let mut kvs: Vec<(String, Value)> = Vec::new();
    for (k, v) in &real.metadata {
        let v = match v {
            Value::Array(items) if items.len() > V => Value::Array(items[..V].to_vec()),
            Value::Numbers(n) if n.len() > V => Value::Numbers(n.prefix(V)),
            other => other.clone(),
        };
        kvs.push((k.clone(), v));
    }
    for (k, v) in kvs.iter_mut() {
        if k == "llama.vocab_size" {
            *v = Value::U32(V as u32);
        }
    }
    let merges = kvs.iter_mut().find(|(k, _)| k == "tokenizer.ggml.merges").expect("merges");
    // Keep only merges whose parts and result are in the cut vocabulary.
    let vocab: std::collections::HashSet<String> = match real.get("tokenizer.ggml.tokens").unwrap() {
        Value::Array(t) => t[..V].iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => unreachable!(),
    };
    if let Value::Array(m) = real.get("tokenizer.ggml.merges").unwrap() {
        let kept: Vec<Value> = m
            .iter()
            .filter(|x| {
                let s = x.as_str().unwrap_or("");
                s.split_once(' ').is_some_and(|(a, b)| vocab.contains(a) && vocab.contains(b) && vocab.contains(&format!("{a}{b}")))
            })
            .cloned()
            .collect();
        merges.1 = Value::Array(kept);
    }
    let d = 576u64;
    let mut tensors: Vec<(String, Vec<u64>, u32, u64)> = real.tensors.iter().map(|t| (t.name.clone(), t.dims.clone(), t.ty.id(), t.offset)).collect();
    for t in tensors.iter_mut().filter(|t| t.0 == "token_embd.weight") {
        t.1 = vec![d, V as u64];
    }
    let data_len = real.tensors.iter().map(|t| t.offset + t.size).max().unwrap();
    let base = Header::write(&kvs, &tensors);
    let file_len = base.bytes.len() as u64 + data_len;
    pipeline(&base.bytes, file_len).expect("the reduced header itself loads");
    let limit = |n: usize| 4 * n + (1 << 20);

    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let (mut ok, mut err, mut largest) = (0usize, 0usize, 0usize);
    let mut check = |bytes: &[u8], file_len: u64, must_fail: bool, what: &str| {
        LARGEST.store(0, Ordering::Relaxed);
        TRACK.store(true, Ordering::Relaxed);
        let r = std::panic::catch_unwind(|| pipeline(bytes, file_len));
        TRACK.store(false, Ordering::Relaxed);
        let big = LARGEST.load(Ordering::Relaxed);
        let r = r.unwrap_or_else(|_| {
            let path = std::env::temp_dir().join("glassbox-mutation-panic.gguf");
            std::fs::write(&path, bytes).unwrap();
            panic!("{what}: the pipeline panicked (file saved to {})", path.display())
        });
        largest = largest.max(big);
        assert!(big <= limit(bytes.len()), "{what}: one allocation of {big} bytes for a {}-byte header", bytes.len());
        match r {
            Ok(()) => {
                assert!(!must_fail, "{what}: accepted");
                ok += 1;
            }
            Err(e) => {
                assert!(!e.is_empty());
                err += 1;
            }
        }
    };

    let n = base.bytes.len();
    let mut buf = base.bytes.clone();
    // 1. Random byte flips (1–4 bytes), anywhere in the header.
    for i in 0..120_000 {
        let at: Vec<usize> = (0..1 + rng.below(4)).map(|_| rng.below(n)).collect();
        for &a in &at {
            buf[a] = rng.next() as u8;
        }
        check(&buf, file_len, false, &format!("flip #{i} at {at:?}"));
        for &a in &at {
            buf[a] = base.bytes[a];
        }
    }
    // 2. Truncations: the file itself ends early.
    for i in 0..20_000 {
        let cut = rng.below(n);
        check(&base.bytes[..cut], cut as u64, true, &format!("truncation #{i} at {cut}"));
    }
    // The data cut short: tensors past the end.
    for i in 0..2_000 {
        let short = n as u64 + rng.below(data_len as usize) as u64;
        check(&base.bytes, short, true, &format!("data cut #{i} to {short}"));
    }
    // 3. Every kind of field set to the values that break naive readers.
    let specials = [0u64, 1 << 31, 1 << 63, u64::MAX, (1 << 32) - 1, file_len, file_len - 1];
    for i in 0..60_000 {
        let (pos, kind) = base.fields[rng.below(base.fields.len())];
        let v = specials[rng.below(specials.len())];
        let width = if matches!(kind, Field::Type | Field::TensorDims) { 4 } else { 8 };
        let old = buf[pos..pos + width].to_vec();
        buf[pos..pos + width].copy_from_slice(&v.to_le_bytes()[..width]);
        // Types and dimension counts of 0, lengths past the data, offsets
        // past the end: none of these can describe the same model.
        let must_fail = match kind {
            // (A length of 0 may still parse into something; any larger than
            // the header cannot.)
            Field::Len => v > n as u64,
            Field::TensorDim => v != old_u64(&old),
            Field::TensorOffset => v >= data_len,
            Field::Type | Field::TensorDims => false,
        };
        check(&buf, file_len, must_fail, &format!("{kind:?} at {pos} = {v} (#{i})"));
        buf[pos..pos + width].copy_from_slice(&old);
    }
    // 4. Structural changes, re-serialized: duplicated, missing and
    // misshapen tensors, metadata of the wrong type.
    for i in 0..300 {
        let mut t = tensors.clone();
        let j = rng.below(t.len());
        match i % 3 {
            0 => t.push(t[j].clone()),
            1 => {
                t.remove(j);
            }
            _ => t[j].1[0] += 32,
        }
        let h = Header::write(&kvs, &t);
        check(&h.bytes, h.bytes.len() as u64 + data_len, true, &format!("tensor table change #{i} on {}", tensors[j].0));
    }
    let needed = ["llama.block_count", "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count", "general.architecture", "tokenizer.ggml.tokens", "tokenizer.ggml.merges"];
    for (i, key) in needed.iter().enumerate() {
        for wrong in [Value::String("x".into()), Value::F32(1.5), Value::Array(vec![Value::U8(1)]), Value::Bool(true)] {
            let mut k = kvs.clone();
            let slot = k.iter_mut().find(|(n, _)| n == key).unwrap();
            if type_of(&slot.1) == type_of(&wrong) {
                continue;
            }
            slot.1 = wrong;
            let h = Header::write(&k, &tensors);
            check(&h.bytes, h.bytes.len() as u64 + data_len, true, &format!("{key} of the wrong type (#{i})"));
        }
    }
    let total = ok + err;
    eprintln!("{total} mutated headers of {n} bytes: {err} errors, {ok} still loadable (flips in names, text, values), no panic; largest single allocation {largest} bytes");
    assert!(total >= 200_000);
}

fn old_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(a)
}

/// Arrays of numbers are kept packed: a 1 MB u8 array takes 1 MB, not the
/// 32 MB of a `Value` per byte (issue 16 §3.12), and every number type
/// reads back what was written.
#[test]
fn number_arrays_take_the_memory_of_their_bytes() {
    use glassbox::gguf::Numbers;
    const N: usize = 1 << 20;
    let mut w = glassbox::synth::GgufWriter::new();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&(N as u64).to_le_bytes());
    bytes.extend((0..N).map(|i| (i % 251) as u8));
    w.kv_raw("test.bytes", 9, &bytes);
    let mut halves = Vec::new();
    halves.extend_from_slice(&3u32.to_le_bytes());
    halves.extend_from_slice(&3u64.to_le_bytes());
    for v in [-2i16, 7, i16::MAX] {
        halves.extend_from_slice(&v.to_le_bytes());
    }
    w.kv_raw("test.i16", 9, &halves);
    w.kv_i32_array("test.i32", &[-1, 0, 1 << 30]);
    let file = w.bytes();
    LARGEST.store(0, Ordering::Relaxed);
    TRACK.store(true, Ordering::Relaxed);
    let h = GgufHeader::parse(&file);
    TRACK.store(false, Ordering::Relaxed);
    let h = h.expect("the header parses");
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest <= N + 4096, "a {N}-byte array took a {largest}-byte allocation");
    match h.get("test.bytes") {
        Some(Value::Numbers(Numbers::U8(v))) => assert!(v.len() == N && v[300] == (300 % 251) as u8),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.get("test.i16"), Some(&Value::Numbers(Numbers::I16(vec![-2, 7, i16::MAX]))));
    assert_eq!(h.get("test.i32").map(|v| v.to_string()), Some("[3 values]".into()));
    assert_eq!(h.get("test.i32"), Some(&Value::Numbers(Numbers::I32(vec![-1, 0, 1 << 30]))));
}
