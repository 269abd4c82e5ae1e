//! A tiny Graph and token endpoint stub: each test says how to answer, the stub records what
//! was asked.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::ServerHandle;
use actix_web::web::Bytes;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use graph::{
    Client, Config, DeltaRound, Endpoint, GraphError, Observer, PollPolicy, RequestEvent,
    RetryPolicy, Secret,
};
use serde_json::{Value, json};

/// One request as the stub saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `http://127.0.0.1:PORT`, for building links back to the stub.
    pub base: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_token(&self) -> bool {
        self.path.ends_with("/oauth2/v2.0/token")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("request body is JSON")
    }
}

/// How the stub answers one request.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
    /// Send `body` in 64 KiB pieces rather than whole.
    pub streamed: Option<Streamed>,
}

/// How a body goes out in pieces.
#[derive(Clone, Copy)]
pub struct Streamed {
    /// With a `Content-Length` of this many bytes (else chunked, with none).
    pub announce: Option<u64>,
    /// After the first piece, send nothing more and never finish.
    pub stall: bool,
}

/// A body of pieces (actix's own streaming needs a stream crate the graph crate lacks).
struct Pieces {
    rest: Bytes,
    streamed: Streamed,
    sent: bool,
}

impl MessageBody for Pieces {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        match self.streamed.announce {
            Some(n) => BodySize::Sized(n),
            None => BodySize::Stream,
        }
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        if self.streamed.stall && self.sent {
            // No waker is kept: the body never moves on, as a stalled server's would not.
            return Poll::Pending;
        }
        let n = self.rest.len().min(64 * 1024);
        let piece = self.rest.split_to(n);
        self.sent = true;
        Poll::Ready(Some(Ok(piece)))
    }
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
            delay: Duration::ZERO,
            streamed: None,
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
            streamed: None,
        }
    }

    /// `body` in pieces, with or without a `Content-Length` (see [`Streamed`]).
    pub fn streamed(mut self, streamed: Streamed) -> Reply {
        self.streamed = Some(streamed);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// Graph's error envelope with the given code and message.
    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"error": {"code": code, "message": message,
                "innerError": {"date": "2021-04-20T17:22:30", "request-id": "f58cc4de-b427-41de-b37c-46ee4925a26d"}}}),
        )
    }
}

/// The documented success response, with the undocumented-but-real `ext_expires_in`.
pub fn token_ok(token: &str) -> Reply {
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}),
    )
}

type Route = dyn Fn(&Seen) -> Option<Reply> + Send + Sync;

struct Shared {
    route: Box<Route>,
    seen: Mutex<Vec<Seen>>,
}

pub struct Stub {
    pub base: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let seen = Seen {
        base: format!("http://{}", req.connection_info().host()),
        method: req.method().to_string(),
        path: req.path().to_owned(),
        query: req.query_string().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    };
    shared.seen.lock().expect("lock").push(seen.clone());
    let reply = (shared.route)(&seen).unwrap_or_else(|| {
        if seen.is_token() {
            token_ok("token-1")
        } else {
            Reply::error(404, "itemNotFound", "no route in the stub")
        }
    });
    if !reply.delay.is_zero() {
        actix_web::rt::time::sleep(reply.delay).await;
    }
    let status = actix_web::http::StatusCode::from_u16(reply.status).expect("status");
    let mut response = HttpResponse::build(status);
    for (k, v) in &reply.headers {
        response.insert_header((k.as_str(), v.as_str()));
    }
    match reply.streamed {
        Some(streamed) => response.body(Pieces {
            rest: Bytes::from(reply.body),
            streamed,
            sent: false,
        }),
        None => response.body(reply.body),
    }
}

impl Stub {
    /// Starts a stub on a free port; `route` answers, `None` means the default (a token for
    /// the token endpoint, 404 otherwise).
    pub async fn start(route: impl Fn(&Seen) -> Option<Reply> + Send + Sync + 'static) -> Stub {
        let shared = Arc::new(Shared {
            route: Box::new(route),
            seen: Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let data = web::Data::new(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Stub {
            base,
            shared,
            handle,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }

    pub fn graph_requests(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| !s.is_token()).collect()
    }

    pub fn token_requests(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(Seen::is_token).collect()
    }

    /// A config pointing at the stub, with retry and poll delays short enough for tests.
    pub fn config(&self) -> Config {
        let mut config = Config::new(
            "contoso-tenant",
            "535fb089-9ff3-47b6-9bfb-4f1264799865",
            Secret::new("sampleCredentials"),
        );
        config.graph_base_url = format!("{}/v1.0", self.base);
        config.login_base_url = self.base.clone();
        config.timeout = Duration::from_secs(5);
        config.retry = RetryPolicy {
            max_attempts: 4,
            max_total_wait: Duration::from_secs(10),
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        };
        config.poll = PollPolicy {
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            give_up_after: Duration::from_secs(3),
        };
        config
    }

    pub fn client(&self) -> Client {
        Client::new(self.config()).expect("client")
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Reads a delta round to its end: each page's changes, and the delta link.
pub async fn read_round<T>(mut round: DeltaRound<T>) -> Result<(Vec<Vec<T>>, String), GraphError> {
    let mut pages = Vec::new();
    loop {
        let page = round.next_page().await?;
        pages.push(page.changes);
        if let Some(link) = page.delta_link {
            return Ok((pages, link));
        }
    }
}

/// What the recorder keeps of one event: endpoint, status, retry_after, request_id.
pub type Event = (Endpoint, Option<u16>, Option<Duration>, Option<String>);

/// An observer that keeps every event, for asserting what the client reported.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Event>>,
}

impl Observer for Recorder {
    fn request(&self, event: &RequestEvent<'_>) {
        self.events.lock().expect("lock").push((
            event.endpoint,
            event.status,
            event.retry_after,
            event.request_id.map(str::to_owned),
        ));
    }
}

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("lock").clone()
    }
}
