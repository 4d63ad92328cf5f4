//! Istio's mesh configuration (`istio.mesh.v1alpha1.MeshConfig`: the `mesh` key of the `istio`
//! ConfigMap), the parts translation reads: the trust domain and its aliases, the root
//! namespace, and the extension providers `AuthorizationPolicy` CUSTOM actions name
//! (`envoyExtAuthzHttp`, `envoyExtAuthzGrpc`). Every other key is kept as written.
//!
//! ```
//! use mesh_core::api::mesh::MeshConfig;
//!
//! let mesh = MeshConfig::from_yaml(r#"
//! trustDomain: cluster.local
//! extensionProviders:
//! - name: oauth2-proxy
//!   envoyExtAuthzHttp:
//!     service: oauth2-proxy.foo.svc.cluster.local
//!     port: 4180
//!     includeRequestHeadersInCheck: [authorization, cookie]
//!     headersToUpstreamOnAllow: [authorization, "x-auth-*"]
//! - name: zipkin
//!   zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}
//! "#, "mesh.yaml")?;
//! let http = mesh.extension_providers[0].envoy_ext_authz_http.as_ref().expect("http");
//! assert_eq!(http.port, 4180);
//! assert!(mesh.extension_providers[1].other.contains_key("zipkin"));
//! # Ok::<(), mesh_core::api::mesh::MeshConfigError>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::Duration;

/// The mesh configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeshConfig {
    /// The SPIFFE trust domain (`cluster.local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_domain: Option<String>,
    /// Other trust domains whose identities are treated as this one's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_domain_aliases: Vec<String>,
    /// The namespace whose configuration applies mesh-wide (`istio-system`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_namespace: Option<String>,
    /// Mesh-wide locality load balancing (on by default in Istio; a DestinationRule's own
    /// setting replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality_lb_setting: Option<crate::api::networking::LocalityLoadBalancerSetting>,
    /// Named providers of extensions (external authorization, tracing, access logs...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension_providers: Vec<ExtensionProvider>,
    /// Every other key, as written.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// One extension provider: a name and one provider kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionProvider {
    /// The name policies refer to (`provider.name`).
    pub name: String,
    /// An external authorization service over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_ext_authz_http: Option<ExtAuthzHttpProvider>,
    /// An external authorization service over gRPC (`envoy.service.auth.v3.Authorization`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envoy_ext_authz_grpc: Option<ExtAuthzGrpcProvider>,
    /// The other provider kinds (tracing, logging, metrics), as written.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `EnvoyExternalAuthorizationHttpProvider`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtAuthzHttpProvider {
    /// The service: `hostname`, or `namespace/hostname` when the hostname is in several.
    pub service: String,
    /// Its port.
    pub port: u32,
    /// Timeout of the check (600 s when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Prefix of the check request's path.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path_prefix: String,
    /// Let requests through when the service cannot be reached or answers 5xx.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_open: bool,
    /// Re-pick the route after the check (headers it added may change routing).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear_route_cache: bool,
    /// The status returned when the check fails (a number, `403` by default in Envoy).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_on_error: String,
    /// Deprecated: `includeRequestHeadersInCheck`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_headers_in_check: Vec<String>,
    /// Request headers sent to the service (exact, `prefix*` or `*suffix`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_request_headers_in_check: Vec<String>,
    /// Headers added to the check request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub include_additional_headers_in_check: BTreeMap<String, String>,
    /// Send the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_request_body_in_check: Option<ExtAuthzRequestBody>,
    /// Headers of the service's OK answer copied onto the request upstream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_upstream_on_allow: Vec<String>,
    /// Headers of the service's denial passed to the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_downstream_on_deny: Vec<String>,
    /// Headers of the service's OK answer added to the response to the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_downstream_on_allow: Vec<String>,
}

/// `EnvoyExternalAuthorizationGrpcProvider`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtAuthzGrpcProvider {
    /// The service: `hostname`, or `namespace/hostname`.
    pub service: String,
    /// Its port.
    pub port: u32,
    /// Timeout of the check (600 s when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Let requests through when the service cannot be reached.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_open: bool,
    /// Re-pick the route after the check.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clear_route_cache: bool,
    /// The status returned when the check fails.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_on_error: String,
    /// Send the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_request_body_in_check: Option<ExtAuthzRequestBody>,
}

/// `EnvoyExternalAuthorizationRequestBody`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtAuthzRequestBody {
    /// Bytes of body buffered at most.
    #[serde(default)]
    pub max_request_bytes: u32,
    /// Send what was buffered when the body is larger, instead of refusing with 413.
    #[serde(default)]
    pub allow_partial_message: bool,
    /// Send the body as bytes, not as a UTF-8 string.
    #[serde(default)]
    pub pack_as_bytes: bool,
}

/// Why a mesh configuration was refused: where, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct MeshConfigError {
    /// The file or input it came from.
    pub source_name: String,
    /// What is wrong, with the field path.
    pub message: String,
}

impl MeshConfig {
    /// Reads a mesh configuration from YAML or JSON. Keys of the extension providers that are
    /// not Istio's (a misspelt `includeRequestHeadersInCheck`, say) are refused with their
    /// path; keys outside them that translation does not read are kept in `other`.
    pub fn from_yaml(text: &str, source: &str) -> Result<MeshConfig, MeshConfigError> {
        let fail = |message: String| MeshConfigError {
            source_name: source.to_string(),
            message,
        };
        let docs = crate::load::documents(text, source).map_err(|e| fail(e.to_string()))?;
        let doc = match docs.len() {
            0 => serde_json::Value::Object(serde_json::Map::new()),
            1 => docs.into_iter().next().unwrap_or_default(),
            n => return Err(fail(format!("{n} documents, expected one"))),
        };
        let mut unknown = Vec::new();
        let mut on_unknown = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let de = serde_ignored::Deserializer::new(crate::load::Strict(doc), &mut on_unknown);
        let mesh: MeshConfig = serde_path_to_error::deserialize(de)
            .map_err(|e| fail(format!("{}: {}", e.path(), e.inner())))?;
        if let Some(field) = unknown.first() {
            return Err(fail(format!("unknown field {field}")));
        }
        Ok(mesh)
    }
}
