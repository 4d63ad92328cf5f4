//! Which PeerAuthentication applies to a workload, and the mutual TLS mode it gives each port
//! (istiod's `ComposePeerAuthentication`).
//!
//! Policies attach at three levels: the mesh (root namespace, no selector), the namespace (no
//! selector) and the workload (a selector, outside the root namespace). The most specific level
//! that sets a mode wins; `UNSET` inherits from the level above; `PERMISSIVE` is the default.
//! Within a level the oldest policy wins. Port-level settings come only from the workload
//! policy, and an `UNSET` port inherits the workload's mode.
//!
//! ```
//! use std::collections::BTreeMap;
//! use mesh_core::api::PeerAuthentication;
//! use mesh_core::translate::authn::effective_peer_authentication;
//! use mesh_core::translate::inbound::MtlsMode;
//!
//! let pa = |ns: &str, spec: serde_json::Value| -> PeerAuthentication {
//!     serde_json::from_value(serde_json::json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
//!         "metadata": {"name": "p", "namespace": ns}, "spec": spec})).unwrap()
//! };
//! let policies = [
//!     pa("istio-system", serde_json::json!({"mtls": {"mode": "STRICT"}})),
//!     pa("default", serde_json::json!({"selector": {"matchLabels": {"app": "reviews"}},
//!                                      "portLevelMtls": {"9090": {"mode": "DISABLE"}}})),
//! ];
//! let labels = BTreeMap::from([("app".to_string(), "reviews".to_string())]);
//! let mtls = effective_peer_authentication(policies.iter(), "istio-system", "default", &labels);
//! assert_eq!(mtls.mode, MtlsMode::Strict);
//! assert_eq!(mtls.port_mode(9090), MtlsMode::Disable);
//! assert_eq!(mtls.port_mode(9080), MtlsMode::Strict);
//! ```

use std::collections::BTreeMap;

use super::inbound::MtlsMode;
use crate::api::PeerAuthentication;
use crate::api::security::{MutualTls, MutualTlsMode};

/// The mutual TLS a workload gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EffectiveMtls {
    /// The workload-wide mode.
    pub mode: MtlsMode,
    /// Per-port modes from the workload policy.
    pub per_port: BTreeMap<u32, MtlsMode>,
}

impl EffectiveMtls {
    /// The mode of one (target) port.
    pub fn port_mode(&self, port: u32) -> MtlsMode {
        self.per_port.get(&port).copied().unwrap_or(self.mode)
    }
}

fn mode_of(m: Option<&MutualTls>) -> Option<MtlsMode> {
    match m.map(|m| m.mode) {
        Some(MutualTlsMode::Strict) => Some(MtlsMode::Strict),
        Some(MutualTlsMode::Permissive) => Some(MtlsMode::Permissive),
        Some(MutualTlsMode::Disable) => Some(MtlsMode::Disable),
        Some(MutualTlsMode::Unset) | None => None,
    }
}

/// Oldest first: creation time (unset counts as oldest), then namespace and name, as istiod
/// orders configuration.
fn age_key(p: &PeerAuthentication) -> (Option<&str>, &str, &str) {
    (
        p.metadata.creation_timestamp.as_deref(),
        p.metadata.namespace.as_str(),
        p.metadata.name.as_str(),
    )
}

/// The mode of a workload in `namespace` with `labels`, from all PeerAuthentications in the
/// mesh (those of other namespaces and non-matching selectors are ignored here).
pub fn effective_peer_authentication<'a>(
    policies: impl IntoIterator<Item = &'a PeerAuthentication>,
    root_namespace: &str,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> EffectiveMtls {
    let (mut mesh, mut ns, mut workload): (
        Option<&PeerAuthentication>,
        Option<&PeerAuthentication>,
        Option<&PeerAuthentication>,
    ) = (None, None, None);
    let older = |current: Option<&'a PeerAuthentication>, candidate: &'a PeerAuthentication| {
        match current {
            Some(c) if age_key(c) <= age_key(candidate) => Some(c),
            _ => Some(candidate),
        }
    };
    for p in policies {
        let pns = p.metadata.namespace.as_str();
        let selector = p
            .spec
            .selector
            .as_ref()
            .filter(|s| !s.match_labels.is_empty());
        match selector {
            None if pns == root_namespace => mesh = older(mesh, p),
            None if pns == namespace => ns = older(ns, p),
            Some(s)
                if pns == namespace
                    && pns != root_namespace
                    && s.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v)) =>
            {
                workload = older(workload, p)
            }
            _ => {}
        }
    }
    let mut out = EffectiveMtls::default();
    for level in [mesh, ns, workload].into_iter().flatten() {
        if let Some(m) = mode_of(level.spec.mtls.as_ref()) {
            out.mode = m;
        }
    }
    if let Some(ports) = workload.and_then(|w| w.spec.port_level_mtls.as_ref()) {
        for (port, m) in ports {
            out.per_port
                .insert(*port, mode_of(Some(m)).unwrap_or(out.mode));
        }
    }
    out
}
