#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use reqwest::{Client, Method, RequestBuilder};
use serde_json::Value;
use zoho_desk_sandbox::{Sandbox, SandboxConfig, SeedData};

pub const SMALL_SEED: &str = include_str!("../fixtures/seed-small.json");

pub fn small_seed() -> SeedData {
    SeedData::from_json_str(SMALL_SEED).unwrap()
}

pub fn small_config() -> SandboxConfig {
    SandboxConfig {
        seed_data: Some(small_seed()),
        ..Default::default()
    }
}

pub struct Env {
    pub sb: Sandbox,
    pub client: Client,
    pub token: String,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
    pub fn code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or("")
    }
}

pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().build().unwrap()
}

pub async fn start(config: SandboxConfig) -> Env {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let sb = Sandbox::start(config, addr).await.unwrap();
    let client = client();
    let mut env = Env {
        sb,
        client,
        token: String::new(),
    };
    env.token = env.fresh_token().await;
    env
}

pub async fn small() -> Env {
    start(small_config()).await
}

pub async fn read(resp: reqwest::Response) -> Resp {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

impl Env {
    pub async fn fresh_token(&self) -> String {
        let c = self.sb.credentials().clone();
        let r = self
            .client
            .post(format!("{}/oauth/v2/token", self.sb.accounts_url()))
            .query(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", c.refresh_token.as_str()),
                ("client_id", c.client_id.as_str()),
                ("client_secret", c.client_secret.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        body["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.sb.base_url(), path)
    }

    /// An authenticated request with the orgId header.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("Authorization", format!("Zoho-oauthtoken {}", self.token))
            .header("orgId", self.sb.credentials().org_id.clone())
    }

    pub async fn get(&self, path: &str) -> Resp {
        read(self.req(Method::GET, path).send().await.unwrap()).await
    }

    pub async fn send(&self, method: Method, path: &str, body: Value) -> Resp {
        read(self.req(method, path).json(&body).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, body).await
    }
}

pub fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
