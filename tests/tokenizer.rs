//! Tokenizer: llama.cpp's ids on the fixture corpus, round trips, streaming
//! detokenization, chat template, and clear errors.

mod common;

use glassbox::gguf::Value;
use glassbox::tokenizer::{StreamDecoder, Tokenizer};

#[test]
fn ids_equal_llama_cpp_on_the_whole_corpus() {
    let tok = common::tokenizer();
    let fx = common::fixture("tokens.json");
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 1000, "corpus has {} strings", cases.len());
    let mut bad = Vec::new();
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want = common::ids(&c["ids"]);
        let got = tok.encode(text).unwrap();
        if got != want {
            bad.push(format!("{text:?}\n  llama.cpp {want:?}\n  glassbox  {got:?}"));
        }
    }
    assert!(bad.is_empty(), "{} of {} strings differ; first ones:\n{}", bad.len(), cases.len(), bad[..bad.len().min(5)].join("\n"));
}

#[test]
fn decode_round_trips_and_agrees_with_the_crate() {
    let tok = common::tokenizer();
    let fx = common::fixture("tokens.json");
    for c in fx["cases"].as_array().unwrap() {
        let text = c["text"].as_str().unwrap();
        let ids = tok.encode(text).unwrap();
        assert_eq!(tok.decode(&ids), text);
        assert_eq!(tok.decode_with_crate(&ids).unwrap(), text);
    }
}

#[test]
fn streaming_never_splits_a_character() {
    let tok = common::tokenizer();
    let text = "Emoji 👩‍👩‍👧‍👦 and 🇫🇷, CJK 注意力机制 (アテンション, 주의), é ñ ü — done.";
    let ids = tok.encode(text).unwrap();
    let mut dec = StreamDecoder::new();
    let mut out = String::new();
    let mut partial_tokens = 0;
    for &id in &ids {
        if std::str::from_utf8(tok.token_bytes(id)).is_err() {
            partial_tokens += 1;
        }
        let delta = dec.push(&tok, id);
        assert!(!delta.contains('\u{FFFD}'), "delta {delta:?} split a character");
        out.push_str(&delta);
    }
    out.push_str(&dec.finish());
    assert_eq!(out, text);
    assert!(partial_tokens > 0, "the test text should contain tokens that end mid-character");
    // Invalid bytes become U+FFFD exactly as a lossy decode of the whole does.
    let lone: Vec<u32> = ids.iter().copied().filter(|&i| std::str::from_utf8(tok.token_bytes(i)).is_err()).take(3).collect();
    let mut dec = StreamDecoder::new();
    let mut s: String = lone.iter().map(|&i| dec.push(&tok, i)).collect();
    s.push_str(&dec.finish());
    assert_eq!(s, tok.decode(&lone));
}

#[test]
fn control_tokens_are_specials() {
    let tok = common::tokenizer();
    assert_eq!(tok.bos, Some(1));
    assert_eq!(tok.eos, Some(2));
    assert_eq!(tok.special_ids(), (0..=16).collect::<Vec<u32>>());
    let ids = tok.encode("<|im_start|>user\nhi<|im_end|>").unwrap();
    assert_eq!(ids.first(), Some(&1));
    assert_eq!(ids.last(), Some(&2));
    assert_eq!(tok.piece(2), "<|im_end|>");
    // No BOS is added to plain text.
    assert_ne!(tok.encode("Hello").unwrap()[0], 1);
}

#[test]
fn chat_template_is_chatml_with_the_default_system_message() {
    let tok = common::tokenizer();
    assert_eq!(
        tok.chat_prompt("What is 2+2?").unwrap(),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    );
    use glassbox::tokenizer::ChatMessage;
    let with_system = tok
        .apply_chat_template(&[ChatMessage::new("system", "Be brief."), ChatMessage::new("user", "Hi")], false)
        .unwrap();
    assert_eq!(with_system, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

#[test]
fn unknown_pre_tokenizer_is_an_error() {
    let mut h = common::gguf().header.clone();
    h.metadata.insert("tokenizer.ggml.pre".into(), Value::String("qwen2".into()));
    let err = Tokenizer::from_gguf(&h).unwrap_err().to_string();
    assert!(err.contains("qwen2"), "{err}");
    let mut h = common::gguf().header.clone();
    h.metadata.insert("tokenizer.ggml.model".into(), Value::String("llama".into()));
    assert!(Tokenizer::from_gguf(&h).is_err());
    let mut h = common::gguf().header.clone();
    h.metadata.remove("tokenizer.ggml.merges");
    assert!(Tokenizer::from_gguf(&h).unwrap_err().to_string().contains("merges"));
}
