//! Secrets in connection profiles: `${NAME}` replaced by an environment variable, and
//! `*_file` keys read from files (mounted Kubernetes Secrets). Errors name the variable or the
//! file, never a value.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer};

/// A secret from a file, without the trailing newline editors and `echo` add. Errors name the
/// file, never its contents.
pub fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Replaces `${NAME}` with the value `lookup` gives for NAME, and `$$` with `$`.
pub fn interpolate(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail
                .find('}')
                .ok_or_else(|| "`${` without a closing `}`".to_owned())?;
            let name = &tail[..end];
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!(
                    "${{{name}}} is not a valid environment variable reference; expected ${{NAME}} with letters, digits and _"
                ));
            }
            let value =
                lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// serde: a string with `${NAME}` replaced.
pub fn interpolated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    interpolate(&raw, |name| std::env::var(name).ok()).map_err(serde::de::Error::custom)
}

/// serde: a map of strings with `${NAME}` replaced in values, and `KEY_file: PATH` read as
/// `KEY` from the file.
pub fn interpolated_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, String>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(k, v)| {
            let value = interpolate(&v, |name| std::env::var(name).ok());
            // `sasl.password_file: /path` sets `sasl.password` from the file.
            let (key, value) = match k.strip_suffix("_file") {
                Some(key) => (
                    key.to_owned(),
                    value.and_then(|path| read_secret(Path::new(&path))),
                ),
                None => (k.clone(), value),
            };
            value
                .map(|v| (key, v))
                .map_err(|e| serde::de::Error::custom(format!("properties.{k}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_are_interpolated() {
        let lookup = |name: &str| (name == "PASSWORD").then(|| "s3cret".to_owned());
        assert_eq!(
            interpolate("amqp://u:${PASSWORD}@h", lookup).unwrap(),
            "amqp://u:s3cret@h"
        );
        assert_eq!(interpolate("a$$b$c", lookup).unwrap(), "a$b$c");
        let missing = interpolate("${NOPE}", lookup).unwrap_err();
        assert!(missing.contains("NOPE is not set"), "{missing}");
        assert!(
            interpolate("${BAD NAME}", lookup)
                .unwrap_err()
                .contains("not a valid")
        );
        assert!(
            interpolate("${OPEN", lookup)
                .unwrap_err()
                .contains("closing")
        );
    }
}
