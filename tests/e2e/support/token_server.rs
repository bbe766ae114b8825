//! An OAuth 2 token endpoint on 127.0.0.1 (plain HTTP) for the client-credentials flow (RFC
//! 6749 §4.4), as KEDA's Kafka scaler runs it against `oauthTokenEndpointUri`
//! (`pkg/scalers/kafka/kafka_scaler_oauth_token_provider.go`, `OAuthBearerTokenProvider`) and
//! lagscale's `sasl.oauthbearer.method: oidc` does: HTTP Basic with the client id and secret,
//! a form with `grant_type=client_credentials` and the scope. Every token it issues is kept, so
//! the Kafka front ([`super::secure_kafka`]) accepts exactly those.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

#[derive(Clone)]
struct Endpoint {
    authorization: String,
    scope: String,
    issued: Arc<Mutex<Vec<String>>>,
    refused: Arc<AtomicUsize>,
}

/// A running token endpoint.
pub struct TokenServer {
    /// `http://127.0.0.1:PORT/token`.
    pub url: String,
    endpoint: Endpoint,
}

impl TokenServer {
    /// Issues tokens to `client_id`/`secret` asking for exactly `scope`.
    pub async fn start(client_id: &str, secret: &str, scope: &str) -> TokenServer {
        let endpoint = Endpoint {
            authorization: format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}"))),
            scope: scope.to_owned(),
            issued: Arc::default(),
            refused: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/token", axum::routing::post(token))
            .with_state(endpoint.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        TokenServer { url, endpoint }
    }

    /// The tokens issued so far, shared with the front that checks them.
    pub fn issued(&self) -> Arc<Mutex<Vec<String>>> {
        self.endpoint.issued.clone()
    }

    /// Requests refused for a wrong client or form.
    pub fn refused(&self) -> usize {
        self.endpoint.refused.load(Ordering::SeqCst)
    }
}

async fn token(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok());
    let mut form: Vec<(&str, &str)> = body.split('&').filter_map(|p| p.split_once('=')).collect();
    form.sort();
    let wanted = [
        ("grant_type", "client_credentials"),
        ("scope", &endpoint.scope),
    ];
    if basic != Some(endpoint.authorization.as_str()) || form != wanted {
        endpoint.refused.fetch_add(1, Ordering::SeqCst);
        let error = r#"{"error":"invalid_client"}"#.to_owned();
        return (StatusCode::UNAUTHORIZED, error);
    }
    let mut issued = endpoint.issued.lock().unwrap();
    let token = format!("kafka-token-{}-{}", issued.len(), std::process::id());
    issued.push(token.clone());
    let answer = format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":3600}}"#);
    (StatusCode::OK, answer)
}
