//! The SCRAM exchange (RFC 5802, RFC 7677): client-first, client-final with the proof, the
//! check of the server's signature, and the salted password cached per profile.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::{digest, hmac, pbkdf2};

use super::{ScramHash, printable};

/// The highest SCRAM iteration count we compute: PBKDF2 runs on the connecting task, so a
/// hostile or misconfigured server must not make us burn seconds of CPU per connection. Kafka
/// itself accepts 4,096 to 16,384 (`ScramMechanism.maxIterations`); 65,536 costs tens of
/// milliseconds, once per profile (the salted password is cached).
const MAX_SCRAM_ITERATIONS: u32 = 65_536;

/// A salted password with the parameters it was computed for.
pub(super) struct Salted {
    salt: Vec<u8>,
    iterations: u32,
    key: Vec<u8>,
}

/// One SCRAM exchange in progress (built by [`super::Sasl::begin`]).
pub(super) struct Scram {
    pub(super) hash: &'static ScramHash,
    pub(super) password: Arc<str>,
    pub(super) salted: Arc<Mutex<Option<Salted>>>,
    pub(super) nonce: String,
    pub(super) client_first_bare: String,
    pub(super) step: ScramStep,
}

pub(super) enum ScramStep {
    Start,
    SentFirst,
    /// What the server's final message must prove it knows.
    SentFinal {
        server_key: hmac::Key,
        auth_message: String,
    },
}

impl Scram {
    pub(super) fn next(&mut self, server: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let server = std::str::from_utf8(server)
            .map_err(|_| "the server's message is not UTF-8".to_owned())?;
        if let Some(error) = server.strip_prefix("e=") {
            return Err(format!("the server refused: {}", printable(error)));
        }
        match std::mem::replace(&mut self.step, ScramStep::Start) {
            ScramStep::Start => Err("an answer arrived before the first message was sent".into()),
            ScramStep::SentFirst => self.client_final(server).map(Some),
            ScramStep::SentFinal {
                server_key,
                auth_message,
            } => {
                let signature = attribute(server, "v=")
                    .ok_or("the server's final message has no signature (v=)")?;
                let signature = STANDARD
                    .decode(signature)
                    .map_err(|_| "the server signature (v=) is not base64")?;
                hmac::verify(&server_key, auth_message.as_bytes(), &signature).map_err(|_| {
                    "the server signature does not match: the broker does not know this user's \
                     password (a misconfigured or impostor broker)"
                })?;
                Ok(None)
            }
        }
    }

    /// Reads server-first (`r=...,s=...,i=...`) and answers with client-final.
    fn client_final(&mut self, server_first: &str) -> Result<Vec<u8>, String> {
        if server_first.starts_with("m=") {
            return Err("the server requires a SCRAM extension (m=) we do not support".into());
        }
        let nonce =
            attribute(server_first, "r=").ok_or("the server's first message has no nonce (r=)")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's nonce does not extend ours".into());
        }
        let salt = attribute(server_first, "s=")
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or("the server's first message has no base64 salt (s=)")?;
        let iterations = attribute(server_first, "i=")
            .ok_or("the server's first message has no iteration count (i=)")?;
        let iterations = iterations
            .parse::<u32>()
            .ok()
            .filter(|i| (1..=MAX_SCRAM_ITERATIONS).contains(i))
            .ok_or_else(|| {
                format!(
                    "the server's iteration count {} is not valid; expected 1 to {MAX_SCRAM_ITERATIONS}",
                    printable(iterations)
                )
            })?;
        let salted = self.salted_password(&salt, iterations);
        let alg = *self.hash.hmac;
        let salted_key = hmac::Key::new(alg, &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(self.hash.digest, client_key.as_ref());
        // c=biws is base64("n,,"): no channel binding, no authzid.
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac::sign(
            &hmac::Key::new(alg, stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(signature.as_ref())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac::sign(&salted_key, b"Server Key");
        self.step = ScramStep::SentFinal {
            server_key: hmac::Key::new(alg, server_key.as_ref()),
            auth_message,
        };
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Hi(password, salt, i), reusing the last result when the salt and count are the same.
    fn salted_password(&self, salt: &[u8], iterations: u32) -> Vec<u8> {
        // A poisoned lock only means another connection panicked mid-update; the value is
        // replaced whole, so it is still consistent.
        let mut cache = self.salted.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cache
            .as_ref()
            .filter(|c| c.salt == salt && c.iterations == iterations)
        {
            return hit.key.clone();
        }
        let mut key = vec![0u8; self.hash.digest.output_len()];
        let rounds = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
        pbkdf2::derive(
            *self.hash.pbkdf2,
            rounds,
            salt,
            self.password.as_bytes(),
            &mut key,
        );
        *cache = Some(Salted {
            salt: salt.to_vec(),
            iterations,
            key: key.clone(),
        });
        key
    }
}

/// The value of the attribute `prefix` (`r=`, `s=`, ...) in a comma-separated SCRAM message.
pub(super) fn attribute<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.split(',').find_map(|a| a.strip_prefix(prefix))
}
