//! Where OAUTHBEARER tokens come from: a static token, an unsecured JWT made here (librdkafka's
//! default for `sasl.oauthbearer.config`), or the OAuth 2 client-credentials flow against a
//! token endpoint (librdkafka's `sasl.oauthbearer.method=oidc`; see `oidc`).
//!
//! A [`TokenSource`] belongs to one profile and is shared by all its broker connections: the
//! token is cached and fetched again once 80 % of its lifetime has passed, so N connections make
//! one request per lifetime. Concurrent callers wait for the one fetch in flight. If a refresh
//! fails while the old token is still valid, the old token is used (and the failure logged).
//! Tokens and client secrets never appear in `Debug` output or in error messages.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::time::Instant;

#[path = "oidc.rs"]
mod oidc;

pub use oidc::ClientCredentials;

/// Longest lifetime believed, so that `Instant + lifetime` cannot overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// A profile's OAUTHBEARER tokens. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    cache: tokio::sync::Mutex<Cache>,
}

enum Kind {
    Fixed(String),
    Unsecured(UnsecuredJwt),
    ClientCredentials(Box<ClientCredentials>),
}

#[derive(Default)]
struct Cache {
    token: Option<Cached>,
    /// The last failed fetch, so callers that queued behind it fail at once instead of each
    /// trying (and maybe timing out) in turn.
    failed: Option<(Instant, String)>,
}

struct Cached {
    value: String,
    refresh_at: Instant,
    expires_at: Instant,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner.kind {
            Kind::Fixed(_) => f.write_str("static token"),
            Kind::Unsecured(jwt) => write!(f, "unsecured JWT for {:?}", jwt.principal),
            Kind::ClientCredentials(c) => {
                write!(f, "client {:?} at {}", c.client_id, c.endpoint)
            }
        }
    }
}

impl TokenSource {
    fn new(kind: Kind) -> TokenSource {
        TokenSource {
            inner: Arc::new(Inner {
                kind,
                cache: tokio::sync::Mutex::new(Cache::default()),
            }),
        }
    }

    /// A token used as it is (`sasl.oauthbearer.token`); Err says what was expected.
    pub(super) fn fixed(token: &str) -> Result<TokenSource, String> {
        if !is_bearer_token(token) {
            return Err("a bearer token: printable ASCII without spaces".to_owned());
        }
        Ok(TokenSource::new(Kind::Fixed(token.to_owned())))
    }

    pub(super) fn unsecured(jwt: UnsecuredJwt) -> TokenSource {
        TokenSource::new(Kind::Unsecured(jwt))
    }

    pub(super) fn client_credentials(flow: ClientCredentials) -> TokenSource {
        TokenSource::new(Kind::ClientCredentials(Box::new(flow)))
    }

    /// A token valid now: the cached one, or a new one. Err is a reason without secrets.
    pub async fn token(&self) -> Result<String, String> {
        if let Kind::Fixed(token) = &self.inner.kind {
            // Nothing to refresh: skip the lock.
            return Ok(token.clone());
        }
        let queued_at = Instant::now();
        let mut cache = self.inner.cache.lock().await;
        let now = Instant::now();
        if let Some(cached) = cache.token.as_ref().filter(|t| now < t.refresh_at) {
            return Ok(cached.value.clone());
        }
        // A fetch that failed while we waited for the lock is not tried again at once.
        let failed_meanwhile = cache.failed.as_ref().filter(|(at, _)| *at >= queued_at);
        let fetched = match failed_meanwhile {
            Some((_, reason)) => Err((reason.clone(), false)),
            None => self
                .inner
                .kind
                .fetch()
                .await
                .map_err(|reason| (reason, true)),
        };
        let now = Instant::now();
        match fetched {
            Ok((value, lifetime)) => {
                let lifetime = lifetime.min(MAX_LIFETIME);
                cache.token = Some(Cached {
                    value: value.clone(),
                    refresh_at: now + lifetime.mul_f64(0.8),
                    expires_at: now + lifetime,
                });
                cache.failed = None;
                Ok(value)
            }
            Err((reason, fresh)) => {
                if fresh {
                    cache.failed = Some((now, reason.clone()));
                }
                match cache.token.as_ref().filter(|t| now < t.expires_at) {
                    Some(old) => {
                        if fresh {
                            tracing::warn!(%reason, "OAUTHBEARER token refresh failed; using the current token until it expires");
                        }
                        Ok(old.value.clone())
                    }
                    None => Err(reason),
                }
            }
        }
    }
}

impl Kind {
    /// A new token and its lifetime.
    async fn fetch(&self) -> Result<(String, Duration), String> {
        match self {
            Kind::Fixed(token) => Ok((token.clone(), MAX_LIFETIME)),
            Kind::Unsecured(jwt) => Ok(jwt.make(SystemTime::now())),
            Kind::ClientCredentials(flow) => flow.fetch().await,
        }
    }
}

/// RFC 6750 allows fewer characters; this is what keeps RFC 7628's `\x01` framing intact.
fn is_bearer_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// An unsecured JWT (`"alg":"none"`, RFC 7515 appendix A.5) as librdkafka makes from
/// `sasl.oauthbearer.config`; only brokers configured to accept unsecured tokens take it.
pub struct UnsecuredJwt {
    principal: String,
    principal_claim: String,
    scope: Vec<String>,
    scope_claim: String,
    life: Duration,
}

/// What `sasl.oauthbearer.config` may contain.
const UNSECURED_EXPECTED: &str = "space-separated name=value pairs: principal=NAME (required), \
     scope=a,b, lifeSeconds=N, principalClaimName=sub, scopeClaimName=scope, extension_NAME=value";

impl UnsecuredJwt {
    /// Parses `sasl.oauthbearer.config`; also returns its `extension_NAME=value` extensions.
    /// Err says what was expected and never repeats a value (the config is treated as secret).
    pub(super) fn parse(config: &str) -> Result<(UnsecuredJwt, Vec<(String, String)>), String> {
        let problem = |what: &str| format!("{UNSECURED_EXPECTED} ({what})");
        let mut jwt = UnsecuredJwt {
            principal: String::new(),
            principal_claim: "sub".to_owned(),
            scope: Vec::new(),
            scope_claim: "scope".to_owned(),
            life: Duration::from_secs(3600),
        };
        let mut extensions = Vec::new();
        for pair in config.split_whitespace() {
            let Some((name, value)) = pair.split_once('=') else {
                return Err(problem("a word without `=`"));
            };
            match name {
                "principal" => jwt.principal = value.to_owned(),
                "principalClaimName" if !value.is_empty() => jwt.principal_claim = value.into(),
                "scopeClaimName" if !value.is_empty() => jwt.scope_claim = value.to_owned(),
                "scope" => {
                    jwt.scope = value
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                }
                "lifeSeconds" => {
                    let secs = value.parse::<u64>().ok().filter(|s| *s > 0);
                    let secs = secs.ok_or_else(|| problem("lifeSeconds is not a number > 0"))?;
                    jwt.life = Duration::from_secs(secs).min(MAX_LIFETIME);
                }
                _ => match name.strip_prefix("extension_") {
                    Some(key) => extensions.push(extension(key, value).map_err(|e| problem(&e))?),
                    None => return Err(problem(&format!("unknown or empty name {name:?}"))),
                },
            }
        }
        if jwt.principal.is_empty() {
            return Err(problem("principal is missing"));
        }
        Ok((jwt, extensions))
    }

    /// The token and its lifetime, issued at `now`.
    fn make(&self, now: SystemTime) -> (String, Duration) {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut claims = serde_json::Map::new();
        claims.insert(self.principal_claim.clone(), self.principal.clone().into());
        claims.insert("iat".to_owned(), iat.into());
        claims.insert("exp".to_owned(), (iat + self.life.as_secs()).into());
        if !self.scope.is_empty() {
            claims.insert(self.scope_claim.clone(), self.scope.clone().into());
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::Value::Object(claims).to_string());
        (format!("{header}.{payload}."), self.life)
    }
}

/// Parses `sasl.oauthbearer.extensions` (`k=v,k=v`); Err says what was expected.
pub(super) fn parse_extensions(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => extension(key.trim(), value.trim()),
            None => Err(format!(
                "key=value pairs separated by commas ({pair:?} has no `=`)"
            )),
        })
        .collect()
}

/// One RFC 7628 extension: the key is letters only and not `auth`; the value has no `\x01`.
fn extension(key: &str, value: &str) -> Result<(String, String), String> {
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) || key == "auth" {
        return Err(format!(
            "extension names of letters only, other than auth (RFC 7628); got {key:?}"
        ));
    }
    // RFC 7628 §3.1: value = *(VCHAR / SP / HTAB / CR / LF); brokers check the same.
    if !value
        .bytes()
        .all(|b| matches!(b, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n'))
    {
        let expected = "printable ASCII (RFC 7628)";
        return Err(format!(
            "extension values of {expected}; {key} has other characters"
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
