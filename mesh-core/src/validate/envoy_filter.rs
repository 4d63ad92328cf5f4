//! EnvoyFilter: Istio's `ValidateEnvoyFilter` (`pkg/config/validation/envoyfilter`), plus the
//! CRD schema's CEL rules and limits.
//!
//! istiod decodes each patch value into the Envoy proto of its `applyTo`. Without Envoy's
//! protos, the value is kept as JSON and checked for what can be told from its shape: the
//! type of `name`, `@type` URLs of the retired v2 API, and filters without `typed_config`.

use serde_json::{Map, Value};

use super::Ctx;
use super::service_entry::alpha_workload_selector;
use crate::api::EnvoyFilter;
use crate::api::PolicyTargetReference;
use crate::api::networking::{
    ApplyTo, EnvoyConfigObjectPatch, ObjectTypes, PatchContext, PatchOperation,
};

/// Longest `proxyVersion` expression istiod compiles.
const MAX_PROXY_VERSION_LEN: usize = 1024;
/// The HTTP connection manager's filter name.
const HTTP_CONNECTION_MANAGER: &str = "envoy.filters.network.http_connection_manager";

pub(super) fn validate(obj: &EnvoyFilter, cx: &mut Ctx) {
    let spec = &obj.spec;
    cx.field("spec", |cx| {
        cx.warn("EnvoyFilter exposes internal implementation details that may change at any time. Prefer other APIs if possible, and exercise extreme caution, especially around upgrades.");
        if spec.workload_selector.is_some() && !spec.target_refs.is_empty() {
            cx.error("only one of targetRefs or workloadSelector can be set");
        }
        alpha_workload_selector(cx, spec.workload_selector.as_ref(), "Envoy filter");
        if spec.target_refs.len() > 16 {
            cx.error_at("targetRefs", "Too many: must have at most 16 items");
        }
        cx.each("targetRefs", &spec.target_refs, target_ref_schema);
        cx.each("configPatches", &spec.config_patches, config_patch);
    });
}

/// The CRD schema's rules on a `PolicyTargetReference` (istiod adds none for EnvoyFilter).
fn target_ref_schema(cx: &mut Ctx, r: &PolicyTargetReference) {
    let group_ok = r.group.is_empty()
        || (r.group.len() <= 253 && r.group.split('.').all(super::common::is_dns1123_label));
    if !group_ok {
        cx.error_at(
            "group",
            format!("group {:?} must be a DNS subdomain", r.group),
        );
    }
    let kind_ok = !r.kind.is_empty()
        && r.kind.len() <= 63
        && r.kind.starts_with(|c: char| c.is_ascii_alphabetic())
        && !r.kind.ends_with('-')
        && r.kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if r.kind.is_empty() {
        cx.error_at("kind", "Required value");
    } else if !kind_ok {
        cx.error_at(
            "kind",
            format!("kind {:?} is not a valid kind name", r.kind),
        );
    }
    if r.name.is_empty() {
        cx.error_at("name", "Required value");
    } else if r.name.len() > 253 {
        cx.error_at("name", "Too long: may not be more than 253 bytes");
    }
    if !r.namespace.is_empty() {
        cx.error_at(
            "namespace",
            "cross namespace referencing is not currently supported",
        );
    }
}

fn enum_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn config_patch(cx: &mut Ctx, cp: &EnvoyConfigObjectPatch) {
    // CRD schema rules on the match.
    if let Some(m) = &cp.match_ {
        let is_waypoint_match = matches!(m.object_types, Some(ObjectTypes::Waypoint(_)));
        if (m.context == PatchContext::Waypoint) != is_waypoint_match {
            cx.error_at(
                "match",
                "only support waypointMatch when context is WAYPOINT",
            );
        }
        if let Some(ObjectTypes::Waypoint(w)) = &m.object_types {
            if w.port_number > 65535 {
                cx.field("match", |cx| {
                    cx.field("waypoint", |cx| {
                        cx.error_at("portNumber", "port must be between 1-65535")
                    })
                });
            }
        }
        if m.context == PatchContext::Waypoint {
            // istiod does not validate waypoint patches yet.
            return;
        }
    }
    if cp.apply_to == ApplyTo::Invalid {
        cx.error_at("applyTo", "Envoy filter: missing applyTo");
        return;
    }
    let Some(patch) = &cp.patch else {
        cx.error_at("patch", "Envoy filter: missing patch");
        return;
    };
    if patch.operation == PatchOperation::Invalid {
        cx.field("patch", |cx| {
            cx.error_at("operation", "Envoy filter: missing patch operation")
        });
        return;
    }
    if patch.operation != PatchOperation::Remove && patch.value.is_none() {
        cx.field("patch", |cx| {
            cx.error_at(
                "value",
                "Envoy filter: missing patch value for non-remove operation",
            )
        });
        return;
    }

    if let Some(proxy) = cp.match_.as_ref().and_then(|m| m.proxy.as_ref()) {
        let v = &proxy.proxy_version;
        if v.len() > MAX_PROXY_VERSION_LEN {
            cx.field("match", |cx| cx.field("proxy", |cx| cx.warn_at("proxyVersion", format!(
                "Envoy filter: proxyVersion match exceeds {MAX_PROXY_VERSION_LEN} characters and will be ignored"
            ))));
        } else if !v.is_empty() {
            if let Err(e) = regex::Regex::new(v) {
                let detail = e.to_string();
                let detail = detail.lines().last().unwrap_or_default().trim();
                cx.field("match", |cx| {
                    cx.field("proxy", |cx| {
                        cx.error_at(
                            "proxyVersion",
                            format!(
                                "Envoy filter: invalid regex for proxy version, [error parsing regexp: {detail}]"
                            ),
                        )
                    })
                });
                return;
            }
        }
    }

    let object_types = cp.match_.as_ref().and_then(|m| m.object_types.as_ref());
    match cp.apply_to {
        ApplyTo::Listener | ApplyTo::FilterChain | ApplyTo::NetworkFilter | ApplyTo::HttpFilter => {
            if let Some(ot) = object_types {
                let ObjectTypes::Listener(listener) = ot else {
                    cx.error_at(
                        "match",
                        "Envoy filter: applyTo for listener class objects cannot have non listener match",
                    );
                    return;
                };
                if let Some(filter) = listener
                    .filter_chain
                    .as_ref()
                    .and_then(|fc| fc.filter.as_ref())
                {
                    let stop = cx.field("match", |cx| {
                        cx.field("listener", |cx| {
                            cx.field("filterChain", |cx| {
                                cx.field("filter", |cx| {
                                    if matches!(cp.apply_to, ApplyTo::Listener | ApplyTo::FilterChain) {
                                        // An error in principle; a warning for compatibility.
                                        cx.warn(format!(
                                            "Envoy filter: filter match has no effect when used with {}",
                                            enum_name(&cp.apply_to)
                                        ));
                                    }
                                    if filter.name.is_empty() {
                                        cx.error_at("name", "Envoy filter: filter match has no name to match on");
                                        return true;
                                    }
                                    if let Some(sub) = &filter.sub_filter {
                                        if cp.apply_to != ApplyTo::HttpFilter {
                                            cx.error_at("subFilter", "Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only");
                                            return true;
                                        }
                                        if filter.name != HTTP_CONNECTION_MANAGER
                                            && filter.name != "envoy.http_connection_manager"
                                        {
                                            cx.error_at("name", format!(
                                                "Envoy filter: subfilter match requires filter match with {HTTP_CONNECTION_MANAGER}"
                                            ));
                                            return true;
                                        }
                                        if sub.name.is_empty() {
                                            cx.field("subFilter", |cx| cx.error_at("name", "Envoy filter: subfilter match has no name to match on"));
                                            return true;
                                        }
                                    }
                                    deprecated_filter_name(cx, "name", &filter.name);
                                    if let Some(sub) = &filter.sub_filter {
                                        cx.field("subFilter", |cx| deprecated_filter_name(cx, "name", &sub.name));
                                    }
                                    false
                                })
                            })
                        })
                    });
                    if stop {
                        return;
                    }
                }
            }
        }
        ApplyTo::RouteConfiguration | ApplyTo::VirtualHost | ApplyTo::HttpRoute => {
            if object_types.is_some_and(|ot| !matches!(ot, ObjectTypes::RouteConfiguration(_))) {
                cx.error_at(
                    "match",
                    "Envoy filter: applyTo for http route class objects cannot have non route configuration match",
                );
            }
        }
        ApplyTo::Cluster => {
            if object_types.is_some_and(|ot| !matches!(ot, ObjectTypes::Cluster(_))) {
                cx.error_at(
                    "match",
                    "Envoy filter: applyTo for cluster class objects cannot have non cluster match",
                );
            }
        }
        _ => {}
    }

    if let Some(value) = &patch.value {
        cx.field("patch", |cx| {
            cx.field("value", |cx| patch_value(cx, cp.apply_to, value))
        });
    }
}

/// `validateListenerMatchName`: a warning for the pre-1.14 filter names.
fn deprecated_filter_name(cx: &mut Ctx, field: &str, name: &str) {
    if let Some(new) = canonical_filter_name(name) {
        cx.warn_at(
            field,
            format!("using deprecated filter name {name:?}; use {new:?} instead"),
        );
    }
}

/// The canonical name of a deprecated Envoy filter name (`xds.ReverseDeprecatedFilterNames`).
fn canonical_filter_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "envoy.buffer" => "envoy.filters.http.buffer",
        "envoy.cors" => "envoy.filters.http.cors",
        "envoy.csrf" => "envoy.filters.http.csrf",
        "envoy.http_dynamo_filter" => "envoy.filters.http.dynamo",
        "envoy.fault" => "envoy.filters.http.fault",
        "envoy.grpc_http1_bridge" => "envoy.filters.http.grpc_http1_bridge",
        "envoy.grpc_json_transcoder" => "envoy.filters.http.grpc_json_transcoder",
        "envoy.grpc_web" => "envoy.filters.http.grpc_web",
        "envoy.gzip" => "envoy.filters.http.gzip",
        "envoy.health_check" => "envoy.filters.http.health_check",
        "envoy.ip_tagging" => "envoy.filters.http.ip_tagging",
        "envoy.lua" => "envoy.filters.http.lua",
        "envoy.rate_limit" => "envoy.filters.http.ratelimit",
        "envoy.router" => "envoy.filters.http.router",
        "envoy.squash" => "envoy.filters.http.squash",
        "envoy.listener.http_inspector" => "envoy.filters.listener.http_inspector",
        "envoy.listener.original_dst" => "envoy.filters.listener.original_dst",
        "envoy.listener.original_src" => "envoy.filters.listener.original_src",
        "envoy.listener.proxy_protocol" => "envoy.filters.listener.proxy_protocol",
        "envoy.listener.tls_inspector" => "envoy.filters.listener.tls_inspector",
        "envoy.client_ssl_auth" => "envoy.filters.network.client_ssl_auth",
        // Both the HTTP and the network ext_authz filters had this name; the map keeps one.
        "envoy.ext_authz" => "envoy.filters.http.ext_authz",
        "envoy.http_connection_manager" => HTTP_CONNECTION_MANAGER,
        "envoy.mongo_proxy" => "envoy.filters.network.mongo_proxy",
        "envoy.ratelimit" => "envoy.filters.network.ratelimit",
        "envoy.redis_proxy" => "envoy.filters.network.redis_proxy",
        "envoy.tcp_proxy" => "envoy.filters.network.tcp_proxy",
        _ => return None,
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What can be told of a patch value without Envoy's protos (`xds.BuildXDSObjectFromStruct`).
fn patch_value(cx: &mut Ctx, apply_to: ApplyTo, value: &Map<String, Value>) {
    // Every object a patch can target but the bootstrap has a string `name`.
    if apply_to != ApplyTo::Bootstrap {
        if let Some(name) = value.get("name") {
            if !name.is_string() && !name.is_null() {
                cx.error_at(
                    "name",
                    format!(
                        "Envoy filter: json: cannot unmarshal {} into Go value of type string",
                        json_kind(name)
                    ),
                );
                return;
            }
        }
    }
    let mut errors = 0;
    any_type_urls(cx, value, &mut errors);
    if errors > 0 {
        return;
    }
    let mut missing = Vec::new();
    if matches!(
        apply_to,
        ApplyTo::NetworkFilter
            | ApplyTo::HttpFilter
            | ApplyTo::ListenerFilter
            | ApplyTo::ExtensionConfig
    ) {
        filter_without_typed_config(value, &mut missing);
    }
    nested_filters_without_typed_config(value, &mut missing);
    if !missing.is_empty() {
        cx.warn(format!(
            "using deprecated types by name without typed_config; {}",
            missing.join(", ")
        ));
    }
}

/// Checks the `@type` of every embedded `Any` (the retired v2 API is unknown to istiod).
fn any_type_urls(cx: &mut Ctx, value: &Map<String, Value>, errors: &mut usize) {
    if let Some(t) = value.get("@type") {
        match t.as_str() {
            Some(url) if url.contains(".v2.") || url.contains(".v2alpha.") => {
                *errors += 1;
                cx.error_at("@type", format!(
                    "referenced type unknown (hint: try using the v3 XDS API): could not resolve Any message type: {url}"
                ));
            }
            Some(url) if !url.contains('/') => {
                *errors += 1;
                cx.error_at(
                    "@type",
                    format!("referenced type unknown: could not resolve Any message type: {url}"),
                );
            }
            Some(_) => {}
            None => {
                *errors += 1;
                cx.error_at("@type", "invalid Any: @type must be a string");
            }
        }
    }
    for (k, v) in value {
        match v {
            Value::Object(o) => cx.key(k, |cx| any_type_urls(cx, o, errors)),
            Value::Array(items) => cx.key(k, |cx| {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Object(o) = item {
                        cx.index(i, |cx| any_type_urls(cx, o, errors));
                    }
                }
            }),
            _ => {}
        }
    }
}

fn has_typed_config(o: &Map<String, Value>) -> bool {
    [
        "typed_config",
        "typedConfig",
        "config_discovery",
        "configDiscovery",
    ]
    .iter()
    .any(|k| o.get(*k).is_some_and(|v| !v.is_null()))
}

fn filter_without_typed_config(o: &Map<String, Value>, missing: &mut Vec<String>) {
    if !has_typed_config(o) {
        missing.push(
            o.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        );
    }
}

/// Filters and transport sockets nested in a listener, filter chain or cluster (not inside an
/// `Any`, which istiod does not descend into).
fn nested_filters_without_typed_config(o: &Map<String, Value>, missing: &mut Vec<String>) {
    if o.contains_key("@type") {
        return;
    }
    for (k, v) in o {
        let filter_list = matches!(
            k.as_str(),
            "filters" | "http_filters" | "httpFilters" | "listener_filters" | "listenerFilters"
        );
        let socket = matches!(k.as_str(), "transport_socket" | "transportSocket");
        match v {
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(io) = item {
                        if filter_list {
                            filter_without_typed_config(io, missing);
                        }
                        nested_filters_without_typed_config(io, missing);
                    }
                }
            }
            Value::Object(io) => {
                if socket {
                    filter_without_typed_config(io, missing);
                }
                nested_filters_without_typed_config(io, missing);
            }
            _ => {}
        }
    }
}
