//! WorkloadEntry (`networking/v1alpha3/workload_entry.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::is_default;

/// A workload outside Kubernetes (a VM, a bare-metal host) added to the mesh: its address,
/// labels and ports, so that ServiceEntries can select it like a pod. Also the shape of a
/// ServiceEntry's inline `endpoints` and of a WorkloadGroup's `template`.
///
/// ```
/// use mesh_core::api::networking::WorkloadEntrySpec;
/// let we: WorkloadEntrySpec = serde_json::from_str(
///     r#"{"address": "2.2.2.2", "ports": {"http": 8080}, "labels": {"app": "vm"},
///         "serviceAccount": "vm-sa"}"#)?;
/// assert_eq!(we.ports["http"], 8080);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEntrySpec {
    /// IP address, DNS name (DNS-resolved ServiceEntries) or `unix://` socket path of the
    /// workload, without the port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// Port overrides: service port name to the port the workload listens on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u32>,
    /// Labels of the workload, matched by workload selectors.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The L3 network the workload lives in (for multi-network meshes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network: String,
    /// Locality of the workload (`region/zone/subzone`), for locality-aware load balancing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub locality: String,
    /// Load balancing weight relative to other endpoints of the same service.
    #[serde(default, skip_serializing_if = "is_default")]
    pub weight: u32,
    /// Service account of the workload's sidecar (its identity).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account: String,
}

#[cfg(test)]
mod tests {
    use crate::api::Object;
    use crate::load;

    const FULL: &str = r#"
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm1, namespace: ns}
spec:
  address: 2.2.2.2
  ports: {http: 8080, grpc: 9090}
  labels: {app: details, version: v1}
  network: vm-net
  locality: us-east1/a/b
  weight: 10
  serviceAccount: details-sa
"#;

    #[test]
    fn full_object_round_trips() {
        let objs = load::from_str(FULL, "we.yaml").unwrap();
        let Object::WorkloadEntry(we) = &objs[0].object else {
            panic!("not a WorkloadEntry")
        };
        assert_eq!(we.spec.ports["grpc"], 9090);
        assert_eq!(we.spec.weight, 10);
        let json = serde_json::to_value(we).unwrap();
        let back: crate::api::WorkloadEntry = serde_json::from_value(json).unwrap();
        assert_eq!(&back, we);
    }

    #[test]
    fn bad_port_type_fails_with_path() {
        let bad = FULL.replace("http: 8080", "http: eighty");
        let err = load::from_str(&bad, "we.yaml").unwrap_err().to_string();
        assert!(err.contains("spec.ports"), "{err}");
    }
}
