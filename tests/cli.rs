//! The CLI's output contracts, checked on the real binary against the fixtures.

mod common;

use std::process::{Command, Output};

fn glassbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(args)
        .arg("--model")
        .arg(common::model_path())
        .output()
        .expect("run glassbox")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "glassbox failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn greedy_case(name: &str) -> serde_json::Value {
    let fx = common::fixture("greedy.json");
    fx["cases"].as_array().unwrap().iter().find(|c| c["name"] == name).expect("fixture case").clone()
}

#[test]
fn generate_prints_llama_cpp_greedy_text() {
    let case = greedy_case("capital");
    assert_eq!(case["prompt"], "The capital of France is");
    let want = case["text"].as_str().unwrap().trim_end_matches("<|im_end|>");
    let n = common::ids(&case["ids"]).len().to_string();
    let out = stdout(&glassbox(&["generate", "--temperature", "0", "-n", &n, "The capital of France is"]));
    assert_eq!(out.strip_suffix('\n').unwrap(), want);
    let ids = stdout(&glassbox(&["generate", "--ids", "-n", &n, "The capital of France is"]));
    assert_eq!(ids.trim(), serde_json::to_string(&case["ids"]).unwrap());
}

#[test]
fn chat_generation_uses_the_template() {
    let case = greedy_case("chat_capital");
    let user = case["user"].as_str().unwrap();
    let out = stdout(&glassbox(&["generate", "--chat", "--ids", "-n", "30", user]));
    assert_eq!(out.trim(), serde_json::to_string(&case["ids"]).unwrap());
}

#[test]
fn tokenize_and_logits_contracts() {
    let fx = common::fixture("logits.json");
    let case = &fx["cases"][0];
    let prompt = case["prompt"].as_str().unwrap();
    let out = stdout(&glassbox(&["tokenize", prompt]));
    assert_eq!(out.lines().count(), 1);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), case["ids"]);

    let out = stdout(&glassbox(&["logits", "--top", "10", prompt]));
    assert_eq!(out.lines().count(), 1);
    let got: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let want = case["top"].as_array().unwrap();
    assert_eq!(got.len(), 10);
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.as_object().unwrap().keys().collect::<Vec<_>>(), ["id", "logit"]);
        assert_eq!(g["id"], w["id"]);
        assert!((g["logit"].as_f64().unwrap() - w["logit"].as_f64().unwrap()).abs() < 1e-3);
    }
    let logits: Vec<f64> = got.iter().map(|g| g["logit"].as_f64().unwrap()).collect();
    assert!(logits.windows(2).all(|w| w[0] >= w[1]), "highest first");
}

#[test]
fn trace_is_json_with_attention() {
    let out = stdout(&glassbox(&["trace", "-n", "2", "--top", "3", "Hi there"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    let att = steps[1]["attention"].as_array().unwrap();
    assert_eq!(att.len(), 30);
    assert_eq!(att[0].as_array().unwrap().len(), 9);
    let n_prompt = v["prompt_ids"].as_array().unwrap().len();
    assert_eq!(att[0][0].as_array().unwrap().len(), n_prompt + 2);
    assert_eq!(steps[0]["candidates"].as_array().unwrap().len(), 3);
    assert_eq!(v["prefill"]["attention"].as_array().unwrap().len(), n_prompt);
}

#[test]
fn errors_go_to_stderr_with_a_failing_status() {
    let o = Command::new(env!("CARGO_BIN_EXE_glassbox")).args(["logits", "--model", "/no/such/model.gguf", "x"]).output().unwrap();
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/no/such/model.gguf") && err.contains("fetch-model.sh"), "{err}");

    let o = glassbox(&["generate", "--ctx", "4", "one two three four five six"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("context"));

    let o = glassbox(&["generate", "--top-p", "0", "x"]);
    assert!(!o.status.success());

    let bad = std::env::temp_dir().join("glassbox-not-a-model.gguf");
    std::fs::write(&bad, b"GGUF\x01\0\0\0").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_glassbox")).args(["logits", "x", "--model"]).arg(&bad).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("version 1"), "{}", String::from_utf8_lossy(&o.stderr));
}
