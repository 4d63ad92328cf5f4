//! ServiceEntry (`networking/v1alpha3/service_entry.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::WorkloadEntrySpec;
use crate::api::is_default;

/// Adds a service to Istio's registry: an external API, a set of VMs, or a host name that
/// the mesh should know about (ports, protocol, how to find endpoints).
///
/// ```
/// use mesh_core::api::networking::{ServiceEntryResolution, ServiceEntrySpec};
/// let se: ServiceEntrySpec = serde_json::from_str(
///     r#"{"hosts": ["api.example.com"], "resolution": "DNS",
///         "ports": [{"number": 443, "name": "https", "protocol": "TLS"}]}"#)?;
/// assert_eq!(se.resolution, ServiceEntryResolution::Dns);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEntrySpec {
    /// Host names of the service (may start with a wildcard).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Virtual IPs or CIDR blocks of the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Ports of the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// Whether the service is outside the mesh (`MESH_EXTERNAL`) or part of it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub location: ServiceEntryLocation,
    /// How the proxy finds the service's endpoints.
    #[serde(default, skip_serializing_if = "is_default")]
    pub resolution: ServiceEntryResolution,
    /// Endpoints listed inline (alternative to `workloadSelector`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<WorkloadEntrySpec>,
    /// Selects pods and WorkloadEntries as endpoints (for `MESH_INTERNAL` services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<EntryWorkloadSelector>,
    /// Namespaces the service is visible to (`.`, `*`, `~` or namespace names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Subject alternative names the service's certificates must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// A port of a ServiceEntry (`networking.ServicePort`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Port number clients connect to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub number: u32,
    /// Protocol (`HTTP`, `HTTPS`, `GRPC`, `HTTP2`, `MONGO`, `TCP`, `TLS`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// Name of the port, unique in the service.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Port on the endpoints that receives the traffic (defaults to `number`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub target_port: u32,
}

/// `ServiceEntry.Location`: inside or outside the mesh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceEntryLocation {
    /// Outside the mesh: no mutual TLS, no sidecar at the endpoints.
    #[default]
    MeshExternal,
    /// Part of the mesh (VMs with sidecars, for example).
    MeshInternal,
}

/// `ServiceEntry.Resolution`: how endpoints are found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceEntryResolution {
    /// Forward to the destination address of the connection as is.
    #[default]
    None,
    /// Use the static IPs of the endpoints.
    Static,
    /// Resolve the hosts (or endpoint addresses) with DNS, all returned IPs used.
    Dns,
    /// Resolve with DNS and use only the first returned IP.
    DnsRoundRobin,
    /// Resolve per request with Envoy's dynamic forward proxy (wildcard hosts).
    DynamicDns,
}

/// Selects workloads by label (`networking.istio.io` `WorkloadSelector`, the one with
/// `labels`, used by ServiceEntry and EnvoyFilter).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryWorkloadSelector {
    /// Labels a workload must carry, all of them, to be selected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Object;
    use crate::load;

    const FULL: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-svc, namespace: ns}
spec:
  hosts: [api.example.com, "*.example.org"]
  addresses: [240.0.0.1, 10.0.0.0/16]
  ports:
  - {number: 443, name: https, protocol: TLS, targetPort: 8443}
  location: MESH_INTERNAL
  resolution: DNS_ROUND_ROBIN
  endpoints:
  - address: us.example.com
    ports: {https: 7443}
    labels: {region: us}
    network: n1
    locality: us/a
    weight: 3
    serviceAccount: sa
  exportTo: [".", "other"]
  subjectAltNames: ["spiffe://cluster.local/ns/ns/sa/sa"]
"#;

    #[test]
    fn full_object_round_trips() {
        let objs = load::from_str(FULL, "se.yaml").unwrap();
        let Object::ServiceEntry(se) = &objs[0].object else {
            panic!("not a ServiceEntry")
        };
        assert_eq!(se.spec.resolution, ServiceEntryResolution::DnsRoundRobin);
        assert_eq!(se.spec.location, ServiceEntryLocation::MeshInternal);
        assert_eq!(se.spec.ports[0].target_port, 8443);
        assert_eq!(se.spec.endpoints[0].ports["https"], 7443);
        let json = serde_json::to_value(se).unwrap();
        assert_eq!(json["spec"]["resolution"], "DNS_ROUND_ROBIN");
        let back: crate::api::ServiceEntry = serde_json::from_value(json).unwrap();
        assert_eq!(&back, se);
    }

    #[test]
    fn selector_and_dynamic_dns() {
        let y = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: se}
spec:
  hosts: ["*.example.com"]
  resolution: DYNAMIC_DNS
  workloadSelector: {labels: {app: x}}
"#;
        let objs = load::from_str(y, "se.yaml").unwrap();
        let Object::ServiceEntry(se) = &objs[0].object else {
            panic!("not a ServiceEntry")
        };
        assert_eq!(se.spec.resolution, ServiceEntryResolution::DynamicDns);
        assert_eq!(
            se.spec.workload_selector.as_ref().unwrap().labels["app"],
            "x"
        );
        assert!(load::from_str(&y.replace("DYNAMIC_DNS", "DYNAMIC"), "se.yaml").is_err());
    }
}
