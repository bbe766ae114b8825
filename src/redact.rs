//! Keeping passwords out of logs, errors and Debug output.
//!
//! Broker URIs may carry `user:password@`. Everything that prints a URI prints
//! [`redact_uri`]'s form, which keeps the user name and replaces the password with `***`.

/// The URI with the password of its user info (if any) replaced by `***`.
///
/// Works on anything shaped `scheme://[user[:password]@]rest`; other strings come back unchanged.
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &uri[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return uri.to_owned();
    };
    let user_info = &authority[..at];
    let Some(colon) = user_info.find(':') else {
        return uri.to_owned();
    };
    format!(
        "{}{}:***{}",
        &uri[..authority_start],
        &user_info[..colon],
        &uri[authority_start + at..]
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
        ];
        for (input, want) in table {
            assert_eq!(redact_uri(input), want, "{input}");
        }
    }
}
