//! Brokers that misbehave, on 127.0.0.1: one that accepts and never answers, one that answers
//! garbage, one that cuts a connection in the middle of an answer, one that answers a request
//! nobody sent, one that announces a huge frame. Each gives an error within its timeout and
//! nothing hangs. (Random and mutated bytes fed to the decoders: `decode_tests`.)

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, MetadataRequest};
use kafka_protocol::protocol::{Encodable, decode_request_header_from_buffer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::connection::{Connection, WireError};
use super::security::Security;

const TIMEOUT: Duration = Duration::from_millis(500);

fn plaintext() -> Security {
    Security::from_properties(&Default::default()).unwrap()
}

/// What the fake broker does after answering ApiVersions.
#[derive(Clone, Copy)]
enum After {
    /// Reads requests and never answers.
    Silence,
    /// Sends half of a frame, then closes.
    CutMidAnswer,
    /// Answers with a correlation id that was never used.
    StrangerAnswer,
    /// Announces a frame larger than any lagscale accepts.
    HugeFrame,
}

/// A broker on 127.0.0.1 that answers ApiVersions (or not, for `None`) and then does `after`.
async fn fake_broker(api_versions: Option<Bytes>, after: After) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let api_versions = api_versions.clone();
            tokio::spawn(async move {
                let Some((correlation, _)) = read_request(&mut socket).await else {
                    return;
                };
                let Some(body) = api_versions else {
                    // Never answers, keeps the connection open.
                    let _ = socket.read(&mut [0; 1]).await;
                    return;
                };
                send(&mut socket, correlation, &body).await;
                while let Some((correlation, _)) = read_request(&mut socket).await {
                    match after {
                        After::Silence => {}
                        After::CutMidAnswer => {
                            let mut frame = BytesMut::new();
                            frame.put_i32(100);
                            frame.put_i32(correlation);
                            frame.put_slice(&[0; 10]);
                            let _ = socket.write_all(&frame).await;
                            return;
                        }
                        After::StrangerAnswer => send(&mut socket, correlation + 1000, &[]).await,
                        After::HugeFrame => {
                            let _ = socket.write_all(&i32::MAX.to_be_bytes()).await;
                        }
                    }
                }
            });
        }
    });
    port
}

async fn read_request(socket: &mut TcpStream) -> Option<(i32, i16)> {
    let size = socket.read_i32().await.ok()?;
    let mut frame = vec![0; usize::try_from(size).ok()?];
    socket.read_exact(&mut frame).await.ok()?;
    let mut frame = Bytes::from(frame);
    let header = decode_request_header_from_buffer(&mut frame).ok()?;
    Some((header.correlation_id, header.request_api_key))
}

async fn send(socket: &mut TcpStream, correlation: i32, body: &[u8]) {
    let mut frame = BytesMut::new();
    frame.put_i32((4 + body.len()) as i32);
    frame.put_i32(correlation);
    frame.put_slice(body);
    let _ = socket.write_all(&frame).await;
}

/// A real ApiVersions v2 answer offering Metadata v1-12.
fn api_versions_body() -> Bytes {
    let mut answer = ApiVersionsResponse::default();
    let mut metadata = ApiVersion::default();
    metadata.api_key = ApiKey::Metadata as i16;
    metadata.min_version = 1;
    metadata.max_version = 12;
    answer.api_keys = vec![metadata];
    let mut body = BytesMut::new();
    answer.encode(&mut body, 2).unwrap();
    body.freeze()
}

async fn metadata_call(port: u16) -> Result<(), WireError> {
    let connection = Connection::open("127.0.0.1", port, &plaintext(), TIMEOUT).await?;
    let ours = kafka_protocol::protocol::VersionRange { min: 4, max: 8 };
    let version = connection.version(ApiKey::Metadata, ours).unwrap();
    let request = MetadataRequest::default();
    let call = connection.call(ApiKey::Metadata, version, &request);
    match tokio::time::timeout(TIMEOUT, call).await {
        Ok(answer) => answer.map(|_| ()),
        Err(_) => Err(WireError::Timeout {
            addr: connection.addr().to_owned(),
            operation: "Metadata",
            after_ms: TIMEOUT.as_millis(),
        }),
    }
}

#[tokio::test]
async fn a_broker_that_never_answers_times_out_while_connecting() {
    let port = fake_broker(None, After::Silence).await;
    let error = Connection::open("127.0.0.1", port, &plaintext(), TIMEOUT)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, WireError::Timeout { .. }), "{error}");
}

#[tokio::test]
async fn a_request_that_is_never_answered_times_out() {
    let port = fake_broker(Some(api_versions_body()), After::Silence).await;
    let error = metadata_call(port).await.unwrap_err();
    assert!(matches!(error, WireError::Timeout { .. }), "{error}");
}

#[tokio::test]
async fn a_connection_cut_mid_answer_fails_the_request_at_once() {
    let port = fake_broker(Some(api_versions_body()), After::CutMidAnswer).await;
    let error = metadata_call(port).await.unwrap_err();
    assert!(matches!(error, WireError::Closed { .. }), "{error}");
}

#[tokio::test]
async fn an_answer_to_a_request_never_sent_closes_the_connection() {
    let port = fake_broker(Some(api_versions_body()), After::StrangerAnswer).await;
    let error = metadata_call(port).await.unwrap_err();
    assert!(
        matches!(&error, WireError::Closed { reason, .. } if reason.contains("never sent")),
        "{error}"
    );
}

#[tokio::test]
async fn a_huge_frame_is_refused_without_reading_it() {
    let port = fake_broker(Some(api_versions_body()), After::HugeFrame).await;
    let error = metadata_call(port).await.unwrap_err();
    assert!(
        matches!(&error, WireError::Closed { reason, .. } if reason.contains("frame of")),
        "{error}"
    );
}

#[tokio::test]
async fn garbage_instead_of_api_versions_is_a_protocol_error() {
    let garbage = Bytes::from_static(&[0xff; 7]);
    let port = fake_broker(Some(garbage), After::Silence).await;
    let error = Connection::open("127.0.0.1", port, &plaintext(), TIMEOUT)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, WireError::Protocol { .. }), "{error}");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = Connection::open("127.0.0.1", port, &plaintext(), TIMEOUT)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, WireError::Connect { .. }), "{error}");
}
