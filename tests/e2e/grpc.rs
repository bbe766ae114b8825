//! What a gRPC tool sees: reflection (v1 and v1alpha), health, StreamMetricSpec, graceful
//! shutdown that ends open streams with status OK, and the answer to a request that does not
//! decode.

use std::time::Duration;

use tokio_stream::StreamExt;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response};
use tonic_reflection::pb::{v1, v1alpha};

use crate::support::rabbit::TestQueue;
use crate::support::{TestServer, config, so};

const SERVICE: &str = "externalscaler.ExternalScaler";

#[tokio::test]
async fn reflection_v1_lists_and_describes_the_service() {
    use v1::server_reflection_client::ServerReflectionClient;
    use v1::server_reflection_request::MessageRequest;
    use v1::server_reflection_response::MessageResponse;

    let server = TestServer::start(config()).await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let requests = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol(SERVICE.to_owned()),
    ]
    .map(|m| v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    });
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();

    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a file descriptor");
    };
    assert!(!files.file_descriptor_proto.is_empty());
}

/// Python's grpcio-reflection and older grpcurl speak only v1alpha.
#[tokio::test]
async fn reflection_v1alpha_lists_the_service() {
    use v1alpha::server_reflection_client::ServerReflectionClient;
    use v1alpha::server_reflection_request::MessageRequest;
    use v1alpha::server_reflection_response::MessageResponse;

    let server = TestServer::start(config()).await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "grpc.health.v1.Health".to_owned(),
        )),
    };
    let list = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([list, request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    assert!(list.service.iter().any(|s| s.name == SERVICE));
    let Some(MessageResponse::FileDescriptorResponse(_)) =
        responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("the health service must be describable");
    };
}

#[tokio::test]
async fn health_is_serving() {
    let server = TestServer::start(config()).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["", SERVICE] {
        let response = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.status(), ServingStatus::Serving, "{service:?}");
    }
}

#[tokio::test]
async fn stream_metric_spec_sends_the_spec_at_once_and_matches_get_metric_spec() {
    let queue = TestQueue::new("specstream").await;
    let server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let so = so(
        "orders",
        &queue.metadata(&[("transform", "log2"), ("lagThreshold", "1024")]),
    );
    let mut stream = client
        .stream_metric_spec(so.clone())
        .await
        .unwrap()
        .into_inner();
    let streamed = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let polled = client.get_metric_spec(so).await.unwrap().into_inner();
    assert_eq!(streamed, polled);
    assert_eq!(streamed.metric_specs[0].target_size_float, 10.0);
    queue.delete().await;
}

#[tokio::test]
async fn shutdown_turns_health_not_serving_and_ends_streams_with_ok() {
    let queue = TestQueue::new("shutdown").await;
    let mut server = TestServer::start(config()).await;
    let mut client = server.client().await;
    let so = so("orders", &queue.metadata(&[]));
    let mut active = client
        .stream_is_active(so.clone())
        .await
        .unwrap()
        .into_inner();
    let mut specs = client.stream_metric_spec(so).await.unwrap().into_inner();
    // An idle trigger's stream carries nothing until there is work (only `true` is pushed).
    specs.message().await.unwrap().unwrap();
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: SERVICE.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        health_check_response::ServingStatus::Serving
    );

    let metrics_addr = server.metrics_addr;
    assert!(tokio::net::TcpStream::connect(metrics_addr).await.is_ok());
    let shutdown = tokio::spawn(async move { server.shut_down().await });

    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::NotServing
    );
    drop(watch);
    // Status OK: `message()` returns Ok(None) rather than an error.
    assert_eq!(active.message().await.unwrap(), None);
    assert_eq!(specs.message().await.unwrap(), None);
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("server stops once streams ended")
        .unwrap()
        .unwrap();
    // The metrics endpoint stops with the server.
    crate::support::eventually(
        Duration::from_secs(10),
        "the metrics endpoint to close",
        || async {
            tokio::net::TcpStream::connect(metrics_addr)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    queue.delete().await;
}

/// Sends a request's bytes as they are, and reads a GetMetricsResponse.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = lagscale::proto::GetMetricsResponse;
    type Encoder = RawCodec;
    type Decoder = tonic_prost::ProstDecoder<lagscale::proto::GetMetricsResponse>;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        Self::Decoder::default()
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        bytes: Vec<u8>,
        buf: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut;
        buf.put_slice(&bytes);
        Ok(())
    }
}

/// A request that is not a GetMetricsRequest (a scaledObjectRef of 5 bytes of which 1 came) is
/// answered INTERNAL with prost's description of what is wrong, as tonic-prost's own codec
/// answers; so is one whose scalerMetadata holds a key that is not UTF-8 (found when the map is
/// read, on every call: it is never kept), and the server goes on serving.
#[tokio::test]
async fn a_request_that_does_not_decode_is_internal_and_named() {
    let server = TestServer::start(config()).await;
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/externalscaler.ExternalScaler/GetMetrics",
    );
    let truncated = vec![1 << 3 | 2, 5, b'x'];
    let status = grpc
        .unary(tonic::Request::new(truncated), path.clone(), RawCodec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
    assert!(status.message().contains("GetMetricsRequest"), "{status:?}");
    // scaledObjectRef { name: "x", scalerMetadata: { key: [0xc3, 0x28] } }
    let not_utf8 = vec![
        1 << 3 | 2,
        9,
        1 << 3 | 2,
        1,
        b'x',
        3 << 3 | 2,
        4,
        1 << 3 | 2,
        2,
        0xc3,
        0x28,
    ];
    for _ in 0..2 {
        grpc.ready().await.unwrap();
        let status = grpc
            .unary(
                tonic::Request::new(not_utf8.clone()),
                path.clone(),
                RawCodec,
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
        let message = status.message();
        assert!(
            message.contains("ScaledObjectRef.scaler_metadata"),
            "{status:?}"
        );
        assert!(message.contains("UTF-8"), "{status:?}");
    }
    let mut health = HealthClient::new(server.channel().await);
    let request = HealthCheckRequest {
        service: SERVICE.to_owned(),
    };
    let response = health.check(request).await.unwrap().into_inner();
    assert_eq!(response.status(), ServingStatus::Serving);
}
