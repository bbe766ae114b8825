//! A fake Kubernetes API server on loopback (plain HTTP): serves the JSON objects a test sets
//! by path, answers 404 for the rest, and records every request, so tests check the exact
//! calls lagscale makes. Also an in-memory [`ReplicaSource`] for tests that only need replica
//! counts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method, StatusCode, Uri, header};
use lagscale::replicas::{ObjectRef, ReplicaError, ReplicaSource, TargetState};
use serde_json::{Value, json};

type Objects = Arc<Mutex<HashMap<String, (u16, Value)>>>;

pub struct FakeKube {
    pub addr: SocketAddr,
    objects: Objects,
    requests: Arc<Mutex<Vec<String>>>,
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

impl FakeKube {
    pub async fn start() -> FakeKube {
        let objects: Objects = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (served, seen) = (objects.clone(), requests.clone());
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
            let (served, seen) = (served.clone(), seen.clone());
            async move {
                let path = uri.path().to_owned();
                seen.lock().unwrap().push(format!("{method} {path}"));
                let (code, body) =
                    served
                        .lock()
                        .unwrap()
                        .get(&path)
                        .cloned()
                        .unwrap_or_else(|| {
                            (404, status(404, "NotFound", &format!("{path} not found")))
                        });
                (
                    StatusCode::from_u16(code).unwrap(),
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeKube {
            addr,
            objects,
            requests,
        }
    }

    /// Serves `body` with HTTP `code` at `path`.
    pub fn set(&self, path: &str, code: u16, body: Value) {
        self.objects
            .lock()
            .unwrap()
            .insert(path.to_owned(), (code, body));
    }

    /// Answers `path` with 403, as the API does for a missing RBAC rule.
    pub fn forbid(&self, path: &str, message: &str) {
        self.set(path, 403, status(403, "Forbidden", message));
    }

    /// `METHOD /path` of every request so far, and forgets them.
    pub fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut self.requests.lock().unwrap())
    }

    pub fn client(&self) -> kube::Client {
        let url = format!("http://{}", self.addr).parse().unwrap();
        kube::Client::try_from(kube::Config::new(url)).unwrap()
    }

    /// A kubeconfig file in `dir` for this server, for the lagscale binary (`KUBECONFIG`).
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             users:\n- name: fake\n  user: {{}}\n",
            self.addr
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A ScaledObject in `namespace` scaling the Deployment `target`.
    pub fn scaled_object(&self, namespace: &str, name: &str, target: &str, min: u32, max: u32) {
        self.set(
            &format!("/apis/keda.sh/v1alpha1/namespaces/{namespace}/scaledobjects/{name}"),
            200,
            json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"scaleTargetRef": {"name": target},
                            "minReplicaCount": min, "maxReplicaCount": max}}),
        );
    }

    /// The scale subresource of a Deployment.
    pub fn deployment_scale(&self, namespace: &str, name: &str, replicas: u32) {
        self.set(
            &format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"),
            200,
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"replicas": replicas}, "status": {"replicas": replicas}}),
        );
    }
}

/// Replica counts set by the test, per ScaledObject; `None` answers as a missing permission.
#[derive(Default)]
pub struct FakeReplicas {
    states: Mutex<HashMap<ObjectRef, Option<TargetState>>>,
}

impl FakeReplicas {
    pub fn set(&self, namespace: &str, name: &str, current: u32, min: u32, max: u32) {
        let state = TargetState {
            target: format!("Deployment {namespace}/{name}"),
            current,
            min,
            max,
            last_scale: tokio::time::Instant::now().checked_sub(Duration::from_secs(3600)),
        };
        self.states
            .lock()
            .unwrap()
            .insert(object(namespace, name), Some(state));
    }

    pub fn forbid(&self, namespace: &str, name: &str) {
        self.states
            .lock()
            .unwrap()
            .insert(object(namespace, name), None);
    }
}

pub fn object(namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

impl ReplicaSource for FakeReplicas {
    fn target_state<'a>(
        &'a self,
        object: &'a ObjectRef,
    ) -> Pin<Box<dyn Future<Output = Result<TargetState, ReplicaError>> + Send + 'a>> {
        let state = self.states.lock().unwrap().get(object).cloned();
        Box::pin(async move {
            match state {
                Some(Some(state)) => Ok(state),
                Some(None) => Err(ReplicaError::Forbidden {
                    verb: "get",
                    resource: "scaledobjects.keda.sh".to_owned(),
                    object: object.to_string(),
                    message: "forbidden by the test".to_owned(),
                }),
                None => Err(ReplicaError::NotFound {
                    kind: "ScaledObject".to_owned(),
                    object: object.to_string(),
                }),
            }
        })
    }
}
