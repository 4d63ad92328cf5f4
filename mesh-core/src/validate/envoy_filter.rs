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
        analyzer_findings(cx, &spec.config_patches, spec.priority);
    });
}

/// The per-object findings of `istioctl analyze`'s EnvoyFilter analyzer (IST0151..IST0155).
/// istiod admits these objects, so they are warnings here even where the analyzer says error.
/// The analyzer also tracks `proxyVersion` patches across objects; here, within the object.
fn analyzer_findings(cx: &mut Ctx, patches: &[EnvoyConfigObjectPatch], priority: i32) {
    let mut versioned_names: Vec<String> = Vec::new();
    cx.field("configPatches", |cx| {
        for (i, cp) in patches.iter().enumerate() {
            let Some(patch) = &cp.patch else { break };
            let mut instance = String::new();
            if let Some(value) = &patch.value {
                if let Some(name) = value.get("name") {
                    instance = name.as_str().map_or_else(|| name.to_string(), str::to_string);
                } else if let Some(fc) = cp
                    .match_
                    .as_ref()
                    .and_then(|m| m.listener())
                    .and_then(|l| l.filter_chain.as_ref())
                {
                    instance = fc.filter.as_ref().map(|f| f.name.clone()).unwrap_or_default();
                }
            }
            let route_class = matches!(cp.apply_to, ApplyTo::RouteConfiguration | ApplyTo::HttpRoute);
            let relative = |cx: &mut Ctx| {
                if priority == 0 {
                    if versioned_names.contains(&instance) {
                        cx.warn("IST0155 (istioctl analyze): This EnvoyFilter does not have a priority and has a relative patch operation (INSERT_BEFORE/AFTER, REPLACE, MERGE, DELETE) and proxyVersion set which can cause the EnvoyFilter not to be applied during an upgrade. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.");
                    } else {
                        cx.warn("IST0151 (istioctl analyze): This EnvoyFilter does not have a priority and has a relative patch operation set which can cause the EnvoyFilter not to be applied. Using the INSERT_FIRST or ADD option or setting the priority may help in ensuring the EnvoyFilter is applied correctly.");
                    }
                }
            };
            cx.index(i, |cx| match patch.operation {
                PatchOperation::Add if route_class => cx.warn("IST0153 (istioctl analyze): The ADD operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE."),
                PatchOperation::Remove if route_class => cx.warn("IST0154 (istioctl analyze): The REMOVE operation will be ignored when applyTo is set to ROUTE_CONFIGURATION, or HTTP_ROUTE."),
                PatchOperation::Replace
                    if !matches!(cp.apply_to, ApplyTo::NetworkFilter | ApplyTo::HttpFilter | ApplyTo::VirtualHost) =>
                {
                    cx.warn("IST0152 (istioctl analyze): The REPLACE operation is only valid for HTTP_FILTER and NETWORK_FILTER.")
                }
                PatchOperation::Remove
                | PatchOperation::Replace
                | PatchOperation::InsertBefore
                | PatchOperation::InsertAfter => relative(cx),
                _ => {}
            });
            if cp
                .match_
                .as_ref()
                .and_then(|m| m.proxy.as_ref())
                .is_some_and(|p| !p.proxy_version.is_empty())
            {
                versioned_names.push(instance);
            }
        }
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
        if let Some(ObjectTypes::Waypoint(w)) = &m.object_types
            && w.port_number > 65535
        {
            cx.field("match", |cx| {
                cx.field("waypoint", |cx| {
                    cx.error_at("portNumber", "port must be between 1-65535")
                })
            });
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
            let err = super::common::re2_error(v);
            if let Some(detail) = err {
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
        ApplyTo::RouteConfiguration | ApplyTo::VirtualHost | ApplyTo::HttpRoute
            if object_types.is_some_and(|ot| !matches!(ot, ObjectTypes::RouteConfiguration(_))) =>
        {
            cx.error_at(
                    "match",
                    "Envoy filter: applyTo for http route class objects cannot have non route configuration match",
                );
        }
        ApplyTo::Cluster
            if object_types.is_some_and(|ot| !matches!(ot, ObjectTypes::Cluster(_))) =>
        {
            cx.error_at(
                "match",
                "Envoy filter: applyTo for cluster class objects cannot have non cluster match",
            );
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
    if apply_to != ApplyTo::Bootstrap
        && let Some(name) = value.get("name")
        && !name.is_string()
        && !name.is_null()
    {
        cx.error_at(
            "name",
            format!(
                "Envoy filter: json: cannot unmarshal {} into Go value of type string",
                json_kind(name)
            ),
        );
        return;
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

#[cfg(test)]
mod tests {
    use crate::validate::test_support::expect;

    const GENERIC_WARNING: &str = "EnvoyFilter exposes internal implementation details";

    fn ef(spec: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {{name: foo, namespace: bar}}\nspec:\n{spec}"
        )
    }

    /// (name, spec, expected error, expected warning besides the generic one)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);

    #[test]
    fn istio_envoy_filter_cases() {
        let long_version = "a{100}".repeat(200);
        let long = format!(
            "  configPatches:\n  - applyTo: LISTENER\n    match: {{proxy: {{proxyVersion: '{long_version}'}}}}\n    patch: {{operation: REMOVE}}"
        );
        let cases: &[Case<'_>] = &[
            ("empty filters", "  {}", None, None),
            (
                "labels not defined in workload selector",
                "  workloadSelector: {}",
                None,
                Some(
                    "Envoy filter: workload selector specified without labels, will be applied to all services in namespace",
                ),
            ),
            (
                "invalid applyTo",
                "  configPatches:\n  - patch: {operation: REMOVE}",
                Some("Envoy filter: missing applyTo"),
                None,
            ),
            (
                "nil patch",
                "  configPatches:\n  - applyTo: LISTENER",
                Some("Envoy filter: missing patch"),
                None,
            ),
            (
                "invalid patch operation",
                "  configPatches:\n  - applyTo: LISTENER\n    patch: {}",
                Some("Envoy filter: missing patch operation"),
                None,
            ),
            (
                "nil patch value",
                "  configPatches:\n  - applyTo: LISTENER\n    patch: {operation: ADD}",
                Some("Envoy filter: missing patch value for non-remove operation"),
                None,
            ),
            (
                "match with invalid regex",
                "  configPatches:\n  - applyTo: LISTENER\n    match: {proxy: {proxyVersion: '%#@~++==`24c234`'}}\n    patch: {operation: REMOVE}",
                Some(
                    "Envoy filter: invalid regex for proxy version, [error parsing regexp: invalid nested repetition operator: `++`]",
                ),
                None,
            ),
            (
                "match with unbalanced regex",
                "  configPatches:\n  - applyTo: LISTENER\n    match: {proxy: {proxyVersion: '1\\.2('}}\n    patch: {operation: REMOVE}",
                Some("Envoy filter: invalid regex for proxy version"),
                None,
            ),
            (
                "match with valid regex",
                "  configPatches:\n  - applyTo: LISTENER\n    match: {proxy: {proxyVersion: 'release-1\\.2-23434'}}\n    patch: {operation: REMOVE}",
                None,
                None,
            ),
            (
                "match with proxy version regex too long",
                &long,
                None,
                Some(
                    "Envoy filter: proxyVersion match exceeds 1024 characters and will be ignored",
                ),
            ),
            (
                "listener with invalid match",
                "  configPatches:\n  - applyTo: LISTENER\n    match: {cluster: {}}\n    patch: {operation: REMOVE}",
                Some(
                    "Envoy filter: applyTo for listener class objects cannot have non listener match",
                ),
                None,
            ),
            (
                "listener with invalid filter match",
                "  configPatches:\n  - applyTo: NETWORK_FILTER\n    match: {listener: {filterChain: {sni: '124', filter: {}}}}\n    patch: {operation: REMOVE}",
                Some("Envoy filter: filter match has no name to match on"),
                None,
            ),
            (
                "listener with sub filter match and invalid applyTo",
                "  configPatches:\n  - applyTo: NETWORK_FILTER\n    match: {listener: {filterChain: {filter: {name: random, subFilter: {}}}}}\n    patch: {operation: REMOVE}",
                Some("Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only"),
                None,
            ),
            (
                "listener with sub filter match and invalid filter name",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {listener: {filterChain: {filter: {name: random, subFilter: {}}}}}\n    patch: {operation: REMOVE}",
                Some(
                    "Envoy filter: subfilter match requires filter match with envoy.filters.network.http_connection_manager",
                ),
                None,
            ),
            (
                "listener with sub filter match and no sub filter name",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {}}}}}\n    patch: {operation: REMOVE}",
                Some("Envoy filter: subfilter match has no name to match on"),
                None,
            ),
            (
                "route configuration with invalid match",
                "  configPatches:\n  - applyTo: VIRTUAL_HOST\n    match: {cluster: {}}\n    patch: {operation: REMOVE}",
                Some(
                    "Envoy filter: applyTo for http route class objects cannot have non route configuration match",
                ),
                None,
            ),
            (
                "cluster with invalid match",
                "  configPatches:\n  - applyTo: CLUSTER\n    match: {listener: {}}\n    patch: {operation: REMOVE}",
                Some(
                    "Envoy filter: applyTo for cluster class objects cannot have non cluster match",
                ),
                None,
            ),
            (
                "invalid patch value",
                "  configPatches:\n  - applyTo: CLUSTER\n    match: {cluster: {}}\n    patch: {operation: ADD, value: {name: false}}",
                Some("Envoy filter: json: cannot unmarshal bool into Go value of type string"),
                None,
            ),
            (
                "happy config",
                "  configPatches:\n  - applyTo: CLUSTER\n    match: {cluster: {}}\n    patch: {operation: ADD, value: {lb_policy: RING_HASH}}\n  - applyTo: NETWORK_FILTER\n    match: {listener: {filterChain: {name: envoy.tcp_proxy}}}\n    patch:\n      operation: INSERT_BEFORE\n      value: {typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz}}\n  - applyTo: NETWORK_FILTER\n    match: {listener: {filterChain: {name: envoy.tcp_proxy}}}\n    patch:\n      operation: INSERT_FIRST\n      value: {typed_config: {'@type': type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz}}",
                None,
                None,
            ),
            (
                "deprecated config",
                "  configPatches:\n  - applyTo: NETWORK_FILTER\n    match: {listener: {filterChain: {name: envoy.tcp_proxy}}}\n    patch:\n      operation: INSERT_FIRST\n      value: {typed_config: {'@type': type.googleapis.com/envoy.config.filter.network.ext_authz.v2.ExtAuthz}}",
                Some("referenced type unknown (hint: try using the v3 XDS API)"),
                None,
            ),
            (
                "deprecated type",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {listener: {filterChain: {filter: {name: envoy.http_connection_manager}}}}\n    patch: {operation: INSERT_FIRST, value: {}}",
                None,
                Some(
                    "using deprecated filter name \"envoy.http_connection_manager\"; use \"envoy.filters.network.http_connection_manager\" instead",
                ),
            ),
            (
                "duration marshal",
                "  configPatches:\n  - applyTo: CLUSTER\n    patch: {operation: ADD, value: {dns_refresh_rate: 500ms}}",
                None,
                None,
            ),
            // Further branches of the same rules, and the CRD's.
            (
                "filter match on a listener patch",
                "  configPatches:\n  - applyTo: FILTER_CHAIN\n    match: {listener: {filterChain: {filter: {name: envoy.filters.network.tcp_proxy}}}}\n    patch: {operation: REMOVE}",
                None,
                Some("Envoy filter: filter match has no effect when used with FILTER_CHAIN"),
            ),
            (
                "deprecated sub filter name",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {name: envoy.router}}}}}\n    patch: {operation: REMOVE}",
                None,
                Some("using deprecated filter name \"envoy.router\""),
            ),
            (
                "http filter without typed_config",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    patch: {operation: INSERT_FIRST, value: {name: envoy.filters.http.lua}}",
                None,
                Some("using deprecated types by name without typed_config; envoy.filters.http.lua"),
            ),
            (
                "http filter with config discovery",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    patch: {operation: INSERT_FIRST, value: {name: x, config_discovery: {type_urls: [a/b]}}}",
                None,
                None,
            ),
            (
                "listener with nested filter without typed_config",
                "  configPatches:\n  - applyTo: LISTENER\n    patch:\n      operation: ADD\n      value: {name: l, filter_chains: [{filters: [{name: envoy.filters.network.tcp_proxy}]}]}",
                None,
                Some(
                    "using deprecated types by name without typed_config; envoy.filters.network.tcp_proxy",
                ),
            ),
            (
                "route match on route patch",
                "  configPatches:\n  - applyTo: HTTP_ROUTE\n    match: {routeConfiguration: {vhost: {name: 'a:80', route: {action: ROUTE}}}}\n    patch: {operation: MERGE, value: {timeout: 5s}}",
                None,
                None,
            ),
            (
                "any type without slash",
                "  configPatches:\n  - applyTo: CLUSTER\n    patch: {operation: ADD, value: {name: c, transport_socket: {name: tls, typed_config: {'@type': nonsense}}}}",
                Some("referenced type unknown: could not resolve Any message type: nonsense"),
                None,
            ),
            (
                "any type not a string",
                "  configPatches:\n  - applyTo: CLUSTER\n    patch: {operation: ADD, value: {name: c, transport_socket: {name: tls, typed_config: {'@type': 3}}}}",
                Some("@type must be a string"),
                None,
            ),
            (
                "bootstrap patch",
                "  configPatches:\n  - applyTo: BOOTSTRAP\n    patch: {operation: MERGE, value: {stats_flush_interval: 5s}}",
                None,
                None,
            ),
            (
                "waypoint patch skips the rest",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {context: WAYPOINT, waypoint: {filter: {name: envoy.filters.network.http_connection_manager}}}\n    patch: {operation: REMOVE}",
                None,
                None,
            ),
            (
                "waypoint match without waypoint context",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {context: SIDECAR_INBOUND, waypoint: {}}\n    patch: {operation: REMOVE}",
                Some("only support waypointMatch when context is WAYPOINT"),
                None,
            ),
            (
                "waypoint match without context",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {waypoint: {}}\n    patch: {operation: REMOVE}",
                Some("only support waypointMatch when context is WAYPOINT"),
                None,
            ),
            (
                "waypoint context with listener match",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {context: WAYPOINT, listener: {}}\n    patch: {operation: REMOVE}",
                Some("only support waypointMatch when context is WAYPOINT"),
                None,
            ),
            (
                "waypoint port out of range",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {context: WAYPOINT, waypoint: {portNumber: 65536}}\n    patch: {operation: REMOVE}",
                Some("port must be between 1-65535"),
                None,
            ),
            (
                "selector and targetRefs",
                "  workloadSelector: {labels: {app: a}}\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]",
                Some("only one of targetRefs or workloadSelector can be set"),
                None,
            ),
            (
                "targetRefs",
                "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]",
                None,
                None,
            ),
            (
                "targetRef other namespace",
                "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw, namespace: other}]",
                Some("cross namespace referencing is not currently supported"),
                None,
            ),
            (
                "targetRef without name",
                "  targetRefs: [{kind: Service}]",
                Some("Required value"),
                None,
            ),
            (
                "selector wildcard",
                "  workloadSelector: {labels: {app: '*'}}",
                Some("wildcard is not supported in selector"),
                None,
            ),
            (
                "selector empty key",
                "  workloadSelector: {labels: {'': a}}",
                Some("empty key is not supported in selector"),
                None,
            ),
        ];
        for (name, spec, err, warn) in cases {
            let r = expect(name, &ef(spec), *err);
            assert!(r.has_warning(GENERIC_WARNING), "case {name:?}");
            let others: Vec<&str> = r
                .warnings
                .iter()
                .map(|w| w.message.as_str())
                .filter(|m| !m.contains(GENERIC_WARNING) && !m.contains("(istioctl analyze)"))
                .collect();
            match warn {
                None => assert!(others.is_empty(), "case {name:?}: {others:?}"),
                Some(w) => assert!(
                    others.iter().any(|m| m.contains(w)),
                    "case {name:?}: {others:?}"
                ),
            }
        }
    }

    #[test]
    fn analyzer_findings() {
        // (name, spec, expected analyzer code or none)
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "add to route configuration",
                "  configPatches:\n  - applyTo: ROUTE_CONFIGURATION\n    patch: {operation: ADD, value: {name: r}}",
                Some("IST0153"),
            ),
            (
                "add to http route",
                "  configPatches:\n  - applyTo: HTTP_ROUTE\n    patch: {operation: ADD, value: {name: r}}",
                Some("IST0153"),
            ),
            (
                "remove http route",
                "  configPatches:\n  - applyTo: HTTP_ROUTE\n    patch: {operation: REMOVE}",
                Some("IST0154"),
            ),
            (
                "replace cluster",
                "  configPatches:\n  - applyTo: CLUSTER\n    patch: {operation: REPLACE, value: {name: c}}",
                Some("IST0152"),
            ),
            (
                "replace http filter without priority",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    patch: {operation: REPLACE, value: {name: f, typed_config: {'@type': type.googleapis.com/x}}}",
                Some("IST0151"),
            ),
            (
                "insert before without priority",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    patch: {operation: INSERT_BEFORE, value: {name: f, typed_config: {'@type': type.googleapis.com/x}}}",
                Some("IST0151"),
            ),
            (
                "insert after with priority",
                "  priority: 10\n  configPatches:\n  - applyTo: HTTP_FILTER\n    patch: {operation: INSERT_AFTER, value: {name: f, typed_config: {'@type': type.googleapis.com/x}}}",
                None,
            ),
            (
                "insert first",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    patch: {operation: INSERT_FIRST, value: {name: f, typed_config: {'@type': type.googleapis.com/x}}}",
                None,
            ),
            (
                "relative after a versioned patch of the same filter",
                "  configPatches:\n  - applyTo: HTTP_FILTER\n    match: {proxy: {proxyVersion: '^1\\.2.*'}}\n    patch: {operation: INSERT_FIRST, value: {name: f, typed_config: {'@type': type.googleapis.com/x}}}\n  - applyTo: HTTP_FILTER\n    patch: {operation: INSERT_BEFORE, value: {name: f, typed_config: {'@type': type.googleapis.com/x}}}",
                Some("IST0155"),
            ),
        ];
        for (name, spec, code) in cases {
            let r = expect(name, &ef(spec), None);
            let found: Vec<&str> = r
                .warnings
                .iter()
                .map(|w| w.message.as_str())
                .filter(|m| m.contains("(istioctl analyze)"))
                .collect();
            match code {
                None => assert!(found.is_empty(), "case {name:?}: {found:?}"),
                Some(c) => assert!(
                    found.iter().any(|m| m.starts_with(c)),
                    "case {name:?}: {found:?}"
                ),
            }
        }
    }

    #[test]
    fn go_regex_nested_repetitions() {
        use crate::validate::common::go_nested_repetition as n;
        assert_eq!(n("a**").as_deref(), Some("**"));
        assert_eq!(n("%#@~++==`24c234`").as_deref(), Some("++"));
        assert_eq!(n("a+?+").as_deref(), Some("+?+"));
        assert_eq!(n("a{2}*").as_deref(), Some("{2}*"));
        for ok in [
            "a+?",
            "[*+]+",
            "\\++",
            "^1\\.2.*",
            "a{x}*",
            "(a+)+",
            "a{2,}b{1,3}?",
        ] {
            assert_eq!(n(ok), None, "{ok}");
        }
    }

    #[test]
    fn paths() {
        let r = expect(
            "paths",
            &ef(
                "  configPatches:\n  - applyTo: CLUSTER\n    patch: {operation: REMOVE}\n  - applyTo: HTTP_FILTER\n    match: {listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager, subFilter: {}}}}}\n    patch: {operation: REMOVE}\n  - applyTo: CLUSTER\n    patch: {operation: MERGE}",
            ),
            Some("subfilter match has no name"),
        );
        let paths: Vec<String> = r.errors.iter().map(|e| e.path.to_string()).collect();
        assert_eq!(
            paths,
            [
                "spec.configPatches[1].match.listener.filterChain.filter.subFilter.name",
                "spec.configPatches[2].patch.value"
            ]
        );
        let r = expect(
            "value path",
            &ef(
                "  configPatches:\n  - applyTo: CLUSTER\n    patch: {operation: ADD, value: {name: c, transport_socket: {typed_config: {'@type': type.googleapis.com/envoy.api.v2.auth.UpstreamTlsContext}}}}",
            ),
            Some("v3 XDS API"),
        );
        assert_eq!(
            r.errors[0].path.to_string(),
            "spec.configPatches[0].patch.value.transport_socket.typed_config.@type"
        );
    }
}
