//! (temporary until the security module lands)

#[derive(Clone)]
pub struct Sasl;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("SASL {mechanism}: {reason}")]
pub struct SaslError {
    pub mechanism: &'static str,
    pub reason: String,
}

pub struct SaslExchange;

impl Sasl {
    pub fn mechanism_name(&self) -> &'static str {
        "PLAIN"
    }
    pub async fn begin(&self) -> Result<SaslExchange, SaslError> {
        Ok(SaslExchange)
    }
}

impl SaslExchange {
    pub fn first_message(&mut self) -> Vec<u8> {
        Vec::new()
    }
    pub fn next(&mut self, _server: &[u8]) -> Result<Option<Vec<u8>>, SaslError> {
        Ok(None)
    }
}
