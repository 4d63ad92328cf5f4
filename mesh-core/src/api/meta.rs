//! The object envelope shared by every kind: `apiVersion`, `kind`, `metadata`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::is_default;

/// Kubernetes object metadata (`metadata`), with every field `kubectl` may write.
///
/// Istio reads `name`, `namespace`, `labels`, `annotations`, `resourceVersion` and
/// `generation`; the other fields are kept so that objects exported from a cluster load strictly
/// and round-trip unchanged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Object name, unique within its namespace and kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Prefix the API server uses to generate a name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// Namespace; empty means "the namespace the object is applied to" (usually `default`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Labels, sorted by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations, sorted by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Opaque version the API server uses for optimistic concurrency and watches.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Sequence number of spec changes.
    #[serde(default, skip_serializing_if = "is_default")]
    pub generation: i64,
    /// Unique id assigned by the API server.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Deprecated self link.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub self_link: String,
    /// Creation time (RFC 3339); `kubectl` writes `null` for new objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// Deletion time (RFC 3339), set while the object is being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// Grace period before deletion, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Owners of this object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<OwnerReference>,
    /// Finalizers that must run before deletion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// Server-side apply bookkeeping, kept opaque.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields: Vec<serde_json::Value>,
}

/// A reference from an object to its owner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    /// Owner's API version.
    pub api_version: String,
    /// Owner's kind.
    pub kind: String,
    /// Owner's name.
    pub name: String,
    /// Owner's uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Whether the owner is the managing controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
    /// Whether deletion of the owner waits for this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_owner_deletion: Option<bool>,
}

impl ObjectMeta {
    /// Metadata with a name and namespace.
    pub fn named(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            ..Self::default()
        }
    }
}

/// An object of a kind the typed API does not model (Deployments, Gateway API kinds, ...): its
/// kind and metadata are typed, the rest is kept as JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntypedObject {
    /// `group/version` or `version` for the core group.
    pub api_version: String,
    /// The kind, as written.
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other top-level field (`spec`, `status`, `data`, ...), in key order.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}
