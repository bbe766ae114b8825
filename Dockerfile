# lagscale's container image, for machines that reach Docker Hub:
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#       --build-arg SOURCE=https://example.org/your/lagscale -t lagscale .
# The example workers of keda-examples/: `docker build --target example-workers -t lagscale-example-workers .`
# Without a registry, scripts/build-image.sh builds the runtime stage below with buildah from
# the host's release binary, handing it a directory in place of the build stage.
#
# Build stage: the Rust toolchain with the C compiler and make that rdkafka's bundled
# librdkafka needs (the mock cluster of `lagscale demo`); protoc comes from the
# protoc-bin-vendored crate. scripts/image-rootfs.sh then lays out each image's root filesystem:
# the binaries, the shared objects ldd lists with the loader, CA certificates, /etc/passwd and
# /etc/group with user 65532; nothing else.
FROM rust:1-bookworm AS build
WORKDIR /src
ENV CARGO_TERM_COLOR=never
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY src src
COPY examples examples
COPY benches benches
COPY scripts/image-rootfs.sh scripts/image-rootfs.sh
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin lagscale --example rabbitmq_worker --example kafka_worker \
    && bash scripts/image-rootfs.sh /rootfs target/release/lagscale \
    && bash scripts/image-rootfs.sh /workers-rootfs target/release/examples/rabbitmq_worker \
          target/release/examples/kafka_worker

# The example workers (examples/), for trying keda-examples/ on a cluster.
FROM scratch AS example-workers
COPY --from=build /workers-rootfs /
USER 65532:65532

# The scaler: glibc and what else ldd lists, CA certificates, no shell; user 65532.
FROM scratch AS runtime
COPY --from=build /rootfs /
ARG SOURCE=""
ARG VERSION=""
ARG REVISION=""
LABEL org.opencontainers.image.source="$SOURCE" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.title="lagscale" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
EXPOSE 6000 9464
ENTRYPOINT ["/usr/local/bin/lagscale"]
CMD ["serve"]
