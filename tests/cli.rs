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
fn trace_gives_as_many_candidates_as_asked() {
    // More than the device's top-k reduction (32): read from every logit.
    let out = stdout(&glassbox(&["trace", "-n", "2", "--top", "50", "--no-prefill-attention", "Hi there"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for step in v["steps"].as_array().unwrap() {
        let c = step["candidates"].as_array().unwrap();
        assert_eq!(c.len(), 50);
        let logits: Vec<f64> = c.iter().map(|x| x["logit"].as_f64().unwrap()).collect();
        assert!(logits.windows(2).all(|w| w[0] >= w[1]), "highest first");
        assert_eq!(c[0]["id"], step["token"], "greedy takes the first");
    }
}

#[test]
fn generate_stops_when_its_output_is_closed() {
    use std::io::Read;
    // `glassbox generate … | head -c 8`: without stopping it would run into
    // the 64-token context and fail; it must stop quietly instead.
    let mut child = Command::new(env!("CARGO_BIN_EXE_glassbox"))
        .args(["generate", "-n", "100000", "--ctx", "64", "--model"])
        .arg(common::model_path())
        .arg("Once upon a time")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "status {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
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

#[test]
fn probe_lens_and_ablate_contracts() {
    let prompt = "The capital of France is";
    let ids: Vec<u32> = serde_json::from_str(&stdout(&glassbox(&["tokenize", prompt]))).unwrap();
    let n = ids.len();
    for backend in ["cpu", "gpu"] {
        // probe: one JSON object on one line, with every field of the contract.
        let out = stdout(&glassbox(&["probe", "--layer", "3", "--head", "4", "--backend", backend, prompt]));
        assert_eq!(out.lines().count(), 1);
        let p: serde_json::Value = serde_json::from_str(&out).unwrap();
        for (k, v) in [("layer", 3), ("head", 4), ("kv_head", 1), ("pos", n as u64 - 1), ("token", ids[n - 1] as u64)] {
            assert_eq!(p[k], v, "{k}");
        }
        for (k, len) in [("q_pre_rope", 64), ("q", 64), ("angles", 32), ("out", 64), ("keys", n), ("ffn_top", 10)] {
            assert_eq!(p[k].as_array().unwrap_or_else(|| panic!("{k}")).len(), len, "{k}");
        }
        for k in ["rms", "contribution_norm", "ffn_norm"] {
            assert!(p[k].as_f64().unwrap() > 0.0, "{k}");
        }
        let key = &p["keys"][n - 1];
        assert_eq!((key["pos"].as_u64(), key["id"].as_u64()), (Some(n as u64 - 1), Some(ids[n - 1] as u64)));
        assert_eq!((key["k"].as_array().unwrap().len(), key["v"].as_array().unwrap().len()), (64, 64));
        let w: f64 = p["keys"].as_array().unwrap().iter().map(|k| k["weight"].as_f64().unwrap()).sum();
        assert!((w - 1.0).abs() < 1e-4, "weights sum to {w}");
        let p2: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["probe", "--layer", "0", "--head", "8", "--pos", "2", "--backend", backend, prompt]))).unwrap();
        assert_eq!((p2["pos"].as_u64(), p2["keys"].as_array().unwrap().len()), (Some(2), 3));

        // lens: 30 layers of K tokens; the last layer's top token is `logits`' top token.
        let l: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["lens", "--top", "3", "--backend", backend, prompt]))).unwrap();
        assert_eq!(l["pos"], n as u64 - 1);
        let layers = l["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 30);
        assert!(layers.iter().enumerate().all(|(i, x)| x["layer"] == i as u64 && x["top"].as_array().unwrap().len() == 3));
        let logits: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["logits", "--top", "3", "--backend", backend, prompt]))).unwrap();
        assert_eq!(layers[29]["top"][0]["id"], logits[0]["id"]);
        let l0: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["lens", "--pos", "1", "--backend", backend, prompt]))).unwrap();
        assert_eq!(l0["layers"][0]["next"]["id"], ids[2] as u64, "the lens knows the token that came next");

        // --ablate changes the logits, on logits, generate, lens and trace.
        let off: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["logits", "--top", "3", "--ablate", "29:0,29:1,28:5", "--backend", backend, prompt]))).unwrap();
        assert_ne!(off[0]["logit"], logits[0]["logit"]);
        let lo: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["lens", "--top", "3", "--ablate", "29:0,29:1,28:5", "--backend", backend, prompt]))).unwrap();
        let f = |v: &serde_json::Value| v.as_f64().unwrap() as f32;
        // (The lens computes the last position as one row, the prompt's pass
        // as part of a batch: on the GPU a row folds W_o into the attention,
        // the same sums in another order, so the two agree to ~1e-6, not to
        // the bit; the heads switched off move a logit by far more.)
        let (a, b) = (f(&lo["layers"][29]["top"][0]["logit"]), f(&off[0]["logit"]));
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "lens and logits agree under ablation: {a} vs {b}");
        stdout(&glassbox(&["generate", "-n", "3", "--ablate", "0:0", "--backend", backend, prompt]));
        stdout(&glassbox(&["trace", "-n", "1", "--ablate", "0:0", "--no-prefill-attention", "--backend", backend, prompt]));
        // Beam search runs with the heads off too, as on the page (it was refused):
        // one beam is greedy decoding with those heads off.
        let layer0 = "0:0,0:1,0:2,0:3,0:4,0:5,0:6,0:7,0:8";
        let beam = stdout(&glassbox(&["generate", "--ids", "--beams", "1", "-n", "4", "--ablate", layer0, "--backend", backend, prompt]));
        let greedy = stdout(&glassbox(&["generate", "--ids", "-n", "4", "--ablate", layer0, "--backend", backend, prompt]));
        assert_eq!(beam, greedy, "--beams 1 --ablate is greedy with those heads off");
        assert_ne!(greedy, stdout(&glassbox(&["generate", "--ids", "-n", "4", "--backend", backend, prompt])), "the heads matter");
        let tree: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["beams", "--beams", "2", "-n", "2", "--ablate", "0:3", "--backend", backend, prompt]))).unwrap();
        assert_eq!(tree["off"], serde_json::json!([[0, 3]]), "the tree says which heads were off");
    }
    // Heads outside the model and malformed lists: clear errors, exit status 2.
    for bad in ["30:0", "0:9", "3", "x:1", "1:2:3"] {
        for cmd in ["logits", "generate", "lens", "trace"] {
            let o = glassbox(&[cmd, "--ablate", bad, "-n", "1", prompt].iter().filter(|a| cmd != "logits" && cmd != "lens" || **a != "-n" && **a != "1").copied().collect::<Vec<_>>());
            assert_eq!(o.status.code(), Some(2), "{cmd} --ablate {bad}: {}", String::from_utf8_lossy(&o.stderr));
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("head") && (err.contains("LAYER:HEAD") || err.contains("layers 0–29")), "{err}");
        }
    }
    let o = glassbox(&["probe", "--layer", "30", "--head", "0", prompt]);
    assert_eq!(o.status.code(), Some(2));
    let o = glassbox(&["lens", "--pos", "99", prompt]);
    assert_eq!(o.status.code(), Some(2));
}

/// `glassbox attribute`: one JSON object whose parts (the embedding, then
/// each layer's heads and FFN) sum to the logit `logits` prints; --token,
/// --pos and --ablate; bad positions and ids exit with status 2.
/// `glassbox map`: the map's numbers at a position, and the nearest tokens.
#[test]
fn map_contract() {
    let m: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["map", "--nearest", "3", "--pos", "3", "The capital of France is"]))).unwrap();
    assert_eq!((m["pos"].as_u64(), m["text"].as_str()), (Some(3), Some(" France")));
    for (k, n) in [("residual", 30), ("first", 30), ("attention", 30), ("ffn", 30), ("heads", 30), ("embedding", 576)] {
        assert_eq!(m[k].as_array().map(Vec::len), Some(n), "{k}");
    }
    assert_eq!(m["heads"][0].as_array().map(Vec::len), Some(9));
    let near = m["nearest"].as_array().unwrap();
    assert_eq!(near.len(), 3);
    assert_eq!(near[0]["text"], "France");
    assert!(near.windows(2).all(|w| w[0]["cos"].as_f64() >= w[1]["cos"].as_f64()), "nearest first");
    assert!(!glassbox(&["map", "--pos", "9", "The capital"]).status.success(), "a position past the end fails");
}

#[test]
fn attribute_contract() {
    let prompt = "The capital of France is";
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    for backend in ["cpu", "gpu"] {
        let a: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["attribute", "--backend", backend, prompt]))).unwrap();
        let logits: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["logits", "--top", "2", "--backend", backend, prompt]))).unwrap();
        assert_eq!(a["pos"], 4);
        assert_eq!(a["token"], logits[0]["id"], "the default token is the top-1");
        assert_eq!(a["text"], " Paris");
        assert!((f(&a["logit"]) - f(&logits[0]["logit"])).abs() < 1e-4, "{} vs {}", a["logit"], logits[0]["logit"]);
        assert!(f(&a["rms"]) > 0.0);
        let parts = a["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 1 + 30 * 10);
        assert_eq!(parts[0]["kind"], "embed");
        assert_eq!((parts[1]["kind"].as_str(), &parts[1]["layer"], &parts[1]["head"]), (Some("head"), &serde_json::json!(0), &serde_json::json!(0)));
        assert_eq!((parts[10]["kind"].as_str(), &parts[10]["layer"]), (Some("ffn"), &serde_json::json!(0)));
        assert_eq!((parts[300]["kind"].as_str(), &parts[300]["layer"]), (Some("ffn"), &serde_json::json!(29)));
        let sum: f64 = parts.iter().map(|p| f(&p["value"])).sum();
        assert!((sum - f(&a["logit"])).abs() < 1e-3 && (f(&a["sum"]) - f(&a["logit"])).abs() < 1e-3, "Σ {sum}, sum {}, logit {}", a["sum"], a["logit"]);
        // Another token, another position.
        let second = logits[1]["id"].as_u64().unwrap().to_string();
        let b: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["attribute", "--token", &second, "--pos", "4", "--backend", backend, prompt]))).unwrap();
        assert_eq!(b["token"], logits[1]["id"]);
        assert!((f(&b["logit"]) - f(&logits[1]["logit"])).abs() < 1e-4);
        let early: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["attribute", "--pos", "1", "--backend", backend, prompt]))).unwrap();
        assert_eq!(early["pos"], 1);
        // Heads off: part 0.
        let off: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["attribute", "--ablate", "23:4,29:1", "--backend", backend, prompt]))).unwrap();
        let part = |l: u64, h: u64| off["parts"].as_array().unwrap().iter().find(|p| p["kind"] == "head" && p["layer"] == l && p["head"] == h).map(|p| f(&p["value"]));
        assert_eq!((part(23, 4), part(29, 1)), (Some(0.0), Some(0.0)));
        assert_ne!(part(23, 5), Some(0.0));
    }
    for bad in [&["--pos", "5"][..], &["--token", "49152"], &["--pos", "x"], &["--ablate", "30:0"]] {
        let o = glassbox(&[&["attribute"], bad, &[prompt]].concat());
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

/// `glassbox flow`: every edge into every position, shares summing to 1 per
/// (layer, position); --min leaves out the small ones; bad --min exits 2.
#[test]
fn flow_contract() {
    let prompt = "The capital of France is";
    let f: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["flow", prompt]))).unwrap();
    assert_eq!(f["ids"], serde_json::json!([504, 3575, 282, 4649, 314]));
    assert_eq!((f["p0"].as_u64(), f["p1"].as_u64()), (Some(0), Some(5)));
    let edges = f["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 30 * (9 * 15 + 5));
    let mut sums = std::collections::HashMap::new();
    for e in edges {
        let (from, to) = (e["from"].as_u64().unwrap(), e["to"].as_u64().unwrap());
        assert!(from <= to);
        assert!(e["head"].is_u64() || (e["head"] == "ffn" && from == to), "{e}");
        *sums.entry((e["layer"].as_u64().unwrap(), to)).or_insert(0.0) += e["share"].as_f64().unwrap();
    }
    assert!(sums.values().all(|s| (s - 1.0).abs() < 1e-4));
    let g: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["flow", "--min", "0.1", "--ablate", "0:0", prompt]))).unwrap();
    let big = g["edges"].as_array().unwrap();
    assert!(!big.is_empty() && big.len() < edges.len() / 10 && big.iter().all(|e| e["share"].as_f64().unwrap() >= 0.1 && !(e["layer"] == 0 && e["head"] == 0)));
    let o = glassbox(&["flow", "--min", "2", prompt]);
    assert_eq!(o.status.code(), Some(2));
}

/// `glassbox patch`: the documented JSON shape; prompts of different
/// lengths exit 2 naming both lengths; --target and --what are honoured.
#[test]
fn patch_contract() {
    let (clean, corrupt) = ("The capital of France", "The capital of Italy");
    let p: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["patch", clean, corrupt]))).unwrap();
    let t = p["clean_ids"].as_array().unwrap().len();
    assert_eq!(p["corrupt_ids"].as_array().unwrap().len(), t);
    assert_eq!(p["what"], "residual");
    assert!(p["target"].is_u64() && p["target_text"].is_string());
    let layers = p["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 30);
    assert!(layers.iter().all(|row| row.as_array().unwrap().len() == t));
    assert_eq!(layers[29][t - 1], p["clean_p"], "the last layer at the last position is the clean run");
    assert_eq!(layers[29][0], p["corrupt_p"]);
    let h: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["patch", "--what", "heads", "--target", "12", clean, corrupt]))).unwrap();
    assert_eq!((h["what"].as_str(), h["target"].as_u64()), (Some("heads"), Some(12)));
    assert!(h["layers"].as_array().unwrap().iter().all(|row| row.as_array().unwrap().len() == 9));
    let o = glassbox(&["patch", clean, "The capital of the United Kingdom"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("the clean one has {t} tokens")) && err.contains("the corrupted one 6"), "{err}");
    assert_eq!(glassbox(&["patch", "--what", "neurons", clean, corrupt]).status.code(), Some(2));
}

/// `glassbox heads`: the two sequences and four scores for every head.
#[test]
fn heads_contract() {
    let h: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["heads"]))).unwrap();
    let n = h["prompt_ids"].as_array().unwrap().len();
    assert!((60..=120).contains(&n), "the built-in paragraph is {n} tokens");
    let rep = h["repeat_ids"].as_array().unwrap();
    assert_eq!(rep.len(), 60);
    assert_eq!(rep[..30], rep[30..]);
    let heads = h["heads"].as_array().unwrap();
    assert_eq!(heads.len(), 270);
    for (i, x) in heads.iter().enumerate() {
        assert_eq!((x["layer"].as_u64(), x["head"].as_u64()), (Some(i as u64 / 9), Some(i as u64 % 9)));
        for k in ["previous", "sink", "duplicate", "induction"] {
            let v = x[k].as_f64().unwrap();
            assert!((0.0..=1.0 + 1e-6).contains(&v), "{k} = {v}");
        }
    }
    let g: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["heads", "--repeat", "10", "--seed", "3", "--backend", "gpu", "The capital of France is"]))).unwrap();
    assert_eq!(g["prompt_ids"], serde_json::json!([504, 3575, 282, 4649, 314]));
    assert_eq!(g["repeat_ids"].as_array().unwrap().len(), 20);
    assert_ne!(g["repeat_ids"].as_array().unwrap()[..10], h["repeat_ids"].as_array().unwrap()[..10]);
    let o = glassbox(&["heads", "Hi"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn beam_contracts() {
    let prompt = "The capital of France is";
    // --beams 1 equals greedy.
    let greedy = stdout(&glassbox(&["generate", "--ids", "-n", "8", prompt]));
    assert_eq!(stdout(&glassbox(&["generate", "--ids", "--beams", "1", "-n", "8", prompt])), greedy);
    let text = stdout(&glassbox(&["generate", "--beams", "3", "-n", "6", prompt]));
    assert!(!text.trim().is_empty());
    // beams: one JSON object; every score is the parent's plus logp; best is a path.
    for backend in ["cpu", "gpu"] {
        let v: serde_json::Value = serde_json::from_str(&stdout(&glassbox(&["beams", "--beams", "3", "-n", "4", "--backend", backend, prompt]))).unwrap();
        let nodes = v["nodes"].as_array().unwrap();
        assert!(nodes.len() >= 3 + 9);
        for n in nodes {
            let parent = n["parent"].as_u64().map_or(0.0, |p| nodes[p as usize]["score"].as_f64().unwrap());
            assert!((n["score"].as_f64().unwrap() - parent - n["logp"].as_f64().unwrap()).abs() < 1e-4);
            assert!(["live", "pruned", "finished", "best"].contains(&n["status"].as_str().unwrap()));
            assert!(n["text"].is_string() && n["token"].is_u64() && n["step"].is_u64() && n["id"].is_u64());
        }
        let best: Vec<u64> = v["best"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        let path: Vec<u64> = nodes.iter().filter(|n| n["status"] == "best").map(|n| n["token"].as_u64().unwrap()).collect();
        assert_eq!(best, path);
    }
    for bad in [&["generate", "--beams", "0", prompt][..], &["generate", "--beams", "17", prompt], &["generate", "--beams", "3", "--temperature", "0.7", prompt], &["beams", "--beams", "0", prompt]] {
        let o = glassbox(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("beam"));
    }
}
