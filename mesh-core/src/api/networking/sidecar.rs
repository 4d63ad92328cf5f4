//! Sidecar (`networking/v1alpha3/sidecar.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConnectionPoolSettings, Destination, ServerTlsSettings};
use crate::api::is_default;

/// Scopes a sidecar's configuration: which ports it accepts traffic on and which services it
/// can reach.
///
/// ```
/// use mesh_core::api::networking::{OutboundTrafficPolicyMode, SidecarSpec};
/// let spec: SidecarSpec = serde_json::from_str(
///     r#"{"egress": [{"hosts": ["./*", "istio-system/*"]}],
///         "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}"#)?;
/// assert_eq!(spec.egress[0].hosts.len(), 2);
/// assert_eq!(spec.outbound_traffic_policy.map(|o| o.mode), Some(OutboundTrafficPolicyMode::RegistryOnly));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SidecarSpec {
    /// Workloads the Sidecar applies to; unset means every workload in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<SidecarWorkloadSelector>,
    /// Listeners for inbound traffic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IstioIngressListener>,
    /// Listeners for outbound traffic, and the hosts reachable through them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<IstioEgressListener>,
    /// Connection pool settings for all inbound ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_connection_pool: Option<ConnectionPoolSettings>,
    /// What to do with outbound traffic to unknown destinations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
}

/// Selects workloads by label (`networking.istio.io` `WorkloadSelector`, field `labels`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SidecarWorkloadSelector {
    /// Labels a workload must carry, all of them, to be selected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A listener for inbound traffic to the workload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioIngressListener {
    /// The port the listener accepts traffic on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<SidecarPort>,
    /// IP address the listener binds to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bind: String,
    /// How traffic reaches the listener.
    #[serde(default, skip_serializing_if = "is_default")]
    pub capture_mode: CaptureMode,
    /// Where traffic is forwarded (`127.0.0.1:port`, `0.0.0.0:port`, `[::1]:port`, `unix://path`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_endpoint: String,
    /// TLS settings to terminate TLS on the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// Connection pool settings for this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
}

/// A listener for outbound traffic from the workload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioEgressListener {
    /// The port of the listener; unset means the catch-all listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<SidecarPort>,
    /// IP address or `unix://` socket the listener binds to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bind: String,
    /// How traffic reaches the listener.
    #[serde(default, skip_serializing_if = "is_default")]
    pub capture_mode: CaptureMode,
    /// Services reachable through the listener, as `namespace/dnsName`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// A port of a sidecar listener.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SidecarPort {
    /// Port number (0 for a Unix domain socket egress listener).
    #[serde(default, skip_serializing_if = "is_default")]
    pub number: u32,
    /// Protocol of the port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// Label for the port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Deprecated and ignored by sidecars.
    #[serde(default, skip_serializing_if = "is_default")]
    pub target_port: u32,
}

/// `CaptureMode`: how traffic reaches a listener.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaptureMode {
    /// The capture mode of the environment.
    #[default]
    Default,
    /// Traffic is captured with iptables redirection.
    Iptables,
    /// No capture: the application talks to the listener directly.
    None,
}

/// Handling of outbound traffic to destinations outside the registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundTrafficPolicy {
    /// `REGISTRY_ONLY` blocks unknown destinations; `ALLOW_ANY` passes them through.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: OutboundTrafficPolicyMode,
    /// Service that unknown traffic is sent to in `ALLOW_ANY` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_proxy: Option<Destination>,
}

/// `OutboundTrafficPolicy.Mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboundTrafficPolicyMode {
    /// Only hosts in the registry are reachable.
    #[default]
    RegistryOnly,
    /// Unknown hosts are passed through.
    AllowAny,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Object, Sidecar};

    #[test]
    fn full_object_loads_and_round_trips() {
        let yaml = r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: bookinfo}
spec:
  workloadSelector: {labels: {app: reviews}}
  inboundConnectionPool: {http: {http1MaxPendingRequests: 100}}
  ingress:
  - port: {number: 9080, protocol: HTTPS, name: somename}
    bind: 0.0.0.0
    captureMode: IPTABLES
    defaultEndpoint: 127.0.0.1:8080
    tls: {mode: SIMPLE, privateKey: /k.pem, serverCertificate: /c.pem}
    connectionPool: {tcp: {maxConnections: 10}}
  egress:
  - port: {number: 0, protocol: HTTP, name: uds}
    bind: unix:///var/run/a.sock
    captureMode: NONE
    hosts: ["*/*"]
  outboundTrafficPolicy:
    mode: ALLOW_ANY
    egressProxy: {host: proxy.example.com, subset: v1, port: {number: 443}}
"#;
        let objs = crate::load::from_str(yaml, "sc.yaml").unwrap();
        let Object::Sidecar(sc) = &objs[0].object else {
            panic!()
        };
        assert_eq!(sc.spec.ingress[0].capture_mode, CaptureMode::Iptables);
        assert_eq!(sc.spec.egress[0].capture_mode, CaptureMode::None);
        let otp = sc.spec.outbound_traffic_policy.clone().unwrap();
        assert_eq!(otp.mode, OutboundTrafficPolicyMode::AllowAny);
        assert_eq!(otp.egress_proxy.unwrap().host, "proxy.example.com");
        let json = serde_json::to_value(sc).unwrap();
        assert_eq!(json["spec"]["outboundTrafficPolicy"]["mode"], "ALLOW_ANY");
        let back: Sidecar = serde_json::from_value(json).unwrap();
        assert_eq!(&back, sc);
    }

    #[test]
    fn unknown_field_fails() {
        let r = crate::load::from_str(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: a}\nspec:\n  workloadSelector: {matchLabels: {a: b}}\n",
            "x.yaml",
        );
        assert!(r.is_err());
    }
}
