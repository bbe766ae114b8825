//! The ExternalScaler service's gRPC codec (`build.rs` names it to tonic-prost-build): tonic-prost's
//! `ProstCodec`, except that a message is decoded from one contiguous slice instead of through
//! tonic's `DecodeBuf`.
//!
//! tonic hands a decoder the message in its receive buffer, behind a `DecodeBuf` whose every
//! `advance` also moves the `BytesMut` under it. prost advances once per varint and string, so a
//! warm GetMetrics (a ScaledObjectRef of a dozen strings) spent more on advancing that buffer
//! than on reading it (BENCHMARKS.md). Decoding the same bytes as a `&[u8]`, whose advance is a
//! pointer bump, gives the same message and the same errors; the buffer is then advanced once.

use std::marker::PhantomData;

use prost::Message;
use prost::bytes::Buf;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

/// Encodes `T` as tonic-prost does, decodes `U` from a slice.
pub struct SliceCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SliceCodec<T, U> {
    fn default() -> Self {
        SliceCodec(PhantomData)
    }
}

impl<T, U> Codec for SliceCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = SliceDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        SliceDecoder(PhantomData)
    }
}

/// Decodes one `U` from the whole of a `DecodeBuf`.
pub struct SliceDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for SliceDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        decode(buf).map(Some).map_err(crate::error::undecodable)
    }
}

/// One `U` from the whole of `buf`: from its first chunk when that holds all of it (tonic's
/// receive buffer is one `BytesMut`, so always in practice), else from a copy.
fn decode<U: Message + Default>(buf: &mut impl Buf) -> Result<U, prost::DecodeError> {
    let len = buf.remaining();
    match buf.chunk().get(..len) {
        Some(whole) => {
            let message = U::decode(whole);
            buf.advance(len);
            message
        }
        None => U::decode(buf.copy_to_bytes(len)),
    }
}

#[cfg(test)]
mod tests {
    use prost::bytes::Bytes;

    use super::*;
    use crate::proto::{GetMetricsRequest, ScaledObjectRef};

    fn request() -> GetMetricsRequest {
        GetMetricsRequest {
            scaled_object_ref: Some(ScaledObjectRef {
                name: "orders-worker".to_owned(),
                namespace: "shop".to_owned(),
                scaler_metadata: [("source", "rabbitmq"), ("queueName", "orders")]
                    .into_iter()
                    .collect(),
            }),
            metric_name: "rabbitmq-orders".to_owned(),
        }
    }

    /// The same message and the same errors as prost reading the bytes itself, whether they
    /// come in one chunk or two; the buffer is left empty.
    #[test]
    fn decodes_what_prost_decodes_in_one_chunk_or_two() {
        let bytes = request().encode_to_vec();
        for end in 0..=bytes.len() {
            let message = &bytes[..end];
            let expected = GetMetricsRequest::decode(message);
            let mut whole = message;
            let decoded = decode::<GetMetricsRequest>(&mut whole);
            assert_eq!(decoded, expected, "first {end} bytes");
            assert!(whole.is_empty());
            let (front, back) = message.split_at(end / 2);
            let mut pieces = Bytes::copy_from_slice(front).chain(Bytes::copy_from_slice(back));
            assert_eq!(decode::<GetMetricsRequest>(&mut pieces), expected);
            assert_eq!(pieces.remaining(), 0);
        }
        assert_eq!(decode::<GetMetricsRequest>(&mut &bytes[..]), Ok(request()));
    }
}
