//! The engine against llama.cpp (run on an F32 copy of the same GGUF with an
//! F32 KV cache: exact f32 math). Fixtures: tests/fixtures/record_llama_cpp.py.

mod common;

use pollster::block_on;

use glassbox::backend::cpu::Cpu;
use glassbox::generate::SessionOptions;
use glassbox::sampling::argmax;
use glassbox::Session;

fn session() -> Session<Cpu> {
    Session::new(Cpu::new(), common::cpu_model(), common::tokenizer(), SessionOptions { full_logits: true, ..Default::default() }).unwrap()
}

#[test]
fn next_token_logits_equal_llama_cpp() {
    let fx = common::fixture("logits.json");
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    let tok = common::tokenizer();
    let mut worst = (0f32, String::new());
    for c in cases {
        let prompt = c["prompt"].as_str().unwrap();
        let ids = common::ids(&c["ids"]);
        assert_eq!(tok.encode(prompt).unwrap(), ids, "prompt ids for {prompt:?}");
        let mut s = session();
        block_on(s.prefill(&ids)).unwrap();
        let top = c["top"].as_array().unwrap();
        assert_eq!(top.len(), 10);
        assert_eq!(argmax(s.logits().unwrap()), top[0]["id"].as_u64().unwrap() as u32, "top-1 for {prompt:?}");
        for t in top {
            let (id, want) = (t["id"].as_u64().unwrap() as usize, t["logit"].as_f64().unwrap() as f32);
            let diff = (s.logits().unwrap()[id] - want).abs();
            if diff > worst.0 {
                worst = (diff, format!("{prompt:?} token {id}: {} vs llama.cpp {want}", s.logits().unwrap()[id]));
            }
        }
    }
    eprintln!("worst logit difference: {} ({})", worst.0, worst.1);
    assert!(worst.0 <= 1e-3, "worst logit difference {} > 1e-3 at {}", worst.0, worst.1);
}

#[test]
fn greedy_continuations_equal_llama_cpp() {
    let fx = common::fixture("greedy.json");
    let cases = fx["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    let tok = common::tokenizer();
    for c in cases {
        let prompt = c["prompt"].as_str().unwrap();
        if c["chat"].as_bool().unwrap() {
            let user = c["user"].as_str().unwrap();
            assert_eq!(tok.chat_prompt(user).unwrap(), prompt, "chat template for {user:?}");
        }
        let ids = common::ids(&c["prompt_ids"]);
        assert_eq!(tok.encode(prompt).unwrap(), ids, "prompt ids for {prompt:?}");
        let want = common::ids(&c["ids"]);
        let mut s = session();
        block_on(s.prefill(&ids)).unwrap();
        let got: Vec<u32> = block_on(s.generate(want.len(), |_| {})).unwrap().iter().map(|t| t.token).collect();
        assert_eq!(got, want, "greedy continuation of {prompt:?}:\n  ours      {:?}\n  llama.cpp {:?}", tok.decode(&got), tok.decode(&want));
    }
}
