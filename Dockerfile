# lagscale's container image: `docker build -t lagscale .`
# The example workers of keda-examples/: `docker build --target example-workers -t lagscale-example-workers .`
#
# Build stage: the Rust toolchain with the C compiler and make that rdkafka's bundled
# librdkafka needs (the mock cluster of `lagscale demo`); protoc comes from the protoc-bin-vendored crate. zlib is linked
# statically so the runtime image needs nothing but glibc and libgcc.
FROM rust:1-bookworm AS build
WORKDIR /src
ENV LIBZ_SYS_STATIC=1 CARGO_TERM_COLOR=never
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY src src
COPY examples examples
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin lagscale --example rabbitmq_worker --example kafka_worker \
    && mkdir /out \
    && cp target/release/lagscale target/release/examples/rabbitmq_worker \
          target/release/examples/kafka_worker /out/

# The example workers (examples/), for trying keda-examples/ on a cluster.
FROM gcr.io/distroless/cc-debian12:nonroot AS example-workers
COPY --from=build /out/rabbitmq_worker /out/kafka_worker /usr/local/bin/
USER nonroot:nonroot

# The scaler: a distroless base (glibc, libgcc, CA certificates; no shell), user 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/lagscale /usr/local/bin/lagscale
USER nonroot:nonroot
EXPOSE 6000 9464
ENTRYPOINT ["/usr/local/bin/lagscale"]
CMD ["serve"]
