//! Arbitrary bytes through everything Glassbox does to a file before
//! uploading it: the GGUF reader, `Config::from_gguf`, the tokenizer built
//! from the metadata and the weight table checks (`ModelInfo::inspect`,
//! the page's check before loading). It must never panic or abort.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let n = data.len() as u64;
    // A header read on its own, as if the file were longer (weights not read yet).
    let _ = glassbox::gguf::GgufHeader::parse_prefix(data, n.saturating_mul(4));
    if let Ok(g) = glassbox::gguf::Gguf::from_bytes(data.to_vec()) {
        let _ = glassbox::model::ModelInfo::inspect(&g, n);
    }
});
