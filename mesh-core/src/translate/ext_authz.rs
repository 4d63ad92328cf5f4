//! AuthorizationPolicy CUSTOM actions: external authorization (istiod's `builder/extauthz.go`).
//!
//! A CUSTOM policy names an extension provider of the mesh configuration
//! ([`MeshConfig::extension_providers`]): an HTTP or gRPC authorization service. For each
//! provider the policies of a workload name, two filters go first on the chain, before
//! authentication and the other authorization filters:
//!
//! 1. an RBAC filter whose *shadow* rules are the CUSTOM policies' rules (built as DENY rules,
//!    named `istio-ext-authz-<provider>-ns[..]-policy[..]-rule[..]`): it enforces nothing, but
//!    records in dynamic metadata which rule matched (`istio_ext_authz_shadow_effective_policy_id`);
//! 2. `envoy.filters.http.ext_authz` (or, for gRPC providers on TCP chains,
//!    `envoy.filters.network.ext_authz`), enabled only when that metadata names one of the
//!    provider's rules: only requests a CUSTOM rule matches are sent to the service.
//!
//! A provider that is missing or invalid (bad port, unknown service, bad `statusOnError`, a
//! lone `*` header pattern...) turns its policies into plain DENY rules (suffixed
//! `-deny-due-to-bad-CUSTOM-action`): a broken external check fails closed. So do policies
//! naming more than one provider on one workload (istiod needs a feature flag for that).
//! HTTP providers have no TCP form: on TCP chains their policies add nothing.
//!
//! ```
//! use mesh_core::api::mesh::MeshConfig;
//! use mesh_core::api::AuthorizationPolicy;
//! use mesh_core::translate::authz::TrustDomains;
//! use mesh_core::translate::ext_authz::{ExtAuthzProviders, build_custom_http};
//!
//! let mesh = MeshConfig::from_yaml(r#"
//! extensionProviders:
//! - name: authz
//!   envoyExtAuthzHttp: {service: authz.foo.svc.cluster.local, port: 8000, includeRequestHeadersInCheck: [x-user]}
//! "#, "mesh.yaml")?;
//! let providers = ExtAuthzProviders::resolve(&mesh.extension_providers, &|host: &str| {
//!     if host == "authz.foo.svc.cluster.local" { vec!["foo".to_string()] } else { vec![] }
//! });
//! let policy: AuthorizationPolicy = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
//!     "metadata": {"name": "ext", "namespace": "foo"},
//!     "spec": {"action": "CUSTOM", "provider": {"name": "authz"},
//!              "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}]}]}
//! }))?;
//! let filters = build_custom_http(&[&policy], &providers, &TrustDomains::new("cluster.local"));
//! let names: Vec<&str> = filters.iter().map(|f| f.name.as_str()).collect();
//! assert_eq!(names, ["envoy.filters.http.rbac", "envoy.filters.http.ext_authz"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`MeshConfig::extension_providers`]: crate::api::mesh::MeshConfig::extension_providers

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{
    ApiVersion, GrpcService, HeaderValue, HttpUri, grpc_service, http_uri,
};
use envoy_types::pb::envoy::config::listener::v3::Filter;
use envoy_types::pb::envoy::config::rbac::v3::Rbac;
use envoy_types::pb::envoy::extensions::filters::http::ext_authz::v3::{
    AuthorizationRequest, AuthorizationResponse, BufferSettings, ExtAuthz as HttpExtAuthz,
    HttpService, ext_authz,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::network::ext_authz::v3::ExtAuthz as NetworkExtAuthz;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3::Rbac as NetworkRbac;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    ListStringMatcher, MetadataMatcher, StringMatcher, ValueMatcher, metadata_matcher,
    string_matcher, value_matcher,
};
use envoy_types::pb::envoy::r#type::v3::{HttpStatus, StatusCode};
use envoy_types::pb::google::protobuf::Duration as PbDuration;

use super::authz::{HTTP_RBAC, NETWORK_RBAC, TrustDomains, custom_provider, custom_rules};
use super::listener::{http_filter_of, network_filter_of};
use crate::api::AuthorizationPolicy;
use crate::api::mesh::{ExtAuthzHttpProvider, ExtAuthzRequestBody, ExtensionProvider};

/// The HTTP external authorization filter's name.
pub const HTTP_EXT_AUTHZ: &str = "envoy.filters.http.ext_authz";
/// The network external authorization filter's name.
pub const NETWORK_EXT_AUTHZ: &str = "envoy.filters.network.ext_authz";
/// The stat prefix of the shadow rules, and the start of the metadata key they write.
const SHADOW_PREFIX: &str = "istio_ext_authz_";
/// Appended to the names of CUSTOM rules turned into DENY rules.
const BAD_SUFFIX: &str = "-deny-due-to-bad-CUSTOM-action";

/// A provider's filters, or why it cannot be used.
#[derive(Clone, Debug)]
struct Built {
    http: HttpExtAuthz,
    tcp: Option<NetworkExtAuthz>,
}

/// The external authorization providers of a mesh configuration, resolved against the
/// services of the mesh: each usable, or with what is wrong with it.
#[derive(Clone, Debug, Default)]
pub struct ExtAuthzProviders {
    resolved: BTreeMap<String, Result<Built, String>>,
}

impl ExtAuthzProviders {
    /// Resolves the external authorization providers of `providers` (other kinds are
    /// skipped). `namespaces_of(host)` lists the namespaces that have a service named `host`.
    pub fn resolve(
        providers: &[ExtensionProvider],
        namespaces_of: &dyn Fn(&str) -> Vec<String>,
    ) -> ExtAuthzProviders {
        let mut resolved: BTreeMap<String, Result<Built, String>> = BTreeMap::new();
        for (i, p) in providers.iter().enumerate() {
            let mut errors = Vec::new();
            if p.name.is_empty() {
                errors.push(format!(
                    "extension provider name must not be empty, found empty at index: {i}"
                ));
            } else if resolved.contains_key(&p.name) {
                errors.push(format!(
                    "extension provider name must be unique, found duplicate: {}",
                    p.name
                ));
            } else if let Err(e) = check_name(&p.name) {
                errors.push(format!("invalid provider name {:?}: {e}", p.name));
            }
            let built = if let Some(http) = &p.envoy_ext_authz_http {
                http_config(http, namespaces_of)
            } else if let Some(grpc) = &p.envoy_ext_authz_grpc {
                grpc_config(grpc, namespaces_of)
            } else {
                continue;
            };
            let built = match built {
                Ok(b) if errors.is_empty() => Ok(b),
                Ok(_) => Err(errors.join("; ")),
                Err(e) => {
                    errors.push(format!(
                        "failed to parse extension provider {:?}: {e}",
                        p.name
                    ));
                    Err(errors.join("; "))
                }
            };
            resolved.insert(p.name.clone(), built);
        }
        ExtAuthzProviders { resolved }
    }

    /// With the services of a snapshot.
    pub fn from_snapshot(
        providers: &[ExtensionProvider],
        snapshot: &crate::model::Snapshot,
    ) -> ExtAuthzProviders {
        ExtAuthzProviders::resolve(providers, &|host: &str| {
            let mut ns: Vec<String> = snapshot
                .services_for_host(host)
                .map(|s| s.namespace.clone())
                .collect();
            ns.sort();
            ns.dedup();
            ns
        })
    }

    /// The providers that cannot be used, with why.
    pub fn errors(&self) -> Vec<(String, String)> {
        self.resolved
            .iter()
            .filter_map(|(n, r)| r.as_ref().err().map(|e| (n.clone(), e.clone())))
            .collect()
    }

    fn get(&self, provider: &str) -> Result<&Built, String> {
        match self.resolved.get(provider) {
            Some(Ok(b)) => Ok(b),
            Some(Err(e)) => Err(format!("found errors in provider {provider}: {e}")),
            None => Err(format!(
                "available providers are {:?} but found {provider:?}",
                self.resolved.keys().collect::<Vec<_>>()
            )),
        }
    }
}

/// DNS-1123 label: what provider names may be (they end up in metadata keys and names).
fn check_name(name: &str) -> Result<(), String> {
    if name.len() > 63 {
        return Err(format!(
            "provider name too long (max 63 characters): {}",
            name.len()
        ));
    }
    if let Some((i, c)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "invalid character {c:?} at position {i} (only lowercase letters, digits, and hyphens allowed)"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("provider name cannot start or end with hyphen".into());
    }
    Ok(())
}

/// `LookupCluster`: the service's hostname and its default cluster for `port`.
fn lookup_cluster(
    service: &str,
    port: u32,
    namespaces_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<(String, String), String> {
    if service.is_empty() {
        return Err("service must not be empty".into());
    }
    let found = |host: &str| (host.to_string(), format!("outbound|{port}||{host}"));
    if let Some((ns, host)) = service.split_once('/') {
        if namespaces_of(host).iter().any(|n| n == ns) {
            return Ok(found(host));
        }
    } else {
        let namespaces = namespaces_of(service);
        match namespaces.len() {
            1 => return Ok(found(service)),
            0 => {}
            _ => {
                return Err(format!(
                    "found {service} in multiple namespaces {namespaces:?}, specify the namespace explicitly in the format of <Namespace>/<Hostname>"
                ));
            }
        }
    }
    Err(format!(
        "could not find service {service} in Istio service registry"
    ))
}

fn check_port(port: u32) -> Result<(), String> {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(format!(
            "port must be in the range [1, 65535], found: {port}"
        ))
    }
}

fn status_on_error(status: &str) -> Result<Option<HttpStatus>, String> {
    if status.is_empty() {
        return Ok(None);
    }
    let code: i32 = status
        .parse()
        .map_err(|e| format!("invalid statusOnError {status:?}: {e}"))?;
    if StatusCode::try_from(code).is_err() || code == 0 {
        return Err(format!(
            "unsupported statusOnError {status}, supported values: the HTTP status codes Envoy names"
        ));
    }
    Ok(Some(HttpStatus { code }))
}

fn timeout(t: Option<&crate::api::Duration>) -> PbDuration {
    t.map_or(
        PbDuration {
            seconds: 600,
            nanos: 0,
        },
        |d| PbDuration {
            seconds: d.seconds(),
            nanos: d.subsec_nanos(),
        },
    )
}

fn body(b: Option<&ExtAuthzRequestBody>) -> Option<BufferSettings> {
    b.map(|b| BufferSettings {
        max_request_bytes: b.max_request_bytes,
        allow_partial_message: b.allow_partial_message,
        pack_as_bytes: b.pack_as_bytes,
    })
}

/// Header patterns: `prefix*`, `*suffix` or exact, case-insensitive.
fn headers(patterns: &[String]) -> Option<ListStringMatcher> {
    if patterns.is_empty() {
        return None;
    }
    let patterns = patterns
        .iter()
        .map(|h| {
            let pattern = if let Some(suffix) = h.strip_prefix('*') {
                string_matcher::MatchPattern::Suffix(suffix.to_string())
            } else if let Some(prefix) = h.strip_suffix('*') {
                string_matcher::MatchPattern::Prefix(prefix.to_string())
            } else {
                string_matcher::MatchPattern::Exact(h.clone())
            };
            StringMatcher {
                match_pattern: Some(pattern),
                ignore_case: true,
            }
        })
        .collect();
    Some(ListStringMatcher { patterns })
}

/// Enabled when the RBAC filter `filter` recorded a rule of `provider`.
fn enabled_by(filter: &str, provider: &str) -> MetadataMatcher {
    MetadataMatcher {
        filter: filter.to_string(),
        path: vec![metadata_matcher::PathSegment {
            segment: Some(metadata_matcher::path_segment::Segment::Key(format!(
                "{SHADOW_PREFIX}shadow_effective_policy_id"
            ))),
        }],
        value: Some(ValueMatcher {
            match_pattern: Some(value_matcher::MatchPattern::StringMatch(StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::Prefix(format!(
                    "istio-ext-authz-{provider}"
                ))),
                ignore_case: false,
            })),
        }),
        ..Default::default()
    }
}

/// What both provider kinds check: the port, the service (its hostname and cluster), the
/// status on error; the problems found go to `errors`.
fn service_and_status(
    service: &str,
    port: u32,
    status: &str,
    namespaces_of: &dyn Fn(&str) -> Vec<String>,
    errors: &mut Vec<String>,
) -> (Option<(String, String)>, Option<HttpStatus>) {
    if let Err(e) = check_port(port) {
        errors.push(e);
    }
    let cluster = lookup_cluster(service, port, namespaces_of)
        .map_err(|e| errors.push(e))
        .ok();
    let status = status_on_error(status)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    (cluster, status)
}

fn http_config(
    c: &ExtAuthzHttpProvider,
    namespaces_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<Built, String> {
    let mut errors = Vec::new();
    let (cluster, status) = service_and_status(
        &c.service,
        c.port,
        &c.status_on_error,
        namespaces_of,
        &mut errors,
    );
    if !c.path_prefix.is_empty() && !c.path_prefix.starts_with('/') {
        errors.push(format!(
            "pathPrefix must begin with `/`, found: {:?}",
            c.path_prefix
        ));
    }
    for (field, values) in [
        (
            "IncludeRequestHeadersInCheck",
            &c.include_request_headers_in_check,
        ),
        ("IncludeHeadersInCheck", &c.include_headers_in_check),
        (
            "HeadersToDownstreamOnDeny",
            &c.headers_to_downstream_on_deny,
        ),
        (
            "HeadersToDownstreamOnAllow",
            &c.headers_to_downstream_on_allow,
        ),
        ("HeadersToUpstreamOnAllow", &c.headers_to_upstream_on_allow),
    ] {
        if values.iter().any(|v| v == "*") {
            errors.push(format!(
                "a single wildcard (\"*\") is not supported, change it to either prefix or suffix match: {field}"
            ));
        }
    }
    let Some((hostname, cluster)) = cluster.filter(|_| errors.is_empty()) else {
        return Err(errors.join("; "));
    };
    let headers_to_add: Vec<HeaderValue> = c
        .include_additional_headers_in_check
        .iter()
        .map(|(k, v)| HeaderValue {
            key: k.clone(),
            value: v.clone(),
            ..Default::default()
        })
        .collect();
    let any_response_headers = !c.headers_to_upstream_on_allow.is_empty()
        || !c.headers_to_downstream_on_deny.is_empty()
        || !c.headers_to_downstream_on_allow.is_empty();
    let service = HttpService {
        path_prefix: c.path_prefix.clone(),
        server_uri: Some(HttpUri {
            // Required, though the filter sends to the cluster.
            uri: format!("http://{hostname}"),
            timeout: Some(timeout(c.timeout.as_ref())),
            http_upstream_type: Some(http_uri::HttpUpstreamType::Cluster(cluster)),
        }),
        authorization_request: (!headers_to_add.is_empty()).then(|| AuthorizationRequest {
            headers_to_add,
            ..Default::default()
        }),
        authorization_response: any_response_headers.then(|| AuthorizationResponse {
            allowed_upstream_headers: headers(&c.headers_to_upstream_on_allow),
            allowed_client_headers: headers(&c.headers_to_downstream_on_deny),
            allowed_client_headers_on_success: headers(&c.headers_to_downstream_on_allow),
            ..Default::default()
        }),
        ..Default::default()
    };
    // The deprecated field only counts when the new one is unset.
    let allowed = headers(&c.include_request_headers_in_check)
        .or_else(|| headers(&c.include_headers_in_check));
    let http = HttpExtAuthz {
        status_on_error: status,
        failure_mode_allow: c.fail_open,
        clear_route_cache: c.clear_route_cache,
        transport_api_version: ApiVersion::V3 as i32,
        services: Some(ext_authz::Services::HttpService(service)),
        with_request_body: body(c.include_request_body_in_check.as_ref()),
        allowed_headers: allowed,
        ..Default::default()
    };
    Ok(Built { http, tcp: None })
}

fn grpc_config(
    c: &crate::api::mesh::ExtAuthzGrpcProvider,
    namespaces_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<Built, String> {
    let mut errors = Vec::new();
    let (cluster, status) = service_and_status(
        &c.service,
        c.port,
        &c.status_on_error,
        namespaces_of,
        &mut errors,
    );
    let Some((hostname, cluster)) = cluster.filter(|_| errors.is_empty()) else {
        return Err(errors.join("; "));
    };
    let grpc = GrpcService {
        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
            grpc_service::EnvoyGrpc {
                cluster_name: cluster,
                authority: hostname,
                ..Default::default()
            },
        )),
        timeout: Some(timeout(c.timeout.as_ref())),
        ..Default::default()
    };
    let http = HttpExtAuthz {
        status_on_error: status,
        failure_mode_allow: c.fail_open,
        clear_route_cache: c.clear_route_cache,
        transport_api_version: ApiVersion::V3 as i32,
        services: Some(ext_authz::Services::GrpcService(grpc.clone())),
        with_request_body: body(c.include_request_body_in_check.as_ref()),
        ..Default::default()
    };
    let tcp = NetworkExtAuthz {
        stat_prefix: "tcp.".into(),
        failure_mode_allow: c.fail_open,
        transport_api_version: ApiVersion::V3 as i32,
        grpc_service: Some(grpc),
        ..Default::default()
    };
    Ok(Built {
        http,
        tcp: Some(tcp),
    })
}

/// The enforced rules turned into DENY rules of a broken provider.
fn bad_custom_deny(rules: &Rbac) -> Rbac {
    Rbac {
        action: envoy_types::pb::envoy::config::rbac::v3::rbac::Action::Deny as i32,
        policies: {
            let mut m = crate::dump::proto_map();
            m.extend(
                rules
                    .policies
                    .iter()
                    .map(|(k, v)| (format!("{k}{BAD_SUFFIX}"), v.clone())),
            );
            m
        },
        ..Default::default()
    }
}

/// What the CUSTOM policies of one chain become, per provider in name order.
enum Custom<'a> {
    /// Shadow rules (enforced policies), rules (dry-run policies, when any), the provider.
    Check(Rbac, Option<Rbac>, &'a Built, String),
    /// The provider is unusable: its enforced rules as DENY rules.
    Deny(Rbac),
}

fn plan<'a>(
    policies: &[&AuthorizationPolicy],
    providers: &'a ExtAuthzProviders,
    for_tcp: bool,
    tds: &TrustDomains,
) -> Vec<Custom<'a>> {
    let by_provider = custom_rules(policies, for_tcp, tds);
    if by_provider.len() > 1 {
        // Several providers on one workload: istiod refuses (behind a feature flag), failing
        // closed for every one of them.
        return by_provider
            .values()
            .map(|(enforced, _)| Custom::Deny(bad_custom_deny(enforced)))
            .collect();
    }
    by_provider
        .into_iter()
        .map(|(name, (enforced, dry_run))| match providers.get(&name) {
            Ok(built) => {
                let dry_run = (!dry_run.policies.is_empty()).then_some(dry_run);
                Custom::Check(enforced, dry_run, built, name)
            }
            Err(_) => Custom::Deny(bad_custom_deny(&enforced)),
        })
        .collect()
}

/// The HTTP filters of the CUSTOM policies that apply to a workload (they go first on the
/// chain); none when there are none.
pub fn build_custom_http(
    policies: &[&AuthorizationPolicy],
    providers: &ExtAuthzProviders,
    trust_domains: &TrustDomains,
) -> Vec<HttpFilter> {
    let mut out = Vec::new();
    for c in plan(policies, providers, false, trust_domains) {
        match c {
            Custom::Deny(rules) => out.push(http_filter_of(
                HTTP_RBAC,
                &HttpRbac {
                    rules: Some(rules),
                    ..Default::default()
                },
            )),
            Custom::Check(shadow, rules, built, provider) => {
                out.push(http_filter_of(
                    HTTP_RBAC,
                    &HttpRbac {
                        rules,
                        shadow_rules: Some(shadow),
                        shadow_rules_stat_prefix: SHADOW_PREFIX.into(),
                        ..Default::default()
                    },
                ));
                let mut ext = built.http.clone();
                ext.filter_enabled_metadata = Some(enabled_by(HTTP_RBAC, &provider));
                out.push(http_filter_of(HTTP_EXT_AUTHZ, &ext));
            }
        }
    }
    out
}

/// The network filters of the CUSTOM policies for TCP chains: gRPC providers only (an HTTP
/// service cannot check a TCP connection).
pub fn build_custom_tcp(
    policies: &[&AuthorizationPolicy],
    providers: &ExtAuthzProviders,
    trust_domains: &TrustDomains,
) -> Vec<Filter> {
    let mut out = Vec::new();
    for c in plan(policies, providers, true, trust_domains) {
        match c {
            Custom::Deny(rules) => out.push(network_filter_of(
                NETWORK_RBAC,
                &NetworkRbac {
                    rules: Some(rules),
                    stat_prefix: "tcp.".into(),
                    ..Default::default()
                },
            )),
            Custom::Check(shadow, rules, built, provider) => {
                let Some(tcp) = &built.tcp else {
                    continue;
                };
                out.push(network_filter_of(
                    NETWORK_RBAC,
                    &NetworkRbac {
                        rules,
                        shadow_rules: Some(shadow),
                        stat_prefix: "tcp.".into(),
                        shadow_rules_stat_prefix: SHADOW_PREFIX.into(),
                        ..Default::default()
                    },
                ));
                let mut ext = tcp.clone();
                ext.filter_enabled_metadata = Some(enabled_by(NETWORK_RBAC, &provider));
                out.push(network_filter_of(NETWORK_EXT_AUTHZ, &ext));
            }
        }
    }
    out
}

/// The names of the providers the CUSTOM policies name that cannot be used, with why (for
/// diagnostics: their policies fail closed).
pub fn custom_errors(
    policies: &[&AuthorizationPolicy],
    providers: &ExtAuthzProviders,
) -> Vec<String> {
    let mut names: Vec<String> = policies
        .iter()
        .filter(|p| p.spec.action == crate::api::security::AuthorizationAction::Custom)
        .map(|p| custom_provider(p))
        .collect();
    names.sort();
    names.dedup();
    let mut out: Vec<String> = names
        .iter()
        .filter_map(|n| providers.get(n).err())
        .collect();
    if names.len() > 1 {
        out.push(format!(
            "several CUSTOM providers on one workload ({names:?}): their policies deny"
        ));
    }
    out
}
