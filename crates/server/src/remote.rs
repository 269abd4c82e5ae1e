//! The CLI talking to a running server (`telestate export|import --url`): one HTTP client
//! set-up, URLs under `--url`, and the error envelope turned into a message.

use std::time::Duration;

use anyhow::Context;

/// A blocking client without an overall timeout: an export or a plan of a million lines
/// takes a while; connecting is bounded.
pub fn client() -> anyhow::Result<reqwest::blocking::Client> {
    // reqwest is built without a crypto provider (`rustls-no-provider`): ring is installed
    // here. An error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(None::<Duration>)
        .build()
        .context("building the HTTP client")
}

/// `path` under the server's base URL (`--url`).
pub fn url(base: &str, path: &str) -> anyhow::Result<reqwest::Url> {
    let base = base.trim_end_matches('/');
    reqwest::Url::parse(&format!("{base}{path}"))
        .with_context(|| format!("--url {base:?} is not a URL"))
}

/// The error of a failed response: the envelope's `message`, or the body.
pub fn failure(response: reqwest::blocking::Response) -> anyhow::Error {
    let status = response.status();
    let body = response.text().unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or(body);
    anyhow::anyhow!("the server answered {status}: {message}")
}
