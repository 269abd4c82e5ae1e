//! The HTTP side: tokens, one attempt, retries, and the Graph calls built on them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::delta::{Page, group_changes, is_delta_expired, user_changes};
use crate::error::{api_error, auth_error};
use crate::model::{
    AssignNumber, GroupChange, NumberAssignment, NumberType, Operation, OperationLocation,
    UnassignNumber, UpdateNumber, UserChange, collection_items, parse_entity, parse_json,
    parse_operation,
};
use crate::paging::{DeltaRound, Paging};
use crate::retry::{backoff, parse_retry_after, throttle_wait};
use crate::{Config, Endpoint, GraphError, Observer, RequestEvent, Secret};

/// The user fields a full users sync selects (and so tracks); `id` is always returned.
const USER_SELECT: &str = "displayName,userPrincipalName,mail,department,jobTitle,officeLocation,usageLocation,city,country,accountEnabled";

/// The group fields a full groups sync selects; `members` makes Graph send `members@delta`.
// What Telestate stores of a group (its mail is not needed: groups are matched by id).
const GROUP_SELECT: &str = "displayName,description,members";

/// The documented maximum `$top` for the number list.
const NUMBER_PAGE_SIZE: usize = 1000;

/// The documented default page of the number list, what a server ignoring `$top` sends.
const NUMBER_DEFAULT_PAGE: usize = 500;

/// The only scope the client-credentials flow takes for Graph.
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// A Microsoft Graph client for one tenant; cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Only where it points: the config's secret and the cached token stay out of logs.
        f.debug_struct("Client")
            .field("graph_base_url", &self.inner.graph_base.as_str())
            .field("tenant_id", &self.inner.config.tenant_id)
            .finish_non_exhaustive()
    }
}

struct Inner {
    http: reqwest::Client,
    config: Config,
    graph_base: Url,
    token_url: Url,
    /// Held across a refresh so only one token request is in flight.
    token: Mutex<Option<CachedToken>>,
    /// Graph throttles per app, not per request: after a `Retry-After`, no request of
    /// this client goes out before it elapses (tasks sharing the client included).
    paused_until: std::sync::Mutex<Option<Instant>>,
}

struct CachedToken {
    access_token: Secret,
    refresh_at: Instant,
}

/// What goes in a request body.
enum Body {
    Empty,
    Json(Vec<u8>),
    Form(String),
}

/// One logical request, possibly sent several times.
struct Call {
    endpoint: Endpoint,
    method: Method,
    url: Url,
    body: Body,
    /// Whether sending it twice is harmless, so a timeout or broken connection may be retried.
    replayable: bool,
}

impl Call {
    fn get(endpoint: Endpoint, url: Url) -> Call {
        Call {
            endpoint,
            method: Method::GET,
            url,
            body: Body::Empty,
            replayable: true,
        }
    }

    fn post_json(endpoint: Endpoint, url: Url, body: Vec<u8>, replayable: bool) -> Call {
        Call {
            endpoint,
            method: Method::POST,
            url,
            body: Body::Json(body),
            replayable,
        }
    }
}

/// A response read to the end.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
    retry_after: Option<Duration>,
}

impl Reply {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn request_id(&self) -> Option<&str> {
        request_id(&self.headers)
    }

    /// Self when 2xx, else Graph's error envelope as an error.
    fn ok(self) -> Result<Reply, GraphError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(api_error(self.status, self.request_id(), &self.body))
        }
    }
}

fn request_id(headers: &HeaderMap) -> Option<&str> {
    // Graph sends request-id; the identity platform sends x-ms-request-id.
    ["request-id", "x-ms-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
}

/// A fresh GUID-shaped (version 4) id for `client-request-id`, to find a request in Graph's logs.
fn new_client_request_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn is_throttling(status: u16) -> bool {
    matches!(status, 429 | 503 | 504)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Value,
}

impl Client {
    /// Builds a client; no request is made until the first call.
    pub fn new(config: Config) -> Result<Client, GraphError> {
        // reqwest is built without a crypto provider so the workspace does not compile aws-lc;
        // a second install (another client, the server) is harmless, hence the ignored result.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let graph_base = Url::parse(config.graph_base_url.trim_end_matches('/')).map_err(|e| {
            GraphError::Config(format!("graph_base_url {:?}: {e}", config.graph_base_url))
        })?;
        let mut token_url =
            Url::parse(config.login_base_url.trim_end_matches('/')).map_err(|e| {
                GraphError::Config(format!("login_base_url {:?}: {e}", config.login_base_url))
            })?;
        token_url
            .path_segments_mut()
            .map_err(|()| GraphError::Config("login_base_url cannot be a base".into()))?
            .pop_if_empty()
            .extend([config.tenant_id.as_str(), "oauth2", "v2.0", "token"]);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // A redirect would bypass the same-host check on links; Graph does not redirect
            // any of these calls.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("telestate-graph/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GraphError::Config(format!("HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                config,
                graph_base,
                token_url,
                token: Mutex::new(None),
                paused_until: std::sync::Mutex::new(None),
            }),
            observer: None,
        })
    }

    /// The same client, reporting every HTTP attempt to `observer`.
    pub fn with_observer(self, observer: Arc<dyn Observer>) -> Client {
        Client {
            observer: Some(observer),
            ..self
        }
    }

    /// A users delta round, read a page at a time with [`DeltaRound::next_page`]. `from` =
    /// None: full (initial) sync with $select of the user fields; Some(deltaLink): that link,
    /// verbatim (an expired one is [`GraphError::DeltaExpired`] on the first page).
    pub fn users_delta(&self, from: Option<&str>) -> Result<DeltaRound<UserChange>, GraphError> {
        let first = self.delta_start(from, "users", USER_SELECT)?;
        Ok(DeltaRound::new(
            self.clone(),
            Endpoint::UsersDelta,
            first,
            self.inner.config.limits.max_pages,
            user_changes,
        ))
    }

    /// The same for groups with `$select=displayName,description,members`: a page's
    /// sightings of a group are one [`GroupChange`], and a member chunk without the group's
    /// fields (a large group repeated on later pages) is [`GroupChange::Members`].
    pub fn groups_delta(&self, from: Option<&str>) -> Result<DeltaRound<GroupChange>, GraphError> {
        let first = self.delta_start(from, "groups", GROUP_SELECT)?;
        Ok(DeltaRound::new(
            self.clone(),
            Endpoint::GroupsDelta,
            first,
            self.inner.config.limits.max_pages,
            group_changes,
        ))
    }

    /// Every number assignment in the tenant: $top=1000 with $skip until a short or empty
    /// page (and follow @odata.nextLink if present instead); never stops at 500 or 1000.
    /// A server that ignores $skip, or whose links go round, is [`GraphError::PagingLoop`].
    pub async fn number_assignments(&self) -> Result<Vec<NumberAssignment>, GraphError> {
        let mut numbers = Vec::new();
        let mut seen = HashSet::new();
        let mut skip = 0;
        // Until a page shows otherwise, assume the server may cap pages at its documented
        // default, so a 500-item first page is not mistaken for the last one.
        let mut largest_page = NUMBER_DEFAULT_PAGE;
        let mut server_links = false;
        let mut url = self.number_page_url(skip)?;
        let mut paging = Paging::new(
            Endpoint::NumberAssignments,
            self.inner.config.limits.max_pages,
            &url,
        );
        let mut previous_first: Option<String> = None;
        loop {
            paging.count()?;
            let reply = self
                .graph(&Call::get(Endpoint::NumberAssignments, url))
                .await?
                .ok()?;
            let page: Page = parse_json(&reply.body, "number assignment page")?;
            let items = collection_items(page.value);
            let count = items.len();
            let mut fresh = 0;
            let mut first = None;
            for item in items {
                let number: NumberAssignment = serde_json::from_value(item)
                    .map_err(|e| GraphError::Decode(format!("number assignment: {e}")))?;
                first.get_or_insert_with(|| number.id.clone());
                if seen.insert(number.id.clone()) {
                    fresh += 1;
                    numbers.push(number);
                }
            }
            if let Some(next) = page.next_link {
                server_links = true;
                url = self.same_origin(&next)?;
                paging.follow(&url)?;
                continue;
            }
            if server_links || count == 0 || count < NUMBER_PAGE_SIZE.min(largest_page) {
                return Ok(numbers);
            }
            // The list is sorted, so a page that starts where the last one did, or brings
            // nothing new, is the same window again: $skip is being ignored, and going on
            // would ask for it forever.
            if fresh == 0 || first == previous_first {
                return Err(paging.looped());
            }
            previous_first = first;
            largest_page = largest_page.max(count);
            // Skip what was actually received, so a server that caps pages loses nothing.
            skip += count;
            url = self.number_page_url(skip)?;
        }
    }

    /// One number assignment by its Graph id.
    pub async fn number_assignment(&self, id: &str) -> Result<NumberAssignment, GraphError> {
        let url = self.graph_url(&[
            "admin",
            "teams",
            "telephoneNumberManagement",
            "numberAssignments",
            id,
        ])?;
        let reply = self
            .graph(&Call::get(Endpoint::NumberAssignment, url))
            .await?
            .ok()?;
        parse_entity(&reply.body, "number assignment")
    }

    /// assignNumber: 202 + Location header → the operation's location.
    pub async fn assign_number(
        &self,
        request: &AssignNumber,
    ) -> Result<OperationLocation, GraphError> {
        let body = to_json(request)?;
        let url = self.action_url("assignNumber")?;
        // Not replayable: after a timeout Graph may have accepted it; the caller checks state.
        let reply = self
            .graph(&Call::post_json(Endpoint::AssignNumber, url, body, false))
            .await?
            .ok()?;
        self.operation_location(&reply)
    }

    /// unassignNumber: 202 + Location header → the operation's location.
    pub async fn unassign_number(
        &self,
        telephone_number: &str,
        number_type: NumberType,
    ) -> Result<OperationLocation, GraphError> {
        let body = to_json(&UnassignNumber {
            telephone_number,
            number_type,
        })?;
        let url = self.action_url("unassignNumber")?;
        let reply = self
            .graph(&Call::post_json(Endpoint::UnassignNumber, url, body, false))
            .await?
            .ok()?;
        self.operation_location(&reply)
    }

    /// updateNumber: synchronous, 200 no body. `location_id: Some("")` clears, None keeps (skip the field).
    pub async fn update_number(&self, request: &UpdateNumber) -> Result<(), GraphError> {
        let body = to_json(request)?;
        let url = self.action_url("updateNumber")?;
        // Setting fields to given values twice is the same as once, so this one may be replayed.
        self.graph(&Call::post_json(Endpoint::UpdateNumber, url, body, true))
            .await?
            .ok()?;
        Ok(())
    }

    /// The current state of a long-running number operation, from its Location URL as given.
    pub async fn operation(&self, location: &OperationLocation) -> Result<Operation, GraphError> {
        Ok(self.poll_once(location).await?.0)
    }

    /// Polls the operation (PollPolicy backoff, honouring a Retry-After on the poll response if any) until it is succeeded / failed / skipped; Err(GraphError::OperationTimedOut) after give_up_after.
    pub async fn wait_for(&self, location: &OperationLocation) -> Result<Operation, GraphError> {
        let policy = self.inner.config.poll;
        let started = Instant::now();
        let mut delay = policy.first_delay;
        loop {
            let (operation, retry_after) = self.poll_once(location).await?;
            if operation.status.is_finished() {
                return Ok(operation);
            }
            let remaining = policy.give_up_after.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return Err(GraphError::OperationTimedOut {
                    location: location.0.clone(),
                });
            }
            // The server's hint is a floor, never shortened; our own backoff is the other floor.
            let wait = delay.max(retry_after.unwrap_or_default());
            tracing::debug!(
                graph.operation_id = operation.id.as_str(),
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "operation not finished yet"
            );
            tokio::time::sleep(wait.min(remaining)).await;
            delay = delay.saturating_mul(2).min(policy.max_delay);
        }
    }

    async fn poll_once(
        &self,
        location: &OperationLocation,
    ) -> Result<(Operation, Option<Duration>), GraphError> {
        let url = self.same_origin(&location.0)?;
        let reply = self
            .graph(&Call::get(Endpoint::Operation, url))
            .await?
            .ok()?;
        Ok((parse_operation(&reply.body)?, reply.retry_after))
    }

    /// The first URL of a delta round: the stored link verbatim, or a fresh full sync.
    fn delta_start(
        &self,
        from: Option<&str>,
        resource: &str,
        select: &str,
    ) -> Result<Url, GraphError> {
        match from {
            Some(link) => self.same_origin(link),
            None => {
                let mut url = self.graph_url(&[resource, "delta"])?;
                // Written out rather than form-encoded so the query reads as in Graph's docs.
                url.set_query(Some(&format!("$select={select}")));
                Ok(url)
            }
        }
    }

    /// One page of a delta round; an answer saying the link expired is `DeltaExpired`.
    pub(crate) async fn delta_page(
        &self,
        endpoint: Endpoint,
        url: Url,
    ) -> Result<Page, GraphError> {
        let reply = self.graph(&Call::get(endpoint, url)).await?;
        if !reply.is_success() {
            return Err(match reply.ok() {
                Err(GraphError::Api {
                    status,
                    code,
                    message,
                    ..
                }) if is_delta_expired(status, &code, &message) => GraphError::DeltaExpired,
                Err(other) => other,
                Ok(_) => GraphError::Decode("delta page neither success nor error".into()),
            });
        }
        parse_json(&reply.body, "delta page")
    }

    fn number_page_url(&self, skip: usize) -> Result<Url, GraphError> {
        let mut url = self.graph_url(&[
            "admin",
            "teams",
            "telephoneNumberManagement",
            "numberAssignments",
        ])?;
        url.set_query(Some(&format!("$top={NUMBER_PAGE_SIZE}&$skip={skip}")));
        Ok(url)
    }

    /// The URL of a number-assignment action in the configured [`crate::ActionPath`] form.
    fn action_url(&self, action: &str) -> Result<Url, GraphError> {
        let segment = self.inner.config.action_path.segment(action);
        self.graph_url(&[
            "admin",
            "teams",
            "telephoneNumberManagement",
            "numberAssignments",
            &segment,
        ])
    }

    fn graph_url(&self, segments: &[&str]) -> Result<Url, GraphError> {
        let mut url = self.inner.graph_base.clone();
        url.path_segments_mut()
            .map_err(|()| GraphError::Config("graph_base_url cannot be a base".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Parses a link Graph handed us, refusing any other scheme, host or port: the bearer
    /// token goes to Graph only.
    pub(crate) fn same_origin(&self, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link)
            .map_err(|e| GraphError::Decode(format!("Graph sent a link that is not a URL: {e}")))?;
        if url.origin() != self.inner.graph_base.origin() {
            return Err(GraphError::Decode(format!(
                "refusing to follow a link to {}, which is not Graph at {}: the token is only sent to Graph",
                url.origin().ascii_serialization(),
                self.inner.graph_base.origin().ascii_serialization(),
            )));
        }
        Ok(url)
    }

    fn operation_location(&self, reply: &Reply) -> Result<OperationLocation, GraphError> {
        let location = reply
            .headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                GraphError::Decode(format!(
                    "Graph answered {} without a Location header",
                    reply.status
                ))
            })?;
        let absolute = match Url::parse(location) {
            Ok(_) => location.to_owned(),
            // HTTP allows a relative Location; Graph's are absolute, but resolving costs nothing.
            Err(_) => self
                .inner
                .graph_base
                .join(location)
                .map_err(|e| GraphError::Decode(format!("Location header: {e}")))?
                .to_string(),
        };
        self.same_origin(&absolute)?;
        Ok(OperationLocation(absolute))
    }

    /// Sends a Graph request with a bearer token; on a 401 gets a new token and tries once more.
    async fn graph(&self, call: &Call) -> Result<Reply, GraphError> {
        let token = self.token(None).await?;
        let reply = self.send(call, Some(&token)).await?;
        if reply.status != 401 {
            return Ok(reply);
        }
        tracing::debug!(
            graph.endpoint = call.endpoint.as_str(),
            "token refused; fetching a new one"
        );
        let token = self.token(Some(&token)).await?;
        self.send(call, Some(&token)).await
    }

    /// The cached token, or a new one when it is near expiry or is the `refused` one.
    async fn token(&self, refused: Option<&Secret>) -> Result<Secret, GraphError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(cached) = slot.as_ref() {
            let was_refused = refused.is_some_and(|r| r.expose() == cached.access_token.expose());
            if !was_refused && Instant::now() < cached.refresh_at {
                return Ok(cached.access_token.clone());
            }
        }
        *slot = None;
        let fresh = self.fetch_token().await?;
        let token = fresh.access_token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    async fn fetch_token(&self) -> Result<CachedToken, GraphError> {
        let config = &self.inner.config;
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &config.client_id)
            .append_pair("scope", GRAPH_SCOPE)
            .append_pair("client_secret", config.client_secret.expose())
            .append_pair("grant_type", "client_credentials")
            .finish();
        let asked_at = Instant::now();
        let call = Call {
            endpoint: Endpoint::Token,
            method: Method::POST,
            url: self.inner.token_url.clone(),
            body: Body::Form(form),
            // Asking for a token twice has no effect beyond a second token.
            replayable: true,
        };
        let reply = self.send(&call, None).await?;
        if !reply.is_success() {
            return Err(auth_error(reply.status, &reply.body));
        }
        let token: TokenResponse = parse_json(&reply.body, "token response")?;
        // v2 sends a number; the v1 endpoint and some proxies send a string.
        let lifetime = match &token.expires_in {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .map(Duration::from_secs)
        .ok_or_else(|| GraphError::Decode("token response without a usable expires_in".into()))?;
        // Refresh a little early so a token does not expire between check and use.
        let early = Duration::from_secs(60).min(lifetime / 10);
        Ok(CachedToken {
            access_token: Secret::new(token.access_token),
            refresh_at: asked_at + lifetime.saturating_sub(early),
        })
    }

    /// Sends a request, retrying throttling answers (and transport failures of replayable
    /// requests) within the retry policy.
    async fn send(&self, call: &Call, bearer: Option<&Secret>) -> Result<Reply, GraphError> {
        let policy = self.inner.config.retry;
        let mut waited = Duration::ZERO;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.wait_out_pause().await;
            let outcome = self.attempt(call, bearer).await;
            let wait = match outcome {
                Ok(reply) if is_throttling(reply.status) => {
                    if let Some(after) = reply.retry_after {
                        self.pause_for(after);
                    }
                    let wait = throttle_wait(&policy, attempt - 1, reply.retry_after);
                    if attempt >= policy.max_attempts || waited + wait > policy.max_total_wait {
                        return Err(GraphError::Throttled {
                            status: reply.status,
                            retry_after: reply.retry_after,
                        });
                    }
                    wait
                }
                Ok(reply) => return Ok(reply),
                // The request may have reached Graph and been applied: only replay what is safe.
                // And only what may go better: an oversized answer would come again.
                Err(error) if !call.replayable || !error.is_transient() => return Err(error),
                Err(error) => {
                    let wait = backoff(&policy, attempt - 1);
                    if attempt >= policy.max_attempts || waited + wait > policy.max_total_wait {
                        return Err(error);
                    }
                    wait
                }
            };
            tracing::debug!(
                graph.endpoint = call.endpoint.as_str(),
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "retrying"
            );
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    /// Sleeps until a `Retry-After` this client was given has elapsed, if one is pending.
    async fn wait_out_pause(&self) {
        let until = *self
            .inner
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    /// Holds every request of this client back for `after` (the longest pause wins).
    fn pause_for(&self, after: Duration) {
        let until = Instant::now() + after;
        let mut paused = self
            .inner
            .paused_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// One HTTP exchange, body read in full (up to the limit), reported to the observer and the log.
    async fn attempt(&self, call: &Call, bearer: Option<&Secret>) -> Result<Reply, GraphError> {
        let client_request_id = new_client_request_id();
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .header(header::ACCEPT, "application/json")
            .header("client-request-id", &client_request_id);
        if let Some(token) = bearer {
            request = request.bearer_auth(token.expose());
        }
        request = match &call.body {
            Body::Empty => request,
            Body::Json(bytes) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Body::Form(form) => request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.clone()),
        };
        let started = Instant::now();
        let limit = self.inner.config.limits.max_response_bytes;
        // reqwest's own timeout covers the body too; this outer one makes that a guarantee.
        let exchange = tokio::time::timeout(self.inner.config.timeout, async {
            let response = request.send().await.map_err(transport_error)?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = read_body(response, limit).await?;
            Ok::<_, GraphError>((status, headers, body))
        })
        .await;
        let duration = started.elapsed();
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let (status, headers, body) = match exchange {
            Ok(Ok(parts)) => parts,
            failed => {
                let error = match failed {
                    Ok(Err(error)) => error,
                    _ => GraphError::Timeout,
                };
                tracing::debug!(
                    graph.endpoint = call.endpoint.as_str(),
                    duration_ms,
                    graph.client_request_id = client_request_id.as_str(),
                    error = %error,
                    "graph request failed"
                );
                self.observe(call.endpoint, None, duration, None, None);
                return Err(error);
            }
        };
        let retry_after = headers
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, chrono::Utc::now()));
        let request_id = request_id(&headers);
        tracing::debug!(
            graph.endpoint = call.endpoint.as_str(),
            http.status = status,
            duration_ms,
            graph.request_id = request_id.unwrap_or_default(),
            graph.client_request_id = client_request_id.as_str(),
            "graph request"
        );
        self.observe(
            call.endpoint,
            Some(status),
            duration,
            retry_after,
            request_id,
        );
        Ok(Reply {
            status,
            headers,
            body,
            retry_after,
        })
    }

    fn observe(
        &self,
        endpoint: Endpoint,
        status: Option<u16>,
        duration: Duration,
        retry_after: Option<Duration>,
        request_id: Option<&str>,
    ) {
        if let Some(observer) = &self.observer {
            observer.request(&RequestEvent {
                endpoint,
                status,
                duration,
                retry_after,
                request_id,
            });
        }
    }
}

/// A failed exchange as the crate's error: a timeout, or the transport's words without the
/// URL (which may carry a skiptoken).
fn transport_error(e: reqwest::Error) -> GraphError {
    if e.is_timeout() {
        GraphError::Timeout
    } else {
        GraphError::Transport(e.without_url().to_string())
    }
}

/// Reads a response body of at most `limit` bytes, chunk by chunk, so an endless or huge
/// body is refused after `limit` bytes rather than held whole; a `Content-Length` over the
/// limit is refused before anything is read.
async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, GraphError> {
    let too_large = || GraphError::ResponseTooLarge { limit };
    let announced = response.content_length();
    if announced.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(announced.map_or(0, |n| n as usize));
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn to_json<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, GraphError> {
    serde_json::to_vec(body).map_err(|e| GraphError::Decode(format!("request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_ids_are_fresh_version_4_guids() {
        let a = new_client_request_id();
        let b = new_client_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn links_to_another_host_scheme_or_port_are_refused() {
        let mut config = Config::new("t", "c", Secret::new("s"));
        config.graph_base_url = "http://127.0.0.1:4567/v1.0".into();
        let client = Client::new(config).expect("client");
        assert!(
            client
                .same_origin("http://127.0.0.1:4567/v1.0/users/delta?$skiptoken=x")
                .is_ok()
        );
        for other in [
            "http://127.0.0.1:4568/v1.0/users",
            "https://127.0.0.1:4567/v1.0/users",
            "http://evil.example/v1.0/users",
        ] {
            assert!(
                matches!(client.same_origin(other), Err(GraphError::Decode(_))),
                "{other}"
            );
        }
    }
}
