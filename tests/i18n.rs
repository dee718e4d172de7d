//! The page's two message catalogues: both parse, hold the same messages,
//! every message the page's code names exists, and the Chinese tour is in
//! Chinese. (The browser tests also check that no ⟦missing⟧ message shows
//! in either language.)

use std::collections::BTreeSet;
use std::path::Path;

use glassbox::i18n::{message_ids, Catalog, Lang, EN_FTL, TOUR, ZH_FTL};

fn ids(ftl: &str) -> BTreeSet<String> {
    message_ids(ftl).into_iter().collect()
}

/// Message ids the page's code names: first arguments of `t`/`tf` and of
/// the small helpers that take ids (tab, mode, button, cell, f, step, the
/// `if … { "a" } else { "b" }` choices inside them, and `phase_id`).
fn used_ids() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let id = |s: &str| s.len() > 1 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') && s.starts_with(|c: char| c.is_ascii_lowercase());
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        // Every string literal that follows one of these openings.
        for open in [".t(", ".tf(", " f(", "tab(", "mode(", "button(", "cell(", "{ \"", "=> \""] {
            for (i, _) in src.match_indices(open) {
                let rest = &src[i + open.len()..];
                // The literals in the call's first two arguments (or the choice's two arms).
                let window: String = rest.chars().take(120).collect();
                // (A literal the window cuts off is not one.)
                let parts: Vec<&str> = window.split('"').collect();
                for lit in (1..parts.len().saturating_sub(1)).step_by(2).take(2).map(|k| parts[k]) {
                    if id(lit) && (lit.contains('-') || ["prompt", "mode", "step", "play", "pause", "undo", "reset", "decoding", "tokens", "attention", "layer", "head", "cut", "off", "beam", "inside", "computing", "loading", "dismiss", "language", "hud", "legend", "fit", "end", "seed", "temperature", "cell"].contains(&lit)) {
                        out.insert(lit.to_string());
                    }
                }
            }
        }
    }
    for t in TOUR {
        out.insert(format!("tour-{t}"));
        out.insert(format!("tour-{t}-title"));
    }
    out
}

#[test]
fn both_catalogues_parse_and_hold_the_same_messages() {
    for l in Lang::ALL {
        Catalog::new(l).unwrap_or_else(|e| panic!("{e}"));
    }
    let (en, zh) = (ids(EN_FTL), ids(ZH_FTL));
    let only_en: Vec<_> = en.difference(&zh).collect();
    let only_zh: Vec<_> = zh.difference(&en).collect();
    assert!(only_en.is_empty() && only_zh.is_empty(), "messages only in en.ftl: {only_en:?}; only in zh.ftl: {only_zh:?}");
    assert!(en.len() > 200, "{} messages", en.len());
}

#[test]
fn every_message_the_page_uses_exists() {
    let used = used_ids();
    let cats: Vec<Catalog> = Lang::ALL.iter().map(|&l| Catalog::new(l).unwrap()).collect();
    let known = ids(EN_FTL);
    // Literals that look like ids but are element ids or classes, not messages.
    let missing: Vec<_> = used.iter().filter(|u| !known.contains(*u)).filter(|u| cats.iter().any(|c| !c.has(u))).collect();
    let real: Vec<_> = missing.iter().filter(|u| !is_markup(u)).collect();
    assert!(real.is_empty(), "the page uses messages that no catalogue has: {real:?}");
    assert!(used.len() > 150, "found {} message uses", used.len());
    for c in &cats {
        for u in used.iter().filter(|u| known.contains(*u)) {
            assert!(!c.t(u).is_empty(), "{:?}: {u} is empty", c.lang);
        }
    }
}

/// Kebab-case literals in the page's code that are element ids, classes or
/// attribute values rather than messages.
fn is_markup(s: &str) -> bool {
    let markup = [
        "tour-target", "tour-next", "tour-back", "tour-done", "tour-close", "tour-start", "tour-title", "tour-text", "tour-head", "hud-e2e", "hud-ctx",
        "heatmap-window", "attn-tooltip", "grid-tooltip", "generated-text", "prob-colours", "last-draw", "sampling-info", "beam-tree", "beam-compare",
        "beam-scroll", "lens-scroll", "toggle-head", "restore-heads", "grid-mode", "model-view", "no-such-element", "tab-heatmap", "zh-cn", "edge-best",
        "edge-pruned", "bnode-best", "bnode-pruned", "bnode-finished", "bnode-live", "cand-srow", "hud-memory", "hud-prefill", "hud-decode", "hud-play",
        "hud-backend", "hud-engine", "hud-overhead", "font-weight", "text-anchor", "stroke-width", "stroke-opacity", "aria-label", "aria-selected",
        "aria-pressed", "data-id", "data-pos", "data-layer", "data-node", "data-status", "data-rank", "data-prob", "data-base", "data-len", "glassbox-lang",
        "e2e-overhead", "srow-allowed", "open-session", "save-session", "session-file", "shared-url", "export-beam", "export-figure", "export-lens",
        "model-bar", "model-name", "model-source", "model-file", "open-model", "use-served", "kept-models", "model-card", "model-gpu-note", "kept-name",
        "kept-use", "kept-remove", "kept-list", "opening-progress", "restarted", "role-bar", "role-scores", "role-hide", "glassbox-head-roles", "patch-summary",
        "map-svg", "map-hide", "map-in", "map-out", "map-list", "map-li", "map-lhead", "map-lheads", "map-roles", "map-badge", "map-chip", "map-off", "map-cand", "map-return", "map-back", "map-norm", "map-sampling", "map-arrow", "map-arrowtext", "map-arrowhead", "map-output", "map-neurons", "map-nearest", "map-fold", "map-animate", "map-next", "map-pulse", "map-box", "map-head", "map-layer", "map-node", "map-spine", "map-ffn",
    ];
    markup.contains(&s) || s.starts_with("data-") || s.starts_with("aria-")
}

#[test]
fn the_chinese_tour_is_in_chinese() {
    let zh = Catalog::new(Lang::Zh).unwrap();
    let en = Catalog::new(Lang::En).unwrap();
    let cjk = |s: &str| s.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
    assert!((9..=16).contains(&TOUR.len()), "9–16 stops");
    for t in TOUR {
        for id in [format!("tour-{t}"), format!("tour-{t}-title")] {
            let (z, e) = (zh.t(&id), en.t(&id));
            assert!(cjk(&z) >= 2, "{id} in 中文 is not Chinese: {z}");
            assert_eq!(cjk(&e), 0, "{id} in English has Chinese: {e}");
            assert_ne!(z, e);
        }
        let text = en.t(&format!("tour-{t}"));
        let sentences = text.trim_end().matches(". ").count() + 1;
        assert!((2..=5).contains(&sentences), "tour-{t}: {sentences} sentences");
    }
}

#[test]
fn languages_follow_the_browser() {
    assert_eq!(Lang::from_preferences(["fr-FR", "zh-CN", "en"]), Lang::Zh);
    assert_eq!(Lang::from_preferences(["zh-Hant-TW"]), Lang::Zh);
    assert_eq!(Lang::from_preferences(["en-GB", "zh"]), Lang::En);
    assert_eq!(Lang::from_preferences(["de"]), Lang::En);
    assert_eq!(Lang::from_code("ZH_cn"), Some(Lang::Zh));
    let zh = Catalog::new(Lang::Zh).unwrap();
    assert_eq!(zh.tf("tokens-count", &[("prompt", 5usize.into()), ("generated", 2usize.into())]), "提示 5 个 + 生成 2 个");
    let en = Catalog::new(Lang::En).unwrap();
    assert_eq!(en.tf("next-heading-ablated", &[("n", 1usize.into())]), "probability with 1 head off · Δ from all heads on (pp) — click one to force it");
    assert_eq!(en.t("no-such-message"), "⟦no-such-message⟧");
}

/// The page describes the model it runs: no message writes SmolLM2's shape
/// (its width 576, FFN 1,536, 30 layers, 9 heads, 49,152 tokens) where the
/// model's own numbers belong (issue 16 §3.14); they come as arguments.
#[test]
fn no_message_hard_codes_one_models_shape() {
    for (name, ftl) in [("en", EN_FTL), ("zh", ZH_FTL)] {
        for line in ftl.lines().filter(|l| !l.trim_start().starts_with('#')) {
            for n in ["576", "1,536", "1536", "49152", "49,152", "30 layers", "30 层", "270 ×"] {
                assert!(!line.contains(n), "{name}: {n:?} in {line:?}");
            }
        }
    }
    let controls = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web/components/controls.rs")).unwrap();
    assert!(!controls.contains("49152"), "the top-k field's maximum is the model's vocabulary");
}
