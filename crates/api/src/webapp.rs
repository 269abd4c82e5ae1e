//! The web app's files (`TELESTATE_WEB_DIR`), served beside the API on the same origin.
//!
//! This is the app's default service: it only sees requests no API route matched, so it
//! cannot slow or change the API. Paths under `/api`, `/healthz`, `/readyz` and `/metrics`
//! are never the app's: they keep the JSON 404. Every other GET or HEAD gets the file it
//! names, or `index.html` when it names none (the app routes itself, so a deep link such
//! as `/numbers/+442071230000` reloads into it).
//!
//! Rules a change here must keep: a path is decoded once and refused (404) if any segment
//! is `.`, `..` or holds a `\` or NUL; the file found must, after following symlinks, lie
//! inside the directory (else the app's page is served instead); directories are never
//! listed. `index.html` and files without a content hash in their name are `no-cache`
//! (revalidated by `ETag`); hashed names (`name-<8+ hex digits>.ext`, as trunk writes them)
//! never change, so they are cached for a year. A `.br` or `.gz` sibling is sent instead
//! when the client accepts it. The security headers, the app's `Content-Security-Policy`
//! among them, are set by `headers::middleware` for every path this module serves.

use std::{
    io,
    path::{Path, PathBuf},
    time::UNIX_EPOCH,
};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{Method, StatusCode, header},
    web,
};

use crate::{AppState, error::ApiError};

/// Where the built app is looked for when `TELESTATE_WEB_DIR` is unset (relative to the
/// working directory).
pub const DEFAULT_DIR: &str = "frontend/dist";

/// Path prefixes that belong to the server, never to the app.
const RESERVED: &[&str] = &["/api", "/healthz", "/readyz", "/metrics"];

/// Files named with a content hash: their content never changes under that name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else is revalidated on each use.
const REVALIDATE: &str = "no-cache";

/// True for a path the app may answer (not the API's or the probes').
pub fn is_app_path(path: &str) -> bool {
    !RESERVED.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Answers a request no route matched: the app's file or page, or the JSON 404.
pub async fn serve(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let method = req.method().clone();
    if !is_app_path(req.path()) || !(method == Method::GET || method == Method::HEAD) {
        return crate::error::no_route(req).await;
    }
    let Some(segments) = segments(req.path()) else {
        return Err(ApiError::NotFound(
            "the path is not a file of the web app".into(),
        ));
    };
    let dir = state.config.web_dir.clone();
    let encodings = accepted_encodings(&req);
    let found = web::block(move || find(&dir, &segments, encodings))
        .await
        .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
        .map_err(|e| ApiError::Internal(format!("reading the web app's file failed: {e}")))?;
    let Some(file) = found else {
        return Ok(not_built());
    };
    let unchanged = if_none_match(&req, &file.etag);
    let mut res = HttpResponse::build(if unchanged {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    res.insert_header((header::CACHE_CONTROL, file.cache_control))
        .insert_header((header::ETAG, file.etag))
        .insert_header((header::VARY, "Accept-Encoding"));
    if unchanged {
        return Ok(res.finish());
    }
    res.insert_header((header::CONTENT_TYPE, file.content_type));
    if let Some(encoding) = file.encoding {
        res.insert_header((header::CONTENT_ENCODING, encoding));
    }
    Ok(res.body(file.body))
}

/// The answer while no app is built: a short page saying how to build one.
fn not_built() -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((header::CACHE_CONTROL, REVALIDATE))
        .content_type("text/plain; charset=utf-8")
        .body(
            "The Telestate web app is not built, so there is nothing to show here yet.\n\
             Build it in frontend/ (`trunk build --release` writes frontend/dist), or set \
             TELESTATE_WEB_DIR to the directory holding its index.html.\n\
             The API is at /api/v1 and its documentation at /api/docs/.\n",
        )
}

/// The decoded, checked segments of a request path (empty ones dropped); `None` when a
/// segment could step outside the directory or is not text.
fn segments(path: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for raw in path.split('/') {
        let s = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .ok()?
            .into_owned();
        if s == "." || s == ".." || s.contains(['\\', '\0', '/']) {
            return None;
        }
        if !s.is_empty() {
            out.push(s);
        }
    }
    Some(out)
}

/// The precompressed variants a client accepts, best first.
#[derive(Debug, Clone, Copy, Default)]
struct Encodings {
    br: bool,
    gzip: bool,
}

fn accepted_encodings(req: &HttpRequest) -> Encodings {
    let mut e = Encodings::default();
    for value in req
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
    {
        for item in value.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            match coding.as_str() {
                "br" => e.br = true,
                "gzip" => e.gzip = true,
                _ => {}
            }
        }
    }
    e
}

fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == etag
        })
}

/// A file to send.
struct Found {
    body: Vec<u8>,
    content_type: &'static str,
    cache_control: &'static str,
    encoding: Option<&'static str>,
    etag: String,
}

/// The file `segments` names inside `dir`, or `index.html` when it names none; `None`
/// when there is no `index.html` either (the app is not built).
fn find(dir: &Path, segments: &[String], enc: Encodings) -> io::Result<Option<Found>> {
    let Ok(root) = dir.canonicalize() else {
        return Ok(None);
    };
    let named = if segments.is_empty() {
        None
    } else {
        file_in(&root, &segments.iter().collect::<PathBuf>())
    };
    let Some(path) = named.or_else(|| file_in(&root, Path::new("index.html"))) else {
        return Ok(None);
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let variant = [(enc.br, "br", ".br"), (enc.gzip, "gzip", ".gz")]
        .into_iter()
        .filter(|(accepted, _, _)| *accepted)
        .find_map(|(_, coding, ext)| {
            let sibling = path.with_file_name(format!("{name}{ext}"));
            file_in(&root, sibling.strip_prefix(&root).ok()?).map(|p| (p, coding))
        });
    let (read_from, encoding) = match variant {
        Some((p, coding)) => (p, Some(coding)),
        None => (path, None),
    };
    let meta = std::fs::metadata(&read_from)?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    let etag = format!(
        "\"{:x}-{:x}.{:x}{}\"",
        meta.len(),
        modified.as_secs(),
        modified.subsec_nanos(),
        encoding.map(|e| format!("-{e}")).unwrap_or_default()
    );
    Ok(Some(Found {
        body: std::fs::read(&read_from)?,
        content_type: content_type(&name),
        cache_control: if name != "index.html" && is_hashed(&name) {
            IMMUTABLE
        } else {
            REVALIDATE
        },
        encoding,
        etag,
    }))
}

/// `root/relative` if it is a regular file that, symlinks followed, lies inside `root`.
fn file_in(root: &Path, relative: &Path) -> Option<PathBuf> {
    let path = root.join(relative).canonicalize().ok()?;
    (path.starts_with(root) && path.is_file()).then_some(path)
}

/// True for names carrying a content hash: `-` then at least 8 lowercase hex digits, then
/// the extension (or trunk's `_bg` before it), e.g. `telestate-3f9a1c2b4d5e6f70.js`.
fn is_hashed(name: &str) -> bool {
    name.match_indices('-').any(|(i, _)| {
        let rest = &name[i + 1..];
        let hex = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .count();
        let after = &rest[hex..];
        hex >= 8 && (after.starts_with('.') || after.starts_with("_bg."))
    })
}

/// The media type of a file, by its extension.
fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_a_content_hash_are_recognised() {
        for (name, hashed) in [
            ("telestate-3f9a1c2b4d5e6f70.js", true),
            ("telestate-3f9a1c2b4d5e6f70_bg.wasm", true),
            ("style-0123abcd.css", true),
            ("index.html", false),
            ("favicon.ico", false),
            ("my-app.js", false),
            ("telestate-3f9a1c2.js", false),
            ("telestate-3F9A1C2B4D.js", false),
            ("logo-deadbeef0.svg", true),
        ] {
            assert_eq!(is_hashed(name), hashed, "{name}");
        }
    }

    #[test]
    fn reserved_prefixes_are_not_the_apps() {
        for (path, app) in [
            ("/", true),
            ("/numbers/+442071230000", true),
            ("/api", false),
            ("/api/v1/nope", false),
            ("/apiary", true),
            ("/healthz", false),
            ("/metrics", false),
            ("/metricsboard", true),
        ] {
            assert_eq!(is_app_path(path), app, "{path}");
        }
    }

    #[test]
    fn segments_that_could_leave_the_directory_are_refused() {
        assert_eq!(segments("/a/b.js"), Some(vec!["a".into(), "b.js".into()]));
        assert_eq!(segments("//a//"), Some(vec!["a".into()]));
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/a/%2E%2E/b",
            "/a/..%2fb",
            "/a%5c..%5cb",
            "/a%00b",
            "/%ff",
            "/./a",
        ] {
            assert_eq!(segments(bad), None, "{bad}");
        }
    }
}
