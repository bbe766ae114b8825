//! What is wrong with a trigger's metadata. Every error names the key; those about a value
//! also carry the value received (passwords redacted) and what was expected.

/// An invalid trigger: reported to KEDA as InvalidArgument.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TriggerError {
    #[error("{key}: missing; expected {expected}")]
    Missing {
        key: &'static str,
        expected: &'static str,
    },
    /// `value` is already quoted, and cut to [`QUOTED_CHARS`] characters with its length.
    #[error("{key}: {value} is not valid; expected {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: String,
    },
    /// `key` is quoted and cut like a value.
    #[error("unknown key {key}{}", suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    Unknown {
        key: String,
        suggestion: Option<&'static str>,
    },
    #[error(
        "{key}: inline broker addresses are not allowed by this lagscale (inline_endpoints: deny); \
         name a connection profile with `cluster` instead"
    )]
    InlineDenied { key: &'static str },
    #[error(
        "{key}: {broker} is not in this lagscale's inline_endpoint_allowlist; name a connection \
         profile with `cluster`, or ask its operators to allow that address"
    )]
    InlineNotAllowed { key: &'static str, broker: String },
    #[error("{what} is too large: {size}; the limit is {limit}")]
    TooLarge {
        what: String,
        size: String,
        limit: String,
    },
    #[error("{key} and {other} are both set; set only one of them")]
    Conflict {
        key: &'static str,
        other: &'static str,
    },
    #[error("{key}: not used {context}; remove it")]
    NotApplicable { key: String, context: String },
}

/// How many characters of a value an error quotes: a value of 100 kB must not make a 100 kB
/// error (gRPC clients refuse status messages over their metadata limit, and logs carry it).
pub const QUOTED_CHARS: usize = 64;

/// `value` in quotes; a longer one is cut to [`QUOTED_CHARS`] characters and its length added.
pub fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &value[..cut], value.len()),
    }
}

impl TriggerError {
    pub fn invalid(key: &'static str, value: &str, expected: impl Into<String>) -> TriggerError {
        TriggerError::Invalid {
            key,
            value: quote(value),
            expected: expected.into(),
        }
    }
}
