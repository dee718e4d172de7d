//! Every string the page shows, in English and 中文: one Fluent catalogue
//! per language (`assets/i18n/{en,zh}.ftl`, compiled in), read with the
//! `fluent-bundle` crate. Natively too, so that tests can check that both
//! catalogues hold the same messages and that every message the page uses
//! exists.

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};

pub const EN_FTL: &str = include_str!("../assets/i18n/en.ftl");
pub const ZH_FTL: &str = include_str!("../assets/i18n/zh.ftl");

/// The guided tour's stops, in order: each has the messages
/// `tour-<id>-title` and `tour-<id>` (the page's tour component points each
/// at its panel).
pub const TOUR: [&str; 16] = ["map", "tokens", "embedding", "qkv", "scaled", "mask", "softmax", "heads", "roles", "ffn", "residual", "logits", "why", "flow", "patch", "decoding"];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

    /// The code used in URLs and storage: "en", "zh".
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
    /// What the language switch shows.
    pub fn label(self) -> &'static str {
        match self {
            Lang::En => "EN",
            Lang::Zh => "中文",
        }
    }
    /// "zh", "zh-CN", "zh-Hant-TW"… → Zh; "en-GB" → En; anything else → None.
    pub fn from_code(code: &str) -> Option<Lang> {
        let base = code.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match base.as_str() {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }
    /// The first of the browser's preferred languages that the page speaks.
    pub fn from_preferences<'a>(langs: impl IntoIterator<Item = &'a str>) -> Lang {
        langs.into_iter().find_map(Lang::from_code).unwrap_or_default()
    }
    pub fn source(self) -> &'static str {
        match self {
            Lang::En => EN_FTL,
            Lang::Zh => ZH_FTL,
        }
    }
}

/// One language's messages.
/// The page's messages in its current language (shared: a context the
/// page's app provides to its components).
pub type Tr = std::rc::Rc<Catalog>;

pub struct Catalog {
    pub lang: Lang,
    bundle: FluentBundle<FluentResource>,
}

impl PartialEq for Catalog {
    fn eq(&self, o: &Catalog) -> bool {
        self.lang == o.lang
    }
}

/// A value for a message's placeable: text, or a number (for plurals).
pub enum Arg {
    Str(String),
    Num(f64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Str(s.to_string())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Str(s)
    }
}
impl From<usize> for Arg {
    fn from(n: usize) -> Arg {
        Arg::Num(n as f64)
    }
}
impl From<f64> for Arg {
    fn from(n: f64) -> Arg {
        Arg::Num(n)
    }
}

impl Catalog {
    /// Parse the language's catalogue; an error lists what is wrong in it.
    pub fn new(lang: Lang) -> Result<Catalog, String> {
        let res = FluentResource::try_new(lang.source().to_string()).map_err(|(_, errs)| format!("{}.ftl: {errs:?}", lang.code()))?;
        let id: unic_langid::LanguageIdentifier = lang.code().parse().map_err(|e| format!("{e:?}"))?;
        let mut bundle = FluentBundle::new(vec![id]);
        // No Unicode isolation marks around placeables: text goes into
        // canvases and SVG too, where they would show.
        bundle.set_use_isolating(false);
        bundle.add_resource(res).map_err(|errs| format!("{}.ftl: {errs:?}", lang.code()))?;
        Ok(Catalog { lang, bundle })
    }

    /// The message `id`; a missing one shows as ⟦id⟧ (and the tests fail).
    pub fn t(&self, id: &str) -> String {
        self.tf(id, &[])
    }

    /// The message `id` with its placeables filled.
    pub fn tf(&self, id: &str, args: &[(&str, Arg)]) -> String {
        let Some(pattern) = self.bundle.get_message(id).and_then(|m| m.value()) else {
            return format!("⟦{id}⟧");
        };
        let mut fa = FluentArgs::new();
        for (k, v) in args {
            match v {
                Arg::Str(s) => fa.set(*k, FluentValue::from(s.clone())),
                Arg::Num(n) => fa.set(*k, FluentValue::from(*n)),
            }
        }
        let mut errors = Vec::new();
        let s = self.bundle.format_pattern(pattern, Some(&fa), &mut errors);
        s.into_owned()
    }

    /// Whether the catalogue has message `id`.
    pub fn has(&self, id: &str) -> bool {
        self.bundle.has_message(id)
    }
}

/// The ids of the messages in a Fluent source (for the tests).
pub fn message_ids(ftl: &str) -> Vec<String> {
    ftl.lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
        .filter_map(|l| l.split_once('=').map(|(id, _)| id.trim().to_string()))
        .collect()
}
