//! The Dockerfile and the image scripts/build-image.sh builds are one design:
//! - the Dockerfile's build stage can run as written: its `cargo build` is planned
//!   (`--unit-graph`) in a directory holding exactly what its COPY lines bring in, minus
//!   .dockerignore;
//! - both lay out the root filesystem with scripts/image-rootfs.sh, and the runtime stage adds
//!   nothing else;
//! - the built image (its OCI archive, `LAGSCALE_IMAGE_ARCHIVE`, read with skopeo) has the
//!   runtime stage's entrypoint, command, user, ports and labels, and holds exactly the binary,
//!   the shared objects `ldd` lists for that very binary with the loader, the CA certificates,
//!   /etc/passwd and /etc/group: no shell.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One instruction of a Dockerfile: keyword (upper case) and arguments, continuation lines
/// joined, comment lines dropped.
struct Instruction {
    keyword: String,
    args: String,
}

/// The Dockerfile's stages by name (`FROM … AS name`), each with its base and instructions.
fn stages() -> BTreeMap<String, (String, Vec<Instruction>)> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => current.push_str(&format!("{part} ")),
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    let mut stages = BTreeMap::new();
    let mut stage: Option<(String, String, Vec<Instruction>)> = None;
    for line in logical.iter().filter(|l| !l.is_empty()) {
        let (keyword, args) = line.split_once(' ').unwrap_or((line, ""));
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            assert!(
                words.len() == 3 && words[1].eq_ignore_ascii_case("as"),
                "every stage is named: FROM {args}"
            );
            if let Some((name, base, instructions)) = stage.take() {
                stages.insert(name, (base, instructions));
            }
            stage = Some((words[2].to_owned(), words[0].to_owned(), Vec::new()));
        } else {
            let (_, _, instructions) = stage.as_mut().expect("FROM comes first");
            instructions.push(Instruction {
                keyword,
                args: args.split_whitespace().collect::<Vec<_>>().join(" "),
            });
        }
    }
    let (name, base, instructions) = stage.unwrap();
    stages.insert(name, (base, instructions));
    stages
}

fn args_of<'a>(instructions: &'a [Instruction], keyword: &str) -> Vec<&'a str> {
    instructions
        .iter()
        .filter(|i| i.keyword == keyword)
        .map(|i| i.args.as_str())
        .collect()
}

/// Where build stage and runtime stage meet: the build stage makes /rootfs with
/// scripts/image-rootfs.sh from the release binary, and the runtime stage copies that alone
/// onto an empty base, as build-image.sh does with the host's binary.
#[test]
fn both_images_are_laid_out_by_image_rootfs() {
    let stages = stages();
    let (base, build) = &stages["build"];
    assert!(base.starts_with("rust:"), "{base}");
    let run = args_of(build, "RUN").join(" ");
    assert!(
        run.contains("bash scripts/image-rootfs.sh /rootfs target/release/lagscale &&"),
        "{run}"
    );
    let (base, runtime) = &stages["runtime"];
    assert_eq!(base, "scratch");
    assert_eq!(args_of(runtime, "COPY"), ["--from=build /rootfs /"]);
    assert!(args_of(runtime, "RUN").is_empty(), "nothing runs: no shell");
    let (base, workers) = &stages["example-workers"];
    assert_eq!(base, "scratch");
    assert_eq!(args_of(workers, "COPY"), ["--from=build /workers-rootfs /"]);
    let script = std::fs::read_to_string(root().join("scripts/build-image.sh")).unwrap();
    assert!(
        script.contains("--target runtime") && script.contains("--build-context build="),
        "build-image.sh builds the runtime stage with its own build directory"
    );
}

/// The build stage cannot be run here (no registry for rust:1-bookworm), but its `cargo
/// build` can be planned in the context it would have: a missing file (a bench the manifest
/// names, a script) fails here as it would fail `docker build`.
#[test]
fn the_build_stage_has_what_its_cargo_build_needs() {
    let stages = stages();
    let (_, build) = &stages["build"];
    let ignored: BTreeSet<String> = std::fs::read_to_string(root().join(".dockerignore"))
        .unwrap()
        .lines()
        .map(|l| l.trim().trim_start_matches('/').to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let context = std::env::temp_dir().join(format!("lagscale-docker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&context);
    for copy in args_of(build, "COPY") {
        let words: Vec<&str> = copy.split_whitespace().collect();
        let (sources, destination) = words.split_at(words.len() - 1);
        for source in sources {
            assert!(
                !ignored.contains(*source),
                "COPY {source} is in .dockerignore"
            );
            let to = if destination[0].ends_with('/') || sources.len() > 1 {
                context.join(destination[0]).join(source)
            } else {
                context.join(destination[0])
            };
            copy_tree(&root().join(source), &to, &ignored);
        }
    }
    let run = args_of(build, "RUN").join(" ");
    let cargo = run.split("cargo build ").nth(1).expect("a cargo build");
    let cargo_args: Vec<&str> = cargo
        .split("&&")
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // `--unit-graph` plans the build without compiling: unstable, hence RUSTC_BOOTSTRAP.
    let output = Command::new(env!("CARGO"))
        .current_dir(&context)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["build", "-Z", "unstable-options", "--unit-graph"])
        .args(&cargo_args)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&context).unwrap();
    assert!(
        output.status.success(),
        "the Dockerfile's `cargo build {}` fails in its context: {}",
        cargo_args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn copy_tree(from: &Path, to: &Path, ignored: &BTreeSet<String>) {
    let relative = from.strip_prefix(root()).unwrap().to_str().unwrap();
    if ignored.contains(relative) {
        return;
    }
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            copy_tree(&path, &to.join(path.file_name().unwrap()), ignored);
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A label's value, with `$NAME` / `${NAME}` replaced from `args`.
fn substitute(value: &str, args: &BTreeMap<&str, String>) -> String {
    let value = value.trim_matches('"');
    let name = value.trim_start_matches('$').trim_matches(['{', '}']);
    match value.starts_with('$') {
        true => args[name].clone(),
        false => value.to_owned(),
    }
}

#[test]
fn the_built_image_is_the_runtime_stage() {
    let Some(archive) = std::env::var_os("LAGSCALE_IMAGE_ARCHIVE") else {
        eprintln!(
            "image: LAGSCALE_IMAGE_ARCHIVE unset (podman unavailable); image layout check skipped"
        );
        return;
    };
    let archive = PathBuf::from(archive);
    let stages = stages();
    let (_, runtime) = &stages["runtime"];
    let oci = format!("oci-archive:{}", archive.display());
    let config: serde_json::Value = serde_json::from_str(&run(
        Command::new("skopeo").args(["inspect", "--config", &oci])
    ))
    .unwrap();
    let config = &config["config"];

    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap();
    assert_eq!(
        config["Entrypoint"],
        json(args_of(runtime, "ENTRYPOINT")[0])
    );
    assert_eq!(config["Cmd"], json(args_of(runtime, "CMD")[0]));
    assert_eq!(config["User"], args_of(runtime, "USER")[0]);
    let ports: BTreeSet<String> = args_of(runtime, "EXPOSE")[0]
        .split_whitespace()
        .map(|port| format!("{port}/tcp"))
        .collect();
    let exposed: BTreeSet<String> = config["ExposedPorts"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(exposed, ports);

    // Labels: the stage's, with the build arguments build-image.sh passes.
    let revision = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned());
    let labels = config["Labels"].as_object().unwrap();
    let source = labels["org.opencontainers.image.source"].as_str().unwrap();
    assert!(
        !source.contains('@'),
        "no credentials in the source URL: {source}"
    );
    let build_args = BTreeMap::from([
        ("VERSION", env!("CARGO_PKG_VERSION").to_owned()),
        ("SOURCE", source.to_owned()),
        (
            "REVISION",
            revision.unwrap_or_else(|| labels["org.opencontainers.image.revision"].to_string()),
        ),
    ]);
    let mut expected = BTreeMap::new();
    for label in args_of(runtime, "LABEL") {
        for pair in label.split_whitespace() {
            let (key, value) = pair.split_once('=').unwrap();
            expected.insert(key.to_owned(), substitute(value, &build_args));
        }
    }
    let actual: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(actual, expected);

    // The files: one layer, unpacked here, and ldd asked about the binary it holds.
    let manifest: serde_json::Value =
        serde_json::from_str(&run(Command::new("skopeo").args(["inspect", "--raw", &oci])))
            .unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    let digest = layers[0]["digest"].as_str().unwrap().replace(':', "/");
    let dir = std::env::temp_dir().join(format!("lagscale-layer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("rootfs")).unwrap();
    let layer = dir.join("layer.tar");
    let bytes = Command::new("tar")
        .arg("-xOf")
        .arg(&archive)
        .arg(format!("blobs/{digest}"))
        .output()
        .unwrap()
        .stdout;
    std::fs::write(&layer, bytes).unwrap();
    let listing = run(Command::new("tar")
        .args(["--list", "--verbose", "--numeric-owner", "--file"])
        .arg(&layer));
    let mut files = BTreeSet::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (mode, owner, path) = (fields[0], fields[1], fields[fields.len() - 1]);
        assert_eq!(owner, "0/0", "{line}");
        assert!(
            mode.starts_with('-') || mode.starts_with('d'),
            "only files and directories: {line}"
        );
        if mode.starts_with('-') {
            files.insert(format!("/{}", path.trim_start_matches("./")));
        }
    }
    run(Command::new("tar")
        .arg("-xf")
        .arg(&layer)
        .arg("-C")
        .arg(dir.join("rootfs")));
    let binary = dir.join("rootfs/usr/local/bin/lagscale");
    let mut wanted = BTreeSet::from(
        [
            "/usr/local/bin/lagscale",
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/passwd",
            "/etc/group",
        ]
        .map(str::to_owned),
    );
    for line in run(Command::new("ldd").arg(&binary)).lines() {
        let path = line.split(" => ").last().unwrap().trim();
        if path.starts_with('/') {
            wanted.insert(path.split(" (").next().unwrap().to_owned());
        }
    }
    let passwd = std::fs::read_to_string(dir.join("rootfs/etc/passwd")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(files, wanted);
    assert!(wanted.iter().any(|f| f.contains("ld-linux")), "{wanted:?}");
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
    assert_eq!(config["User"], "65532:65532");
}
