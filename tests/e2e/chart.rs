//! The Helm chart (charts/lagscale): every value documented and used, every value a template
//! reads defined; and, when a `helm` binary is on PATH (the test command installs one when it
//! can), `helm lint` plus rendered manifests checked object by object, with the rendered
//! config file accepted by lagscale itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

use crate::keda_examples::{assert_clean, validate_examples};

pub(crate) fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts/lagscale")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every template, helpers and NOTES.txt included, as one text.
fn templates() -> String {
    let mut names: Vec<PathBuf> = std::fs::read_dir(chart().join("templates"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    names.sort();
    names.iter().map(|path| read(path)).collect()
}

/// The dotted path of every key in values.yaml, checking on the way that a comment line at
/// the same indentation sits right above each key.
fn documented_value_paths(values: &str) -> Result<Vec<String>, String> {
    let mut paths = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut previous: Option<&str> = None;
    for (number, line) in values.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let key = trimmed
            .split_once(':')
            .map(|(key, _)| key)
            .filter(|_| !trimmed.starts_with('#') && !trimmed.starts_with('-'))
            .filter(|key| key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if let Some(key) = key {
            while stack.last().is_some_and(|(i, _)| *i >= indent) {
                stack.pop();
            }
            stack.push((indent, key.to_owned()));
            let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
            let path = path.join(".");
            let documented = previous.is_some_and(|p| {
                p.trim_start().starts_with('#') && p.len() - p.trim_start().len() == indent
            });
            if !documented {
                return Err(format!(
                    "values.yaml line {}: `{path}` has no comment right above it",
                    number + 1
                ));
            }
            paths.push(path);
        }
        previous = Some(line);
    }
    Ok(paths)
}

/// Every `.Values.a.b` a template reads.
fn value_references(templates: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (start, _) in templates.match_indices(".Values.") {
        let rest = &templates[start + ".Values.".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        found.insert(rest[..end].trim_end_matches('.').to_owned());
    }
    found
}

#[test]
fn every_value_is_documented_used_and_every_reference_defined() {
    let paths = documented_value_paths(&read(&chart().join("values.yaml")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        paths.len() > 40,
        "values.yaml parsed too few keys: {paths:?}"
    );
    let references = value_references(&templates());
    let leaves = paths
        .iter()
        .filter(|p| !paths.iter().any(|q| q.starts_with(&format!("{p}."))));
    for path in leaves {
        // A value is used when a template reads it, or reads a map holding it as a whole
        // (`toYaml .Values.resources`).
        let used = references
            .iter()
            .any(|r| r == path || path.starts_with(&format!("{r}.")));
        assert!(used, "values.yaml: `{path}` is used by no template");
    }
    for reference in &references {
        assert!(
            paths.contains(reference),
            "a template reads `.Values.{reference}`, which values.yaml does not define"
        );
    }
}

#[test]
fn the_documentation_check_catches_an_undocumented_value() {
    let values = "# documented\na: 1\nb:\n  # nested, documented\n  c: 2\n";
    assert_eq!(
        documented_value_paths(values),
        Err("values.yaml line 3: `b` has no comment right above it".to_owned())
    );
    let values = "# a map\nb:\n  # documented\n  c: 2\n  d: 3\n";
    assert!(
        documented_value_paths(values)
            .unwrap_err()
            .contains("`b.d`")
    );
    assert_eq!(
        value_references("{{ .Values.image.tag | default x }} {{- with .Values.tolerations }}"),
        BTreeSet::from(["image.tag".to_owned(), "tolerations".to_owned()])
    );
}

#[test]
fn chart_metadata_matches_the_crate() {
    let meta: Value = serde_yaml::from_str(&read(&chart().join("Chart.yaml"))).unwrap();
    assert_eq!(meta["apiVersion"], "v2");
    assert_eq!(meta["name"], "lagscale");
    assert_eq!(meta["appVersion"], env!("CARGO_PKG_VERSION"));
    let values: Value = serde_yaml::from_str(&read(&chart().join("values.yaml"))).unwrap();
    assert_eq!(values["replicaCount"], 2, "stateless: two pods by default");
    assert_eq!(values["safeToEvict"], false);
}

/// The `helm` binary: `LAGSCALE_HELM`, else `helm` on PATH.
pub(crate) fn helm() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("LAGSCALE_HELM") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("helm"))
            .find(|path| path.is_file())
    })
}

/// `helm template` of the chart with `args`, as parsed documents; or helm's error output.
fn render(helm: &Path, args: &[&str]) -> Result<Vec<Value>, String> {
    render_chart(helm, &chart(), args)
}

/// `helm template` of the chart in `dir` (release `lagscale` in namespace `keda`) with `args`.
pub(crate) fn render_chart(helm: &Path, dir: &Path, args: &[&str]) -> Result<Vec<Value>, String> {
    let output = Command::new(helm)
        .args(["template", "lagscale", dir.to_str().unwrap(), "-n", "keda"])
        .args(args)
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8(output.stdout).unwrap();
    Ok(serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter(|doc: &Value| !doc.is_null())
        .collect())
}

/// NOTES.txt as `helm install` would print it: `helm template` skips NOTES.txt, so a copy of
/// the chart carries it as the data of a ConfigMap.
fn rendered_notes(helm: &Path, args: &[&str]) -> String {
    let copy = std::env::temp_dir().join(format!("lagscale-notes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(copy.join("templates")).unwrap();
    for name in ["Chart.yaml", "values.yaml", "templates/_helpers.tpl"] {
        std::fs::copy(chart().join(name), copy.join(name)).unwrap();
    }
    let notes = read(&chart().join("templates/NOTES.txt"));
    let indented: String = notes.lines().map(|l| format!("    {l}\n")).collect();
    std::fs::write(
        copy.join("templates/notes.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n{indented}"),
    )
    .unwrap();
    let output = Command::new(helm)
        .args(["template", "lagscale", copy.to_str().unwrap(), "-n", "keda"])
        .args(args)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&copy).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let doc: Value = serde_yaml::from_slice(&output.stdout).unwrap();
    doc["data"]["notes"].as_str().unwrap().to_owned()
}

fn object<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered"))
}

fn config_text(docs: &[Value]) -> String {
    object(docs, "ConfigMap")["data"]["config.yaml"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn helm_renders_what_lagscale_and_kubernetes_expect() {
    let Some(helm) = helm() else {
        eprintln!("helm: not on PATH; helm lint and helm template skipped");
        return;
    };
    let lint = Command::new(&helm)
        .args(["lint", "--strict", chart().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}",
        String::from_utf8_lossy(&lint.stdout)
    );

    let docs = render(&helm, &[]).unwrap();
    let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ConfigMap",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount"
        ])
    );
    let deployment = object(&docs, "Deployment");
    let pod = &deployment["spec"]["template"];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        pod["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"],
        "false"
    );
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["readinessProbe"]["grpc"]["port"], 6000);
    assert_eq!(container["livenessProbe"]["grpc"]["port"], 6000);
    let service_ports = &object(&docs, "Service")["spec"]["ports"];
    assert_eq!(service_ports[0]["port"], 6000);
    assert_eq!(service_ports[1]["port"], 9464);

    // The rendered config file, with the examples' profiles, is accepted by lagscale and
    // knows every cluster the KEDA examples name.
    let docs = render(&helm, &["-f", "keda-examples/lagscale-values.yaml"]).unwrap();
    assert_clean(&validate_examples(Some(&config_text(&docs))));
    let pod = &object(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["secretRef"]["name"],
        "lagscale-brokers"
    );
    assert_eq!(
        pod["volumes"][1]["secret"]["secretName"],
        "lagscale-brokers"
    );

    // Mutual TLS: the Secret mounted, the config points at it, probes fall back to TCP.
    let docs = render(
        &helm,
        &[
            "--set",
            "tls.enabled=true,tls.secretName=lagscale-tls,tls.requireClientCert=true",
            "--set",
            "serviceMonitor.enabled=true,service.headless=true",
        ],
    )
    .unwrap();
    let config: Value = serde_yaml::from_str(&config_text(&docs)).unwrap();
    assert_eq!(config["tls"]["client_ca_file"], "/etc/lagscale/tls/ca.crt");
    let pod = &object(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][1]["secret"]["secretName"], "lagscale-tls");
    assert_eq!(
        pod["containers"][0]["readinessProbe"]["tcpSocket"]["port"],
        "grpc"
    );
    assert_eq!(object(&docs, "Service")["spec"]["clusterIP"], "None");
    assert_eq!(
        object(&docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"],
        "metrics"
    );

    let notes = rendered_notes(&helm, &["-f", "keda-examples/lagscale-values.yaml"]);
    assert!(
        notes.contains("scalerAddress: lagscale.keda.svc.cluster.local:6000")
            && notes.contains("Connection profiles (`cluster:` in triggers): events, main."),
        "{notes}"
    );

    // Kubernetes access: exactly the verbs src/replicas/kubernetes.rs uses, and the token.
    let docs = render(&helm, &["--set", "kubernetesAccess.enabled=true"]).unwrap();
    let rules = &object(&docs, "ClusterRole")["rules"];
    let granted: BTreeSet<String> = rules
        .as_sequence()
        .unwrap()
        .iter()
        .map(|rule| {
            format!(
                "{} {}/{}",
                rule["verbs"][0].as_str().unwrap(),
                rule["apiGroups"][0].as_str().unwrap(),
                rule["resources"][0].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        granted,
        BTreeSet::from(
            [
                "get keda.sh/scaledobjects",
                "get autoscaling/horizontalpodautoscalers",
                "get apps/deployments/scale",
                "get apps/statefulsets/scale"
            ]
            .map(str::to_owned)
        )
    );
    assert!(
        rules
            .as_sequence()
            .unwrap()
            .iter()
            .all(|r| r["verbs"].as_sequence().unwrap().len() == 1)
    );
    assert_eq!(
        object(&docs, "ClusterRoleBinding")["subjects"][0]["name"],
        "lagscale"
    );
    let pod = &object(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], true);
    let default = render(&helm, &[]).unwrap();
    let pod = &object(&default, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["automountServiceAccountToken"], false,
        "no API access by default"
    );

    // Mistakes in values fail the install with a message naming the value.
    let error = render(&helm, &["--set", "tls.enabled=true"]).unwrap_err();
    assert!(error.contains("tls.secretName is empty"), "{error}");
    let error = render(
        &helm,
        &["--set", "metrics.enabled=false,serviceMonitor.enabled=true"],
    )
    .unwrap_err();
    assert!(
        error.contains("serviceMonitor.enabled needs metrics.enabled"),
        "{error}"
    );
}
