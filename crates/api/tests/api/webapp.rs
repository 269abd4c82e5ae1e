//! Serving the web app beside the API: the page for every app path, cache headers by
//! file name, content types, the app's security policy, and nothing outside its directory.

use std::path::{Path, PathBuf};

use actix_web::http::Method;

use crate::common::{Resp, TestApp};

const INDEX: &str = "<!doctype html><title>Telestate</title>";
const SECRET: &str = "TOP SECRET, outside the web directory";

/// A built app in a fresh directory (removed on drop), with a secret file beside it.
struct Site {
    root: PathBuf,
}

impl Site {
    fn new() -> Site {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "telestate-webapp-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let dist = root.join("dist");
        std::fs::create_dir_all(dist.join("assets")).unwrap();
        let write = |name: &str, body: &[u8]| std::fs::write(dist.join(name), body).unwrap();
        write("index.html", INDEX.as_bytes());
        write("telestate-3f9a1c2b4d5e6f70.js", b"export default 1;");
        write("telestate-3f9a1c2b4d5e6f70_bg.wasm", b"\0asm\x01\0\0\0");
        write("telestate-3f9a1c2b4d5e6f70_bg.wasm.br", b"brotli bytes");
        write("telestate-3f9a1c2b4d5e6f70_bg.wasm.gz", b"gzip bytes");
        write("favicon.ico", b"icon");
        write("assets/logo.svg", b"<svg/>");
        std::fs::write(root.join("secret.txt"), SECRET).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("secret.txt"), dist.join("leak.txt")).unwrap();
        Site { root }
    }

    fn dist(&self) -> PathBuf {
        self.root.join("dist")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn app_serving(dir: &Path) -> TestApp {
    TestApp::with_config(api::ApiConfig {
        web_dir: dir.to_path_buf(),
        ..api::ApiConfig::default()
    })
    .await
}

#[track_caller]
fn assert_page(r: &Resp) {
    assert_eq!(r.status.as_u16(), 200, "{}: {}", r.what, r.text());
    assert_eq!(r.text(), INDEX, "{}", r.what);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8"),
        "{}",
        r.what
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(
        r.header("content-security-policy").as_deref(),
        Some(api::headers::APP_POLICY),
        "{}",
        r.what
    );
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(r.header("referrer-policy").as_deref(), Some("no-referrer"));
}

#[actix_web::test]
async fn every_app_path_gets_the_page_with_the_apps_policy() {
    let site = Site::new();
    let app = app_serving(&site.dist()).await;
    for path in [
        "/",
        "/index.html",
        "/numbers/%2B442071230000",
        "/numbers/+442071230000",
        "/ranges/7?tab=history",
        "/assets",
        "/assets/",
        "/missing.js",
        "/apiary",
    ] {
        assert_page(&app.get(path).send().await);
    }
    assert_eq!(
        api::headers::APP_POLICY,
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
         base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    let head = app.req(Method::HEAD, "/numbers").send().await;
    assert_eq!(head.status.as_u16(), 200);
    assert_eq!(head.header("cache-control").as_deref(), Some("no-cache"));
}

#[actix_web::test]
async fn files_get_their_types_and_hashed_names_are_cached_for_a_year() {
    let site = Site::new();
    let app = app_serving(&site.dist()).await;
    let immutable = Some("public, max-age=31536000, immutable");
    let js = app.get("/telestate-3f9a1c2b4d5e6f70.js").send().await;
    assert_eq!(js.status.as_u16(), 200);
    assert_eq!(
        js.header("content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(js.header("cache-control").as_deref(), immutable);
    assert_eq!(js.text(), "export default 1;");
    let wasm = app.get("/telestate-3f9a1c2b4d5e6f70_bg.wasm").send().await;
    assert_eq!(wasm.status.as_u16(), 200);
    assert_eq!(
        wasm.header("content-type").as_deref(),
        Some("application/wasm")
    );
    assert_eq!(wasm.header("cache-control").as_deref(), immutable);
    assert_eq!(&wasm.body[..], b"\0asm\x01\0\0\0");
    assert_eq!(wasm.header("content-encoding"), None);
    let icon = app.get("/favicon.ico").send().await;
    assert_eq!(icon.status.as_u16(), 200);
    assert_eq!(icon.header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(icon.header("content-type").as_deref(), Some("image/x-icon"));
    let svg = app.get("/assets/logo.svg").send().await;
    assert_eq!(svg.status.as_u16(), 200);
    assert_eq!(svg.header("content-type").as_deref(), Some("image/svg+xml"));
}

#[actix_web::test]
async fn a_precompressed_sibling_is_sent_to_clients_that_accept_it() {
    let site = Site::new();
    let app = app_serving(&site.dist()).await;
    let path = "/telestate-3f9a1c2b4d5e6f70_bg.wasm";
    for (accept, encoding, body) in [
        ("gzip, deflate, br", Some("br"), &b"brotli bytes"[..]),
        ("gzip", Some("gzip"), b"gzip bytes"),
        ("br;q=0, gzip;q=0.5", Some("gzip"), b"gzip bytes"),
        ("identity", None, b"\0asm\x01\0\0\0"),
    ] {
        let r = app.get(path).header("accept-encoding", accept).send().await;
        assert_eq!(r.status.as_u16(), 200, "{accept}");
        assert_eq!(
            r.header("content-encoding").as_deref(),
            encoding,
            "{accept}"
        );
        assert_eq!(&r.body[..], body, "{accept}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/wasm"),
            "{accept}"
        );
        assert_eq!(r.header("vary").as_deref(), Some("Accept-Encoding"));
    }
}

#[actix_web::test]
async fn an_unchanged_file_is_answered_304() {
    let site = Site::new();
    let app = app_serving(&site.dist()).await;
    let first = app.get("/").send().await;
    let etag = first.header("etag").expect("an ETag");
    let again = app.get("/").header("if-none-match", &etag).send().await;
    assert_eq!(again.status.as_u16(), 304);
    assert!(again.body.is_empty());
    let other = app
        .get("/")
        .header("if-none-match", "\"other\"")
        .send()
        .await;
    assert_eq!(other.status.as_u16(), 200);
}

#[actix_web::test]
async fn api_paths_keep_their_json_answers() {
    let site = Site::new();
    let app = app_serving(&site.dist()).await;
    for path in ["/api/v1/nowhere", "/api", "/api/", "/api/v2/numbers"] {
        app.get(path).send().await.expect_error(404, "not_found");
    }
    let r = app.get("/api/v1/nowhere").send().await;
    assert_eq!(
        r.header("content-security-policy").as_deref(),
        Some(api::headers::API_POLICY)
    );
    app.get("/healthz").send().await.expect(200);
    app.get("/api/v1/me")
        .send()
        .await
        .expect_error(401, "unauthenticated");
    // Only GET and HEAD reach the app's files.
    app.post("/numbers")
        .send()
        .await
        .expect_error(404, "not_found");
}

#[actix_web::test]
async fn nothing_outside_the_directory_is_served() {
    let site = Site::new();
    let app = app_serving(&site.dist()).await;
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/%2E%2E/%2E%2E/secret.txt",
        "/assets/..%2F..%2Fsecret.txt",
        "/..%5csecret.txt",
    ] {
        let r = app.get(path).send().await;
        assert!(!r.text().contains("TOP SECRET"), "{path}: {}", r.text());
        r.expect_error(404, "not_found");
    }
    // A NUL is refused before any route, as everywhere.
    app.get("/index.html%00")
        .send()
        .await
        .expect_error(400, "invalid_path");
    // A symlink out of the directory is not followed: the app's page answers instead.
    #[cfg(unix)]
    {
        let r = app.get("/leak.txt").send().await;
        assert!(!r.text().contains("TOP SECRET"));
        assert_page(&r);
    }
}

#[actix_web::test]
async fn without_a_built_app_the_root_says_how_to_build_one() {
    let site = Site::new();
    let empty = site.root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for dir in [site.root.join("nowhere"), empty] {
        let app = app_serving(&dir).await;
        for path in ["/", "/numbers/+442071230000"] {
            let r = app.get(path).send().await;
            assert_eq!(r.status.as_u16(), 404, "{path}");
            assert!(
                r.header("content-type")
                    .is_some_and(|c| c.starts_with("text/plain")),
                "{path}"
            );
            assert!(r.text().contains("TELESTATE_WEB_DIR"), "{}", r.text());
        }
        app.get("/healthz").send().await.expect(200);
    }
}
