//! [`ReplicaSource`] over the Kubernetes API (kube). Three GETs per ScaledObject, each one
//! verb the ClusterRole must grant:
//!
//! | request | RBAC |
//! |---|---|
//! | the ScaledObject (`keda.sh/v1alpha1`): scaleTargetRef, min/max replica counts, HPA name | get `scaledobjects.keda.sh` |
//! | the target's `/scale` subresource: `spec.replicas` | get `deployments/scale` or `statefulsets/scale` (`apps`) |
//! | KEDA's HPA (`keda-hpa-<name>`, or the name in `advanced.horizontalPodAutoscalerConfig`): `status.lastScaleTime` | get `horizontalpodautoscalers.autoscaling` |
//!
//! The client is made on first use, from the in-cluster service account or, outside a
//! cluster, from the kubeconfig (`KUBECONFIG`, `~/.kube/config`), so a server whose triggers
//! never ask for replicas never looks for either. Answers are cached for the cache TTL, per
//! ScaledObject, with single-flight: KEDA's GetMetrics, IsActive and retries cost one round.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::clock::WallClock;
use super::{ObjectRef, ReplicaError, ReplicaSource, TargetState};
use crate::single_flight::SingleFlight;

/// Replica counts from the Kubernetes API.
pub struct KubeReplicas {
    client: OnceCell<Result<kube::Client, ReplicaError>>,
    timeout: Duration,
    cache: SingleFlight<ObjectRef, Result<TargetState, ReplicaError>>,
    /// Relates `lastScaleTime` to tokio's clock, once, when the source is made.
    clock: WallClock,
}

impl KubeReplicas {
    /// A client inferred on first use. `timeout` bounds each request; answers are reused for
    /// `ttl`. The wall clock is related to tokio's here, once.
    pub fn new(timeout: Duration, ttl: Duration) -> KubeReplicas {
        KubeReplicas {
            client: OnceCell::new(),
            timeout,
            cache: SingleFlight::new(ttl),
            clock: WallClock::now(),
        }
    }

    /// With a given client (tests point one at a fake API server).
    pub fn with_client(client: kube::Client, timeout: Duration, ttl: Duration) -> KubeReplicas {
        KubeReplicas {
            client: OnceCell::new_with(Some(Ok(client))),
            timeout,
            cache: SingleFlight::new(ttl),
            clock: WallClock::now(),
        }
    }

    async fn client(&self) -> Result<kube::Client, ReplicaError> {
        self.client
            .get_or_init(|| async {
                kube::Client::try_default()
                    .await
                    .map_err(|e| ReplicaError::NoAccess {
                        reason: format!(
                            "no in-cluster service account and no usable kubeconfig ({e})"
                        ),
                    })
            })
            .await
            .clone()
    }

    async fn read(&self, object: &ObjectRef) -> Result<TargetState, ReplicaError> {
        let client = self.client().await?;
        let ns = object.namespace.as_str();
        let so_resource = resource("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects");
        let so = self
            .get(
                Api::namespaced_with(client.clone(), ns, &so_resource),
                "scaledobjects.keda.sh",
                "ScaledObject",
                object,
                &object.name,
            )
            .await?;
        let spec = &so.data["spec"];
        let target = ScaleTarget::from_spec(spec).map_err(|problem| ReplicaError::Invalid {
            object: format!("ScaledObject {object}"),
            problem,
        })?;
        let replica_count = |key: &str, default: u32| match &spec[key] {
            Value::Null => Ok(default),
            value => value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ReplicaError::Invalid {
                    object: format!("ScaledObject {object}"),
                    problem: format!("spec.{key}: {value} is not a replica count"),
                }),
        };
        let (min, max) = (
            replica_count("minReplicaCount", 0)?,
            replica_count("maxReplicaCount", 100)?,
        );

        let target_api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns, &target.resource);
        let scale = self
            .bounded(target_api.get_scale(&target.name))
            .await
            .map_err(|e| {
                api_error(
                    e,
                    "get",
                    &format!("{}/scale", target.resource.plural),
                    &target.describe(ns),
                )
            })?;
        let current = scale
            .spec
            .and_then(|s| s.replicas)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(0);

        let hpa_name = spec["advanced"]["horizontalPodAutoscalerConfig"]["name"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("keda-hpa-{}", object.name));
        let hpa_resource = resource(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
        );
        let hpa_api = Api::namespaced_with(client, ns, &hpa_resource);
        let last_scale = match self
            .get(
                hpa_api,
                "horizontalpodautoscalers.autoscaling",
                "HorizontalPodAutoscaler",
                object,
                &hpa_name,
            )
            .await
        {
            // One relation of the wall clock to tokio's for every read (see `clock.rs`).
            Ok(hpa) => hpa.data["status"]["lastScaleTime"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .and_then(|t| self.clock.instant(SystemTime::from(t))),
            // KEDA creates the HPA when the workload first leaves zero.
            Err(ReplicaError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        Ok(TargetState {
            target: target.describe(ns),
            current,
            min,
            max,
            last_scale,
        })
    }

    async fn get(
        &self,
        api: Api<DynamicObject>,
        resource: &str,
        kind: &str,
        owner: &ObjectRef,
        name: &str,
    ) -> Result<DynamicObject, ReplicaError> {
        let object = format!("{}/{name}", owner.namespace);
        self.bounded(api.get(name)).await.map_err(|e| match e {
            kube::Error::Api(status) if status.is_not_found() => ReplicaError::NotFound {
                kind: kind.to_owned(),
                object: object.clone(),
            },
            e => api_error(e, "get", resource, &object),
        })
    }

    async fn bounded<T>(
        &self,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, kube::Error> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => result,
            Err(_) => Err(kube::Error::Service(
                format!("no answer within {} ms", self.timeout.as_millis()).into(),
            )),
        }
    }
}

impl ReplicaSource for KubeReplicas {
    fn target_state<'a>(
        &'a self,
        object: &'a ObjectRef,
    ) -> Pin<Box<dyn Future<Output = Result<TargetState, ReplicaError>> + Send + 'a>> {
        Box::pin(async move {
            let (state, _) = self.cache.get_or_fetch(object, || self.read(object)).await;
            state
        })
    }
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Any API failure: 403 names the permission, 404 the object, the rest the request.
fn api_error(error: kube::Error, verb: &'static str, resource: &str, object: &str) -> ReplicaError {
    match error {
        kube::Error::Api(status) if status.is_forbidden() => ReplicaError::Forbidden {
            verb,
            resource: resource.to_owned(),
            object: object.to_owned(),
            message: status.message.clone(),
        },
        kube::Error::Api(status) if status.is_not_found() => ReplicaError::NotFound {
            kind: resource.to_owned(),
            object: object.to_owned(),
        },
        e => ReplicaError::Api {
            what: format!("{verb} {resource} {object:?}"),
            reason: e.to_string(),
        },
    }
}

/// A ScaledObject's `scaleTargetRef`, resolved to a resource with a scale subresource.
struct ScaleTarget {
    resource: ApiResource,
    kind: String,
    name: String,
}

impl ScaleTarget {
    fn from_spec(spec: &Value) -> Result<ScaleTarget, String> {
        let target = &spec["scaleTargetRef"];
        let name = target["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or("spec.scaleTargetRef.name is missing")?;
        let api_version = target["apiVersion"].as_str().unwrap_or("apps/v1");
        let kind = target["kind"].as_str().unwrap_or("Deployment");
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        // Kinds with a scale subresource are plural by adding "s" (deployments, statefulsets,
        // replicasets, Argo's rollouts); lagscale does not ask the API's discovery for it.
        let plural = format!("{}s", kind.to_lowercase());
        Ok(ScaleTarget {
            resource: resource(group, version, kind, &plural),
            kind: kind.to_owned(),
            name: name.to_owned(),
        })
    }

    fn describe(&self, namespace: &str) -> String {
        format!("{} {namespace}/{}", self.kind, self.name)
    }
}

/// Shared by the server and tests: one source for the process.
pub fn shared(timeout: Duration, ttl: Duration) -> Arc<dyn ReplicaSource> {
    Arc::new(KubeReplicas::new(timeout, ttl))
}
