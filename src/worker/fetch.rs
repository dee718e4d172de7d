//! Bytes from the network, the browser cache and the user's files, read
//! with progress, never more than the page can open.

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

use crate::model::Problem;
use crate::protocol::{FromWorker, KeptModel, Phase};
use crate::worker::cache::{forget, open_cache};
use crate::worker::post::{js_err, post, scope};
use crate::error::{Error, Result};


/// The largest file the page opens: WebAssembly memory holds 4 GB, and the
/// file, the CPU backend's copy of the weights and the caches share it.
pub const MAX_OPEN: u64 = 3 << 30;

/// The largest download buffer reserved up front, whatever Content-Length says.
const MAX_RESERVE: u64 = 1 << 30;

/// A body longer than the page can open (said by its header, or read so far).
fn too_long(bytes: u64) -> Error {
    Error::Usage(format!("the model is at least {} MB; the page opens files up to {} MB", bytes >> 20, MAX_OPEN >> 20))
}

/// Read a response body to the end, reporting progress every megabyte.
/// Content-Length only sizes the first reservation (at most MAX_RESERVE)
/// and the progress bar; the body itself may be longer or shorter, and is
/// refused once it passes what the page can open.
async fn read_body(resp: &Response, phase: Phase, total: u64) -> Result<Vec<u8>> {
    if total > MAX_OPEN {
        return Err(too_long(total));
    }
    let body = resp.body().ok_or_else(|| Error::Backend("the model response has no body".into()))?;
    read_stream(&body, phase, total, Vec::with_capacity(total.min(MAX_RESERVE) as usize)).await
}

/// Read a stream to the end into `bytes`, reporting progress every megabyte.
async fn read_stream(body: &web_sys::ReadableStream, phase: Phase, total: u64, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut last = 0u64;
    post(FromWorker::Progress { phase, done: 0, total });
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(js_err("reading the model"))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map(|v| v.is_truthy()).unwrap_or(true);
        if done {
            break;
        }
        let value: Uint8Array = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js_err("reading the model"))?.unchecked_into();
        let start = bytes.len();
        if (start + value.length() as usize) as u64 > MAX_OPEN {
            return Err(too_long(start as u64 + value.length() as u64));
        }
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        if bytes.len() as u64 - last >= 1 << 20 {
            last = bytes.len() as u64;
            post(FromWorker::Progress { phase, done: last, total });
        }
    }
    post(FromWorker::Progress { phase, done: bytes.len() as u64, total: total.max(bytes.len() as u64) });
    Ok(bytes)
}

/// The served file's version: its ETag (glassbox serve makes it from the
/// size and modification time), from a HEAD request; None when the server
/// gives none or cannot be reached (offline: any kept copy will do).
async fn served_version(url: &str) -> Option<String> {
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    let resp: Response = JsFuture::from(scope().fetch_with_str_and_init(url, &init)).await.ok()?.dyn_into().ok()?;
    if !resp.ok() {
        return None;
    }
    let tag = resp.headers().get("etag").ok().flatten()?;
    let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    (!tag.is_empty()).then_some(tag)
}

/// The model's bytes, whether they came from the browser cache, and the
/// cache key they belong under. The served model is cached by URL and
/// version, so a new file at the same URL is downloaded, not the old one
/// served from the cache forever; a user's kept model by its own key.
pub async fn fetch_model(url: &str) -> Result<(Vec<u8>, bool, String)> {
    let kept = KeptModel::from_key(url).is_some();
    let version = if kept { None } else { served_version(url).await };
    let key = match &version {
        Some(v) => format!("{url}?v={v}"),
        None => url.to_string(),
    };
    // No cache (a private window, storage off) is no reason not to load.
    let hit = match open_cache().await {
        Ok(cache) if !kept && version.is_none() => {
            // Offline or no version: whichever copy is kept.
            let opts = web_sys::CacheQueryOptions::new();
            opts.set_ignore_search(true);
            JsFuture::from(cache.match_with_str_and_options(url, &opts)).await.ok()
        }
        Ok(cache) => JsFuture::from(cache.match_with_str(&key)).await.ok(),
        Err(_) => None,
    };
    if let Some(resp) = hit.and_then(|h| h.dyn_into::<Response>().ok()) {
        let total = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
        let bytes = read_body(&resp, Phase::Cache, total).await?;
        if total == 0 || bytes.len() as u64 == total {
            return Ok((bytes, true, key));
        }
        // A damaged entry: forget it and download again.
        forget(&key).await;
    }
    if kept {
        return Err(Error::Usage(format!("the kept model {url} is no longer in this browser")));
    }
    let resp: Response = JsFuture::from(scope().fetch_with_str(url))
        .await
        .map_err(js_err(&format!("downloading the model from {url}")))?
        .unchecked_into();
    if !resp.ok() {
        return Err(Error::Backend(format!(
            "downloading the model from {url} failed: HTTP {} (is `glassbox serve` running with the model fetched by scripts/fetch-model.sh?)",
            resp.status()
        )));
    }
    let total = resp.headers().get("content-length").ok().flatten().and_then(|v| v.parse().ok()).unwrap_or(0);
    let bytes = read_body(&resp, Phase::Download, total).await?;
    Ok((bytes, false, key))
}

/// Read the user's file to the end, with progress; the error says why not.
pub async fn read_file(file: &web_sys::File) -> std::result::Result<Vec<u8>, (Problem, String)> {
    let size = file.size() as u64;
    if size > MAX_OPEN {
        return Err((
            Problem::TooBig,
            format!("the file is {:.2} GB; this page's WebAssembly memory holds 4 GB, so files up to {:.1} GB open here", size as f64 / 1e9, MAX_OPEN as f64 / 1e9),
        ));
    }
    let mut bytes = Vec::new();
    if bytes.try_reserve_exact(size as usize).is_err() {
        return Err((Problem::TooBig, format!("the browser could not give {:.1} MB of memory to read the file", size as f64 / 1e6)));
    }
    let unreadable = |e: String| (Problem::Unreadable, format!("{e}: was the file moved, changed or deleted while it was read?"));
    let bytes = read_stream(&file.stream(), Phase::Read, size, bytes).await.map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() as u64 != size {
        return Err(unreadable(format!("read {} of {} bytes", bytes.len(), size)));
    }
    Ok(bytes)
}
