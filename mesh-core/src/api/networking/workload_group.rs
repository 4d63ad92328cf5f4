//! WorkloadGroup (`networking/v1alpha3/workload_group.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::WorkloadEntrySpec;
use crate::api::is_default;

/// A template for the WorkloadEntries of VMs that register themselves with istiod
/// (auto-registration), plus the readiness probe their agents run.
///
/// ```
/// use mesh_core::api::networking::{HealthCheckMethod, WorkloadGroupSpec};
/// let wg: WorkloadGroupSpec = serde_json::from_str(
///     r#"{"template": {"serviceAccount": "vm"},
///         "probe": {"periodSeconds": 5, "httpGet": {"path": "/ready", "port": 8080}}}"#)?;
/// let probe = wg.probe.unwrap();
/// assert!(matches!(probe.health_check_method, Some(HealthCheckMethod::HttpGet(_))));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadGroupSpec {
    /// Labels and annotations copied to every generated WorkloadEntry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<WorkloadGroupMetadata>,
    /// The WorkloadEntry fields shared by the group (address is filled in per VM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<WorkloadEntrySpec>,
    /// Readiness check the VM's agent runs against the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ReadinessProbe>,
}

/// Metadata given to generated WorkloadEntries (`WorkloadGroup.ObjectMeta`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadGroupMetadata {
    /// Labels of the generated entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of the generated entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// How the agent checks that the application is ready (like a Kubernetes readiness probe).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ReadinessProbeWire", into = "ReadinessProbeWire")]
pub struct ReadinessProbe {
    /// Seconds to wait after start before probing.
    pub initial_delay_seconds: i32,
    /// Seconds after which a probe attempt times out.
    pub timeout_seconds: i32,
    /// Seconds between probes.
    pub period_seconds: i32,
    /// Consecutive successes needed to become ready again after failing.
    pub success_threshold: i32,
    /// Consecutive failures needed to become not ready.
    pub failure_threshold: i32,
    /// How the check is made: HTTP GET, TCP connect, command or gRPC health call.
    pub health_check_method: Option<HealthCheckMethod>,
}

/// The `health_check_method` oneof of a [`ReadinessProbe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthCheckMethod {
    /// An HTTP GET; 2xx/3xx means healthy.
    HttpGet(HttpHealthCheckConfig),
    /// A TCP connection attempt.
    TcpSocket(TcpHealthCheckConfig),
    /// A command run on the VM; exit code 0 means healthy.
    Exec(ExecHealthCheckConfig),
    /// A gRPC health check call.
    Grpc(GrpcHealthCheckConfig),
}

/// An HTTP GET readiness check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpHealthCheckConfig {
    /// Path to request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Port to connect to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub port: u32,
    /// Host to connect to (defaults to the workload's IP).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// `HTTP` or `HTTPS`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scheme: String,
    /// Headers to send with the request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<ProbeHttpHeader>,
}

/// A header sent by an HTTP readiness check (`networking.HTTPHeader`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeHttpHeader {
    /// Header name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Header value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// A TCP connect readiness check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpHealthCheckConfig {
    /// Host to connect to (defaults to localhost).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    /// Port to connect to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub port: u32,
}

/// A command readiness check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecHealthCheckConfig {
    /// The command and its arguments (not run in a shell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

/// A gRPC health-check readiness check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrpcHealthCheckConfig {
    /// Port of the gRPC service.
    #[serde(default, skip_serializing_if = "is_default")]
    pub port: u32,
    /// Service name sent in the health check request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
}

/// Wire form of [`ReadinessProbe`]: the oneof members as separate optional fields.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadinessProbeWire {
    #[serde(default, skip_serializing_if = "is_default")]
    initial_delay_seconds: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    timeout_seconds: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    period_seconds: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    success_threshold: i32,
    #[serde(default, skip_serializing_if = "is_default")]
    failure_threshold: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    http_get: Option<HttpHealthCheckConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tcp_socket: Option<TcpHealthCheckConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exec: Option<ExecHealthCheckConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grpc: Option<GrpcHealthCheckConfig>,
}

impl TryFrom<ReadinessProbeWire> for ReadinessProbe {
    type Error = String;

    fn try_from(w: ReadinessProbeWire) -> Result<Self, String> {
        let mut methods = Vec::new();
        if let Some(h) = w.http_get {
            methods.push(HealthCheckMethod::HttpGet(h));
        }
        if let Some(t) = w.tcp_socket {
            methods.push(HealthCheckMethod::TcpSocket(t));
        }
        if let Some(e) = w.exec {
            methods.push(HealthCheckMethod::Exec(e));
        }
        if let Some(g) = w.grpc {
            methods.push(HealthCheckMethod::Grpc(g));
        }
        if methods.len() > 1 {
            return Err("only one of httpGet, tcpSocket, exec, grpc may be set".into());
        }
        Ok(Self {
            initial_delay_seconds: w.initial_delay_seconds,
            timeout_seconds: w.timeout_seconds,
            period_seconds: w.period_seconds,
            success_threshold: w.success_threshold,
            failure_threshold: w.failure_threshold,
            health_check_method: methods.pop(),
        })
    }
}

impl From<ReadinessProbe> for ReadinessProbeWire {
    fn from(p: ReadinessProbe) -> Self {
        let mut w = Self {
            initial_delay_seconds: p.initial_delay_seconds,
            timeout_seconds: p.timeout_seconds,
            period_seconds: p.period_seconds,
            success_threshold: p.success_threshold,
            failure_threshold: p.failure_threshold,
            ..Self::default()
        };
        match p.health_check_method {
            Some(HealthCheckMethod::HttpGet(h)) => w.http_get = Some(h),
            Some(HealthCheckMethod::TcpSocket(t)) => w.tcp_socket = Some(t),
            Some(HealthCheckMethod::Exec(e)) => w.exec = Some(e),
            Some(HealthCheckMethod::Grpc(g)) => w.grpc = Some(g),
            None => {}
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Object;
    use crate::load;

    const FULL: &str = r#"
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: reviews, namespace: bookinfo}
spec:
  metadata:
    labels: {app: reviews}
    annotations: {a: b}
  template:
    ports: {http: 8080}
    serviceAccount: default
    network: vm-net
  probe:
    initialDelaySeconds: 5
    timeoutSeconds: 3
    periodSeconds: 4
    successThreshold: 3
    failureThreshold: 3
    httpGet:
      path: /foo/bar
      host: 127.0.0.1
      port: 3100
      scheme: HTTPS
      httpHeaders:
      - name: Lit-Header
        value: Im-The-Best
"#;

    #[test]
    fn full_object_round_trips() {
        let objs = load::from_str(FULL, "wg.yaml").unwrap();
        let Object::WorkloadGroup(wg) = &objs[0].object else {
            panic!("not a WorkloadGroup")
        };
        let probe = wg.spec.probe.as_ref().unwrap();
        assert_eq!(probe.period_seconds, 4);
        let Some(HealthCheckMethod::HttpGet(h)) = &probe.health_check_method else {
            panic!("no httpGet")
        };
        assert_eq!(h.http_headers[0].name, "Lit-Header");
        let json = serde_json::to_value(wg).unwrap();
        assert_eq!(json["spec"]["probe"]["httpGet"]["port"], 3100);
        let back: crate::api::WorkloadGroup = serde_json::from_value(json).unwrap();
        assert_eq!(&back, wg);
    }

    #[test]
    fn oneof_conflict_fails_with_path() {
        let bad = FULL.replace("    httpGet:", "    tcpSocket: {port: 1}\n    httpGet:");
        let err = load::from_str(&bad, "wg.yaml").unwrap_err().to_string();
        assert!(err.contains("only one of httpGet"), "{err}");
        assert!(err.contains("spec.probe"), "{err}");
    }

    #[test]
    fn unknown_field_in_oneof_member_is_reported() {
        let bad = FULL.replace("path: /foo/bar", "pth: /foo/bar");
        assert!(load::from_str(&bad, "wg.yaml").is_err());
    }
}
