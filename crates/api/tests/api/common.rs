//! Test support: an app over a fresh database, accounts of any role and scope, requests
//! with a bearer token, and checks for the error envelope.
//!
//! Every test builds its own [`TestApp`] (its own database, see `store::testing`), so tests
//! share nothing and run in parallel.

use std::{cell::Cell, future::Future, pin::Pin, rc::Rc, sync::OnceLock};

use actix_web::{
    http::{Method, StatusCode, header::HeaderMap},
    test::{self, TestRequest},
    web::{self, Bytes},
};
use domain::Role;
use serde_json::{Value, json};
use store::testing::TestDb;

/// The password of every account the tests create.
pub const PASSWORD: &str = "password123";

/// Hashed once per test process: argon2 is deliberately slow.
fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| store::secrets::hash_password(PASSWORD).expect("hash the test password"))
        .clone()
}

type Caller = Rc<dyn Fn(TestRequest) -> Pin<Box<dyn Future<Output = Resp>>>>;

/// The whole application, built as `telestate serve` builds it, over a fresh database.
pub struct TestApp {
    call: Caller,
    /// The database (dropped last: it removes itself).
    pub tdb: TestDb,
    next_user: Cell<u32>,
}

/// An account the test created and logged in.
#[derive(Clone, Debug)]
pub struct User {
    /// Account id (a string, as on the wire).
    pub id: String,
    /// Login name.
    pub username: String,
    /// A bearer token (a JWT from login).
    pub token: String,
}

/// A response, body read.
#[derive(Debug)]
pub struct Resp {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: Bytes,
    /// What was asked, for failure messages.
    pub what: String,
}

impl Resp {
    /// The body as JSON (panics, showing the body, if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}): {}",
                self.what,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_string())
    }

    /// The request id the server answered with.
    pub fn request_id(&self) -> String {
        self.header("x-request-id")
            .unwrap_or_else(|| panic!("{}: no X-Request-Id header", self.what))
    }

    /// Asserts the status and returns the JSON body (Null when empty).
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}: expected {status}, got {} with body {}",
            self.what,
            self.status,
            self.text()
        );
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts an error envelope `{"error": {"code", "message", "details"}}` with this status
    /// and code; returns `details`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        let body = self.expect(status);
        let err = assert_envelope(&self.what, &body);
        assert_eq!(
            err["code"], code,
            "{}: expected code {code}, got {body}",
            self.what
        );
        err["details"].clone()
    }

    /// Asserts a 400 envelope naming `field` in `details.field`, whatever its code (for
    /// refusals whose code the store chooses).
    #[track_caller]
    pub fn expect_field(&self, field: &str) {
        let body = self.expect(400);
        let err = assert_envelope(&self.what, &body);
        assert_eq!(
            err["details"]["field"], field,
            "{}: expected details.field {field:?}, got {body}",
            self.what
        );
    }

    /// Asserts a 400 naming `field` in `details.field` with this code.
    #[track_caller]
    pub fn expect_invalid(&self, code: &str, field: &str) {
        let details = self.expect_error(400, code);
        assert_eq!(
            details["field"],
            field,
            "{}: expected details.field {field:?}, got {}",
            self.what,
            self.text()
        );
    }
}

/// Checks the shape of the one error envelope; returns the inner `error` object.
#[track_caller]
pub fn assert_envelope(what: &str, body: &Value) -> Value {
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: error body is not an object: {body}"));
    assert_eq!(obj.len(), 1, "{what}: envelope has extra keys: {body}");
    let err = &body["error"];
    assert!(err["code"].is_string(), "{what}: no error.code: {body}");
    let code = err["code"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "{what}: error.code is not snake_case: {body}"
    );
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: no error.message: {body}"
    );
    assert!(
        err["details"].is_object(),
        "{what}: error.details is not an object: {body}"
    );
    err.clone()
}

/// A request being built.
pub struct Req<'a> {
    app: &'a TestApp,
    inner: TestRequest,
    what: String,
}

impl Req<'_> {
    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer(mut self, token: &str) -> Self {
        self.inner = self
            .inner
            .insert_header(("authorization", format!("Bearer {token}")));
        self
    }

    /// As this user.
    pub fn as_(self, user: &User) -> Self {
        let what = format!("{} as {}", self.what, user.username);
        let mut r = self.bearer(&user.token);
        r.what = what;
        r
    }

    /// A JSON body (with `Content-Type: application/json`).
    pub fn json(mut self, body: Value) -> Self {
        self.inner = self.inner.set_json(body);
        self
    }

    /// From this client address (`ip:port`), as actix sees the peer.
    pub fn peer(mut self, addr: &str) -> Self {
        self.inner = self
            .inner
            .peer_addr(addr.parse().expect("a socket address"));
        self
    }

    /// Any header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner = self
            .inner
            .insert_header((name.to_string(), value.to_string()));
        self
    }

    /// A raw body, without touching the content type.
    pub fn payload(mut self, body: &'static str) -> Self {
        self.inner = self.inner.set_payload(body);
        self
    }

    /// A raw body built at run time (a CSV file, say), without touching the content type.
    pub fn bytes(mut self, body: impl Into<Bytes>) -> Self {
        self.inner = self.inner.set_payload(body.into());
        self
    }

    /// Sends it and reads the whole response.
    pub async fn send(self) -> Resp {
        let mut r = (self.app.call)(self.inner).await;
        r.what = self.what;
        r
    }
}

/// Percent-encodes a telephone number (or any text) for a path segment.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds the app like the server does.
async fn build(tdb: &TestDb, config: api::ApiConfig) -> Caller {
    let state = web::Data::new(
        api::AppState::new(tdb.db.clone(), config).expect("build the application state"),
    );
    let app =
        Rc::new(test::init_service(api::app(state, std::sync::Arc::new(api::openapi()))).await);
    Rc::new(move |req: TestRequest| {
        let app = app.clone();
        Box::pin(async move {
            let res = test::call_service(&*app, req.to_request()).await;
            let status = res.status();
            let headers = res.headers().clone();
            // A server-sent-event stream does not end: keep its status and headers only.
            let streaming = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            let body = if streaming {
                Bytes::new()
            } else {
                test::read_body(res).await
            };
            Resp {
                status,
                headers,
                body,
                what: String::new(),
            }
        })
    })
}

impl TestApp {
    /// An app with default settings over a fresh database.
    pub async fn new() -> TestApp {
        Self::with_config(api::ApiConfig::default()).await
    }

    /// An app with these settings over a fresh database.
    pub async fn with_config(config: api::ApiConfig) -> TestApp {
        let tdb = TestDb::new();
        let call = build(&tdb, config).await;
        TestApp {
            call,
            tdb,
            next_user: Cell::new(1),
        }
    }

    /// A request; `path` is absolute (`/api/v1/...`).
    pub fn req(&self, method: Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            inner: TestRequest::default().method(method.clone()).uri(path),
            what: format!("{method} {path}"),
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Req<'_> {
        self.req(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(&self, path: &str) -> Req<'_> {
        self.req(Method::POST, path)
    }

    /// `PATCH path`.
    pub fn patch(&self, path: &str) -> Req<'_> {
        self.req(Method::PATCH, path)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Req<'_> {
        self.req(Method::DELETE, path)
    }

    /// Creates an account directly in the store (audited as the test owner).
    pub fn create_account(
        &self,
        username: &str,
        role: Role,
        locations: &[&str],
        tags: &[&str],
    ) -> String {
        let new = store::admins::NewAdmin {
            username: username.to_string(),
            password_hash: password_hash(),
            role,
            scope_locations: locations.iter().map(|s| s.to_string()).collect(),
            scope_tags: tags.iter().map(|s| s.to_string()).collect(),
        };
        self.tdb
            .db
            .write(|c| store::admins::create(c, &store::testing::owner(), new))
            .expect("create an account")
            .id
            .to_string()
    }

    /// Logs in through the API and returns the access token.
    pub async fn login(&self, username: &str, password: &str) -> Resp {
        self.post("/api/v1/auth/login")
            .json(json!({ "username": username, "password": password }))
            .send()
            .await
    }

    /// A logged-in account of `role`, limited to these location ids and tags.
    pub async fn scoped_user(&self, role: Role, locations: &[&str], tags: &[&str]) -> User {
        let n = self.next_user.get();
        self.next_user.set(n + 1);
        let username = format!("{role}-{n}");
        let id = self.create_account(&username, role, locations, tags);
        let body = self.login(&username, PASSWORD).await.expect(200);
        assert_eq!(body["token_type"], "Bearer");
        User {
            id,
            username,
            token: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_string(),
        }
    }

    /// A logged-in, unscoped account of `role`.
    pub async fn user(&self, role: Role) -> User {
        self.scoped_user(role, &[], &[]).await
    }

    /// Creates a location as `by`; returns its id.
    pub async fn location(&self, by: &User, name: &str, country: &str) -> String {
        let body = self
            .post("/api/v1/locations")
            .as_(by)
            .json(json!({ "name": name, "country": country }))
            .send()
            .await
            .expect(201);
        body["id"].as_str().expect("location id").to_string()
    }

    /// Creates a call-queue service as `by`; returns its id.
    pub async fn service(&self, by: &User, name: &str) -> String {
        self.post("/api/v1/services")
            .as_(by)
            .json(json!({"name": name, "kind": "call_queue"}))
            .send()
            .await
            .expect(201)["id"]
            .as_str()
            .expect("service id")
            .to_string()
    }

    /// Reads one number as `by`.
    pub async fn get_number(&self, by: &User, e164: &str) -> Value {
        self.get(&format!("/api/v1/numbers/{}", enc(e164)))
            .as_(by)
            .send()
            .await
            .expect(200)
    }

    /// Creates one number as `by` from this body; returns the created number.
    pub async fn number(&self, by: &User, body: Value) -> Value {
        self.post("/api/v1/numbers")
            .as_(by)
            .json(body)
            .send()
            .await
            .expect(201)
    }

    /// Reads a whole list by following `next_cursor`; `path` has a query string already
    /// or none.
    pub async fn list_all(&self, by: &User, path: &str, limit: u32) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit={limit}&cursor={}", enc(c)),
                None => format!("{path}{sep}limit={limit}"),
            };
            let page = self.get(&url).as_(by).send().await.expect(200);
            let got = page["items"].as_array().expect("items").clone();
            assert!(
                got.len() <= limit as usize,
                "{url}: page of {} exceeds limit",
                got.len()
            );
            items.extend(got);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return items,
            }
        }
        panic!("{path}: the cursor never ended");
    }

    /// The id of the newest audit record (0 when there is none), to find what comes after.
    pub async fn audit_mark(&self, owner: &User) -> i64 {
        let page = self
            .get("/api/v1/audit?limit=1")
            .as_(owner)
            .send()
            .await
            .expect(200);
        page["items"][0]["id"]
            .as_str()
            .map(|s| s.parse().expect("numeric audit id"))
            .unwrap_or(0)
    }

    /// Audit records newer than `mark`, oldest first.
    pub async fn audit_since(&self, owner: &User, mark: i64) -> Vec<Value> {
        let mut all = self.list_all(owner, "/api/v1/audit", 1000).await;
        all.retain(|r| {
            r["id"]
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0)
                > mark
        });
        all.reverse();
        all
    }
}
