//! `glassbox serve`: the page and the model from one origin, with the MIME
//! types browsers insist on (module scripts, application/wasm).
//!
//! A small HTTP/1.1 server on the standard library, built to survive abuse:
//! a fixed pool of worker threads fed by a bounded queue (a thousand slow
//! clients never make a thousand threads; when the queue is full, new
//! connections get 503 at once), a deadline for a request's header (a
//! client dribbling bytes is cut off), GET and HEAD only (others 405),
//! percent-decoded paths checked against the root after decoding (no `..`,
//! backslash, NUL or encoded separator escapes it), single Range requests
//! (a resumed download of the model: 206, or 416 past the end), and a
//! precompressed `FILE.gz` served with `Content-Encoding: gzip` when the
//! browser accepts it (scripts/build-web.sh writes the wasm's). One request
//! per connection (`Connection: close`).
//! (tiny_http, used before, grows a thread per waiting connection.)

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The URL path the page fetches the model from (see web::app::MODEL_URL).
pub const MODEL_PATH: &str = "/model.gguf";

/// How the server behaves under load.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Worker threads: the most requests served at once.
    pub workers: usize,
    /// Connections waiting for a worker; beyond them, 503.
    pub queue: usize,
    /// Time a client has to send its request line and headers.
    pub header_deadline: Duration,
    /// Longest a single write may block (a reader that stopped reading).
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { workers: 32, queue: 256, header_deadline: Duration::from_secs(10), write_timeout: Duration::from_secs(30) }
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

/// The longest request header accepted.
const MAX_HEADER: usize = 16 * 1024;

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

/// A parsed request: method, target and the headers we use.
#[derive(Debug, Default)]
struct Request {
    method: String,
    target: String,
    range: Option<String>,
    gzip: bool,
}

/// Read the request line and headers within the deadline.
fn read_request(stream: &TcpStream, deadline: Instant) -> std::result::Result<Request, u16> {
    let mut reader = BufReader::new(stream.try_clone().map_err(|_| 500u16)?);
    let mut req = Request::default();
    let mut total = 0usize;
    let mut first = true;
    loop {
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()).ok_or(408u16)?;
        stream.set_read_timeout(Some(left)).map_err(|_| 500u16)?;
        let mut line = Vec::new();
        // One line, bounded by what is left of the header budget.
        let n = (&mut reader).take((MAX_HEADER - total + 1) as u64).read_until(b'\n', &mut line).map_err(|_| 408u16)?;
        if n == 0 {
            return Err(400);
        }
        total += n;
        if total > MAX_HEADER || !line.ends_with(b"\n") {
            return Err(if total > MAX_HEADER { 431 } else { 408 });
        }
        let line = String::from_utf8(line).map_err(|_| 400u16)?;
        let line = line.trim_end_matches(['\r', '\n']);
        if first {
            let mut parts = line.split(' ');
            let (m, t, v) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if m.is_empty() || !t.starts_with('/') || !v.starts_with("HTTP/1.") || parts.next().is_some() {
                return Err(400);
            }
            req.method = m.to_string();
            req.target = t.to_string();
            first = false;
            continue;
        }
        if line.is_empty() {
            return Ok(req);
        }
        let (k, v) = line.split_once(':').ok_or(400u16)?;
        let v = v.trim();
        if k.eq_ignore_ascii_case("range") {
            req.range = Some(v.to_string());
        } else if k.eq_ignore_ascii_case("accept-encoding") {
            req.gzip = accepts_gzip(v);
        }
    }
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

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

fn head(code: u16, headers: &[(&str, String)]) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {code} {}\r\nConnection: close\r\n", status_text(code));
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn plain(stream: &mut TcpStream, code: u16, body: &str, extra: &[(&str, String)], send_body: bool) -> std::io::Result<()> {
    let mut h = vec![("Content-Type", "text/plain; charset=utf-8".to_string()), ("Content-Length", body.len().to_string())];
    h.extend(extra.iter().cloned());
    stream.write_all(&head(code, &h))?;
    if send_body {
        stream.write_all(body.as_bytes())?;
    }
    Ok(())
}

/// After an error answer to a request not read to its end: close our side,
/// then read (briefly) what the client still sends, so that the close does
/// not reset the connection before the client has read the answer.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 4096];
    let mut left = 1 << 16;
    while left > 0 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left -= n.min(left),
        }
    }
}

struct Site {
    root: PathBuf,
    model: PathBuf,
    log: bool,
    limits: Limits,
}

/// Answer one connection: one request, then close.
fn handle(mut stream: TcpStream, site: &Site) {
    let deadline = Instant::now() + site.limits.header_deadline;
    let _ = stream.set_write_timeout(Some(site.limits.write_timeout));
    let req = match read_request(&stream, deadline) {
        Ok(r) => r,
        Err(code) => {
            let _ = plain(&mut stream, code, status_text(code), &[], true);
            linger(&mut stream);
            return;
        }
    };
    let status = respond(&mut stream, &req, site).unwrap_or(0);
    if site.log {
        println!("{} {} {status}", req.method, req.target);
        let _ = std::io::stdout().flush();
    }
}

/// Send the response; the status sent (for the log).
fn respond(stream: &mut TcpStream, req: &Request, site: &Site) -> std::io::Result<u16> {
    let body = req.method == "GET";
    if req.method != "GET" && req.method != "HEAD" {
        plain(stream, 405, "only GET and HEAD", &[("Allow", "GET, HEAD".into())], true)?;
        return Ok(405);
    }
    let is_model = req.target.split('?').next() == Some(MODEL_PATH);
    let path = if is_model { Some(site.model.clone()) } else { resolve(&site.root, &req.target) };
    let Some(path) = path else {
        plain(stream, 400, "bad path", &[], body)?;
        return Ok(400);
    };
    // The precompressed copy when the browser takes gzip (not for ranges).
    let gz = PathBuf::from(format!("{}.gz", path.display()));
    let (file, encoded) = match (req.gzip && req.range.is_none() && !is_model, File::open(&gz)) {
        (true, Ok(f)) => (Ok(f), true),
        _ => (File::open(&path), false),
    };
    let mut file = match file.and_then(|f| f.metadata().map(|m| (f, m))) {
        Ok((f, m)) if m.is_file() => f,
        _ => {
            let msg = if is_model { format!("model not found at {}: run scripts/fetch-model.sh", site.model.display()) } else { "not found".into() };
            plain(stream, 404, &msg, &[], body)?;
            return Ok(404);
        }
    };
    let meta = file.metadata()?;
    let len = meta.len();
    // The file's version, for caches (the page keys its copy of the model by it).
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let mut headers = vec![
        ("Content-Type", mime(&path).to_string()),
        ("Cache-Control", "no-cache".to_string()),
        ("Accept-Ranges", "bytes".to_string()),
        ("ETag", format!("\"{len:x}-{mtime:x}{}\"", if encoded { "-gz" } else { "" })),
    ];
    if encoded {
        headers.push(("Content-Encoding", "gzip".into()));
    }
    if !is_model {
        headers.push(("Vary", "Accept-Encoding".into()));
    }
    let (code, start, n) = match req.range.as_deref().map(|r| parse_range(r, len)) {
        Some(Err(Unsatisfiable)) => {
            plain(stream, 416, "range not satisfiable", &[("Content-Range", format!("bytes */{len}"))], body)?;
            return Ok(416);
        }
        Some(Ok(Some((a, b)))) => {
            headers.push(("Content-Range", format!("bytes {a}-{b}/{len}")));
            (206, a, b - a + 1)
        }
        _ => (200, 0, len),
    };
    // A Content-Length (not chunks) lets the page show download progress.
    headers.push(("Content-Length", n.to_string()));
    stream.write_all(&head(code, &headers))?;
    if body {
        file.seek(SeekFrom::Start(start))?;
        std::io::copy(&mut file.take(n), stream)?;
    }
    Ok(code)
}

/// Serve connections from `listener` until the process stops.
pub fn serve_on(listener: TcpListener, root: &Path, model: &Path, log: bool, limits: Limits) -> Result<()> {
    let site = Arc::new(Site { root: root.to_path_buf(), model: model.to_path_buf(), log, limits: limits.clone() });
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let (tx, rx): (SyncSender<TcpStream>, Receiver<TcpStream>) = sync_channel(limits.queue);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..limits.workers.max(1) {
        let (rx, site) = (rx.clone(), site.clone());
        std::thread::Builder::new()
            .name(format!("serve-{port}-{i}"))
            .spawn(move || loop {
                let next = rx.lock().map(|r| r.recv());
                match next {
                    Ok(Ok(stream)) => handle(stream, &site),
                    _ => return,
                }
            })
            .map_err(|e| Error::Usage(format!("cannot start the server's threads: {e}")))?;
    }
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        match tx.try_send(stream) {
            Ok(()) => {}
            // Every worker busy and the queue full: say so at once rather
            // than hold the connection.
            Err(TrySendError::Full(mut s)) => {
                // Take what the client has sent already without waiting for
                // more (closing on unread bytes resets the connection, and the
                // client would lose the answer).
                let _ = s.set_nonblocking(true);
                let _ = s.read(&mut [0u8; 4096]);
                let _ = s.set_nonblocking(false);
                let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = plain(&mut s, 503, "busy: try again", &[("Retry-After", "1".into())], true);
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            Err(TrySendError::Disconnected(_)) => break,
        }
    }
    Ok(())
}

/// Serve `root` and the model on host:port until the process is stopped.
pub fn serve(host: &str, port: u16, root: &Path, model: &Path, log: bool) -> Result<()> {
    if !root.join("pkg").exists() {
        eprintln!("glassbox serve: {} has no pkg/ yet: build the page with scripts/build-web.sh", root.display());
    }
    if !model.exists() {
        eprintln!("glassbox serve: no model at {}: run scripts/fetch-model.sh", model.display());
    }
    let listener = TcpListener::bind((host, port)).map_err(|e| Error::Usage(format!("cannot listen on {host}:{port}: {e}")))?;
    println!("Glassbox is at http://{host}:{port}/  (Ctrl-C stops it)");
    let _ = std::io::stdout().flush();
    serve_on(listener, root, model, log, Limits::default())
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
