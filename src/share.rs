//! What a shared link or a saved session holds, and how it is written and
//! read back: short URL parameters (ids and small numbers, never attention
//! data) and a versioned JSON file. Kept apart from the page so that it is
//! tested natively; the page replays what these describe.

use serde::{Deserialize, Serialize};

use crate::beam::BeamOptions;
use crate::sampling::Sampling;
use crate::i18n::Lang;
use crate::urlenc::{dec, enc};

/// The longest link the page makes; longer sessions go to a file.
pub const MAX_URL: usize = 2000;

/// How a session decodes (defined with the branches, which compare them).
pub use crate::branches::Decoding;

/// Which views were open and what they showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewState {
    pub layer: usize,
    pub head: usize,
    pub focus: Option<usize>,
    /// "heatmap", "grid" or "lines".
    pub view: String,
    /// "math", "lens", "residual", "why", "flow" or "patch".
    pub inside: String,
    /// The patching view's experiment, once it ran (it runs again on open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<PatchPrompts>,
}

/// Two prompts patched between, and the piece copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchPrompts {
    pub clean: String,
    pub corrupt: String,
    pub what: crate::patch::Site,
}

impl Default for ViewState {
    fn default() -> ViewState {
        ViewState { layer: 0, head: 0, focus: None, view: "heatmap".into(), inside: "math".into(), patch: None }
    }
}

/// A session as a link replays it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shared {
    pub prompt: String,
    pub chat: bool,
    pub decoding: Decoding,
    /// Tokens generated after the prompt (beam mode: beam steps taken).
    pub steps: usize,
    /// (index among the generated tokens, token id) of every forced token.
    pub forced: Vec<(usize, u32)>,
    /// The settings the generated tokens were drawn with, where they differ
    /// from the token before's (the first from `decoding`'s): from index i
    /// on, drawn with these. Empty when every token was drawn with
    /// `decoding`'s settings (the settings now, which the next step uses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drawn: Vec<(usize, Sampling)>,
    /// Beam mode: the node whose branch was chosen.
    pub branch: Option<usize>,
    /// Heads switched off now, (layer, head).
    pub ablation: Vec<(usize, usize)>,
    /// The heads that were off when each generated token was computed,
    /// where they differ from the token before's (the first from
    /// `ablation`'s): from index i on, these. Empty when every token was
    /// computed with `ablation`'s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<(usize, Vec<(usize, usize)>)>,
    pub view: ViewState,
    pub lang: Lang,
    /// The user's model the session ran on (its cache key, "kept/…");
    /// None for the model served with the page.
    pub model: Option<String>,
    /// Compare mode: the second prompt (B), decoded beside the first in
    /// lock step (the same settings, heads and forced tokens). Never with
    /// beam search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<String>,
}

/// Why a link could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkError {
    /// The parameter at fault.
    pub param: String,
    pub value: String,
}

fn pairs<T: std::str::FromStr, U: std::str::FromStr>(s: &str) -> Option<Vec<(T, U)>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(',').map(|p| p.split_once(':').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))).collect()
}

impl Shared {
    /// The URL query (without "?"): p prompt, m mode, d decoding, n steps,
    /// f forced (index:id,…), w drawn with (index:T:k:p:seed,…), o heads
    /// off earlier (index/layer:head/…,…), b branch, a heads off (layer:head,…), l h q
    /// layer head query, v view, i inside view, pc px pw the patching view's
    /// prompts and piece, lang, model (a user's model), c compare mode's
    /// second prompt.
    pub fn to_query(&self) -> String {
        let mut q = vec![format!("p={}", enc(&self.prompt))];
        if let Some(c) = &self.compare {
            q.push(format!("c={}", enc(c)));
        }
        if self.chat {
            q.push("m=chat".into());
        }
        match &self.decoding {
            Decoding::Greedy => {}
            Decoding::Sample(s) => q.push(format!("d=s:{}:{}:{}:{}", s.temperature, s.top_k, s.top_p, s.seed)),
            Decoding::Beam(b) => q.push(format!("d=b:{}:{}:{}", b.width, b.steps, b.length_penalty)),
        }
        if self.steps > 0 {
            q.push(format!("n={}", self.steps));
        }
        if !self.forced.is_empty() {
            q.push(format!("f={}", self.forced.iter().map(|(i, id)| format!("{i}:{id}")).collect::<Vec<_>>().join(",")));
        }
        if !self.drawn.is_empty() {
            let w: Vec<String> = self.drawn.iter().map(|(i, s)| format!("{i}:{}:{}:{}:{}", s.temperature, s.top_k, s.top_p, s.seed)).collect();
            q.push(format!("w={}", w.join(",")));
        }
        if let Some(b) = self.branch {
            q.push(format!("b={b}"));
        }
        if !self.heads.is_empty() {
            let o: Vec<String> = self.heads.iter().map(|(i, off)| std::iter::once(i.to_string()).chain(off.iter().map(|(l, h)| format!("{l}:{h}"))).collect::<Vec<_>>().join("/")).collect();
            q.push(format!("o={}", o.join(",")));
        }
        if !self.ablation.is_empty() {
            q.push(format!("a={}", self.ablation.iter().map(|(l, h)| format!("{l}:{h}")).collect::<Vec<_>>().join(",")));
        }
        let v = &self.view;
        q.push(format!("l={}&h={}", v.layer, v.head));
        if let Some(f) = v.focus {
            q.push(format!("q={f}"));
        }
        if v.view != "heatmap" {
            q.push(format!("v={}", v.view));
        }
        if v.inside != "math" {
            q.push(format!("i={}", v.inside));
        }
        if let Some(pp) = &v.patch {
            q.push(format!("pc={}&px={}", enc(&pp.clean), enc(&pp.corrupt)));
            if pp.what != crate::patch::Site::Residual {
                q.push(format!("pw={}", pp.what.name()));
            }
        }
        q.push(format!("lang={}", self.lang.code()));
        if let Some(m) = &self.model {
            q.push(format!("model={}", enc(m)));
        }
        q.join("&")
    }

    /// Read a URL query. Ok(None) when it describes no session (no `p`);
    /// an error names the first parameter that is not what the page writes.
    pub fn from_query(query: &str) -> Result<Option<Shared>, LinkError> {
        let query = query.trim_start_matches('?');
        let mut kv = std::collections::HashMap::new();
        // Values are percent-decoded (a browser may re-encode ':' and ','),
        // the prompt too; one that does not decode is kept as written, to be refused.
        let (mut raw_p, mut raw_c) = (None, None);
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if k == "p" {
                raw_p = Some(v.to_string());
            }
            if k == "c" {
                raw_c = Some(v.to_string());
            }
            kv.insert(k.to_string(), dec(v).unwrap_or_else(|| v.to_string()));
        }
        let bad = |k: &str| LinkError { param: k.to_string(), value: kv.get(k).cloned().unwrap_or_default() };
        let Some(p) = raw_p else { return Ok(None) };
        let prompt = dec(&p).filter(|p| !p.trim().is_empty()).ok_or_else(|| bad("p"))?;
        let compare = raw_c.map(|c| dec(&c).filter(|c| !c.trim().is_empty()).ok_or_else(|| bad("c"))).transpose()?;
        let chat = match kv.get("m").map(String::as_str) {
            None | Some("raw") => false,
            Some("chat") => true,
            Some(_) => return Err(bad("m")),
        };
        let decoding = match kv.get("d") {
            None => Decoding::Greedy,
            Some(d) => {
                let f: Vec<&str> = d.split(':').collect();
                match f.as_slice() {
                    ["g"] => Decoding::Greedy,
                    ["s", rest @ ..] => Decoding::Sample(sampling(rest).ok_or_else(|| bad("d"))?),
                    ["b", w, n, a] => {
                        let b = BeamOptions { width: w.parse().map_err(|_| bad("d"))?, steps: n.parse().map_err(|_| bad("d"))?, length_penalty: a.parse().map_err(|_| bad("d"))? };
                        b.check().map_err(|_| bad("d"))?;
                        Decoding::Beam(b)
                    }
                    _ => return Err(bad("d")),
                }
            }
        };
        let num = |k: &str, default: usize| -> Result<usize, LinkError> { kv.get(k).map_or(Ok(default), |v| v.parse().map_err(|_| bad(k))) };
        let steps = num("n", 0)?;
        let forced: Vec<(usize, u32)> = pairs(kv.get("f").map_or("", String::as_str)).ok_or_else(|| bad("f"))?;
        if forced.iter().any(|&(i, _)| i >= steps) || forced.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(bad("f"));
        }
        let mut drawn = Vec::new();
        for entry in kv.get("w").map_or("", String::as_str).split(',').filter(|e| !e.is_empty()) {
            let f: Vec<&str> = entry.split(':').collect();
            let (Some(i), Some(s)) = (f.first().and_then(|i| i.parse::<usize>().ok()), sampling(&f[1.min(f.len())..])) else { return Err(bad("w")) };
            drawn.push((i, s));
        }
        if drawn.iter().any(|&(i, _)| i >= steps) || drawn.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(bad("w"));
        }
        let ablation = pairs(kv.get("a").map_or("", String::as_str)).ok_or_else(|| bad("a"))?;
        let mut heads = Vec::new();
        for entry in kv.get("o").map_or("", String::as_str).split(',').filter(|e| !e.is_empty()) {
            let mut parts = entry.split('/');
            let i: usize = parts.next().and_then(|i| i.parse().ok()).ok_or_else(|| bad("o"))?;
            let off: Option<Vec<(usize, usize)>> = parts.map(|p| p.split_once(':').and_then(|(l, h)| Some((l.parse().ok()?, h.parse().ok()?)))).collect();
            heads.push((i, off.ok_or_else(|| bad("o"))?));
        }
        if heads.iter().any(|&(i, _)| i >= steps) || heads.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(bad("o"));
        }
        let branch = kv.get("b").map(|b| b.parse().map_err(|_| bad("b"))).transpose()?;
        if compare.is_some() && matches!(decoding, Decoding::Beam(_)) {
            // (Beam search has no second sequence.)
            return Err(bad("c"));
        }
        let view = ViewState {
            layer: num("l", 0)?,
            head: num("h", 0)?,
            focus: kv.get("q").map(|q| q.parse().map_err(|_| bad("q"))).transpose()?,
            view: match kv.get("v").map(String::as_str) {
                None => "heatmap".into(),
                Some(v @ ("heatmap" | "grid" | "lines")) => v.into(),
                Some(_) => return Err(bad("v")),
            },
            inside: match kv.get("i").map(String::as_str) {
                None => "math".into(),
                Some(v @ ("math" | "lens" | "residual" | "why" | "flow" | "patch")) => v.into(),
                Some(_) => return Err(bad("i")),
            },
            patch: match (kv.get("pc"), kv.get("px")) {
                (None, None) => None,
                (Some(c), Some(x)) if !c.trim().is_empty() && !x.trim().is_empty() => Some(PatchPrompts {
                    clean: c.clone(),
                    corrupt: x.clone(),
                    what: match kv.get("pw") {
                        None => crate::patch::Site::Residual,
                        Some(w) => crate::patch::Site::parse(w).ok_or_else(|| bad("pw"))?,
                    },
                }),
                (Some(_), _) => return Err(bad("pc")),
                (None, Some(_)) => return Err(bad("px")),
            },
        };
        let lang = match kv.get("lang") {
            None => Lang::En,
            Some(l) => Lang::from_code(l).ok_or_else(|| bad("lang"))?,
        };
        let model = match kv.get("model") {
            None => None,
            // A model kept in the browser, or another site's by its address.
            Some(m) if crate::protocol::remote::is_remote(m) => Some(m.clone()),
            Some(m) => Some(crate::protocol::KeptModel::from_key(m).ok_or_else(|| bad("model"))?.key),
        };
        Ok(Some(Shared { prompt, chat, decoding, steps, forced, drawn, branch, ablation, heads, view, lang, model, compare }))
    }

    /// The heads that were off when generated token `i` was computed (sorted).
    pub fn heads_at(&self, i: usize) -> Vec<(usize, usize)> {
        let off = match self.heads.iter().rev().find(|d| d.0 <= i) {
            Some((_, off)) => off.clone(),
            None => self.ablation.clone(),
        };
        crate::inspect::Ablation::new(off).off
    }

    /// The settings generated token `i` is drawn with.
    pub fn drawn_at(&self, i: usize) -> Sampling {
        match self.drawn.iter().rev().find(|d| d.0 <= i) {
            Some((_, s)) => s.effective(),
            None => self.decoding.sampling().effective(),
        }
    }
}

/// "T:k:p:seed" as a link writes sampling settings (T = 0: greedy).
fn sampling(f: &[&str]) -> Option<Sampling> {
    let [t, k, p, seed] = f else { return None };
    let s = Sampling { temperature: t.parse().ok()?, top_k: k.parse().ok()?, top_p: p.parse().ok()?, seed: seed.parse().ok()? };
    s.validate().ok().map(|_| s)
}

/// The current version of the session file.
pub const SCHEMA: u32 = 1;

/// Which model a session was made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelId {
    pub name: String,
    pub n_layers: usize,
    pub n_heads: usize,
    pub vocab: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileToken {
    pub id: u32,
    pub text: String,
    /// "prompt", "generated" or "forced".
    pub kind: String,
}

/// A saved session: what replays it, and what it showed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionFile {
    pub schema: u32,
    pub app: String,
    pub model: ModelId,
    pub session: Shared,
    pub tokens: Vec<FileToken>,
    /// For each generated token: the candidates it was chosen from.
    pub candidates: Vec<Vec<crate::trace::Candidate>>,
}

/// Why a session file is refused (the page says which).
#[derive(Debug, Clone, PartialEq)]
pub enum FileError {
    NotASession(String),
    NewerSchema(u32),
    OtherModel { file: String, page: String },
}

impl SessionFile {
    /// Read a file and check it can be replayed here, on `model`.
    pub fn read(text: &str, model: &ModelId) -> Result<SessionFile, FileError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| FileError::NotASession(e.to_string()))?;
        if v.get("app").and_then(|a| a.as_str()) != Some("glassbox") {
            return Err(FileError::NotASession("it is not a Glassbox session".into()));
        }
        let schema = v.get("schema").and_then(|s| s.as_u64()).ok_or_else(|| FileError::NotASession("no schema version".into()))?;
        if schema > SCHEMA as u64 {
            return Err(FileError::NewerSchema(schema as u32));
        }
        let f: SessionFile = serde_json::from_value(v).map_err(|e| FileError::NotASession(e.to_string()))?;
        if f.model != *model {
            return Err(FileError::OtherModel { file: describe(&f.model), page: describe(model) });
        }
        Ok(f)
    }

    /// The generated ids the file says its settings produce.
    pub fn generated_ids(&self) -> Vec<u32> {
        self.tokens.iter().filter(|t| t.kind != "prompt").map(|t| t.id).collect()
    }
}

fn describe(m: &ModelId) -> String {
    format!("{} ({} layers, {} heads, {} tokens)", m.name, m.n_layers, m.n_heads, m.vocab)
}
