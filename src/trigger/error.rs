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
    #[error("{key}: {value:?} is not valid; expected {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: String,
    },
    #[error("unknown key {key:?}{}", suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    Unknown {
        key: String,
        suggestion: Option<&'static str>,
    },
    #[error("{key} and {other} are both set; set only one of them")]
    Conflict {
        key: &'static str,
        other: &'static str,
    },
    #[error("{key}: not used {context}; remove it")]
    NotApplicable { key: String, context: String },
}

impl TriggerError {
    pub fn invalid(key: &'static str, value: &str, expected: impl Into<String>) -> TriggerError {
        TriggerError::Invalid {
            key,
            value: value.to_owned(),
            expected: expected.into(),
        }
    }
}
