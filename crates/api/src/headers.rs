//! Security headers on every response, errors and the docs page included.
//!
//! The API answers JSON, CSV and event streams, none of which a browser should sniff into
//! HTML, frame, or run anything from: every response says `nosniff`, sends no referrer,
//! may not be framed, and carries a policy that allows nothing (`default-src 'none'`).
//!
//! The web app (every path outside the API, see `webapp`) gets [`APP_POLICY`]: its own
//! scripts and styles, WebAssembly compiled from them (`'wasm-unsafe-eval'`), `data:`
//! images, requests to this origin only; no plugins, no `<base>`, no framing.
//!
//! The other page meant for a browser is the Swagger UI under `/api/docs/`. Its vendored
//! `index.html` loads its scripts and styles from files beside it (the settings arrive in
//! `swagger-initializer.js`, not inline), and React applies its dynamic styles through the
//! CSSOM, which a policy does not govern; so `'self'` is enough and neither
//! `'unsafe-inline'` nor hashes are needed (a hash would also break whenever the vendored
//! files change). Its stylesheet draws icons from `data:` images; the spec and "Try it
//! out" are fetched from the same origin. The one thing refused is inline `style=` in
//! rendered Markdown (table-cell alignment), which is cosmetic. The online validator badge
//! (an image from another origin that would leak the spec's URL) is blocked too.

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    error::InternalError,
    http::header::{self, HeaderMap, HeaderName, HeaderValue},
    middleware::Next,
};

/// The policy of every response that is not the docs page: nothing may load or frame it.
pub const API_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The policy of the Swagger UI under `/api/docs/`: its own files, `data:` icons, and
/// requests to this origin only.
pub const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The policy of the web app's page and files.
pub const APP_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The path prefix of the docs page.
const DOCS_PREFIX: &str = "/api/docs";

/// Sets the headers on every response; an error that reaches here unrendered is rendered
/// with them too.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let path = req.path();
    let policy = if path.starts_with(DOCS_PREFIX) {
        DOCS_POLICY
    } else if crate::webapp::is_app_path(path) {
        APP_POLICY
    } else {
        API_POLICY
    };
    match next.call(req).await {
        Ok(mut res) => {
            secure(res.headers_mut(), policy);
            Ok(res)
        }
        Err(e) => {
            let mut res = e.error_response();
            secure(res.headers_mut(), policy);
            Err(InternalError::from_response(e, res).into())
        }
    }
}

fn secure(headers: &mut HeaderMap, policy: &'static str) {
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::CONTENT_SECURITY_POLICY, policy);
}
