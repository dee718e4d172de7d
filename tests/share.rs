//! Links and session files: what is written reads back the same, damaged
//! links name their parameter, files from elsewhere are refused with why.

use glassbox::beam::BeamOptions;
use glassbox::sampling::Sampling;
use glassbox::i18n::Lang;
use glassbox::patch::Site;
use glassbox::share::{Decoding, FileError, FileToken, ModelId, PatchPrompts, SessionFile, Shared, ViewState, SCHEMA};

fn sample() -> Shared {
    Shared {
        prompt: "Le café coûte 3 € & plus: 東京?\nnew line".into(),
        chat: true,
        decoding: Decoding::Sample(Sampling { temperature: 0.8, top_k: 40, top_p: 0.95, seed: 7 }),
        steps: 12,
        forced: vec![(2, 314), (9, 11)],
        drawn: vec![(0, Sampling::greedy()), (5, Sampling { temperature: 1.2, top_k: 0, top_p: 1.0, seed: 3 })],
        branch: None,
        ablation: vec![(3, 4), (29, 0)],
        heads: vec![(0, vec![]), (4, vec![(3, 4)])],
        view: ViewState { layer: 12, head: 5, focus: Some(9), view: "grid".into(), inside: "lens".into(), patch: None },
        lang: Lang::Zh,
        model: None,
        compare: None,
    }
}

#[test]
fn links_read_back_what_they_say() {
    for sh in [
        sample(),
        Shared { decoding: Decoding::Greedy, forced: vec![], drawn: vec![], chat: false, ablation: vec![], heads: vec![], view: ViewState::default(), lang: Lang::En, ..sample() },
        Shared { decoding: Decoding::Beam(BeamOptions { width: 3, steps: 8, length_penalty: 0.5 }), forced: vec![], drawn: vec![], heads: vec![], branch: Some(7), ..sample() },
        Shared { model: Some(glassbox::protocol::KeptModel::key_for("my 模型 (Q4_K_M).gguf", b"GGUF...")), ..sample() },
        // Another site's model, by its address (with its own query).
        Shared { model: Some("https://huggingface.co/u/m/resolve/main/m%20x.Q4_1.gguf?download=true".into()), ..sample() },
        // The patching view's experiment.
        Shared {
            view: ViewState {
                inside: "patch".into(),
                patch: Some(PatchPrompts { clean: "The Eiffel Tower is in".into(), corrupt: "The Colosseum, 罗马 & co is in".into(), what: Site::Heads }),
                ..ViewState::default()
            },
            ..sample()
        },
        Shared { view: ViewState { patch: Some(PatchPrompts { clean: "a".into(), corrupt: "b".into(), what: Site::Residual }), ..ViewState::default() }, ..sample() },
        // Compare mode: the second prompt.
        Shared { compare: Some("Le thé coûte 2 € & moins: 大阪?\nx".into()), ..sample() },
    ] {
        let q = sh.to_query();
        assert!(q.is_ascii() && !q.contains(' '), "{q}");
        assert_eq!(Shared::from_query(&q).unwrap(), Some(sh.clone()), "{q}");
        assert_eq!(Shared::from_query(&format!("?{q}")).unwrap(), Some(sh.clone()));
        // As a browser's URLSearchParams writes it back: ':' and ',' encoded.
        let reencoded = q.split('&').map(|kv| match kv.split_once('=') { Some((k, v)) if k != "p" => format!("{k}={}", v.replace(':', "%3A").replace(',', "%2C")), _ => kv.to_string() }).collect::<Vec<_>>().join("&");
        assert_eq!(Shared::from_query(&reencoded).unwrap(), Some(sh), "{reencoded}");
    }
    assert_eq!(Shared::from_query("lang=zh").unwrap(), None, "no prompt: no session");
    // What each generated token was drawn and computed with.
    let sh = sample();
    assert_eq!(sh.drawn_at(4), Sampling::greedy());
    assert_eq!(sh.drawn_at(11).temperature, 1.2);
    assert_eq!(sh.heads_at(3), vec![]);
    assert_eq!(sh.heads_at(4), vec![(3, 4)]);
    let plain = Shared { drawn: vec![], heads: vec![], ..sample() };
    assert_eq!(plain.drawn_at(0), Sampling { temperature: 0.8, top_k: 40, top_p: 0.95, seed: 7 }, "no history: the settings now");
    assert_eq!(plain.heads_at(0), vec![(3, 4), (29, 0)]);
    assert!(sample().to_query().len() < 300);
}

#[test]
fn damaged_links_name_their_parameter() {
    let q = sample().to_query();
    let cases = [
        (q.replace("d=s:0.8:40", "d=s:zero:40"), "d"),
        (q.replace("d=s:0.8:40:0.95:7", "d=s:0.8:40:1.5:7"), "d"),
        (q.replace("f=2:314,9:11", "f=2:314,99:11"), "f"),
        (q.replace("f=2:314,9:11", "f=2;314"), "f"),
        (q.replace("a=3:4", "a=3-4"), "a"),
        (q.replace("w=0:0:0:1:0", "w=0:0:0:2:0"), "w"),
        (q.replace("w=0:0:0:1:0,5", "w=0:0:0:1:0,50"), "w"),
        (q.replace("w=0:0:0:1:0,5", "w=5:0:0:1:0,0"), "w"),
        (q.replace("o=0,4/3:4", "o=0,4/3-4"), "o"),
        (q.replace("o=0,4/3:4", "o=4,0/3:4"), "o"),
        (q.replace("o=0,4/3:4", "o=0,40/3:4"), "o"),
        (q.replace("v=grid", "v=pie"), "v"),
        (q.replace("n=12", "n=twelve"), "n"),
        (q.replace("lang=zh", "lang=fr"), "lang"),
        (q.replace("m=chat", "m=poem"), "m"),
        ("p=%E6%9D%B1%E".to_string(), "p"),
        ("p=".to_string(), "p"),
        (format!("{q}&model=model.gguf"), "model"),
        (format!("{q}&model=kept%2F12-zz%2Fx"), "model"),
        (format!("{q}&model=ftp%3A%2F%2Fh%2Fm.gguf"), "model"),
        (format!("{q}&model=https%3A%2F%2F"), "model"),
        (format!("{q}&model=javascript%3Aalert(1)"), "model"),
        (format!("{q}&pc=a"), "pc"),
        (format!("{q}&px=a"), "px"),
        (format!("{q}&pc=a&px=b&pw=neurons"), "pw"),
        // Compare mode: an empty second prompt; a second prompt with beam search.
        (format!("{q}&c="), "c"),
        (format!("{q}&c=%20"), "c"),
        ("p=a&d=b:2:4:0&c=b".to_string(), "c"),
    ];
    for (q, param) in cases {
        let err = Shared::from_query(&q).expect_err(&q);
        assert_eq!(err.param, param, "{q}");
    }
    // Truncated anywhere: either still a valid session or an error, never a panic.
    let q = sample().to_query();
    for cut in 0..q.len() {
        let _ = Shared::from_query(&q[..cut]);
    }
}

fn model() -> ModelId {
    ModelId { name: "SmolLM2 135M Instruct".into(), n_layers: 30, n_heads: 9, vocab: 49152 }
}

#[test]
fn session_files_are_checked() {
    let f = SessionFile {
        schema: SCHEMA,
        app: "glassbox".into(),
        model: model(),
        session: sample(),
        tokens: vec![FileToken { id: 504, text: "The".into(), kind: "prompt".into() }, FileToken { id: 7042, text: " Paris".into(), kind: "generated".into() }],
        candidates: vec![vec![]],
    };
    let text = serde_json::to_string(&f).unwrap();
    assert_eq!(SessionFile::read(&text, &model()).unwrap(), f);
    assert_eq!(f.generated_ids(), vec![7042]);
    let other = ModelId { name: "Llama".into(), n_layers: 16, ..model() };
    assert!(matches!(SessionFile::read(&text, &other), Err(FileError::OtherModel { .. })));
    let newer = text.replace("\"schema\":1", "\"schema\":2");
    assert_eq!(SessionFile::read(&newer, &model()), Err(FileError::NewerSchema(2)));
    for bad in ["", "{}", "[1,2]", "{\"app\":\"glassbox\"}", &text.replace("\"app\":\"glassbox\"", "\"app\":\"other\""), &text[..text.len() / 2]] {
        assert!(matches!(SessionFile::read(bad, &model()), Err(FileError::NotASession(_))), "{bad}");
    }
}
