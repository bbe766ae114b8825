use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;

use super::super::sasl::{Sasl, SaslError};
use super::super::security::Security;
use super::oidc::{jwt_lifetime, seconds};
use super::*;

const SECRET: &str = "cl1ent-s3cret";

fn decode(part: &str) -> serde_json::Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn unsecured_jwt_has_the_claims_librdkafka_makes() {
    let config = "principal=alice scope=read,write lifeSeconds=600 extension_traceId=123";
    let (jwt, extensions) = UnsecuredJwt::parse(config).unwrap();
    assert_eq!(extensions, vec![("traceId".to_owned(), "123".to_owned())]);
    let (token, life) = jwt.make(UNIX_EPOCH + Duration::from_secs(1_000));
    assert_eq!(life, Duration::from_secs(600));
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(decode(parts[0]), serde_json::json!({"alg": "none"}));
    assert_eq!(
        decode(parts[1]),
        serde_json::json!({"sub": "alice", "iat": 1000, "exp": 1600, "scope": ["read", "write"]})
    );
    assert_eq!(parts[2], "", "an unsecured JWT has an empty signature");

    let (jwt, _) = UnsecuredJwt::parse("principalClaimName=azp principal=\"bob\"").unwrap();
    let (token, life) = jwt.make(UNIX_EPOCH);
    assert_eq!(life, Duration::from_secs(3600));
    let claims = decode(token.split('.').nth(1).unwrap());
    assert_eq!(
        claims,
        serde_json::json!({"azp": "\"bob\"", "iat": 0, "exp": 3600})
    );
}

#[test]
fn bad_unsecured_configs_say_what_is_wrong_without_values() {
    let table = [
        ("", "principal is missing"),
        ("scope=a", "principal is missing"),
        (
            "principal=x lifeSeconds=soon",
            "lifeSeconds is not a number",
        ),
        ("principal=x lifeSeconds=0", "lifeSeconds is not a number"),
        (
            "principal=x colour=blue",
            "unknown or empty name \"colour\"",
        ),
        ("principal=x hunter2", "without `=`"),
        ("principal=x extension_auth=1", "other than auth"),
    ];
    for (config, problem) in table {
        let error = UnsecuredJwt::parse(config).err().unwrap();
        assert!(error.contains(problem), "{config}: {error}");
        assert!(error.starts_with(UNSECURED_EXPECTED), "{error}");
        assert!(
            !error.contains("hunter2") && !error.contains("soon"),
            "{error}"
        );
    }
}

#[test]
fn extensions_are_rfc_7628_key_value_pairs() {
    assert_eq!(
        parse_extensions("logicalCluster=lkc-1, identityPoolId=pool-2,").unwrap(),
        vec![
            ("logicalCluster".to_owned(), "lkc-1".to_owned()),
            ("identityPoolId".to_owned(), "pool-2".to_owned())
        ]
    );
    assert_eq!(parse_extensions("").unwrap(), vec![]);
    assert!(parse_extensions("novalue").unwrap_err().contains("no `=`"));
    assert!(
        parse_extensions("auth=x")
            .unwrap_err()
            .contains("other than auth")
    );
    assert!(
        parse_extensions("trace-id=1")
            .unwrap_err()
            .contains("letters only")
    );
    assert!(
        parse_extensions("a=\u{1}")
            .unwrap_err()
            .contains("printable ASCII")
    );
    assert!(
        parse_extensions("a=é")
            .unwrap_err()
            .contains("printable ASCII")
    );
    assert_eq!(
        parse_extensions("a=x y").unwrap(),
        vec![("a".to_owned(), "x y".to_owned())]
    );
}

#[test]
fn lifetimes_from_expires_in_or_the_jwt() {
    assert_eq!(
        seconds(&serde_json::json!(100)),
        Some(Duration::from_secs(100))
    );
    assert_eq!(
        seconds(&serde_json::json!("3599")),
        Some(Duration::from_secs(3599))
    );
    assert_eq!(seconds(&serde_json::json!(0)), None);
    assert_eq!(seconds(&serde_json::json!(-5)), None);
    assert_eq!(seconds(&serde_json::Value::Null), None);
    let payload = URL_SAFE_NO_PAD.encode(r#"{"exp":1300}"#);
    let now = UNIX_EPOCH + Duration::from_secs(1_000);
    assert_eq!(
        jwt_lifetime(&format!("h.{payload}.s"), now),
        Some(Duration::from_secs(300))
    );
    assert_eq!(jwt_lifetime("opaque", now), None);
    assert!(TokenSource::fixed("has space").is_err());
    assert!(TokenSource::fixed("").is_err());
}

/// A token endpoint that counts its requests and checks what librdkafka's oidc method sends.
#[derive(Clone, Default)]
struct Endpoint {
    requests: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

async fn token(
    State(endpoint): State<Endpoint>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let n = endpoint.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("lagscale-app:{SECRET}"))
    );
    let form = headers.get("content-type").and_then(|v| v.to_str().ok());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str())
        || form != Some("application/x-www-form-urlencoded")
        || body != "grant_type=client_credentials&scope=kafka%20read"
    {
        return (
            StatusCode::BAD_REQUEST,
            format!("unexpected request: {headers:?} {body}"),
        );
    }
    if endpoint.failing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, String::new());
    }
    (
        StatusCode::OK,
        format!(r#"{{"access_token":"t{n}","expires_in":100,"token_type":"Bearer"}}"#),
    )
}

async fn refused() -> (StatusCode, &'static str) {
    (StatusCode::UNAUTHORIZED, r#"{"error":"invalid_client"}"#)
}

async fn start(endpoint: Endpoint) -> SocketAddr {
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .route("/refused", axum::routing::post(refused))
        .with_state(endpoint);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn oidc(url: &str) -> Sasl {
    let properties: BTreeMap<String, String> = [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("sasl.oauthbearer.method", "oidc"),
        ("sasl.oauthbearer.client.id", "lagscale-app"),
        ("sasl.oauthbearer.client.secret", SECRET),
        ("sasl.oauthbearer.token.endpoint.url", url),
        ("sasl.oauthbearer.scope", "kafka read"),
        ("sasl.oauthbearer.extensions", "traceId=7"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Security::from_properties(&properties)
        .unwrap()
        .sasl
        .unwrap()
}

/// Awaits `future` (real network I/O) with the paused clock held still: a running blocking
/// task stops tokio from auto-advancing to the fetch's timeout while the runtime waits on I/O.
async fn held<F: std::future::Future>(future: F) -> F::Output {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let hold = tokio::task::spawn_blocking(move || wait.recv());
    let output = future.await;
    drop(done);
    let _ = hold.await;
    output
}

async fn first_message(sasl: &Sasl) -> Result<Vec<u8>, SaslError> {
    held(sasl.begin())
        .await
        .map(|mut exchange| exchange.first_message())
}

#[tokio::test(start_paused = true)]
async fn oidc_tokens_are_fetched_once_and_refreshed_after_80_percent() {
    let endpoint = Endpoint::default();
    let addr = start(endpoint.clone()).await;
    let sasl = oidc(&format!("http://{addr}/token"));
    let requests = || endpoint.requests.load(Ordering::SeqCst);

    assert_eq!(
        first_message(&sasl).await.unwrap(),
        b"n,,\x01auth=Bearer t1\x01traceId=7\x01\x01"
    );
    assert_eq!(
        first_message(&sasl).await.unwrap(),
        b"n,,\x01auth=Bearer t1\x01traceId=7\x01\x01"
    );
    // Connections of one profile share the token, even when they start together.
    let clone = sasl.clone();
    let (a, b) = held(async { tokio::join!(sasl.begin(), clone.begin()) }).await;
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(requests(), 1);

    tokio::time::advance(Duration::from_secs(79)).await;
    first_message(&sasl).await.unwrap();
    assert_eq!(requests(), 1, "79 % of the lifetime: still the first token");

    tokio::time::advance(Duration::from_secs(2)).await;
    let message = first_message(&sasl).await.unwrap();
    assert_eq!(message, b"n,,\x01auth=Bearer t2\x01traceId=7\x01\x01");
    assert_eq!(requests(), 2);

    // A failed refresh keeps the current token while it is valid, then fails.
    endpoint.failing.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(81)).await;
    let clone = sasl.clone();
    let (a, b) = held(async { tokio::join!(first_message(&sasl), first_message(&clone)) }).await;
    assert_eq!(a.unwrap(), b"n,,\x01auth=Bearer t2\x01traceId=7\x01\x01");
    assert_eq!(b.unwrap(), b"n,,\x01auth=Bearer t2\x01traceId=7\x01\x01");
    assert_eq!(
        requests(),
        3,
        "the caller queued behind the failed refresh does not retry"
    );
    tokio::time::advance(Duration::from_secs(20)).await;
    let error = first_message(&sasl).await.unwrap_err();
    assert!(error.reason.contains("HTTP 503"), "{error}");
    assert_eq!(requests(), 4);
}

#[tokio::test]
async fn a_refused_token_request_names_the_url_and_status_but_no_secret() {
    let addr = start(Endpoint::default()).await;
    let sasl = oidc(&format!("http://admin:pa55@{addr}/refused?tenant=x"));
    let error = sasl.begin().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "SASL OAUTHBEARER: token endpoint http://{addr}/refused: HTTP 401 Unauthorized \
             (invalid_client)"
        )
    );
    let debug = format!("{error:?} {sasl:?}");
    for secret in [SECRET, "pa55"] {
        assert!(
            !error.to_string().contains(secret) && !debug.contains(secret),
            "{debug}"
        );
    }
    assert!(debug.contains("lagscale-app"), "{debug}");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_named() {
    // A port nothing listens on: bind one, then close it.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let error = oidc(&format!("http://{addr}/token"))
        .begin()
        .await
        .unwrap_err();
    let expected = format!("token endpoint http://{addr}/token: cannot reach it");
    assert!(error.reason.starts_with(&expected), "{error}");
}
