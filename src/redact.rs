//! Keeping passwords out of logs, errors and Debug output.
//!
//! Broker URIs may carry `user:password@`. Everything that prints a URI prints
//! [`redact_uri`]'s form, which keeps the user name and replaces the password with `***`.
//! Values under a name that [`is_secret_name`] calls secret are never printed at all.

/// Whether a key or property of this name holds a secret, by the words in it, whatever their
/// case (`password`, `sasl.password`, `saslPassword`, `client_secret`, `sasl.jaas.config`,
/// `ssl.key.pem`): such a value is shown as `***`.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "secret", "jaas", "key"]
        .iter()
        .any(|word| name.contains(word))
}

/// The URI with the password of its user info (if any) replaced by `***`.
///
/// Works on anything shaped `scheme://[user[:password]@]rest`; other strings come back
/// unchanged. The password may hold any character, encoded or not (`/`, `?`, `#`, `@`, `%`):
/// everything between the first `:` after the user and the last `@` is hidden. A URI with an
/// `@` in its path and a port may thus show less than it could, never a password.
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &uri[authority_start..];
    let Some(at) = rest.rfind('@') else {
        return uri.to_owned();
    };
    let user_info = &rest[..at];
    let Some(colon) = user_info.find(':') else {
        return uri.to_owned();
    };
    // A user name ends at the colon; one that holds a path character is no user name.
    if user_info[..colon].contains(['/', '?', '#']) {
        return uri.to_owned();
    }
    format!(
        "{}{}:***{}",
        &uri[..authority_start],
        &user_info[..colon],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact_uri;

    #[test]
    fn passwords_are_replaced() {
        let table = [
            (
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                "amqp://guest:***@127.0.0.1:5672/%2f",
            ),
            ("amqps://u:p%40ss@host/vh?x=1", "amqps://u:***@host/vh?x=1"),
            ("amqp://u:pa@ss@host", "amqp://u:***@host"),
            ("amqp://user@host/", "amqp://user@host/"),
            ("amqp://host:5672", "amqp://host:5672"),
            ("amqp://h/path@x", "amqp://h/path@x"),
            ("not a uri", "not a uri"),
            // Unencoded path and fragment characters in the password.
            ("amqp://u:pa/ss@host/vh", "amqp://u:***@host/vh"),
            ("amqp://u:p?a#s@host:5672/%2f", "amqp://u:***@host:5672/%2f"),
            ("http://u:%zz/@#?@h:15672", "http://u:***@h:15672"),
        ];
        for (input, want) in table {
            assert_eq!(redact_uri(input), want, "{input}");
        }
    }

    /// Random passwords over the whole printable ASCII range, in AMQP and HTTP URIs, with and
    /// without a port and a path: the password never survives redaction.
    #[test]
    fn no_printable_password_survives() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..10_000 {
            let len = 8 + (next() % 24) as usize;
            let password: String = (0..len)
                .map(|_| char::from(b' ' + (next() % 95) as u8))
                .collect();
            for shape in [
                "amqp://guest:{}@rabbit:5672/%2f",
                "amqps://guest:{}@rabbit/vh?heartbeat=10",
                "http://mon:{}@h:15672",
                "amqp://guest:{}@rabbit",
            ] {
                let uri = shape.replace("{}", &password);
                let shown = redact_uri(&uri);
                assert!(!shown.contains(&password), "{uri:?} shown as {shown:?}");
            }
        }
    }
}
