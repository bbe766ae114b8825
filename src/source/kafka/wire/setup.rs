//! The requests before a connection is shared: ApiVersions and the SASL exchange, one at a
//! time on the bare stream.

use super::frames::{FrameError, read_frame};
use super::*;

/// Requests before the connection is shared: one at a time, on the bare stream.
pub(super) struct Setup<'a, S> {
    pub(super) stream: &'a mut S,
    pub(super) addr: &'a str,
    pub(super) client_id: &'a StrBytes,
    pub(super) correlation: i32,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Setup<'_, S> {
    pub(super) async fn call<R: Encodable, T>(
        &mut self,
        key: ApiKey,
        request: R,
        version: i16,
        read: impl FnOnce(&mut Reader, i16) -> Result<T, String>,
    ) -> Result<T, WireError> {
        let protocol = |reason: String| WireError::Protocol {
            addr: self.addr.to_owned(),
            reason,
        };
        let correlation = self.correlation;
        self.correlation += 1;
        let frame =
            encode(key, &request, version, correlation, self.client_id).map_err(protocol)?;
        let lost = |e: std::io::Error| WireError::Closed {
            addr: self.addr.to_owned(),
            reason: e.to_string(),
        };
        self.stream.write_all(&frame).await.map_err(lost)?;
        self.stream.flush().await.map_err(lost)?;
        let answer = read_frame(self.stream).await.map_err(|e| match e {
            FrameError::Io(e) => lost(e),
            FrameError::TooLarge(n) => protocol(format!("a frame of {n} bytes")),
        })?;
        if correlation_of(&answer) != Some(correlation) {
            return Err(protocol("an answer to another request".to_owned()));
        }
        decode::answer(&answer, key, version, read).map_err(protocol)
    }

    /// SaslHandshake, then SaslAuthenticate until the mechanism is satisfied.
    pub(super) async fn authenticate(
        &mut self,
        sasl: &crate::source::kafka::wire::sasl::Sasl,
        versions: &ApiVersions,
    ) -> Result<(), WireError> {
        let refused = |reason: String| WireError::Auth {
            addr: self.addr.to_owned(),
            reason,
        };
        let unsupported = |key: ApiKey| WireError::Unsupported {
            addr: self.addr.to_owned(),
            api: api_name(key),
            offered: versions.describe(key),
        };
        let handshake_version = versions
            .pick(ApiKey::SaslHandshake, VersionRange { min: 1, max: 1 })
            .ok_or_else(|| unsupported(ApiKey::SaslHandshake))?;
        let auth_version = versions
            .pick(ApiKey::SaslAuthenticate, VersionRange { min: 1, max: 1 })
            .ok_or_else(|| unsupported(ApiKey::SaslAuthenticate))?;
        let mechanism = sasl.mechanism_name();
        let mut handshake = SaslHandshakeRequest::default();
        handshake.mechanism = StrBytes::from_static_str(mechanism);
        let (error, offered) = self
            .call(
                ApiKey::SaslHandshake,
                handshake,
                handshake_version,
                |r, _| decode::sasl_handshake(r),
            )
            .await?;
        if error != 0 {
            return Err(refused(format!(
                "mechanism {mechanism} not enabled (the broker offers {})",
                offered.join(", ")
            )));
        }
        let mut exchange = sasl.begin().await.map_err(|e| refused(e.to_string()))?;
        let mut message = Some(exchange.first_message());
        while let Some(bytes) = message {
            let mut request = SaslAuthenticateRequest::default();
            request.auth_bytes = Bytes::from(bytes);
            let (error, detail, server) = self
                .call(ApiKey::SaslAuthenticate, request, auth_version, |r, _| {
                    decode::sasl_authenticate(r)
                })
                .await?;
            if error != 0 {
                let detail = detail.unwrap_or_default();
                return Err(refused(format!("{} ({detail})", error_name(error))));
            }
            message = exchange.next(&server).map_err(|e| refused(e.to_string()))?;
        }
        Ok(())
    }
}
