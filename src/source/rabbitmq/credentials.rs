//! A RabbitMQ trigger's credential keys: `usernameFromEnv` and `passwordFromEnv`, honoured as
//! KEDA honours them, and the keys KEDA reads from TriggerAuthentication, refused with where
//! the credentials go instead.

use super::keys;
use crate::metadata::{Connection, Metadata, TriggerError};

/// `usernameFromEnv` and `passwordFromEnv`, which KEDA resolves from the workload's
/// environment and forwards: together they replace the inline host's user info, as KEDA's
/// `username` and `password` do (one without the other is KEDA's "username and password must
/// be given together"); a `cluster` profile's URI carries its own user.
pub(super) fn credentials<'m, P>(
    md: &mut Metadata<'m>,
    connection: &Connection<'m, '_, P>,
) -> Result<Option<(&'m str, &'m str)>, TriggerError> {
    let user = md.optional(keys::USERNAME_FROM_ENV);
    let password = md.optional(keys::PASSWORD_FROM_ENV);
    let (user, password) = match (user, password) {
        (None, None) => return Ok(None),
        (Some(user), Some(password)) => (user, password),
        (Some(_), None) | (None, Some(_)) => {
            return Err(TriggerError::Missing {
                key: if user.is_some() {
                    keys::PASSWORD_FROM_ENV
                } else {
                    keys::USERNAME_FROM_ENV
                },
                expected: "usernameFromEnv and passwordFromEnv together (KEDA: username and \
                           password must be given together)",
            });
        }
    };
    match connection {
        Connection::Inline { .. } => Ok(Some((user, password))),
        Connection::Profile { .. } => Err(TriggerError::NotApplicable {
            key: keys::USERNAME_FROM_ENV.to_owned(),
            context: "with `cluster` (the profile's URI carries the user): use `host` or \
                      `hostFromEnv`, or put the user in the profile"
                .to_owned(),
        }),
    }
}

/// KEDA reads credentials and TLS files from TriggerAuthentication, which it does not forward
/// to an external scaler: such a key in the metadata is an error saying where they go instead.
pub(super) fn refuse_auth_keys(md: &mut Metadata<'_>) -> Result<(), TriggerError> {
    for (key, instead) in keys::AUTH.iter().copied() {
        if md.optional(key).is_some() {
            return Err(TriggerError::NotApplicable {
                key: key.to_owned(),
                context: format!(
                    "by an external trigger (KEDA reads it from TriggerAuthentication, which it \
                     does not forward to external scalers): use {instead}, or a `cluster` \
                     connection profile"
                ),
            });
        }
    }
    Ok(())
}
