//! The SASL exchanges a broker connection runs after `SaslHandshake`: PLAIN (RFC 4616),
//! SCRAM-SHA-256/512 (RFC 5802, RFC 7677) and OAUTHBEARER (RFC 7628).
//!
//! [`Sasl`] is one profile's validated settings (built by [`super::security`]); every new broker
//! connection calls [`Sasl::begin`] and feeds the [`SaslExchange`] the server's answers until it
//! returns `Ok(None)`. The connection layer owns the framing (`SaslAuthenticate` requests); this
//! module only produces and checks `auth_bytes` (SCRAM's steps are in `scram`). Passwords,
//! tokens and SCRAM keys never reach a `Debug` output or a [`SaslError`].

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::{digest, hmac, pbkdf2};

use super::oauth::TokenSource;

#[path = "scram.rs"]
mod scram;

use scram::{Salted, Scram, ScramStep};

/// One profile's SASL settings. Debug shows the mechanism and user, never a password/secret/token.
#[derive(Clone)]
pub struct Sasl {
    mechanism: Mechanism,
}

#[derive(Clone)]
enum Mechanism {
    Plain {
        user: String,
        password: Arc<str>,
    },
    Scram {
        hash: &'static ScramHash,
        user: String,
        password: Arc<str>,
        /// The salted password of the last exchange: brokers keep one salt per user, so every
        /// later connection skips PBKDF2 (the expensive part).
        salted: Arc<Mutex<Option<Salted>>>,
    },
    OAuthBearer {
        tokens: TokenSource,
        extensions: Arc<[(String, String)]>,
    },
}

/// A SCRAM variant: its name and the algorithms it is made of.
pub(super) struct ScramHash {
    name: &'static str,
    hmac: &'static hmac::Algorithm,
    pbkdf2: &'static pbkdf2::Algorithm,
    digest: &'static digest::Algorithm,
}

pub(super) static SCRAM_SHA_256: ScramHash = ScramHash {
    name: "SCRAM-SHA-256",
    hmac: &hmac::HMAC_SHA256,
    pbkdf2: &pbkdf2::PBKDF2_HMAC_SHA256,
    digest: &digest::SHA256,
};

pub(super) static SCRAM_SHA_512: ScramHash = ScramHash {
    name: "SCRAM-SHA-512",
    hmac: &hmac::HMAC_SHA512,
    pbkdf2: &pbkdf2::PBKDF2_HMAC_SHA512,
    digest: &digest::SHA512,
};

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("Sasl");
        s.field("mechanism", &self.mechanism_name());
        match &self.mechanism {
            Mechanism::Plain { user, .. } | Mechanism::Scram { user, .. } => {
                s.field("user", user);
            }
            Mechanism::OAuthBearer { tokens, extensions } => {
                // Extension values may identify a tenant; only their names are shown.
                let names: Vec<&str> = extensions.iter().map(|(k, _)| k.as_str()).collect();
                s.field("tokens", tokens).field("extensions", &names);
            }
        }
        s.finish()
    }
}

impl Sasl {
    /// PLAIN; `user` and `password` are validated by [`super::security`] (no NUL).
    pub(super) fn plain(user: &str, password: &str) -> Sasl {
        Sasl {
            mechanism: Mechanism::Plain {
                user: user.to_owned(),
                password: password.into(),
            },
        }
    }

    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    pub(super) fn scram(hash: &'static ScramHash, user: &str, password: &str) -> Sasl {
        Sasl {
            mechanism: Mechanism::Scram {
                hash,
                user: user.to_owned(),
                password: password.into(),
                salted: Arc::new(Mutex::new(None)),
            },
        }
    }

    /// OAUTHBEARER with tokens from `tokens` and RFC 7628 extensions (keys validated).
    pub(super) fn oauthbearer(tokens: TokenSource, extensions: Vec<(String, String)>) -> Sasl {
        Sasl {
            mechanism: Mechanism::OAuthBearer {
                tokens,
                extensions: extensions.into(),
            },
        }
    }

    /// "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512" or "OAUTHBEARER": what SaslHandshake sends.
    pub fn mechanism_name(&self) -> &'static str {
        match &self.mechanism {
            Mechanism::Plain { .. } => "PLAIN",
            Mechanism::Scram { hash, .. } => hash.name,
            Mechanism::OAuthBearer { .. } => "OAUTHBEARER",
        }
    }

    /// Starts one authentication (one per new broker connection). For OAUTHBEARER this gets a
    /// token first (cached and shared by all connections of the profile; refreshed before expiry).
    pub async fn begin(&self) -> Result<SaslExchange, SaslError> {
        match &self.mechanism {
            Mechanism::Scram { hash, .. } => {
                let mut random = [0u8; 24];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
                    .map_err(|_| {
                        SaslError::new(
                            hash.name,
                            "the system has no randomness for the SCRAM nonce",
                        )
                    })?;
                Ok(self.begin_with_nonce(&STANDARD.encode(random)))
            }
            Mechanism::OAuthBearer { tokens, extensions } => {
                let token = tokens
                    .token()
                    .await
                    .map_err(|reason| SaslError::new("OAUTHBEARER", reason))?;
                let mut message = format!("n,,\x01auth=Bearer {token}\x01");
                for (key, value) in extensions.iter() {
                    message.push_str(&format!("{key}={value}\x01"));
                }
                message.push('\x01');
                Ok(SaslExchange::single("OAUTHBEARER", message.into_bytes()))
            }
            Mechanism::Plain { .. } => Ok(self.begin_with_nonce("")),
        }
    }

    /// [`Sasl::begin`] with a chosen SCRAM client nonce (tests use the RFC's); OAUTHBEARER is
    /// not handled here because its token needs `await`.
    fn begin_with_nonce(&self, nonce: &str) -> SaslExchange {
        match &self.mechanism {
            Mechanism::Plain { user, password } => {
                // authzid empty: act as the authenticated user.
                let message = format!("\0{user}\0{password}");
                SaslExchange::single("PLAIN", message.into_bytes())
            }
            Mechanism::Scram {
                hash,
                user,
                password,
                salted,
            } => {
                let name = user.replace('=', "=3D").replace(',', "=2C");
                SaslExchange {
                    mechanism: hash.name,
                    state: State::Scram(Box::new(Scram {
                        hash,
                        password: password.clone(),
                        salted: salted.clone(),
                        client_first_bare: format!("n={name},r={nonce}"),
                        nonce: nonce.to_owned(),
                        step: ScramStep::Start,
                    })),
                }
            }
            Mechanism::OAuthBearer { .. } => SaslExchange::single("OAUTHBEARER", Vec::new()),
        }
    }
}

/// One authentication in progress. Debug shows the mechanism and the step only.
pub struct SaslExchange {
    mechanism: &'static str,
    state: State,
}

enum State {
    /// PLAIN and OAUTHBEARER: one client message, then the server's verdict.
    Single {
        message: Vec<u8>,
        sent: bool,
    },
    Scram(Box<Scram>),
    Done,
}

impl std::fmt::Debug for SaslExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let step = match &self.state {
            State::Single { sent: false, .. } => "start",
            State::Single { sent: true, .. } => "sent",
            State::Scram(scram) => match scram.step {
                ScramStep::Start => "start",
                ScramStep::SentFirst => "sent client-first",
                ScramStep::SentFinal { .. } => "sent client-final",
            },
            State::Done => "done",
        };
        f.debug_struct("SaslExchange")
            .field("mechanism", &self.mechanism)
            .field("step", &step)
            .finish()
    }
}

impl SaslExchange {
    fn single(mechanism: &'static str, message: Vec<u8>) -> SaslExchange {
        SaslExchange {
            mechanism,
            state: State::Single {
                message,
                sent: false,
            },
        }
    }

    fn error(&self, reason: impl Into<String>) -> SaslError {
        SaslError::new(self.mechanism, reason)
    }

    /// The first client message (SaslAuthenticate auth_bytes).
    pub fn first_message(&mut self) -> Vec<u8> {
        match &mut self.state {
            State::Single { message, sent } => {
                *sent = true;
                message.clone()
            }
            State::Scram(scram) => {
                scram.step = ScramStep::SentFirst;
                format!("n,,{}", scram.client_first_bare).into_bytes()
            }
            State::Done => Vec::new(),
        }
    }

    /// The server's answer to our last message: Ok(Some(bytes)) to send next; Ok(None) when the
    /// exchange is complete and verified on our side (SCRAM checks the server signature).
    ///
    /// A broker that refuses PLAIN or SCRAM credentials answers with a SaslAuthenticate error
    /// code, which the connection layer reports; a refused OAUTHBEARER token comes back as an
    /// RFC 7628 error JSON, which this turns into a [`SaslError`] with its `status` (we do not
    /// send the `\x01` that would only get the same refusal as an error code). An error ends
    /// the exchange.
    pub fn next(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Done);
        match state {
            State::Done => Err(self.error("the exchange is already complete")),
            State::Single { sent: false, .. } => {
                Err(self.error("an answer arrived before the first message was sent"))
            }
            State::Single { sent: true, .. } => {
                if self.mechanism == "OAUTHBEARER" && !server.is_empty() {
                    return Err(self.error(oauth_failure(server)));
                }
                Ok(None)
            }
            State::Scram(mut scram) => {
                let reply = scram.next(server).map_err(|reason| self.error(reason))?;
                if reply.is_some() {
                    self.state = State::Scram(scram);
                }
                Ok(reply)
            }
        }
    }
}

/// RFC 7628 §3.2.2: a refused token comes back as `{"status":"invalid_token",...}`.
fn oauth_failure(server: &[u8]) -> String {
    let status = serde_json::from_slice::<serde_json::Value>(server)
        .ok()
        .and_then(|json| json["status"].as_str().map(printable));
    match status {
        Some(status) => format!("the broker refused the token (status {status})"),
        None => "the broker refused the token (its answer has no status)".to_owned(),
    }
}

/// Server-chosen text for an error message: bounded and without control characters.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(120).collect()
}

/// Never contains a secret. `mechanism` + a reason a person can act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("SASL {mechanism}: {reason}")]
pub struct SaslError {
    pub mechanism: &'static str,
    pub reason: String,
}

impl SaslError {
    fn new(mechanism: &'static str, reason: impl Into<String>) -> SaslError {
        SaslError {
            mechanism,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
#[path = "sasl_tests.rs"]
mod tests;
