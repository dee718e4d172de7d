//! The tokenizer, built with the `tokenizers` crate from the GGUF's own
//! vocabulary and merges; the chat template rendered with minijinja; and a
//! streaming detokenizer that never splits a UTF-8 character.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::gguf::GgufHeader;
use crate::error::{Error, Result};

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into() }
    }
}

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The raw bytes each token stands for.
    token_bytes: Vec<Vec<u8>>,
    /// Control tokens (`<|im_start|>` …): shown as their text, never merged.
    special: Vec<bool>,
    pub bos: Option<u32>,
    /// Prompts start with BOS (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    pub eos: Option<u32>,
    chat_template: Option<String>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer({} tokens)", self.token_bytes.len())
    }
}

/// GPT-2's reversible byte ↔ printable-character map used by byte-level BPE:
/// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100….
pub(crate) fn byte_level_chars() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        map[b as usize] = if printable {
            b as char
        } else {
            let c = char::from_u32(next).expect("U+0100.. are chars");
            next += 1;
            c
        };
    }
    map
}

/// Llama 3's pre-tokenizer split (llama.cpp's LLAMA3 regex).
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenizer for a GGUF `tokenizer.ggml.pre` name.
fn pre_tokenizer(pre: &str) -> Result<serde_json::Value> {
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    match pre {
        // llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM: each digit alone, then GPT-2's regex.
        "smollm" => Ok(json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            byte_level,
        ]})),
        "gpt2" | "gpt-2" | "default" => Ok(byte_level),
        // llama.cpp's LLAMA_VOCAB_PRE_TYPE_LLAMA3: Llama 3's split, then bytes.
        "llama-bpe" | "llama3" => Ok(json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
        ]})),
        other => Err(Error::Tokenizer(format!(
            "pre-tokenizer '{other}' is not supported (known: smollm, gpt2, llama-bpe); tokenizing with a guess would give wrong ids"
        ))),
    }
}

impl Tokenizer {
    pub fn from_gguf(h: &GgufHeader) -> Result<Tokenizer> {
        let model = h.get_str("tokenizer.ggml.model")?;
        if model == "llama" {
            return Err(Error::Tokenizer(
                "this model's vocabulary is SentencePiece ('llama'), which Glassbox does not implement (it reads byte-level BPE, 'gpt2', as in SmolLM2, Llama 3 and GPT-2)".into(),
            ));
        }
        if model != "gpt2" {
            return Err(Error::Tokenizer(format!("tokenizer model '{model}' is not supported (Glassbox reads byte-level BPE, 'gpt2')")));
        }
        let pre = h.get_str("tokenizer.ggml.pre").unwrap_or("default");
        let pre_tokenizer = pre_tokenizer(pre)?;

        let tokens: Vec<&str> = h
            .get_array("tokenizer.ggml.tokens")?
            .iter()
            .map(|v| v.as_str().ok_or_else(|| Error::Tokenizer("tokenizer.ggml.tokens holds a non-string".into())))
            .collect::<Result<_>>()?;
        let types: Vec<i64> = match h.get("tokenizer.ggml.token_type") {
            Some(crate::gguf::Value::Numbers(a)) => a.values().map(|v| v.as_f64().map(|f| f as i64).unwrap_or(1)).collect(),
            Some(crate::gguf::Value::Array(a)) => a.iter().map(|v| v.as_f64().map(|f| f as i64).unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(Error::Tokenizer(format!("{} token types for {} tokens", types.len(), tokens.len())));
        }
        let merges: Vec<[&str; 2]> = h
            .get_array("tokenizer.ggml.merges")?
            .iter()
            .map(|v| {
                let s = v.as_str().unwrap_or("");
                match s.split_once(' ') {
                    Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(' ') => Ok([a, b]),
                    _ => Err(Error::Tokenizer(format!("malformed merge {s:?}"))),
                }
            })
            .collect::<Result<_>>()?;

        let mut vocab = serde_json::Map::new();
        let mut added = Vec::new();
        let mut special = vec![false; tokens.len()];
        for (id, (&tok, &ty)) in tokens.iter().zip(&types).enumerate() {
            if !vocab.contains_key(tok) {
                vocab.insert(tok.to_string(), json!(id));
            }
            if ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_USER_DEFINED {
                special[id] = ty == TOKEN_TYPE_CONTROL;
                added.push(json!({
                    "id": id, "content": tok, "single_word": false, "lstrip": false,
                    "rstrip": false, "normalized": false, "special": ty == TOKEN_TYPE_CONTROL,
                }));
            }
        }
        let spec = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer,
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges,
            },
        });
        let inner: tokenizers::Tokenizer = serde_json::from_value(spec)
            .map_err(|e| Error::Tokenizer(format!("could not build the tokenizer from the GGUF vocabulary: {e}")))?;

        // Bytes of every token: control tokens are their text; the others
        // are byte-level characters mapped back to bytes.
        let to_byte: HashMap<char, u8> = byte_level_chars().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        let token_bytes = tokens
            .iter()
            .zip(&special)
            .map(|(tok, &sp)| {
                if sp {
                    tok.as_bytes().to_vec()
                } else {
                    // A char outside the map (only in user-defined tokens) stands for itself.
                    let mut out = Vec::with_capacity(tok.len());
                    for ch in tok.chars() {
                        match to_byte.get(&ch) {
                            Some(&b) => out.push(b),
                            None => out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes()),
                        }
                    }
                    out
                }
            })
            .collect();

        let id = |k: &str| h.get_u32(k).ok().filter(|&v| (v as usize) < tokens.len());
        Ok(Tokenizer {
            inner,
            token_bytes,
            special,
            bos: id("tokenizer.ggml.bos_token_id"),
            add_bos: h.get_bool("tokenizer.ggml.add_bos_token").unwrap_or(false),
            eos: id("tokenizer.ggml.eos_token_id"),
            chat_template: h.get_str("tokenizer.chat_template").ok().map(str::to_string),
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.token_bytes.len()
    }

    /// Token ids for `text`; control-token text (`<|im_start|>`) becomes its id; no BOS is added.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// A prompt's ids as the model expects them: with BOS first when the
    /// model's GGUF asks for it (Llama 3 does; SmolLM2 does not).
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.encode(text)?;
        if let (true, Some(b)) = (self.add_bos, self.bos) {
            if ids.first() != Some(&b) {
                ids.insert(0, b);
            }
        }
        Ok(ids)
    }

    /// The text of `ids`, control tokens included (invalid UTF-8 becomes U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id));
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The same through the `tokenizers` crate's own decoder (used to cross-check `decode`).
    pub fn decode_with_crate(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, false).map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// Raw bytes of one token (empty for an id outside the vocabulary).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.token_bytes.get(id as usize).map(Vec::as_slice).unwrap_or(&[])
    }

    /// One token's text on its own (a token that ends mid-character shows U+FFFD).
    pub fn piece(&self, id: u32) -> String {
        String::from_utf8_lossy(self.token_bytes(id)).into_owned()
    }

    /// The text of each id named, once each, in id order: what an answer
    /// sends beside the ids it names.
    pub fn pieces(&self, ids: impl IntoIterator<Item = u32>) -> Vec<(u32, String)> {
        let mut ids: Vec<u32> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().map(|id| (id, self.piece(id))).collect()
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// Ids of every control token.
    pub fn special_ids(&self) -> Vec<u32> {
        (0..self.special.len() as u32).filter(|&i| self.special[i as usize]).collect()
    }

    /// Render `messages` with the model's chat template (ChatML for SmolLM2),
    /// ending with the assistant's turn opener when `add_generation_prompt`.
    pub fn apply_chat_template(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let src = self.chat_template.as_deref().ok_or_else(|| Error::Tokenizer("the model has no chat template".into()))?;
        let mut env = minijinja::Environment::new();
        env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
        });
        let err = |e: minijinja::Error| Error::Tokenizer(format!("chat template: {e}"));
        env.add_template("chat", src).map_err(err)?;
        let tok = |id: Option<u32>| id.map(|i| self.piece(i)).unwrap_or_default();
        env.get_template("chat")
            .map_err(err)?
            .render(minijinja::context! {
                messages => messages,
                add_generation_prompt => add_generation_prompt,
                bos_token => tok(self.bos),
                eos_token => tok(self.eos),
            })
            .map_err(err)
    }

    /// One user turn, rendered and ready for the assistant's answer.
    pub fn chat_prompt(&self, user: &str) -> Result<String> {
        self.apply_chat_template(&[ChatMessage::new("user", user)], true)
    }
}

/// Turns a stream of token ids into text without ever cutting a UTF-8
/// character in two: bytes of an unfinished character wait for the next token.
#[derive(Debug, Default, Clone)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// Add one token; return the text that is now complete.
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> String {
        self.pending.extend_from_slice(tok.token_bytes(id));
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).expect("valid prefix"));
                    match e.error_len() {
                        // An unfinished character at the end: keep it for later.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // Bytes that can never become a character.
                        Some(n) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + n);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is still pending, as text (U+FFFD for an unfinished character).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

    fn splits(pre: &str, text: &str) -> Vec<String> {
        let p: tokenizers::pre_tokenizers::PreTokenizerWrapper = serde_json::from_value(pre_tokenizer(pre).unwrap()).unwrap();
        let mut s = PreTokenizedString::from(text);
        p.pre_tokenize(&mut s).unwrap();
        s.get_splits(OffsetReferential::Original, OffsetType::Byte).into_iter().map(|(t, _, _)| t.to_string()).collect()
    }

    #[test]
    fn llama3_split_groups_digits_by_three_and_keeps_newlines_apart() {
        // Worked by hand from llama.cpp's LLAMA3 regex; ByteLevel shows ' ' as Ġ, '\n' as Ċ.
        assert_eq!(
            splits("llama-bpe", "Hello world's 12345 \n\n  x"),
            ["Hello", "Ġworld", "'s", "Ġ", "123", "45", "ĠĊĊ", "Ġ", "Ġx"]
        );
        // Case-insensitive contractions, punctuation runs with their newlines.
        assert_eq!(splits("llama3", "I'LL go!!\nok"), ["I", "'LL", "Ġgo", "!!Ċ", "ok"]);
    }

    #[test]
    fn unknown_pre_tokenizer_is_a_clear_error() {
        let e = pre_tokenizer("falcon").unwrap_err().to_string();
        assert!(e.contains("falcon") && e.contains("llama-bpe"), "{e}");
    }
}
