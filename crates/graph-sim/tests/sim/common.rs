//! Starting a simulator and talking JSON to it without reqwest's json feature.

use graph_sim::{SimConfig, Simulator};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub struct Harness {
    pub sim: Simulator,
    pub client: reqwest::Client,
    pub token: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client")
}

pub async fn start(config: SimConfig) -> Harness {
    let sim = Simulator::start(config, "127.0.0.1:0")
        .await
        .expect("start");
    let client = client();
    let mut h = Harness {
        sim,
        client,
        token: String::new(),
    };
    h.token = h.fetch_token().await;
    h
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn read(resp: reqwest::Response) -> Resp {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("json body")
    };
    Resp {
        status,
        headers,
        body,
    }
}

impl Harness {
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.sim.login_base_url(),
            graph_sim::SimConfig::default().tenant_id
        )
    }

    pub async fn token_request(&self, form: &[(&str, &str)]) -> Resp {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = self
            .client
            .post(self.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("send");
        read(resp).await
    }

    pub async fn fetch_token(&self) -> String {
        let c = SimConfig::default();
        let r = self
            .token_request(&[
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ])
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"].as_str().expect("token").to_owned()
    }

    /// GET of a path under the Graph root, or of an absolute URL (a followed link).
    pub async fn get(&self, path_or_url: &str) -> Resp {
        let url = self.url(path_or_url);
        read(
            self.client
                .get(url)
                .bearer_auth(&self.token)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.post_raw(path, serde_json::to_vec(body).expect("json"))
            .await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Resp {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send");
        read(resp).await
    }

    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_owned()
        } else {
            format!("{}{}", self.sim.graph_base_url(), path_or_url)
        }
    }

    /// Follows nextLinks to the deltaLink; returns every item and the deltaLink.
    pub async fn delta_round(&self, first: &str) -> (Vec<Value>, String, usize) {
        let mut items = Vec::new();
        let mut url = first.to_owned();
        let mut pages = 0;
        loop {
            let r = self.get(&url).await;
            assert_eq!(r.status, 200, "{}", r.body);
            pages += 1;
            items.extend(r.body["value"].as_array().expect("value").iter().cloned());
            if let Some(next) = r.body["@odata.nextLink"].as_str() {
                assert!(r.body.get("@odata.deltaLink").is_none());
                url = next.to_owned();
            } else {
                let delta = r.body["@odata.deltaLink"]
                    .as_str()
                    .expect("deltaLink on the last page");
                return (items, delta.to_owned(), pages);
            }
        }
    }
}

pub const NA: &str = "/admin/teams/telephoneNumberManagement/numberAssignments";
