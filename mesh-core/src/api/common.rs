//! Types shared across API groups (`istio.type.v1beta1`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Selects workloads by their labels (`istio.type.v1beta1.WorkloadSelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSelector {
    /// Labels a workload must carry, all of them, to be selected.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// A port of a service (`istio.type.v1beta1.PortSelector` / `networking.PortSelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSelector {
    /// Port number.
    #[serde(default, skip_serializing_if = "super::is_default")]
    pub number: u32,
}

/// A reference to the object a policy attaches to (`istio.type.v1beta1.PolicyTargetReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTargetReference {
    /// API group of the target (`gateway.networking.k8s.io`, or empty for the core group).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Kind of the target (`Gateway`, `Service`, `ServiceEntry`, `GatewayClass`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name of the target.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace of the target; must equal the policy's own namespace when set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}
