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
/// assert_eq!(spec.port_level_mtls.as_ref().map(|p| p[&8080].mode), Some(MutualTlsMode::Disable));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerAuthenticationSpec {
    /// Workloads the policy applies to; unset means every workload in the namespace (or the
    /// whole mesh, in the root namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// Mutual TLS settings for the workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MutualTls>,
    /// Per-port overrides, keyed by the workload's (target) port number. `Some` when written,
    /// even empty: the CRD rejects an empty map, so its presence is kept for validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_level_mtls: Option<BTreeMap<u32, MutualTls>>,
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

#[cfg(test)]
mod tests {
    use crate::api::Object;
    use crate::load;

    #[test]
    fn loads_and_round_trips_and_keeps_empty_port_map() {
        let yaml = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a, namespace: foo}\nspec:\n  selector: {matchLabels: {app: a}}\n  mtls: {mode: PERMISSIVE}\n  portLevelMtls: {\"8080\": {mode: DISABLE}}\n";
        let objs = load::from_str(yaml, "t.yaml").unwrap();
        let Object::PeerAuthentication(pa) = &objs[0].object else {
            panic!("wrong kind")
        };
        let json = serde_json::to_value(pa).unwrap();
        let back: crate::api::PeerAuthentication = serde_json::from_value(json).unwrap();
        assert_eq!(&back, pa);
        let empty = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a}\nspec: {portLevelMtls: {}}\n";
        let objs = load::from_str(empty, "t.yaml").unwrap();
        let Object::PeerAuthentication(pa) = &objs[0].object else {
            panic!("wrong kind")
        };
        assert_eq!(pa.spec.port_level_mtls, Some(Default::default()));
        assert!(load::from_str(&empty.replace("{}", "{\"abc\": {}}"), "t.yaml").is_err());
    }
}
