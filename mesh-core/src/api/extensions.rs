//! `extensions.istio.io`: WasmPlugin (`extensions/v1alpha1/wasm.proto`).

use serde::{Deserialize, Serialize};

use crate::api::{PolicyTargetReference, PortSelector, WorkloadSelector, is_default};

/// A WebAssembly filter added to the proxies of the selected workloads.
///
/// ```
/// use mesh_core::api::extensions::{PluginPhase, WasmPluginSpec};
/// let spec: WasmPluginSpec = serde_json::from_str(
///     r#"{"url": "oci://ghcr.io/acme/auth:1.0", "phase": "AUTHN", "priority": 10,
///         "pluginConfig": {"realm": "ingress"}}"#)?;
/// assert_eq!(spec.phase, PluginPhase::Authn);
/// assert_eq!(spec.priority, Some(10));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmPluginSpec {
    /// Workloads the plugin applies to; unset means every workload in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// A single resource (Gateway, Service, ServiceEntry) the plugin attaches to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<PolicyTargetReference>,
    /// Resources the plugin attaches to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// Where the module comes from: `oci://`, `file://`, `http(s)://`, or an image reference.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Expected SHA-256 of the module (64 lowercase hex digits).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// When to pull an OCI image again.
    #[serde(default, skip_serializing_if = "is_default")]
    pub image_pull_policy: PullPolicy,
    /// Secret with the credentials to pull the image. `Some` when written (the CRD rejects `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secret: Option<String>,
    /// Public key used to verify the image signature.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verification_key: String,
    /// Configuration passed to the plugin (any JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_config: Option<serde_json::Map<String, serde_json::Value>>,
    /// The plugin's name inside the module. `Some` when written (the CRD rejects `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_name: Option<String>,
    /// Where in the filter chain the plugin goes.
    #[serde(default, skip_serializing_if = "is_default")]
    pub phase: PluginPhase,
    /// Order among plugins of the same phase (higher first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// What to do when the plugin fails.
    #[serde(default, skip_serializing_if = "is_default")]
    pub fail_strategy: FailStrategy,
    /// Settings of the plugin's VM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_config: Option<VmConfig>,
    /// Traffic the plugin applies to; unset means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#match: Vec<TrafficSelector>,
    /// HTTP or network (TCP) filter.
    #[serde(default, skip_serializing_if = "is_default")]
    pub r#type: PluginType,
}

/// `PullPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PullPolicy {
    /// `IfNotPresent`, except for `latest` tags (`Always`).
    #[default]
    #[serde(rename = "UNSPECIFIED_POLICY")]
    UnspecifiedPolicy,
    /// Pull only when the image is not cached.
    IfNotPresent,
    /// Pull every time the plugin is applied.
    Always,
}

/// `PluginPhase`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PluginPhase {
    /// At the end of the chain, before the router.
    #[default]
    UnspecifiedPhase,
    /// Before Istio's authentication filters.
    Authn,
    /// Before Istio's authorization filters.
    Authz,
    /// Before Istio's stats filters.
    Stats,
}

/// `FailStrategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailStrategy {
    /// Fail the request on a plugin error.
    #[default]
    FailClose,
    /// Skip the plugin on an error.
    FailOpen,
    /// Reload the VM and retry on an error.
    FailReload,
}

/// `PluginType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PluginType {
    /// Treated as `HTTP`.
    #[default]
    UnspecifiedPluginType,
    /// An HTTP filter.
    Http,
    /// A network filter.
    Network,
}

/// Settings of the plugin's VM.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmConfig {
    /// Environment variables visible to the VM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
}

/// An environment variable of the VM.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    /// Variable name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Where the value comes from: inline, or the proxy's own environment.
    #[serde(default, skip_serializing_if = "is_default")]
    pub value_from: EnvValueSource,
    /// The value, for `INLINE`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// `EnvValueSource`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvValueSource {
    /// The value is given in `value`.
    #[default]
    Inline,
    /// The value is read from the proxy's environment.
    Host,
}

/// Traffic a plugin applies to (`WasmPlugin.TrafficSelector`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSelector {
    /// Client side, server side, or both.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: WorkloadMode,
    /// Ports the plugin applies to; unset means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSelector>,
}

/// Which side of the traffic a plugin applies to (`istio.type.v1beta1.WorkloadMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkloadMode {
    /// Both sides.
    #[default]
    Undefined,
    /// Outbound (client) traffic.
    Client,
    /// Inbound (server) traffic.
    Server,
    /// Both outbound and inbound traffic.
    ClientAndServer,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Object;
    use crate::load;

    #[test]
    fn full_plugin_loads_and_round_trips() {
        let yaml = r#"
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: openid, namespace: istio-ingress}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  url: oci://private-registry:5000/openid-connect/openid:latest
  sha256: 1ef0c9a92b0420cf25f7fe5d481b231464bc88f486ca3b9c83ed5cc21d2f6210
  imagePullPolicy: IfNotPresent
  imagePullSecret: private-registry-pull-secret
  verificationKey: key
  pluginName: openid
  phase: AUTHN
  priority: -5
  failStrategy: FAIL_OPEN
  type: HTTP
  pluginConfig:
    openid_server: authn
    nested: {a: [1, 2]}
  vmConfig:
    env:
    - name: POD_NAME
      valueFrom: HOST
    - name: TRUST_DOMAIN
      value: cluster.local
  match:
  - mode: SERVER
    ports: [{number: 8080}]
"#;
        let objs = load::from_str(yaml, "t.yaml").unwrap();
        let Object::WasmPlugin(w) = &objs[0].object else {
            panic!("wrong kind")
        };
        assert_eq!(w.spec.image_pull_policy, PullPolicy::IfNotPresent);
        assert_eq!(w.spec.priority, Some(-5));
        assert_eq!(w.spec.r#match[0].mode, WorkloadMode::Server);
        assert_eq!(
            w.spec.vm_config.as_ref().unwrap().env[0].value_from,
            EnvValueSource::Host
        );
        let json = serde_json::to_value(w).unwrap();
        assert_eq!(json["spec"]["imagePullPolicy"], "IfNotPresent");
        let back: crate::api::WasmPlugin = serde_json::from_value(json).unwrap();
        assert_eq!(&back, w);
    }

    #[test]
    fn bad_enum_is_a_load_error() {
        let yaml = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: a}\nspec: {url: x, imagePullPolicy: Sometimes}\n";
        assert!(load::from_str(yaml, "t.yaml").is_err());
    }
}
