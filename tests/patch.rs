//! Activation patching (src/patch.rs): the sanity identities hold exactly,
//! a prompt patched into itself changes nothing, single cells equal a
//! from-scratch patched run (tests/common/reference.rs), llama.cpp's own
//! patched runs (tests/fixtures/record_patching.py), and the CPU and the
//! GPU agree.

mod common;

use common::gpu;

use glassbox::backend::cpu::Cpu;
use glassbox::backend::Backend;
use glassbox::patch::{Patching, Site};
use glassbox::Model;
use pollster::block_on;
use std::sync::OnceLock;

const CLEAN: &str = "The Eiffel Tower is located in the city of";
const CORRUPT: &str = "The Colosseum is located in the city of";

fn ids(text: &str) -> Vec<u32> {
    common::tokenizer().encode_prompt(text).unwrap()
}

fn patch_cpu(clean: &[u32], corrupt: &[u32], site: Site) -> Patching {
    block_on(common::cpu_model().patch(&mut Cpu::new(), clean, corrupt, None, site)).unwrap()
}

/// The example, patched on the CPU three ways (computed once: the
/// tests below share it).
fn example(site: Site) -> &'static Patching {
    static DONE: OnceLock<[Patching; 3]> = OnceLock::new();
    let all = DONE.get_or_init(|| {
        let (clean, corrupt) = (ids(CLEAN), ids(CORRUPT));
        [Site::Residual, Site::Ffn, Site::Heads].map(|s| {
            let t0 = std::time::Instant::now();
            let p = patch_cpu(&clean, &corrupt, s);
            println!("{s:?} patching of {} tokens: {:.2} s", clean.len(), t0.elapsed().as_secs_f64());
            p
        })
    });
    &all[[Site::Residual, Site::Ffn, Site::Heads].iter().position(|&s| s == site).unwrap()]
}

#[test]
fn the_sanity_identities_hold_exactly() {
    let r = example(Site::Residual);
    let t = r.clean_ids.len();
    assert_eq!(t, r.corrupt_ids.len());
    println!("target {} clean_p {} corrupt_p {}", r.target, r.clean_p, r.corrupt_p);
    assert_eq!(r.target, common::tokenizer().encode(" Paris").unwrap()[0]);
    assert!(r.clean_p > 0.5 && r.corrupt_p < 0.01, "{} {}", r.clean_p, r.corrupt_p);
    assert_eq!((r.layers.len(), r.layers[0].len()), (30, t));
    // After the last block: the last position is the clean run, any other the corrupted one.
    assert_eq!(r.layers[29][t - 1], r.clean_p);
    for j in 0..t - 1 {
        assert_eq!(r.layers[29][j], r.corrupt_p, "position {j}");
    }
    // Position 0 ("The") is the same token in both: nothing to copy.
    for l in 0..30 {
        assert_eq!(r.layers[l][0], r.corrupt_p, "layer {l}");
    }
    // The subject's last token carries the answer in the early and middle layers.
    let best = (0..t).max_by(|&a, &b| r.layers[8][a].total_cmp(&r.layers[8][b])).unwrap();
    assert!((1..4).contains(&best) && r.layers[8][best] > 0.5, "layer 8: {:?}", r.layers[8]);
    let f = example(Site::Ffn);
    assert_eq!((f.clean_p, f.corrupt_p), (r.clean_p, r.corrupt_p));
    for l in 0..30 {
        assert_eq!(f.layers[l][0], f.corrupt_p, "FFN layer {l} position 0");
    }
    for j in 0..t - 1 {
        assert_eq!(f.layers[29][j], f.corrupt_p, "the last FFN at position {j} reaches no later position");
    }
    let h = example(Site::Heads);
    assert_eq!((h.layers.len(), h.layers[0].len()), (30, 9));
    assert!(h.layers.iter().flatten().all(|p| (0.0..=1.0).contains(p)));
}

#[test]
fn a_prompt_patched_into_itself_changes_nothing() {
    let a = ids("The capital of");
    for site in [Site::Residual, Site::Ffn, Site::Heads] {
        let r = patch_cpu(&a, &a, site);
        assert_eq!(r.clean_p, r.corrupt_p);
        for (l, row) in r.layers.iter().enumerate() {
            for (j, &p) in row.iter().enumerate() {
                assert_eq!(p, r.clean_p, "{site:?} cell ({l}, {j})");
            }
        }
    }
}

#[test]
fn prompts_of_different_lengths_are_refused_naming_both() {
    let (a, b) = (ids("The capital of France is"), ids("The capital of the United Kingdom is"));
    let e = block_on(common::cpu_model().patch(&mut Cpu::new(), &a, &b, None, Site::Residual));
    let msg = e.expect_err("refused").to_string();
    assert!(msg.contains(&format!("{} tokens", a.len())) && msg.contains(&format!("one {}", b.len())), "{msg}");
    let e = block_on(common::cpu_model().patch(&mut Cpu::new(), &[1, 2], &[1, 49152], None, Site::Residual));
    assert!(e.expect_err("refused").to_string().contains("49152"));
    let mut b = Cpu::new();
    let m = common::cpu_model();
    let mut run = block_on(m.patch_run(&mut b, &[504, 3575], &[504, 3576], None)).unwrap();
    assert!(block_on(m.patch_part(&mut b, &mut run, Site::Residual, 2)).is_err(), "two positions: parts 0 and 1");
    assert!(block_on(m.patch_part(&mut b, &mut run, Site::Heads, 29)).is_ok());
}

#[test]
fn cells_equal_a_from_scratch_patched_run() {
    let (clean, corrupt) = (ids(CLEAN), ids(CORRUPT));
    let c = common::cpu_model().config.clone();
    let g = common::gguf();
    use common::reference::{forward, forward_patched, Patch};
    let rc = forward(g, &c, &clean, &[]);
    let rk = forward(g, &c, &corrupt, &[]);
    let (r, f, h) = (example(Site::Residual), example(Site::Ffn), example(Site::Heads));
    let target = r.target;
    let mut worst = (0f64, String::new());
    let mut check = |what: String, got: f32, want: f64| {
        let d = (got as f64 - want).abs();
        println!("{what}: engine {got:.6} from scratch {want:.6}");
        if d >= worst.0 {
            worst = (d, what);
        }
    };
    check("clean".into(), r.clean_p, rc.p(target));
    check("corrupt".into(), r.corrupt_p, rk.p(target));
    for (l, j) in [(3, 3), (9, 3), (24, 9), (12, 5)] {
        check(format!("residual ({l}, {j})"), r.layers[l][j], forward_patched(g, &c, &corrupt, &Patch::Residual { layer: l, pos: j }, &rc).p(target));
    }
    for (l, j) in [(2, 3), (20, 9)] {
        check(format!("ffn ({l}, {j})"), f.layers[l][j], forward_patched(g, &c, &corrupt, &Patch::Ffn { layer: l, pos: j }, &rc).p(target));
    }
    let (hl, hh) = (0..30 * 9).map(|i| (i / 9, i % 9)).max_by(|a, b| h.layers[a.0][a.1].total_cmp(&h.layers[b.0][b.1])).unwrap();
    for (l, hd) in [(hl, hh), (5, 4)] {
        check(format!("head {l}:{hd}"), h.layers[l][hd], forward_patched(g, &c, &corrupt, &Patch::Head { layer: l, head: hd }, &rc).p(target));
    }
    println!("worst: {} off by {:.2e}", worst.1, worst.0);
    assert!(worst.0 < 1e-4, "{}", worst.1);
}

#[test]
fn cpu_and_gpu_agree() {
    let (clean, corrupt) = (ids("The capital of France is"), ids("The capital of Italy is"));
    let (g, gm) = gpu();
    let cm = common::cpu_model();
    // A few parts of each (lavapipe is slow); each prompt's embedding and
    // the scratch caches' restoring between parts in any order included.
    let parts = [(Site::Residual, vec![4]), (Site::Ffn, vec![3]), (Site::Heads, vec![29]), (Site::Residual, vec![3])];
    fn run<B: Backend>(m: &Model<B>, b: &mut B, clean: &[u32], corrupt: &[u32], parts: &[(Site, Vec<usize>)]) -> Vec<(String, f32)> {
        let mut run = block_on(m.patch_run(b, clean, corrupt, None)).unwrap();
        let mut out = vec![("clean".to_string(), run.clean.p), ("corrupt".to_string(), run.corrupt.p)];
        for (site, idx) in parts {
            for &i in idx {
                let part = block_on(m.patch_part(b, &mut run, *site, i)).unwrap();
                out.extend(part.cells.iter().enumerate().map(|(c, o)| (format!("{site:?} part {i} cell {c}"), o.p)));
            }
        }
        run.free(b);
        out
    }
    let cpu = run(&cm, &mut Cpu::new(), &clean, &corrupt, &parts);
    let gpu = run(gm, &mut g.sibling(), &clean, &corrupt, &parts);
    assert_eq!(cpu.len(), gpu.len());
    let (d, what) = cpu.iter().zip(&gpu).map(|(a, b)| ((a.1 - b.1).abs(), &a.0)).fold((0f32, &cpu[0].0), |m, x| if x.0 > m.0 { x } else { m });
    println!("{} cells; CPU vs GPU worst: {what} off by {d:.2e}", cpu.len());
    assert!(d < 1e-3, "{what}");
    assert!(cpu[0].1 > 0.1 && cpu[1].1 < cpu[0].1, "France → Paris, Italy → not: {} {}", cpu[0].1, cpu[1].1);
}

#[test]
fn every_cell_equals_llama_cpp_patched_in_place() {
    // Recorded once by tests/fixtures/record_patching.py: llama.cpp's own
    // graph with the clean tensor written over l_out, ffn_out or kqv_out.
    let fx = common::fixture("llama_cpp_patching.json");
    let r = example(Site::Residual);
    assert_eq!(common::ids(&fx["clean_ids"]), r.clean_ids);
    assert_eq!(common::ids(&fx["corrupt_ids"]), r.corrupt_ids);
    assert_eq!(fx["target"].as_u64(), Some(r.target as u64));
    let mut worst = (0f64, String::new());
    let mut check = |what: String, got: f32, want: f64| {
        let d = (got as f64 - want).abs();
        if d >= worst.0 {
            worst = (d, what);
        }
    };
    check("clean".into(), r.clean_p, fx["clean_p"].as_f64().unwrap());
    check("corrupt".into(), r.corrupt_p, fx["corrupt_p"].as_f64().unwrap());
    let mut n = 0;
    for (key, site, col) in [("residual", Site::Residual, "pos"), ("ffn", Site::Ffn, "pos"), ("heads", Site::Heads, "head")] {
        let got = example(site);
        for cell in fx[key].as_array().unwrap() {
            let (l, j) = (cell["layer"].as_u64().unwrap() as usize, cell[col].as_u64().unwrap() as usize);
            check(format!("{key} ({l}, {j})"), got.layers[l][j], cell["p"].as_f64().unwrap());
            n += 1;
        }
    }
    println!("{n} cells; worst {} off by {:.2e}", worst.1, worst.0);
    assert_eq!(n, 300 + 300 + 270);
    assert!(worst.0 < 1e-5, "{}", worst.1);
}
