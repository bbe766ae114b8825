use super::scram::attribute;
use super::*;

const PASSWORD: &str = "pencil";

#[tokio::test]
async fn plain_sends_one_message_and_accepts_the_empty_answer() {
    let sasl = Sasl::plain("alice", "s3cr3t-pw");
    assert_eq!(sasl.mechanism_name(), "PLAIN");
    let mut exchange = sasl.begin().await.unwrap();
    assert_eq!(exchange.first_message(), b"\0alice\0s3cr3t-pw");
    assert_eq!(exchange.next(b""), Ok(None));
    let again = exchange.next(b"").unwrap_err();
    assert!(again.reason.contains("already complete"), "{again}");
    let debug = format!("{sasl:?} {exchange:?}");
    assert!(
        debug.contains("alice") && !debug.contains("s3cr3t"),
        "{debug}"
    );
}

#[test]
fn an_answer_before_the_first_message_is_an_error() {
    let mut exchange = Sasl::plain("alice", "pw").begin_with_nonce("");
    assert!(exchange.next(b"").is_err());
}

#[test]
fn scram_sha_256_matches_rfc_7677() {
    let sasl = Sasl::scram(&SCRAM_SHA_256, "user", PASSWORD);
    assert_eq!(sasl.mechanism_name(), "SCRAM-SHA-256");
    let mut exchange = sasl.begin_with_nonce("rOprNGfwEbeRWgbNEkqO");
    assert_eq!(
        exchange.first_message(),
        b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    );
    let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                         s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final = exchange.next(server_first).unwrap().unwrap();
    assert_eq!(
        String::from_utf8(client_final).unwrap(),
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    let server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    assert_eq!(exchange.next(server_final), Ok(None));
    assert!(!format!("{sasl:?} {exchange:?}").contains(PASSWORD));
}

/// The server side of SCRAM, computed independently of the client code.
struct Server {
    hash: &'static ScramHash,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
    nonce: String,
    first: String,
    auth_prefix: String,
}

impl Server {
    fn new(hash: &'static ScramHash, password: &str, salt: &[u8], iterations: u32) -> Server {
        let mut salted = vec![0; hash.digest.output_len()];
        let rounds = std::num::NonZeroU32::new(iterations).unwrap();
        pbkdf2::derive(*hash.pbkdf2, rounds, salt, password.as_bytes(), &mut salted);
        let key = hmac::Key::new(*hash.hmac, &salted);
        let client_key = hmac::sign(&key, b"Client Key");
        Server {
            hash,
            stored_key: digest::digest(hash.digest, client_key.as_ref())
                .as_ref()
                .to_vec(),
            server_key: hmac::sign(&key, b"Server Key").as_ref().to_vec(),
            nonce: String::new(),
            first: format!("s={},i={iterations}", STANDARD.encode(salt)),
            auth_prefix: String::new(),
        }
    }

    fn first(&mut self, client_first: &[u8]) -> Vec<u8> {
        let bare = std::str::from_utf8(client_first)
            .unwrap()
            .strip_prefix("n,,")
            .unwrap();
        self.nonce = format!("{}srv-nonce", attribute(bare, "r=").unwrap());
        let first = format!("r={},{}", self.nonce, self.first);
        self.auth_prefix = format!("{bare},{first}");
        first.into_bytes()
    }

    /// Checks the client's proof; answers with the server signature.
    fn last(&self, client_final: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(client_final).unwrap();
        let (without_proof, proof) = text.rsplit_once(",p=").unwrap();
        assert_eq!(without_proof, format!("c=biws,r={}", self.nonce));
        let auth = format!("{},{without_proof}", self.auth_prefix);
        let key = hmac::Key::new(*self.hash.hmac, &self.stored_key);
        let signature = hmac::sign(&key, auth.as_bytes());
        let client_key: Vec<u8> = STANDARD
            .decode(proof)
            .unwrap()
            .iter()
            .zip(signature.as_ref())
            .map(|(p, s)| p ^ s)
            .collect();
        let stored = digest::digest(self.hash.digest, &client_key);
        assert_eq!(
            stored.as_ref(),
            self.stored_key,
            "the client proof is wrong"
        );
        let key = hmac::Key::new(*self.hash.hmac, &self.server_key);
        let server_signature = hmac::sign(&key, auth.as_bytes());
        format!("v={}", STANDARD.encode(server_signature)).into_bytes()
    }
}

#[tokio::test]
async fn scram_sha_512_round_trip_with_random_nonces() {
    let sasl = Sasl::scram(&SCRAM_SHA_512, "kafka=admin,1", "pa,ss=word");
    assert_eq!(sasl.mechanism_name(), "SCRAM-SHA-512");
    let mut nonces = Vec::new();
    // Twice: the second exchange reuses the salted password of the first.
    for _ in 0..2 {
        let mut server = Server::new(&SCRAM_SHA_512, "pa,ss=word", b"salt-512", 4096);
        let mut exchange = sasl.begin().await.unwrap();
        let first = exchange.first_message();
        let text = String::from_utf8(first.clone()).unwrap();
        assert!(text.starts_with("n,,n=kafka=3Dadmin=2C1,r="), "{text}");
        nonces.push(text.rsplit_once("r=").unwrap().1.to_owned());
        let client_final = exchange.next(&server.first(&first)).unwrap().unwrap();
        assert_eq!(exchange.next(&server.last(&client_final)), Ok(None));
    }
    assert_ne!(nonces[0], nonces[1]);
    assert!(nonces.iter().all(|n| n.len() == 32 && !n.contains(',')));
}

#[test]
fn a_changed_salt_is_salted_again() {
    let sasl = Sasl::scram(&SCRAM_SHA_256, "u", "pw");
    for salt in [&b"one"[..], b"two"] {
        let mut server = Server::new(&SCRAM_SHA_256, "pw", salt, 4096);
        let mut exchange = sasl.begin_with_nonce("abc");
        let first = exchange.first_message();
        let client_final = exchange.next(&server.first(&first)).unwrap().unwrap();
        assert_eq!(exchange.next(&server.last(&client_final)), Ok(None));
    }
}

/// Runs a SCRAM-SHA-256 exchange up to the server's final message.
fn scram_until_final() -> (SaslExchange, Server, Vec<u8>) {
    let mut server = Server::new(&SCRAM_SHA_256, "pw", b"salt", 4096);
    let mut exchange = Sasl::scram(&SCRAM_SHA_256, "u", "pw").begin_with_nonce("abc");
    let first = exchange.first_message();
    let client_final = exchange.next(&server.first(&first)).unwrap().unwrap();
    (exchange, server, client_final)
}

#[test]
fn a_wrong_server_signature_is_an_error() {
    let (mut exchange, _, _) = scram_until_final();
    let forged = format!("v={}", STANDARD.encode([7u8; 32]));
    let error = exchange.next(forged.as_bytes()).unwrap_err();
    assert_eq!(error.mechanism, "SCRAM-SHA-256");
    assert!(error.reason.contains("signature does not match"), "{error}");
    // A failed exchange is over; it does not go on.
    let again = exchange.next(forged.as_bytes()).unwrap_err();
    assert!(again.reason.contains("already complete"), "{again}");
}

#[test]
fn scram_server_errors_are_reported() {
    let (mut exchange, _, _) = scram_until_final();
    let error = exchange.next(b"e=invalid-proof").unwrap_err();
    assert_eq!(
        error.to_string(),
        "SASL SCRAM-SHA-256: the server refused: invalid-proof"
    );
    let (mut exchange, _, _) = scram_until_final();
    assert!(
        exchange
            .next(b"x=1")
            .unwrap_err()
            .reason
            .contains("no signature")
    );
}

#[test]
fn bad_server_first_messages_are_errors() {
    let table = [
        ("r=abcdef,s=c2FsdA==,i=0", "iteration count 0"),
        ("r=abcdef,s=c2FsdA==,i=1000001", "1000001 is not valid"),
        ("r=abcdef,s=c2FsdA==,i=lots", "lots is not valid"),
        ("r=xyz123,s=c2FsdA==,i=4096", "does not extend ours"),
        ("r=abc,s=c2FsdA==,i=4096", "does not extend ours"),
        ("r=abcdef,s=***,i=4096", "salt"),
        ("r=abcdef,i=4096", "salt"),
        ("s=c2FsdA==,i=4096", "no nonce"),
        ("r=abcdef,s=c2FsdA==", "no iteration count"),
        ("m=ext,r=abcdef,s=c2FsdA==,i=4096", "extension"),
        ("e=other-error", "the server refused: other-error"),
    ];
    for (server_first, reason) in table {
        let mut exchange = Sasl::scram(&SCRAM_SHA_256, "u", "pw").begin_with_nonce("abc");
        exchange.first_message();
        let error = exchange.next(server_first.as_bytes()).unwrap_err();
        assert!(error.reason.contains(reason), "{server_first}: {error}");
        assert!(!error.to_string().contains("pw"), "{error}");
    }
    let mut exchange = Sasl::scram(&SCRAM_SHA_256, "u", "pw").begin_with_nonce("abc");
    exchange.first_message();
    assert!(
        exchange
            .next(&[0xff, 0xfe])
            .unwrap_err()
            .reason
            .contains("UTF-8")
    );
}

#[tokio::test]
async fn oauthbearer_sends_the_token_and_extensions() {
    let tokens = TokenSource::fixed("eyJhbGciOiJub25lIn0.e30.").unwrap();
    let extensions = vec![("traceId".to_owned(), "42".to_owned())];
    let sasl = Sasl::oauthbearer(tokens, extensions);
    assert_eq!(sasl.mechanism_name(), "OAUTHBEARER");
    let mut exchange = sasl.begin().await.unwrap();
    assert_eq!(
        exchange.first_message(),
        b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.e30.\x01traceId=42\x01\x01"
    );
    assert_eq!(exchange.next(b""), Ok(None));
    let debug = format!("{sasl:?} {exchange:?}");
    assert!(!debug.contains("eyJ") && !debug.contains("42"), "{debug}");
    assert!(debug.contains("traceId"), "{debug}");

    let mut plain = Sasl::oauthbearer(TokenSource::fixed("tok").unwrap(), Vec::new())
        .begin()
        .await
        .unwrap();
    assert_eq!(plain.first_message(), b"n,,\x01auth=Bearer tok\x01\x01");
    let refused = br#"{"status":"invalid_token","scope":"kafka","openid-configuration":"x"}"#;
    let error = plain.next(refused).unwrap_err();
    assert_eq!(
        error.to_string(),
        "SASL OAUTHBEARER: the broker refused the token (status invalid_token)"
    );
    let mut other = Sasl::oauthbearer(TokenSource::fixed("tok").unwrap(), Vec::new())
        .begin()
        .await
        .unwrap();
    other.first_message();
    assert!(
        other
            .next(b"garbage")
            .unwrap_err()
            .reason
            .contains("no status")
    );
}
