//! Generates the KEDA external-scaler protocol code from `proto/externalscaler.proto`.
//!
//! protoc comes from the `protoc-bin-vendored` crate, so a machine with no system protoc builds.
//! The encoded file descriptor set is kept for gRPC server reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/externalscaler.proto";
    println!("cargo:rerun-if-changed={proto}");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure()
        // Written by hand, to keep the metadata map as received (see the module's doc).
        .extern_path(
            ".externalscaler.ScaledObjectRef",
            "crate::metadata::scaled_object::ScaledObjectRef",
        )
        // Decodes a request from one slice rather than through tonic's buffer (see the module).
        .codec_path("crate::codec::SliceCodec")
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(out_dir.join("externalscaler_descriptor.bin"))
        .compile_with_config(config, &[proto], &["proto"])?;
    Ok(())
}
