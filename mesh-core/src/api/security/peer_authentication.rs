//! PeerAuthentication (`security/v1beta1/peer_authentication.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::{WorkloadSelector, is_default};

/// How a workload accepts connections from its peers: mutual TLS, plaintext, or both.
///
/// ```
/// use mesh_core::api::security::{MutualTlsMode, PeerAuthenticationSpec};
/// let spec: PeerAuthenticationSpec = serde_json::from_str(
///     r#"{"selector": {"matchLabels": {"app": "reviews"}},
///         "mtls": {"mode": "STRICT"},
///         "portLevelMtls": {"8080": {"mode": "DISABLE"}}}"#)?;
/// assert_eq!(spec.mtls.map(|m| m.mode), Some(MutualTlsMode::Strict));
/// assert_eq!(spec.port_level_mtls[&8080].mode, MutualTlsMode::Disable);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthenticationSpec {
    /// Workloads the policy applies to; unset means every workload in the namespace (or the
    /// whole mesh, in the root namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// Mutual TLS settings for the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MutualTls>,
    /// Per-port overrides, keyed by the workload's (target) port number.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub port_level_mtls: BTreeMap<u32, MutualTls>,
}

/// Mutual TLS settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MutualTls {
    /// The mode; `UNSET` inherits from the parent policy.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: MutualTlsMode,
}

/// `PeerAuthentication.MutualTLS.Mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MutualTlsMode {
    /// Inherit from the parent; `PERMISSIVE` when there is none.
    #[default]
    Unset,
    /// Plaintext only.
    Disable,
    /// Both plaintext and mutual TLS.
    Permissive,
    /// Mutual TLS only.
    Strict,
}
