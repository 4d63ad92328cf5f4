//! Which proxies a change concerns, for scoped pushes: a proxy is affected by a changed object
//! when the object's namespace is the root namespace, the proxy's own, or one its egress hosts
//! import (`*/...`, `./...`, `ns/...`; everything without a Sidecar). Conservative: a proxy that
//! might be affected is.
//!
//! ```
//! use mesh_core::model::{ChangeKind, ChangeSet, ObjectKey};
//! use mesh_xds::scope::affected_namespaces;
//!
//! let mut changes = ChangeSet::default();
//! changes.objects.insert(ObjectKey { kind: "VirtualService".into(), namespace: "shop".into(), name: "cart".into() }, ChangeKind::Updated);
//! assert_eq!(affected_namespaces(&changes), ["shop"]);
//! ```

use std::collections::BTreeSet;

use mesh_core::model::{ChangeSet, Snapshot};
use mesh_core::translate::scope::egress_imports;

use crate::generator::ProxyInfo;

/// The namespaces a change set touches.
pub fn affected_namespaces(changes: &ChangeSet) -> Vec<String> {
    let set: BTreeSet<String> = changes
        .objects
        .keys()
        .map(|k| {
            if k.namespace.is_empty() {
                mesh_core::model::DEFAULT_NAMESPACE.to_string()
            } else {
                k.namespace.clone()
            }
        })
        .collect();
    set.into_iter().collect()
}

/// Whether `changes` can affect what `proxy` is sent, given `snapshot` (the new state).
pub fn affected(changes: &ChangeSet, snapshot: &Snapshot, proxy: &ProxyInfo) -> bool {
    let Some(p) = &proxy.proxy else {
        return true; // not an Istio node: no scope to reason about
    };
    let root = snapshot.options().root_namespace.as_str();
    let namespaces = affected_namespaces(changes);
    // Most changes concern the root namespace or the proxy's own: no need to look further.
    if namespaces
        .iter()
        .any(|ns| ns == root || *ns == p.config_namespace)
    {
        return true;
    }
    let imports = egress_imports(snapshot, p);
    namespaces.iter().any(|ns| {
        imports
            .iter()
            .any(|i| i.namespace_matches(ns, &p.config_namespace))
    })
}
