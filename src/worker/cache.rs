//! The browser's Cache API: the models kept in this browser, by key (the
//! served file's URL and version, another site's model under "remote/…"
//! by address and version, or a user's model's "kept/…" key).

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, Response};

use crate::protocol::{remote, KeptModel};
use crate::worker::post::{js_err, scope};
use crate::error::{Error, Result};

const CACHE_NAME: &str = "glassbox-models-v1";

/// Forget every kept version of the served file at `url`.
pub async fn forget_versions(url: &str) {
    if let Ok(cache) = open_cache().await {
        let opts = web_sys::CacheQueryOptions::new();
        opts.set_ignore_search(true);
        let _ = JsFuture::from(cache.delete_with_str_and_options(url, &opts)).await;
    }
}

thread_local! {
    /// The fault tests' stand-in for a browser without the Cache API.
    pub static NO_CACHE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub async fn open_cache() -> Result<Cache> {
    if NO_CACHE.with(|c| c.get()) {
        return Err(Error::Backend("the browser cache is not available (test hook)".into()));
    }
    let caches = scope().caches().map_err(js_err("opening the browser cache"))?;
    Ok(JsFuture::from(caches.open(CACHE_NAME)).await.map_err(js_err("opening the browser cache"))?.unchecked_into())
}

/// Keep a model's bytes in the browser cache under `key` (only once it has
/// loaded: a file that fails is never kept). A full cache or none at all
/// (private windows) is not an error: the page says so and goes on.
pub async fn keep(key: &str, bytes: &[u8]) -> Result<()> {
    let cache = open_cache().await?;
    let init = web_sys::ResponseInit::new();
    init.set_status(200);
    let headers = web_sys::Headers::new().map_err(js_err("caching the model"))?;
    let _ = headers.set("content-length", &bytes.len().to_string());
    let _ = headers.set("content-type", "application/octet-stream");
    init.set_headers(&headers);
    let array = Uint8Array::from(bytes);
    let copy = Response::new_with_opt_buffer_source_and_init(Some(&array), &init).map_err(js_err("caching the model"))?;
    JsFuture::from(cache.put_with_str(key, &copy)).await.map_err(js_err("keeping the model in the browser cache"))?;
    Ok(())
}

pub async fn forget(key: &str) {
    if let Ok(cache) = open_cache().await {
        let _ = JsFuture::from(cache.delete_with_str(key)).await;
    }
}

/// Whether the cache holds `key`.
pub async fn is_kept(key: &str) -> bool {
    let Ok(cache) = open_cache().await else { return false };
    JsFuture::from(cache.match_with_str(key)).await.is_ok_and(|r| r.dyn_into::<Response>().is_ok())
}

/// The user's models kept in this browser.
pub async fn kept_models() -> Vec<KeptModel> {
    let Ok(cache) = open_cache().await else { return Vec::new() };
    let Ok(keys) = JsFuture::from(cache.keys()).await else { return Vec::new() };
    let mut out: Vec<KeptModel> = js_sys::Array::from(&keys)
        .iter()
        .filter_map(|r| r.dyn_into::<web_sys::Request>().ok())
        .filter_map(|r| {
            let url = r.url();
            match url.find("/kept/") {
                Some(at) => KeptModel::from_key(&url[at + 1..]),
                None => remote::from_cache_url(&url),
            }
        })
        .collect();
    // (Two versions of one address are one model here.)
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out.dedup_by(|a, b| a.key == b.key);
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.key.cmp(&b.key)));
    out
}
