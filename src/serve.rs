//! `glassbox serve`: the page and the model from one origin, with the MIME
//! types browsers insist on (module scripts, application/wasm).

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use tiny_http::{Header, Request, Response, Server};

use crate::{Error, Result};

/// The URL path the page fetches the model from (see web::app::MODEL_URL).
pub const MODEL_PATH: &str = "/model.gguf";

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
        _ => "application/octet-stream",
    }
}

/// The file under `root` for a URL path, refusing anything that leaves it.
pub fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
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

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("valid header")
}

fn respond(req: Request, root: &Path, model: &Path, log: bool) {
    let url = req.url().to_string();
    let path = if url.split('?').next() == Some(MODEL_PATH) { Some(model.to_path_buf()) } else { resolve(root, &url) };
    let opened = path.as_deref().map(|p| (p, File::open(p)));
    if log {
        let ok = matches!(opened, Some((_, Ok(_))));
        println!("{} {url} {}", req.method(), if ok { 200 } else { 404 });
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    let result = match opened {
        Some((p, Ok(f))) => {
            // A Content-Length (not chunks) lets the page show download progress.
            let resp = Response::from_file(f)
                .with_header(header("Content-Type", mime(p)))
                .with_header(header("Cache-Control", "no-cache"))
                .with_chunked_threshold(usize::MAX);
            req.respond(resp)
        }
        Some((p, Err(_))) if p == model => req.respond(
            Response::from_string(format!("model not found at {}: run scripts/fetch-model.sh", model.display())).with_status_code(404),
        ),
        _ => req.respond(Response::from_string("not found").with_status_code(404)),
    };
    if let Err(e) = result {
        eprintln!("glassbox serve: {url}: {e}");
    }
}

/// Serve `root` and the model until the process is stopped.
pub fn serve(host: &str, port: u16, root: &Path, model: &Path, log: bool) -> Result<()> {
    if !root.join("pkg").exists() {
        eprintln!("glassbox serve: {} has no pkg/ yet: build the page with scripts/build-web.sh", root.display());
    }
    if !model.exists() {
        eprintln!("glassbox serve: no model at {}: run scripts/fetch-model.sh", model.display());
    }
    let server = Server::http((host, port)).map_err(|e| Error::Usage(format!("cannot listen on {host}:{port}: {e}")))?;
    println!("Glassbox is at http://{host}:{port}/  (Ctrl-C stops it)");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    for req in server.incoming_requests() {
        let (root, model) = (root.to_path_buf(), model.to_path_buf());
        // The model is large: serve every request on its own thread.
        std::thread::spawn(move || respond(req, &root, &model, log));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv/www");
        assert_eq!(resolve(root, "/pkg/glassbox.js?v=1"), Some(PathBuf::from("/srv/www/pkg/glassbox.js")));
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/pkg/../../x"), None);
        assert_eq!(mime(Path::new("a.wasm")), "application/wasm");
        assert_eq!(mime(Path::new("worker.js")), "text/javascript; charset=utf-8");
    }
}
