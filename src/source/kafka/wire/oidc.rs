//! The OAuth 2 client-credentials flow (librdkafka's `sasl.oauthbearer.method=oidc`): one token
//! request to the token endpoint, and the token's lifetime from its answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::is_bearer_token;

/// Bound on one token request, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on a token endpoint's answer; real ones are a few kilobytes.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The OAuth 2 client-credentials flow (RFC 6749 §4.4) as librdkafka's `oidc` method runs it.
pub struct ClientCredentials {
    url: hyper::Uri,
    /// The URL without user info or query: what errors and Debug show.
    pub(super) endpoint: String,
    pub(super) client_id: String,
    /// `Basic base64(client_id:client_secret)`.
    authorization: String,
    /// `grant_type=client_credentials[&scope=...]`.
    form: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl ClientCredentials {
    /// Err says what was expected of the URL. `tls` verifies an https endpoint.
    pub(in crate::source::kafka::wire) fn new(
        url: &str,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
        tls: tokio_rustls::rustls::ClientConfig,
    ) -> Result<ClientCredentials, String> {
        let expected = "an http:// or https:// URL with a host";
        let uri: hyper::Uri = url.trim().parse().map_err(|_| expected.to_owned())?;
        let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
        let host = uri.authority().map(|a| a.host()).unwrap_or_default();
        if !matches!(scheme.as_deref(), Some("http" | "https")) || host.is_empty() {
            return Err(expected.to_owned());
        }
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let endpoint = format!("{}://{authority}{}", scheme.unwrap_or_default(), uri.path());
        // User info in the URL is not how the client authenticates: it is not sent at all.
        let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        let uri = format!("{endpoint}{query}")
            .parse()
            .map_err(|_| expected.to_owned())?;
        let mut form = "grant_type=client_credentials".to_owned();
        if let Some(scope) = scope.filter(|s| !s.is_empty()) {
            form.push_str("&scope=");
            form.extend(utf8_percent_encode(scope, NON_ALPHANUMERIC));
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(ClientCredentials {
            url: uri,
            endpoint,
            client_id: client_id.to_owned(),
            authorization: format!(
                "Basic {}",
                STANDARD.encode(format!("{client_id}:{client_secret}"))
            ),
            form,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// One token request: the token and its lifetime. Err names the endpoint, never a secret.
    pub(super) async fn fetch(&self) -> Result<(String, Duration), String> {
        let endpoint = &self.endpoint;
        let request = hyper::Request::post(self.url.clone())
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::AUTHORIZATION, &self.authorization)
            .body(Full::new(Bytes::from(self.form.clone())))
            .map_err(|_| format!("token endpoint {endpoint}: cannot build the request"))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                format!("token endpoint {endpoint}: cannot reach it: {}", chain(&e))
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| format!("token endpoint {endpoint}: reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = tokio::time::timeout(FETCH_TIMEOUT, exchange)
            .await
            .map_err(|_| {
                format!(
                    "token endpoint {endpoint}: no answer within {} s",
                    FETCH_TIMEOUT.as_secs()
                )
            })??;
        let json = serde_json::from_slice::<serde_json::Value>(&body).ok();
        if !status.is_success() {
            // RFC 6749 §5.2's `error` (e.g. invalid_client) says what to fix; it holds no secret.
            let code = json.as_ref().and_then(|j| j["error"].as_str());
            let code = code
                .map(|c| format!(" ({})", printable(c)))
                .unwrap_or_default();
            return Err(format!("token endpoint {endpoint}: HTTP {status}{code}"));
        }
        let json =
            json.ok_or_else(|| format!("token endpoint {endpoint}: the answer is not JSON"))?;
        let token = json["access_token"]
            .as_str()
            .filter(|t| is_bearer_token(t))
            .ok_or_else(|| {
                format!("token endpoint {endpoint}: the answer has no valid access_token")
            })?;
        let lifetime = seconds(&json["expires_in"])
            .or_else(|| jwt_lifetime(token, SystemTime::now()))
            .ok_or_else(|| {
                format!("token endpoint {endpoint}: the answer has no expires_in (and the token no exp claim)")
            })?;
        Ok((token.to_owned(), lifetime))
    }
}

/// `expires_in` as a number or (as some identity providers send it) a numeric string.
pub(super) fn seconds(value: &serde_json::Value) -> Option<Duration> {
    let secs = match value {
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        other => other.as_f64(),
    }?;
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)))
}

/// The time left before a JWT's `exp` claim, for endpoints that omit `expires_in`.
pub(super) fn jwt_lifetime(token: &str, now: SystemTime) -> Option<Duration> {
    let payload = URL_SAFE_NO_PAD.decode(token.split('.').nth(1)?).ok()?;
    let exp = serde_json::from_slice::<serde_json::Value>(&payload).ok()?["exp"].as_f64()?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    seconds(&serde_json::Value::from(exp - now))
}

/// An error and its sources, which hyper keeps apart ("client error (Connect)" alone says little).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

/// Server-chosen text for an error message: bounded and without control characters.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(120).collect()
}
