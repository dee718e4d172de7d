//! Bytes from the network, the browser cache and the user's files, read
//! with progress, never more than the page can open. A model another site
//! serves comes the same way, and what goes wrong is named: the server does
//! not allow the read (CORS), has no such file, sends something that is not
//! a GGUF, or the network drops (then the download resumes with a Range
//! request where the server allows it, and starts again where it does not).

use js_sys::Uint8Array;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

use crate::model::Problem;
use crate::protocol::{remote, FromWorker, KeptModel, Phase};
use crate::worker::cache::{forget, open_cache};
use crate::worker::post::{post, scope};

/// The largest file the page opens: WebAssembly memory holds 4 GB, and the
/// file, the CPU backend's copy of the weights and the caches share it.
pub const MAX_OPEN: u64 = 3 << 30;

/// The largest download buffer reserved up front, whatever Content-Length says.
const MAX_RESERVE: u64 = 1 << 30;

/// How many times a dropped download is taken up again.
const RESUMES: u32 = 4;

/// Why a model's bytes could not be had: the kind, and the whole story.
pub type Failure = (Problem, String);

/// A body longer than the page can open (said by its header, or read so far).
fn too_long(bytes: u64) -> Failure {
    (Problem::TooBig, format!("the model is at least {} MB; the page opens files up to {} MB", bytes >> 20, MAX_OPEN >> 20))
}

fn js_text(e: &wasm_bindgen::JsValue) -> String {
    e.as_string()
        .or_else(|| js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| format!("{e:?}"))
}

/// How reading a body stopped short.
enum Cut {
    /// For good: too big, not a GGUF.
    Fatal(Failure),
    /// The connection broke: worth taking up again.
    Dropped(String),
}

/// Read a stream to its end onto `bytes`, reporting progress every
/// megabyte against `total`. With `gguf`, the first four bytes must be the
/// GGUF magic (a web page sent in place of the file stops at once).
async fn read_stream(body: &web_sys::ReadableStream, phase: Phase, total: u64, bytes: &mut Vec<u8>, gguf: bool) -> Result<(), Cut> {
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut last = bytes.len() as u64;
    post(FromWorker::Progress { phase, done: last, total });
    loop {
        let chunk = match JsFuture::from(reader.read()).await {
            Ok(c) => c,
            Err(e) => return Err(Cut::Dropped(js_text(&e))),
        };
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map(|v| v.is_truthy()).unwrap_or(true);
        if done {
            break;
        }
        let Ok(value) = js_sys::Reflect::get(&chunk, &"value".into()) else { return Err(Cut::Dropped("a chunk without bytes".into())) };
        let value: Uint8Array = value.unchecked_into();
        let start = bytes.len();
        if (start + value.length() as usize) as u64 > MAX_OPEN {
            let _ = reader.cancel();
            return Err(Cut::Fatal(too_long(start as u64 + value.length() as u64)));
        }
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        if gguf && start < 4 && bytes.len() >= 4 && &bytes[..4] != b"GGUF" {
            let _ = reader.cancel();
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).chars().filter(|c| !c.is_control()).collect::<String>();
            return Err(Cut::Fatal((Problem::NotGguf, format!("the server sent something that does not begin with GGUF (it begins “{head}”)"))));
        }
        if bytes.len() as u64 - last >= 1 << 20 {
            last = bytes.len() as u64;
            post(FromWorker::Progress { phase, done: last, total });
        }
    }
    post(FromWorker::Progress { phase, done: bytes.len() as u64, total: total.max(bytes.len() as u64) });
    Ok(())
}

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers().get(name).ok().flatten()
}

fn length(resp: &Response) -> Option<u64> {
    header(resp, "content-length").and_then(|v| v.parse().ok())
}

/// Wait `ms` milliseconds.
async fn sleep(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(p).await;
}

/// The file's version as its server describes it, from a HEAD request:
/// the served file's ETag (glassbox serve makes it from the size and
/// modification time), another site's size and ETag. None when the server
/// gives none or cannot be reached (offline: any kept copy will do).
async fn served_version(url: &str) -> Option<String> {
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    let resp: Response = JsFuture::from(scope().fetch_with_str_and_init(url, &init)).await.ok()?.dyn_into().ok()?;
    if !resp.ok() {
        return None;
    }
    let etag = header(&resp, "etag");
    if remote::is_remote(url) {
        return remote::version(length(&resp), etag.as_deref());
    }
    let tag: String = etag?.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    (!tag.is_empty()).then_some(tag)
}

/// Why a fetch of `url` was refused before any answer. Offline is the
/// network. Another site that answers a no-cors HEAD is there but does not
/// allow the read (CORS). When that probe fails too, a page that is not
/// cross-origin isolated could not reach the site; an isolated one cannot
/// tell (its policy blocks the probe's answer as well), and CORS is the
/// likelier story.
async fn refused(url: &str, e: &wasm_bindgen::JsValue) -> Failure {
    let host = remote::host(url).to_string();
    let global = js_sys::global();
    let flag = |o: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).ok().and_then(|v| v.as_bool());
    let online = js_sys::Reflect::get(&global, &"navigator".into()).ok().and_then(|n| flag(&n, "onLine")).unwrap_or(true);
    let unreachable = || (Problem::Network, format!("could not reach {url}: {} (offline, or a wrong address?)", js_text(e)));
    if !online || !remote::is_remote(url) {
        return unreachable();
    }
    let init = web_sys::RequestInit::new();
    init.set_method("HEAD");
    init.set_mode(web_sys::RequestMode::NoCors);
    if JsFuture::from(scope().fetch_with_str_and_init(url, &init)).await.is_ok() {
        return (Problem::Cors, format!("the server at {host} answers, but does not allow pages on other sites to read {url} (no Access-Control-Allow-Origin header)"));
    }
    if flag(&global, "crossOriginIsolated") == Some(true) {
        return (Problem::Cors, format!("the server at {host} did not let this page read {url}: it sends no Access-Control-Allow-Origin header (or it could not be reached at all)"));
    }
    unreachable()
}

/// A response that is not the file: the status, named.
fn bad_status(url: &str, resp: &Response) -> Failure {
    let host = remote::host(url);
    let status = resp.status();
    let hint = if remote::is_remote(url) { String::new() } else { " (is `glassbox serve` running with the model fetched by scripts/fetch-model.sh?)".to_string() };
    let problem = if status == 404 || status == 410 { Problem::NotFound } else { Problem::Http };
    (problem, format!("downloading the model from {url} failed: {host} answered HTTP {status} {}{hint}", resp.status_text()))
}

/// Fetch `url` (from byte `from` on, when not 0).
async fn get(url: &str, from: u64) -> Result<Response, wasm_bindgen::JsValue> {
    let init = web_sys::RequestInit::new();
    if from > 0 {
        let headers = web_sys::Headers::new()?;
        headers.set("range", &format!("bytes={from}-"))?;
        init.set_headers(&headers);
    }
    Ok(JsFuture::from(scope().fetch_with_str_and_init(url, &init)).await?.unchecked_into())
}

/// Whether a 206 answer continues a file of `total` bytes at byte `from`
/// (by its Content-Range where the server shows it, else by its length).
fn continues(resp: &Response, from: u64, total: u64) -> bool {
    if resp.status() != 206 {
        return false;
    }
    match header(resp, "content-range") {
        Some(r) => r.strip_prefix("bytes ").and_then(|r| r.split_once('-')).and_then(|(s, _)| s.trim().parse::<u64>().ok()) == Some(from),
        None => total > 0 && length(resp) == Some(total - from),
    }
}

/// Download `url` to the end, with progress: its bytes and its ETag. A
/// dropped connection is taken up again from where it stopped (a Range
/// request) or from the start (a server without ranges), a few times.
async fn download(url: &str) -> Result<(Vec<u8>, Option<String>), Failure> {
    let mut resp = match get(url, 0).await {
        Ok(r) => r,
        Err(e) => return Err(refused(url, &e).await),
    };
    if !resp.ok() {
        return Err(bad_status(url, &resp));
    }
    let mut total = length(&resp).unwrap_or(0);
    if total > MAX_OPEN {
        return Err(too_long(total));
    }
    let mut etag = header(&resp, "etag");
    let mut bytes = Vec::with_capacity(total.min(MAX_RESERVE) as usize);
    let mut tries = 0;
    // Whether asking for the rest can work (a server that answered a range
    // with some other part is asked for the whole file from then on).
    let mut ranges = true;
    loop {
        let Some(body) = resp.body() else { return Err((Problem::Network, format!("the answer from {url} has no body"))) };
        let cut = match read_stream(&body, Phase::Download, total, &mut bytes, true).await {
            // (A body shorter than its Content-Length was cut.)
            Ok(()) if (bytes.len() as u64) < total => format!("the connection closed after {} of {} bytes", bytes.len(), total),
            Ok(()) => return Ok((bytes, etag)),
            Err(Cut::Fatal(f)) => return Err(f),
            Err(Cut::Dropped(why)) => why,
        };
        // Take it up again, from where it stopped if the server can.
        loop {
            tries += 1;
            if tries > RESUMES {
                return Err((Problem::Network, format!("the network dropped after {:.1} of {:.1} MB of {url} ({cut}), {RESUMES} times", bytes.len() as f64 / 1e6, total as f64 / 1e6)));
            }
            web_sys::console::warn_1(&format!("Glassbox: the download of {url} stopped at {} bytes ({cut}); taking it up again", bytes.len()).into());
            sleep(300 * tries as i32).await;
            let from = if ranges { bytes.len() as u64 } else { 0 };
            match get(url, from).await {
                Ok(r) if from > 0 && continues(&r, from, total) => {
                    resp = r;
                    break;
                }
                Ok(r) if r.status() == 200 => {
                    // No ranges here (or none asked): the whole file again.
                    total = length(&r).unwrap_or(0);
                    if total > MAX_OPEN {
                        return Err(too_long(total));
                    }
                    etag = header(&r, "etag");
                    bytes.clear();
                    resp = r;
                    break;
                }
                // Some other part, or none that fits: the whole file next time.
                Ok(r) if r.status() == 206 || r.status() == 416 => ranges = false,
                Ok(r) => return Err(bad_status(url, &r)),
                Err(_) => {}
            }
        }
    }
}

/// A kept copy in the browser cache: `key` exactly, or with `any`, any
/// version of the address it starts with.
async fn kept_copy(key: &str, any: bool) -> Option<Response> {
    // No cache (a private window, storage off) is no reason not to load.
    let cache = open_cache().await.ok()?;
    let hit = if any {
        let opts = web_sys::CacheQueryOptions::new();
        opts.set_ignore_search(true);
        JsFuture::from(cache.match_with_str_and_options(key, &opts)).await.ok()?
    } else {
        JsFuture::from(cache.match_with_str(key)).await.ok()?
    };
    hit.dyn_into::<Response>().ok()
}

/// The model's bytes, whether they came from the browser cache, and the
/// cache key they belong under. The served model and another site's are
/// cached by address and version, so a new file at the same address is
/// downloaded, not the old one served from the cache for ever (offline, or
/// with no version said, any kept copy opens); a user's kept model by its
/// own key.
pub async fn fetch_model(url: &str) -> Result<(Vec<u8>, bool, String), Failure> {
    let kept = KeptModel::from_key(url).is_some();
    let is_remote = remote::is_remote(url);
    let base = if is_remote { remote::cache_base(url) } else { url.to_string() };
    let version = if kept { None } else { served_version(url).await };
    let key = match &version {
        Some(v) if is_remote => remote::cache_key(url, v),
        Some(v) => format!("{url}?v={v}"),
        None => base.clone(),
    };
    if let Some(resp) = kept_copy(&key, !kept && version.is_none()).await {
        let total = length(&resp).unwrap_or(0);
        let at = resp.url();
        let hit = if version.is_none() && !kept && !at.is_empty() { at } else { key.clone() };
        let mut bytes = Vec::with_capacity(total.min(MAX_RESERVE) as usize);
        let read = match resp.body() {
            Some(body) => read_stream(&body, Phase::Cache, total, &mut bytes, false).await,
            None => Err(Cut::Dropped("no body".into())),
        };
        match read {
            Ok(()) if total == 0 || bytes.len() as u64 == total => return Ok((bytes, true, hit)),
            Err(Cut::Fatal(f)) => return Err(f),
            // A damaged entry: forget it and download again.
            _ => forget(&hit).await,
        }
    }
    if kept {
        return Err((Problem::Unreadable, format!("the kept model {url} is no longer in this browser")));
    }
    let (bytes, etag) = download(url).await?;
    // Another site's file is kept under the version of what came.
    let key = if is_remote { remote::cache_key(url, &remote::version(Some(bytes.len() as u64), etag.as_deref()).unwrap_or_default()) } else { key };
    Ok((bytes, false, key))
}

/// Read the user's file to the end, with progress; the error says why not.
pub async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, Failure> {
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
    match read_stream(&file.stream(), Phase::Read, size, &mut bytes, false).await {
        Ok(()) => {}
        Err(Cut::Fatal(f)) => return Err(f),
        Err(Cut::Dropped(e)) => return Err(unreadable(e)),
    }
    if bytes.len() as u64 != size {
        return Err(unreadable(format!("read {} of {} bytes", bytes.len(), size)));
    }
    Ok(bytes)
}
