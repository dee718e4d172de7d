//! `glassbox serve`: the page and the model from one origin, with the MIME
//! types browsers insist on (module scripts, application/wasm).
//!
//! HTTP/1.1 by hyper on tokio's async I/O: a waiting client costs a task and
//! its buffers, not a thread, so a few hundred (or a thousand) slow clients
//! leave every other request answered at once, on a fixed number of threads
//! and in bounded memory (a cap on open connections answers 503 beyond it).
//! A client has `header_deadline` to send its request; a response whose
//! reader stops reading, or takes less than `min_rate` bytes a second over
//! each `stall` of waiting, is cut off. GET and HEAD only (others 405).
//! Paths are percent-decoded and checked against the root after decoding
//! (no `..`, backslash, NUL or encoded separator escapes it); single Range
//! requests (a resumed model download: 206, or 416 past the end); an ETag
//! from the file's size and modification time (the page keys its copy of
//! the model by it); a precompressed `FILE.gz` with `Content-Encoding:
//! gzip` when the browser accepts it (scripts/build-web.sh writes the
//! wasm's). Every response carries the cross-origin isolation headers
//! (`ISOLATION`; `--no-isolation` leaves them out, as a plain static host
//! would), which the page's threads need.
//!
//! Why hyper rather than the 438 lines on std before it: those parsed
//! HTTP by hand and gave each connection a pool thread, so 32 clients
//! reading a byte every 29 s, or 300 sending their headers slowly, held
//! every thread and the rest got 503. hyper parses, keeps connections
//! alive and times out slow headers; what stays here is the policy: which
//! file, which range, which encoding, how slow is too slow. (tower-http's
//! ServeDir does ranges and precompressed files, but not the ETag the page
//! versions its cache by, nor the model served from outside the root.)

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, ACCEPT_ENCODING, RANGE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::error::{Error, Result};

/// The URL path the page fetches the model from (see protocol::MODEL_URL).
pub const MODEL_PATH: &str = "/model.gguf";

/// How the server behaves under load.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Threads that run every connection (named serve-PORT-N).
    pub threads: usize,
    /// Connections open at once; a new one beyond them gets 503 at once.
    pub connections: usize,
    /// Time a client has to send its request line and headers.
    pub header_deadline: Duration,
    /// Longest a response may wait on a reader that takes nothing.
    pub stall: Duration,
    /// Bytes a second a reader must take, measured over each `stall` of waiting on it.
    pub min_rate: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { threads: 4, connections: 4096, header_deadline: Duration::from_secs(10), stall: Duration::from_secs(30), min_rate: 1024 }
    }
}

/// The longest request header accepted (hyper answers 431 past it).
const MAX_HEADER: usize = 16 * 1024;

/// Bytes read from a file per frame of a response.
const CHUNK: usize = 64 * 1024;

pub fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "ftl" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Percent-decode a URL path; None for a bad escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file under `root` for a URL path, refusing anything that could
/// leave it: the path is percent-decoded first, then `..`, `.`, absolute
/// parts, backslashes and NUL bytes are refused.
pub fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let raw = url.split(['?', '#']).next().unwrap_or("/");
    let path = percent_decode(raw)?;
    if path.contains(['\\', '\0']) {
        return None;
    }
    let rel = Path::new(path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = root.join(rel);
    if full.is_dir() {
        Some(full.join("index.html"))
    } else {
        Some(full)
    }
}

/// Whether an Accept-Encoding header takes gzip: named (or `*`) with a
/// quality above 0 (`gzip;q=0.5` takes it, `gzip;q=0` refuses it).
pub fn accepts_gzip(header: &str) -> bool {
    let mut star = None;
    for item in header.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts.find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))).map_or(Some(1.0), |q| q.trim().parse::<f32>().ok());
        let takes = q.is_some_and(|q| q > 0.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => return takes,
            "*" => star = Some(takes),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

/// A byte range of a `len`-byte file from a Range header: Ok(None) when it
/// asks for the whole file (or is not a single byte range, which is
/// ignored as the standard allows), Err when it cannot be satisfied.
/// A Range header that no byte of the file satisfies (answered 416).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

pub fn parse_range(h: &str, len: u64) -> std::result::Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = h.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return Ok(None) };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ok(None),
        // The last b bytes.
        (true, false) => {
            let n: u64 = b.parse().map_err(|_| Unsatisfiable)?;
            if n == 0 || len == 0 {
                return Err(Unsatisfiable);
            }
            (len.saturating_sub(n), len - 1)
        }
        (false, _) => {
            let start: u64 = a.parse().map_err(|_| Unsatisfiable)?;
            let end: u64 = if b.is_empty() { len.saturating_sub(1) } else { b.parse().map_err(|_| Unsatisfiable)? };
            if start >= len || end < start {
                return Err(Unsatisfiable);
            }
            (start, end.min(len - 1))
        }
    };
    Ok(Some(range))
}


type Body = BoxBody<Bytes, std::io::Error>;

fn plain(code: StatusCode, text: &str, head_only: bool) -> Response<Body> {
    let body = if head_only { Empty::new().map_err(|e| match e {}).boxed() } else { Full::new(Bytes::from(text.to_string())).map_err(|e| match e {}).boxed() };
    let mut r = Response::new(body);
    *r.status_mut() = code;
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert("content-length", HeaderValue::from(text.len()));
    r
}

struct Site {
    root: PathBuf,
    model: PathBuf,
    log: bool,
    /// Send the cross-origin isolation headers.
    isolate: bool,
}

/// The headers that make the page cross-origin isolated, so that the
/// browser gives it shared memory: the CPU engine's threads (a Web Worker
/// pool sharing one wasm memory) need it. `require-corp` rather than
/// `credentialless`: every browser with shared memory knows it; the page
/// loads nothing from elsewhere but a model by URL, fetched with CORS.
pub const ISOLATION: [(&str, &str); 2] = [("cross-origin-opener-policy", "same-origin"), ("cross-origin-embedder-policy", "require-corp")];

/// A file's bytes `start..start + n`, read a chunk at a time as the client takes them.
fn file_body(file: tokio::fs::File, start: u64, n: u64) -> Body {
    let stream = futures_util::stream::try_unfold((file, start, n, false), |(mut f, start, left, seeked)| async move {
        if !seeked {
            f.seek(std::io::SeekFrom::Start(start)).await?;
        }
        if left == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; (left as usize).min(CHUNK)];
        let got = f.read(&mut buf).await?;
        if got == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file is shorter than it was"));
        }
        buf.truncate(got);
        Ok(Some((Frame::data(Bytes::from(buf)), (f, start, left - got as u64, true))))
    });
    BodyExt::boxed(StreamBody::new(stream))
}

/// The answer to one request.
async fn answer(req: &Request<Incoming>, site: &Site) -> Response<Body> {
    let head_only = req.method() == Method::HEAD;
    if req.method() != Method::GET && !head_only {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD", false);
        r.headers_mut().insert("allow", HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let Some(target) = req.uri().path_and_query().map(|p| p.as_str()).filter(|t| t.starts_with('/')) else {
        return plain(StatusCode::BAD_REQUEST, "bad request target", head_only);
    };
    let is_model = target.split('?').next() == Some(MODEL_PATH);
    let Some(path) = (if is_model { Some(site.model.clone()) } else { resolve(&site.root, target) }) else {
        return plain(StatusCode::BAD_REQUEST, "bad path", head_only);
    };
    let header = |k| req.headers().get(k).and_then(|v| v.to_str().ok());
    let range = header(RANGE);
    let gzip = header(ACCEPT_ENCODING).is_some_and(accepts_gzip);
    // The precompressed copy when the browser takes gzip (not for ranges).
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let mut encoded = false;
    let mut file = None;
    if gzip && range.is_none() && !is_model {
        if let Ok(f) = tokio::fs::File::open(&gz).await {
            file = Some(f);
            encoded = true;
        }
    }
    let file = match file {
        Some(f) => Ok(f),
        None => tokio::fs::File::open(&path).await,
    };
    let (file, meta) = match file {
        Ok(f) => match f.metadata().await {
            Ok(m) if m.is_file() => (f, m),
            _ => return plain(StatusCode::NOT_FOUND, "not found", head_only),
        },
        Err(_) if is_model => return plain(StatusCode::NOT_FOUND, &format!("model not found at {}: run scripts/fetch-model.sh", site.model.display()), head_only),
        Err(_) => return plain(StatusCode::NOT_FOUND, "not found", head_only),
    };
    let len = meta.len();
    let (code, start, n, content_range) = match range.map(|r| parse_range(r, len)) {
        Some(Err(Unsatisfiable)) => {
            let mut r = plain(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable", head_only);
            r.headers_mut().insert("content-range", HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"));
            return r;
        }
        Some(Ok(Some((a, b)))) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1, Some(format!("bytes {a}-{b}/{len}"))),
        _ => (StatusCode::OK, 0, len, None),
    };
    let body = if head_only { Empty::new().map_err(|e| match e {}).boxed() } else { file_body(file, start, n) };
    let mut r = Response::new(body);
    *r.status_mut() = code;
    // The file's version, for caches (the page keys its copy of the model by it).
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let h = r.headers_mut();
    let v = |s: String| HeaderValue::from_str(&s).expect("ascii header");
    h.insert("content-type", HeaderValue::from_static(mime(&path)));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert("accept-ranges", HeaderValue::from_static("bytes"));
    h.insert("etag", v(format!("\"{len:x}-{mtime:x}{}\"", if encoded { "-gz" } else { "" })));
    if encoded {
        h.insert("content-encoding", HeaderValue::from_static("gzip"));
    }
    if !is_model {
        h.insert("vary", HeaderValue::from_static("accept-encoding"));
    }
    if let Some(cr) = content_range {
        h.insert("content-range", v(cr));
    }
    // A Content-Length (not chunks) lets the page show download progress.
    h.insert("content-length", HeaderValue::from(n));
    r
}

/// A connection's socket, cut off when its reader is too slow: a write may
/// wait on the reader, but over each `stall` of waiting the reader must take
/// at least `min_rate` bytes a second (one that reads a few bytes every 29
/// seconds held a thread for ever).
struct Paced<S> {
    inner: S,
    stall: Duration,
    min_rate: u64,
    /// Waiting time and bytes taken in the current window.
    waited: Duration,
    taken: u64,
    /// Waiting on the reader since.
    since: Option<Instant>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Paced<S> {
    fn new(inner: S, limits: &Limits) -> Paced<S> {
        Paced { inner, stall: limits.stall, min_rate: limits.min_rate, waited: Duration::ZERO, taken: 0, since: None, timer: None }
    }

    fn enough(&self) -> bool {
        self.taken as f64 >= self.min_rate as f64 * self.stall.as_secs_f64()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Paced<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Paced<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let p = &mut *self;
        match Pin::new(&mut p.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if let Some(s) = p.since.take() {
                    p.waited += s.elapsed();
                }
                p.taken += n as u64;
                if p.waited >= p.stall {
                    p.waited = Duration::ZERO;
                    p.taken = 0;
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending => {
                let now = Instant::now();
                let since = *p.since.get_or_insert(now);
                let waited = p.waited + (now - since);
                if waited >= p.stall {
                    if !p.enough() {
                        return Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the client reads too slowly")));
                    }
                    // A slow but steady reader: a new window.
                    p.waited = Duration::ZERO;
                    p.taken = 0;
                    p.since = Some(now);
                }
                let left = p.stall.saturating_sub(p.waited + (now - p.since.unwrap_or(now)));
                let deadline = tokio::time::Instant::now() + left;
                match &mut p.timer {
                    Some(t) => t.as_mut().reset(deadline),
                    None => p.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
                }
                if let Some(t) = &mut p.timer {
                    // Wake when the window ends, to judge the reader then.
                    let _ = t.as_mut().poll(cx);
                }
                Poll::Pending
            }
            other => other,
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Every connection open at once beyond `connections`: 503 at once, and close.
async fn busy(mut s: tokio::net::TcpStream) {
    // Take what the client has sent already (closing on unread bytes resets
    // the connection, and the client would lose the answer).
    let _ = s.try_read(&mut [0u8; 4096]);
    let text = "busy: try again";
    let reply = format!("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
    let _ = tokio::time::timeout(Duration::from_secs(1), s.write_all(reply.as_bytes())).await;
    let _ = s.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut [0u8; 4096])).await;
}

/// Serve connections from `listener` until the process stops.
/// `isolate`: send `ISOLATION` with every response.
pub fn serve_on(listener: TcpListener, root: &Path, model: &Path, log: bool, isolate: bool, limits: Limits) -> Result<()> {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let next = AtomicUsize::new(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(limits.threads.max(1))
        .max_blocking_threads(limits.threads.max(1))
        .thread_name_fn(move || format!("serve-{port}-{}", next.fetch_add(1, Ordering::Relaxed)))
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the server's threads: {e}")))?;
    let site = Arc::new(Site { root: root.to_path_buf(), model: model.to_path_buf(), log, isolate });
    rt.block_on(async move {
        listener.set_nonblocking(true).map_err(|e| Error::Usage(format!("cannot listen: {e}")))?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| Error::Usage(format!("cannot listen: {e}")))?;
        let open = Arc::new(AtomicUsize::new(0));
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                // Out of file descriptors, say: wait for some to close.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if open.load(Ordering::Relaxed) >= limits.connections {
                tokio::spawn(busy(stream));
                continue;
            }
            open.fetch_add(1, Ordering::Relaxed);
            let (site, open, limits) = (site.clone(), open.clone(), limits.clone());
            tokio::spawn(async move {
                let io = TokioIo::new(Paced::new(stream, &limits));
                let service = service_fn(|req: Request<Incoming>| {
                    let site = site.clone();
                    async move {
                        let mut r = answer(&req, &site).await;
                        if site.isolate {
                            for (k, v) in ISOLATION {
                                r.headers_mut().insert(k, HeaderValue::from_static(v));
                            }
                        }
                        if site.log {
                            println!("{} {} {}", req.method(), req.uri(), r.status().as_u16());
                            let _ = std::io::stdout().flush();
                        }
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_deadline)
                    .max_buf_size(MAX_HEADER.max(8192))
                    .serve_connection(io, service)
                    .await;
                open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    })
}

/// Serve `root` and the model on host:port until the process is stopped.
pub fn serve(host: &str, port: u16, root: &Path, model: &Path, log: bool, isolate: bool) -> Result<()> {
    if !root.join("pkg").exists() {
        eprintln!("glassbox serve: {} has no pkg/ yet: build the page with scripts/build-web.sh", root.display());
    }
    if !model.exists() {
        eprintln!("glassbox serve: no model at {}: run scripts/fetch-model.sh", model.display());
    }
    let listener = TcpListener::bind((host, port)).map_err(|e| Error::Usage(format!("cannot listen on {host}:{port}: {e}")))?;
    println!("Glassbox is at http://{host}:{port}/  (Ctrl-C stops it)");
    let _ = std::io::stdout().flush();
    if !isolate {
        println!("(without the isolation headers: the CPU engine runs on one thread)");
    }
    let _ = std::io::stdout().flush();
    serve_on(listener, root, model, log, isolate, Limits::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv/www");
        assert_eq!(resolve(root, "/pkg/glassbox.js?v=1"), Some(PathBuf::from("/srv/www/pkg/glassbox.js")));
        assert_eq!(resolve(root, "/a%20b.txt"), Some(PathBuf::from("/srv/www/a b.txt")));
        for bad in [
            "/../etc/passwd",
            "/pkg/../../x",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/pkg/%2e%2e/%2e%2e/x",
            "/..%2fx",
            "/..\\x",
            "/pkg%5c..%5c..%5cx",
            "/x%00.html",
            "/%zz",
            "/%c0%ae%c0%ae/x",
            "/./x",
        ] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
        // An encoded leading slash is still a path inside the root.
        assert_eq!(resolve(root, "/%2fetc/passwd"), Some(PathBuf::from("/srv/www/etc/passwd")));
        assert_eq!(mime(Path::new("a.wasm")), "application/wasm");
        assert_eq!(mime(Path::new("worker.js")), "text/javascript; charset=utf-8");
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(parse_range("bytes=-1000", 100), Ok(Some((0, 99))));
        assert_eq!(parse_range("bytes=50-5000", 100), Ok(Some((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=9-3", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=x-3", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }
}
