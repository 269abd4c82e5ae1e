//! The web app's cookie session: `POST/GET/DELETE /api/v1/auth/session`, the cookie as a
//! credential, and the CSRF header every state-changing cookie request needs.

use domain::Role;
use serde_json::{Value, json};

use crate::common::{PASSWORD, Req, Resp, TestApp, enc};

/// A browser's session: the cookie's token (which page scripts never see; the tests
/// play the browser) and the CSRF token the body gave.
struct Browser {
    token: String,
    csrf: String,
}

/// `name=value` of the `Set-Cookie` header, and its attributes, lower-cased.
fn set_cookie(r: &Resp) -> (String, String, Vec<String>) {
    let raw = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("{}: no Set-Cookie", r.what));
    let mut parts = raw.split(';').map(str::trim);
    let (name, value) = parts
        .next()
        .and_then(|p| p.split_once('='))
        .expect("name=value");
    (
        name.to_string(),
        value.to_string(),
        parts.map(str::to_ascii_lowercase).collect(),
    )
}

async fn log_in(app: &TestApp, username: &str, password: &str) -> Resp {
    app.post("/api/v1/auth/session")
        .json(json!({"username": username, "password": password}))
        .send()
        .await
}

async fn browser(app: &TestApp, username: &str) -> Browser {
    let r = log_in(app, username, PASSWORD).await;
    let body = r.expect(200);
    let (_, token, _) = set_cookie(&r);
    Browser {
        token,
        csrf: body["csrf_token"].as_str().expect("csrf_token").to_string(),
    }
}

trait WithCookie {
    fn cookie(self, b: &Browser) -> Self;
}

impl WithCookie for Req<'_> {
    fn cookie(self, b: &Browser) -> Self {
        self.header(
            "cookie",
            &format!("theme=dark; telestate_session={}", b.token),
        )
    }
}

#[actix_web::test]
async fn a_session_sets_an_httponly_cookie_and_answers_only_its_csrf_token() {
    let app = TestApp::new().await;
    app.create_account("ada", Role::Operator, &[], &[]);
    let r = log_in(&app, "ada", PASSWORD).await;
    let body = r.expect(200);
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["csrf_token", "expires_at"], "{body}");
    let (name, token, attrs) = set_cookie(&r);
    assert_eq!(name, "telestate_session");
    for attr in ["httponly", "samesite=strict", "path=/api", "max-age=3600"] {
        assert!(attrs.contains(&attr.to_string()), "{attr} in {attrs:?}");
    }
    assert!(
        !attrs.contains(&"secure".to_string()),
        "plain http gets no Secure"
    );
    assert!(!r.text().contains(&token), "the token is not in the body");
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let expires = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap())
        .expect("RFC 3339");
    let ahead = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((3590..=3600).contains(&ahead), "{ahead}");

    // Over https (a proxy saying so), the cookie is Secure.
    let r = app
        .post("/api/v1/auth/session")
        .header("x-forwarded-proto", "https")
        .json(json!({"username": "ada", "password": PASSWORD}))
        .send()
        .await;
    r.expect(200);
    assert!(set_cookie(&r).2.contains(&"secure".to_string()));
}

#[actix_web::test]
async fn the_cookie_authenticates_reads_and_the_session_can_be_read_back() {
    let app = TestApp::new().await;
    let id = app.create_account("bea", Role::Viewer, &[], &[]);
    let b = browser(&app, "bea").await;
    let me = app.get("/api/v1/me").cookie(&b).send().await.expect(200);
    assert_eq!(me["id"], id);
    let s = app
        .get("/api/v1/auth/session")
        .cookie(&b)
        .send()
        .await
        .expect(200);
    assert_eq!(s["csrf_token"], b.csrf);
    // The event stream opens on the cookie alone, as EventSource sends it.
    let r = app.get("/api/v1/events").cookie(&b).send().await;
    r.expect(200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream"))
    );
    // No cookie, a forged one, or a bearer token alone: no cookie session.
    app.get("/api/v1/auth/session")
        .send()
        .await
        .expect_error(401, "unauthenticated");
    app.get("/api/v1/auth/session")
        .header("cookie", "telestate_session=forged.token.here")
        .send()
        .await
        .expect_error(401, "unauthenticated");
    app.get("/api/v1/me")
        .header("cookie", "telestate_session=forged.token.here")
        .send()
        .await
        .expect_error(401, "unauthenticated");
    let bearer = app.login("bea", PASSWORD).await.expect(200)["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.get("/api/v1/auth/session")
        .bearer(&bearer)
        .send()
        .await
        .expect_error(401, "unauthenticated");
}

/// The number a write tries to create, and whether it exists afterwards.
async fn number_exists(app: &TestApp, b: &Browser, e164: &str) -> bool {
    let r = app
        .get(&format!("/api/v1/numbers/{}", enc(e164)))
        .cookie(b)
        .send()
        .await;
    r.status == 200
}

#[actix_web::test]
async fn a_cookie_write_needs_the_sessions_own_csrf_token() {
    let app = TestApp::new().await;
    app.create_account("cy", Role::Admin, &[], &[]);
    app.create_account("dee", Role::Admin, &[], &[]);
    let cy = browser(&app, "cy").await;
    let dee = browser(&app, "dee").await;
    let create = |csrf: Option<&str>| {
        let mut r = app
            .post("/api/v1/numbers")
            .cookie(&cy)
            .json(json!({"number": "+442071230500"}));
        if let Some(c) = csrf {
            r = r.header("x-telestate-csrf", c);
        }
        r
    };
    let second_login = browser(&app, "cy").await;
    for (what, csrf) in [
        ("without the header", None),
        ("with a wrong token", Some("not-the-token")),
        ("with an empty token", Some("")),
        ("with another account's token", Some(dee.csrf.as_str())),
        (
            "with the same account's other session's token",
            Some(second_login.csrf.as_str()),
        ),
    ] {
        let r = create(csrf).send().await;
        let details = r.expect_error(403, "csrf_failed");
        assert_eq!(details, json!({}), "{what}");
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("X-Telestate-CSRF"),
            "{what}: the message names the header"
        );
        assert!(
            !number_exists(&app, &cy, "+442071230500").await,
            "{what}: nothing changed"
        );
    }
    // PATCH and DELETE are checked the same way.
    app.patch("/api/v1/settings")
        .cookie(&cy)
        .json(json!({"default_quarantine_days": 30}))
        .send()
        .await
        .expect_error(403, "csrf_failed");
    create(Some(&cy.csrf)).send().await.expect(201);
    assert!(number_exists(&app, &cy, "+442071230500").await);
    app.delete(&format!("/api/v1/numbers/{}", enc("+442071230500")))
        .cookie(&cy)
        .send()
        .await
        .expect_error(403, "csrf_failed");
    app.delete(&format!("/api/v1/numbers/{}", enc("+442071230500")))
        .cookie(&cy)
        .header("x-telestate-csrf", &cy.csrf)
        .send()
        .await
        .expect(204);
}

#[actix_web::test]
async fn a_bearer_token_needs_no_csrf_header_and_wins_over_a_cookie() {
    let app = TestApp::new().await;
    let admin = app.user(Role::Admin).await;
    app.post("/api/v1/numbers")
        .as_(&admin)
        .json(json!({"number": "+442071230501"}))
        .send()
        .await
        .expect(201);
    // A stale cookie beside a valid bearer does not matter, nor does a missing header.
    app.post("/api/v1/numbers")
        .as_(&admin)
        .header("cookie", "telestate_session=stale")
        .json(json!({"number": "+442071230502"}))
        .send()
        .await
        .expect(201);
    // The login JWT in the cookie works too, and then it needs its CSRF token.
    let b = Browser {
        token: admin.token.clone(),
        csrf: String::new(),
    };
    app.post("/api/v1/numbers")
        .cookie(&b)
        .json(json!({"number": "+442071230503"}))
        .send()
        .await
        .expect_error(403, "csrf_failed");
}

#[actix_web::test]
async fn logging_out_removes_the_cookie() {
    let app = TestApp::new().await;
    app.create_account("eve", Role::Viewer, &[], &[]);
    let b = browser(&app, "eve").await;
    let r = app.delete("/api/v1/auth/session").cookie(&b).send().await;
    r.expect(204);
    let (name, value, attrs) = set_cookie(&r);
    assert_eq!((name.as_str(), value.as_str()), ("telestate_session", ""));
    for attr in ["max-age=0", "httponly", "samesite=strict", "path=/api"] {
        assert!(attrs.contains(&attr.to_string()), "{attr} in {attrs:?}");
    }
    // Without a session it is the same answer.
    app.delete("/api/v1/auth/session").send().await.expect(204);
}

#[actix_web::test]
async fn a_session_ends_with_its_accounts_credentials() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    let id = app.create_account("fay", Role::Operator, &[], &[]);
    let b = browser(&app, "fay").await;
    app.patch(&format!("/api/v1/admins/{id}"))
        .as_(&owner)
        .json(json!({"role": "viewer"}))
        .send()
        .await
        .expect(200);
    app.get("/api/v1/auth/session")
        .cookie(&b)
        .send()
        .await
        .expect_error(401, "unauthenticated");
    app.get("/api/v1/me")
        .cookie(&b)
        .send()
        .await
        .expect_error(401, "unauthenticated");
}

#[actix_web::test]
async fn bad_credentials_and_the_lock_are_answered_as_login_answers_them() {
    let app = TestApp::new().await;
    let id = app.create_account("gus", Role::Viewer, &[], &[]);
    let owner = app.user(Role::Owner).await;
    for i in 0..4 {
        let r = log_in(&app, "gus", &format!("wrong-{i}")).await;
        r.expect_error(401, "invalid_credentials");
        assert!(r.header("set-cookie").is_none());
    }
    // The fifth wrong password is checked, then locks (as for login).
    log_in(&app, "gus", "wrong-4")
        .await
        .expect_error(429, "too_many_attempts");
    // Locked for this address, whichever way one logs in, even with the right password.
    let r = log_in(&app, "gus", PASSWORD).await;
    r.expect_error(429, "too_many_attempts");
    assert!(r.header("retry-after").is_some());
    app.login("gus", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
    log_in(&app, "nobody", "wrong-pass")
        .await
        .expect_error(401, "invalid_credentials");
    // Audited like a login: one failure record for the window, one for the lock.
    let failed = app
        .list_all(&owner, "/api/v1/audit?action=auth.login_failed", 100)
        .await;
    let gus: Vec<&Value> = failed
        .iter()
        .filter(|r| r["entity_id"] == id.as_str())
        .collect();
    assert_eq!(gus.len(), 2, "{failed:#?}");
    assert_eq!(gus[0]["after"]["failed_logins"], 5);
    assert!(gus[0]["after"]["locked_until"].is_string());
    // Bad input is a 400 naming the field, as for login.
    let r = app
        .post("/api/v1/auth/session")
        .json(json!({"username": "gus"}))
        .send()
        .await;
    r.expect_invalid("invalid_json", "password");
    let r = app
        .post("/api/v1/auth/session")
        .json(json!({"username": "x".repeat(401), "password": "whatever"}))
        .send()
        .await;
    r.expect_field("username");
}

#[actix_web::test]
async fn a_successful_session_login_is_audited_like_a_login() {
    let app = TestApp::new().await;
    let owner = app.user(Role::Owner).await;
    app.create_account("hal", Role::Viewer, &[], &[]);
    let before = app
        .list_all(&owner, "/api/v1/audit?action=auth.login", 100)
        .await
        .len();
    browser(&app, "hal").await;
    let after = app
        .list_all(&owner, "/api/v1/audit?action=auth.login", 100)
        .await
        .len();
    assert_eq!(after, before + 1);
}

/// Another site of the same domain can plant a `telestate_session` cookie with a longer
/// path, which the browser then sends first. A planted junk cookie does not shadow the
/// real one; a planted valid session (the attacker's own) makes the request refused
/// rather than carried out as the attacker.
#[actix_web::test]
async fn a_planted_session_cookie_neither_shadows_nor_replaces_the_real_one() {
    let app = TestApp::new().await;
    let ada = app.create_account("ada", Role::Operator, &[], &[]);
    app.create_account("eve", Role::Viewer, &[], &[]);
    let real = browser(&app, "ada").await;
    let planted = browser(&app, "eve").await;
    let junk = format!(
        "telestate_session=planted.junk.token; telestate_session={}",
        real.token
    );
    let me = app
        .get("/api/v1/me")
        .header("cookie", &junk)
        .send()
        .await
        .expect(200);
    assert_eq!(me["id"], ada);
    let s = app
        .get("/api/v1/auth/session")
        .header("cookie", &junk)
        .send()
        .await
        .expect(200);
    assert_eq!(s["csrf_token"], real.csrf);
    // The same cookie twice is one session.
    let twice = format!("telestate_session={0}; telestate_session={0}", real.token);
    app.get("/api/v1/me")
        .header("cookie", &twice)
        .send()
        .await
        .expect(200);
    // Two valid sessions: which one the person meant cannot be told.
    let both = format!(
        "telestate_session={}; telestate_session={}",
        planted.token, real.token
    );
    let r = app.get("/api/v1/me").header("cookie", &both).send().await;
    let body = r.expect(401);
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("several valid session cookies"),
        "{body}"
    );
    // Planted cookies by the handful cannot push the real one out of sight either.
    let many = format!(
        "telestate_session=j1; telestate_session=j2; telestate_session=j3; telestate_session={0}; telestate_session={0}; telestate_session={1}",
        planted.token, real.token
    );
    app.get("/api/v1/auth/session")
        .header("cookie", &many)
        .send()
        .await
        .expect_error(401, "unauthenticated");
    // A cookie that is not UTF-8 costs only itself.
    let odd = format!("pref=caf\u{e9}; telestate_session={}", real.token);
    let me = app
        .get("/api/v1/me")
        .header("cookie", &odd)
        .send()
        .await
        .expect(200);
    assert_eq!(me["id"], ada);
    app.post("/api/v1/numbers")
        .header("cookie", &both)
        .header("x-telestate-csrf", &planted.csrf)
        .json(json!({"number": "+442071239999"}))
        .send()
        .await
        .expect_error(401, "unauthenticated");
}
