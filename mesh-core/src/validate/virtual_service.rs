//! VirtualService rules: Istio's `ValidateVirtualService` (`pkg/config/validation/validation.go`
//! and `virtualservice.go`, `ValidateHTTPRetry` of `agent/validation.go`) and the CRD schema's
//! constraints (durations of at least 1ms, required fields, enums and integer ranges are
//! enforced by the types and the webhook rules below).

use std::collections::BTreeMap;

use super::Ctx;
use super::common;
use crate::api::VirtualService;
use crate::api::networking::{
    AbortError, CorsPolicy, DelayType, Destination, HeaderOperations, Headers, HttpBody,
    HttpDirectResponse, HttpFaultInjection, HttpMatchRequest, HttpMirrorPolicy, HttpRedirect,
    HttpRetry, HttpRewrite, HttpRoute, HttpRouteDestination, L4MatchAttributes, RedirectPort,
    RouteDestination, StringMatch, TcpRoute, TlsMatchAttributes, TlsRoute, VirtualServiceSpec,
};

/// The name of the mesh-internal "gateway" (all sidecars).
const MESH_GATEWAY: &str = "mesh";
/// Annotation set on VirtualServices generated from the Gateway API.
const ROUTE_SEMANTICS_ANNOTATION: &str = "internal.istio.io/route-semantics";
const KB: usize = 1024;
const MB: usize = 1024 * KB;

pub(super) fn validate(obj: &VirtualService, cx: &mut Ctx) {
    let vs = &obj.spec;
    let namespace = if obj.metadata.namespace.is_empty() {
        "default"
    } else {
        obj.metadata.namespace.as_str()
    };
    let gateway_semantics = obj
        .metadata
        .annotations
        .get(ROUTE_SEMANTICS_ANNOTATION)
        .is_some_and(|v| v == "gateway");
    cx.field("spec", |cx| spec(cx, vs, namespace, gateway_semantics));
}

fn spec(cx: &mut Ctx, vs: &VirtualServiceSpec, namespace: &str, gateway_semantics: bool) {
    let is_delegate = vs.hosts.is_empty();
    if is_delegate {
        // A VirtualService without hosts can only be a delegate.
        if !vs.gateways.is_empty() {
            cx.error_at(
                "gateways",
                "delegate virtual service must have no gateways specified",
            );
        }
        if !vs.tls.is_empty() {
            cx.error_at(
                "tls",
                "delegate virtual service must have no tls route specified",
            );
        }
        if !vs.tcp.is_empty() {
            cx.error_at(
                "tcp",
                "delegate virtual service must have no tcp route specified",
            );
        }
    }

    let applies_to_gateway = !vs.gateways.is_empty() && is_gateway(vs);
    let applies_to_mesh = !applies_to_gateway;
    if !vs.gateways.is_empty() {
        gateway_names(cx, "gateways", &vs.gateways, gateway_semantics);
    }

    if !applies_to_gateway {
        cx.each("http", &vs.http, |cx, route| {
            cx.each("match", &route.r#match, |cx, m| {
                jwt_claim_routes(cx, "headers", &m.headers, &vs.gateways);
                jwt_claim_routes(cx, "withoutHeaders", &m.without_headers, &vs.gateways);
            });
        });
    }

    let mut all_hosts_valid = true;
    let sni = is_sni_host(vs);
    cx.each("hosts", &vs.hosts, |cx, host| {
        let res = if applies_to_gateway {
            wildcard_domain_for_gateway_vs(sni, host)
        } else {
            common::wildcard_domain(host)
        };
        match res {
            Err(e) => {
                if !common::is_ip(host) {
                    cx.error(e);
                    all_hosts_valid = false;
                }
            }
            Ok(()) if applies_to_mesh && host == "*" => {
                cx.error(
                    "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                );
                all_hosts_valid = false;
            }
            Ok(()) => {}
        }
    });

    // Duplicates include wildcard overlaps: `*.foo.com` and `*.com` collide.
    if all_hosts_valid {
        cx.field("hosts", |cx| {
            for (i, a) in vs.hosts.iter().enumerate() {
                for (j, b) in vs.hosts.iter().enumerate().skip(i + 1) {
                    if host_matches(a, b) {
                        cx.index(j, |cx| {
                            cx.error(format!("duplicate hosts in virtual service: {a} & {b}"))
                        });
                    }
                }
            }
        });
    }

    if vs.http.is_empty() && vs.tcp.is_empty() && vs.tls.is_empty() {
        cx.error("http, tcp or tls must be provided in virtual service");
    }
    cx.each("http", &vs.http, |cx, route| {
        http_route(cx, route, is_delegate, gateway_semantics)
    });
    cx.each("tls", &vs.tls, |cx, route| {
        tls_route(cx, route, vs, gateway_semantics)
    });
    cx.each("tcp", &vs.tcp, |cx, route| {
        tcp_route(cx, route, gateway_semantics)
    });

    common::export_to(cx, namespace, &vs.export_to, false, false);

    unreachable_http_rules(cx, &vs.http);
    unreachable_l4_rules(cx, "tcp", &vs.tcp, |r: &TcpRoute| &r.r#match);
    unreachable_l4_rules(cx, "tls", &vs.tls, |r: &TlsRoute| &r.r#match);
}

/// `isGateway`: the rules apply to gateways only when `mesh` is not among them.
fn is_gateway(vs: &VirtualServiceSpec) -> bool {
    !vs.gateways.iter().any(|g| g == MESH_GATEWAY)
}

/// `isSniHost`: some TLS match names SNI hosts.
fn is_sni_host(vs: &VirtualServiceSpec) -> bool {
    vs.tls
        .iter()
        .any(|t| t.r#match.iter().any(|m| !m.sni_hosts.is_empty()))
}

fn jwt_claim_routes(
    cx: &mut Ctx,
    field: &str,
    headers: &BTreeMap<String, StringMatch>,
    gateways: &[String],
) {
    for key in headers.keys() {
        if common::is_jwt_claim_route(key) {
            cx.field(field, |cx| {
                cx.key(key, |cx| {
                    cx.error(format!(
                        "JWT claim based routing (key: {key}) is only supported for gateway, found no gateways: [{}]",
                        gateways.join(" ")
                    ))
                })
            });
        }
    }
}

/// `host.Name.Matches`: equal, or overlapping through a leading wildcard.
fn host_matches(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => {
            if a.len() < b.len() {
                sb.ends_with(sa)
            } else {
                sa.ends_with(sb)
            }
        }
        (Some(sa), None) => b.ends_with(sa),
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// `host.Name.SubsetOf`: `a` is covered by `b`.
fn host_subset_of(a: &str, b: &str) -> bool {
    match (a.strip_prefix('*'), b.strip_prefix('*')) {
        (Some(sa), Some(sb)) => a.len() >= b.len() && sa.ends_with(sb),
        (Some(_), None) => false,
        (None, Some(sb)) => a.ends_with(sb),
        (None, None) => a == b,
    }
}

/// `ValidateWildcardDomainForVirtualServiceBoundToGateway`: also accepts the SNI names Envoy
/// generates for `AUTO_PASSTHROUGH` (`outbound_.<PORT>_._.<HOSTNAME>`).
fn wildcard_domain_for_gateway_vs(sni: bool, domain: &str) -> common::Rule {
    common::dns1123_preconditions(domain)?;
    if sni && domain.starts_with("outbound_") {
        const FORMAT: &str = "outbound_.<PORT>_._.<HOSTNAME>";
        let parts: Vec<&str> = domain.split('_').collect();
        if parts.len() < 4 {
            return Err(format!(
                "domain name {domain} invalid, should follow '{FORMAT}' format"
            ));
        }
        let port = parts[1].trim_matches('.');
        let hostname = parts[3].trim_matches('.');
        if parts[0] != "outbound" {
            return Err(format!(
                "domain name {domain:?} invalid (label {:?} invalid)",
                parts[0]
            ));
        }
        if !port.bytes().any(|b| b.is_ascii_digit()) {
            return Err(format!(
                "domain name {domain:?} invalid (label {port:?} invalid). should follow {FORMAT} format"
            ));
        }
        if !hostname.bytes().any(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "domain name {domain:?} invalid (label {hostname:?} invalid). should follow {FORMAT} format"
            ));
        }
        return Ok(());
    }
    common::wildcard_domain(domain)
}

/// `labels.IsDNS1123Label`: like a DNS-1123 label, but upper case is tolerated.
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `qualifiedNameFmt`: alphanumeric at both ends, `[-A-Za-z0-9_.]` inside.
fn is_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// `labels.Instance.Validate` for `sourceLabels`.
fn source_labels(cx: &mut Ctx, labels: &BTreeMap<String, String>) {
    if labels.is_empty() {
        return;
    }
    cx.field("sourceLabels", |cx| {
        for (k, v) in labels {
            cx.key(k, |cx| {
                let (prefix, name) = match k.split_once('/') {
                    Some((p, n)) => (Some(p), n),
                    None => (None, k.as_str()),
                };
                let prefix_ok = prefix.is_none_or(|p| {
                    p.split('.').all(|l| {
                        !l.is_empty()
                            && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                            && !l.starts_with('-')
                            && !l.ends_with('-')
                    })
                });
                if !prefix_ok || !is_qualified_name(name) {
                    cx.error(format!("invalid tag key: {k:?}"));
                } else if prefix.is_some_and(|p| p.len() > 253) {
                    cx.error(format!("invalid tag key: {k:?} (DNS prefix is too long)"));
                } else if name.len() > 63 {
                    cx.error(format!("invalid tag key: {k:?} (name is too long)"));
                }
                if !v.is_empty() && !is_qualified_name(v) {
                    cx.error(format!("invalid tag value: {v:?}"));
                }
            });
        }
    });
}

/// `validateGatewayNames`.
fn gateway_names(cx: &mut Ctx, field: &str, names: &[String], gateway_semantics: bool) {
    cx.field(field, |cx| {
        for (i, name) in names.iter().enumerate() {
            let stop = cx.index(i, |cx| {
                let Some((ns, gw)) = name.split_once('/') else {
                    if name.contains('.') {
                        // Legacy `name.namespace` form.
                        let mut parts = name.split('.');
                        let first = parts.next().unwrap_or_default();
                        let second = parts.next().unwrap_or_default();
                        cx.warn(format!(
                            "using legacy gatewayName format {name:?}; prefer the <namespace>/<name> format: \"{second}/{first}\""
                        ));
                    }
                    cx.check(common::fqdn(name));
                    // Istio stops at the first name without a namespace.
                    return true;
                };
                if ns.is_empty() || gw.is_empty() {
                    cx.error("config namespace and gateway name cannot be empty");
                }
                if !is_label(ns) {
                    cx.error(format!("invalid value for namespace: {ns:?}"));
                }
                if !is_label(gw) && !gateway_semantics {
                    cx.error(format!("invalid value for gateway name: {gw:?}"));
                }
                false
            });
            if stop {
                break;
            }
        }
    });
}

// ---- HTTP routes ----

#[derive(PartialEq, Eq)]
enum RouteType {
    Independent,
    Root,
    Delegate,
}

/// `validateHTTPRoute`.
fn http_route(cx: &mut Ctx, http: &HttpRoute, delegate: bool, gateway_semantics: bool) {
    let route_type = if delegate {
        RouteType::Delegate
    } else if http.delegate.is_some() {
        RouteType::Root
    } else {
        RouteType::Independent
    };
    http_route_conflict(cx, http, route_type);

    cx.each("match", &http.r#match, match_request);

    if let Some(h) = &http.headers {
        header_operations(cx, h);
    }

    if let Some(cors) = &http.cors_policy {
        cx.field("corsPolicy", |cx| cors_policy(cx, cors));
    }
    if let Some(fault) = &http.fault {
        cx.field("fault", |cx| fault_injection(cx, fault));
    }

    if let Some(value) = http.mirror_percent {
        cx.field("mirrorPercent", |cx| {
            if value > 100 {
                cx.error(format!(
                    "mirror_percent must have a max value of 100 (it has {value})"
                ));
            }
            cx.warn(r#"using deprecated setting "mirrorPercent", use "mirrorPercentage" instead"#);
        });
    }
    if let Some(p) = &http.mirror_percentage {
        cx.field("mirrorPercentage", |cx| {
            let value = p.value;
            if value > 100.0 {
                cx.error(format!(
                    "mirror_percentage must have a max value of 100 (it has {value:.6})"
                ));
            }
            if value < 0.0 {
                cx.error(format!(
                    "mirror_percentage must have a min value of 0 (it has {value:.6})"
                ));
            }
        });
    }

    if let Some(m) = &http.mirror {
        cx.field("mirror", |cx| destination(cx, m));
    }
    cx.each("mirrors", &http.mirrors, mirror_policy);
    if let Some(r) = &http.redirect {
        cx.field("redirect", |cx| cx.check(redirect(r, &http.r#match)));
    }
    if let Some(d) = &http.direct_response {
        cx.field("directResponse", |cx| direct_response(cx, d));
    }
    if let Some(r) = &http.retries {
        cx.field("retries", |cx| retry(cx, r));
    }
    if let Some(r) = &http.rewrite {
        cx.field("rewrite", |cx| cx.check(rewrite(r)));
    }
    cx.check(authority_rewrite(
        http.rewrite.as_ref(),
        http.headers.as_ref(),
    ));
    http_route_destinations(cx, &http.route, gateway_semantics);
    if let Some(t) = &http.timeout {
        cx.check_at("timeout", common::duration(t));
    }
}

/// `validateHTTPRouteConflict`.
fn http_route_conflict(cx: &mut Ctx, http: &HttpRoute, route_type: RouteType) {
    let name = &http.name;
    if route_type == RouteType::Root {
        // A root route may only delegate.
        if http.redirect.is_some() {
            cx.error_at(
                "redirect",
                format!("root HTTP route {name} must not specify redirect"),
            );
        }
        if !http.route.is_empty() {
            cx.error_at(
                "route",
                format!("root HTTP route {name} must not specify route"),
            );
        }
        return;
    }
    if route_type == RouteType::Delegate && http.delegate.is_some() {
        cx.error_at("delegate", "delegate HTTP route cannot contain delegate");
    }

    if http.redirect.is_some() {
        if !http.route.is_empty() {
            cx.error_at("route", "HTTP route cannot contain both route and redirect");
        }
        if http.fault.is_some() {
            cx.error_at("fault", "HTTP route cannot contain both fault and redirect");
        }
        if http.rewrite.is_some() {
            cx.error_at(
                "rewrite",
                "HTTP route rule cannot contain both rewrite and redirect",
            );
        }
        if http.direct_response.is_some() {
            cx.error_at(
                "directResponse",
                "HTTP route rule cannot contain both direct_response and redirect",
            );
        }
    } else if http.direct_response.is_some() {
        if !http.route.is_empty() {
            cx.error_at(
                "route",
                "HTTP route cannot contain both route and direct_response",
            );
        }
        if http.fault.is_some() {
            cx.error_at(
                "fault",
                "HTTP route cannot contain both fault and direct_response",
            );
        }
        if http.rewrite.is_some() {
            cx.error_at(
                "rewrite",
                "HTTP route rule cannot contain both rewrite and direct_response",
            );
        }
    } else if http.route.is_empty() {
        cx.error("HTTP route, redirect or direct_response is required");
    }

    if http.mirror.is_some() && !http.mirrors.is_empty() {
        cx.error_at(
            "mirrors",
            "HTTP route cannot contain both mirror and mirrors",
        );
    }
}

/// `validateHTTPRouteMatchRequest`, for one match.
fn match_request(cx: &mut Ctx, m: &HttpMatchRequest) {
    cx.field("headers", |cx| {
        for (name, sm) in &m.headers {
            cx.key(name, |cx| {
                cx.check(common::header_name_or_jwt_claim_route(name));
                cx.check(string_match(sm, "headers"));
            });
        }
    });
    cx.field("withoutHeaders", |cx| {
        for (name, sm) in &m.without_headers {
            cx.key(name, |cx| {
                cx.check(common::header_name_or_jwt_claim_route(name));
                // `*` is not a regex: it means "header present".
                if *sm != StringMatch::Regex("*".into()) {
                    cx.check(string_match(sm, "withoutHeaders"));
                }
            });
        }
    });
    // An empty URI prefix is allowed (Envoy's path prefix); other matchers need a value.
    if let Some(uri) = &m.uri {
        cx.check_at("uri", string_match_regexp(uri, "uri"));
    }
    for (field, sm) in [
        ("scheme", &m.scheme),
        ("method", &m.method),
        ("authority", &m.authority),
    ] {
        if let Some(sm) = sm {
            cx.check_at(field, string_match(sm, field));
        }
    }
    cx.field("queryParams", |cx| {
        for (name, sm) in &m.query_params {
            cx.key(name, |cx| cx.check(string_match(sm, "queryParams")));
        }
    });

    if m.port != 0 {
        cx.check_at("port", common::port(i64::from(m.port)));
    }
    source_labels(cx, &m.source_labels);
    gateway_names(cx, "gateways", &m.gateways, false);
    if !m.source_namespace.is_empty() && !is_label(&m.source_namespace) {
        cx.error_at(
            "sourceNamespace",
            format!("sourceNamespace match {} is invalid", m.source_namespace),
        );
    }
}

/// Header changes of a route or a destination.
fn header_operations(cx: &mut Ctx, headers: &Headers) {
    cx.field("headers", |cx| {
        if let Some(req) = &headers.request {
            cx.field("request", |cx| {
                ops(cx, req, common::header_with_authority_operation_name)
            });
        }
        if let Some(resp) = &headers.response {
            cx.field("response", |cx| {
                ops(cx, resp, common::header_operation_name)
            });
        }
    });

    fn ops(cx: &mut Ctx, o: &HeaderOperations, set_name: fn(&str) -> common::Rule) {
        for (field, map) in [("add", &o.add), ("set", &o.set)] {
            cx.field(field, |cx| {
                for (name, value) in map {
                    cx.key(name, |cx| {
                        cx.check(set_name(name));
                        cx.check(common::header_value(value));
                    });
                }
            });
        }
        cx.each("remove", &o.remove, |cx, name| {
            cx.check(common::header_operation_name(name))
        });
    }
}

/// `validateAuthorityRewrite`: the authority may be rewritten in one place only.
fn authority_rewrite(rewrite: Option<&HttpRewrite>, headers: Option<&Headers>) -> common::Rule {
    let mut current = rewrite.map(|r| r.authority.as_str()).unwrap_or_default();
    let Some(req) = headers.and_then(|h| h.request.as_ref()) else {
        return Ok(());
    };
    for map in [&req.set, &req.add] {
        for (k, v) in map {
            if !k.eq_ignore_ascii_case(":authority") && !k.eq_ignore_ascii_case("host") {
                continue;
            }
            if !current.is_empty() {
                return Err(format!(
                    "authority header cannot be set multiple times: have {current:?}, attempting to set {v:?}"
                ));
            }
            current = v;
        }
    }
    Ok(())
}

/// `validateStringMatch`: prefixes must not be empty, regexes must compile.
fn string_match(sm: &StringMatch, what: &str) -> common::Rule {
    match sm {
        StringMatch::Prefix(p) if p.is_empty() => {
            Err(format!("{what:?}: prefix string match should not be empty"))
        }
        StringMatch::Regex(_) => string_match_regexp(sm, what),
        _ => Ok(()),
    }
}

/// `validateStringMatchRegexp`: only the regex form is checked.
fn string_match_regexp(sm: &StringMatch, what: &str) -> common::Rule {
    let StringMatch::Regex(re) = sm else {
        return Ok(());
    };
    if re.is_empty() {
        return Err(format!("{what:?}: regex string match should not be empty"));
    }
    string_regexp(re, what)
}

/// `validateStringRegexp`: at most 1024 characters (Envoy's RE2 program size, approximated),
/// RE2 syntax.
fn string_regexp(re: &str, what: &str) -> common::Rule {
    if re.len() > 1024 {
        return Err(format!(
            "{what:?}: regex is too large, max length allowed is 1024"
        ));
    }
    match regex::Regex::new(re) {
        Ok(_) => Ok(()),
        Err(e) => {
            let msg = e.to_string();
            let detail = msg
                .lines()
                .map(str::trim)
                .rfind(|l| !l.is_empty())
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            Err(format!(
                "{what:?}: error parsing regexp: {detail}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
            ))
        }
    }
}

/// The methods `corsPolicy.allowMethods` accepts (Go's `net/http` method names and `*`).
const CORS_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*",
];

/// `validateCORSPolicy`.
fn cors_policy(cx: &mut Ctx, policy: &CorsPolicy) {
    cx.each("allowOrigins", &policy.allow_origins, |cx, origin| {
        if origin.value().is_empty() {
            cx.error("'' is not a valid match type for CORS allow origins");
        } else {
            cx.check(string_match_regexp(origin, "corsPolicy.allowOrigins"));
        }
    });
    cx.each("allowMethods", &policy.allow_methods, |cx, m| {
        if !CORS_METHODS.contains(&m.as_str()) {
            cx.error(format!("{m:?} is not a supported HTTP method"));
        }
    });
    cx.each("allowHeaders", &policy.allow_headers, |cx, h| {
        cx.check(common::cors_header_name(h))
    });
    cx.each("exposeHeaders", &policy.expose_headers, |cx, h| {
        cx.check(common::cors_header_name(h))
    });
    if let Some(max_age) = &policy.max_age {
        cx.field("maxAge", |cx| {
            cx.check(common::duration(max_age));
            if max_age.subsec_nanos() > 0 {
                cx.error("max_age duration is accurate only to seconds precision");
            }
        });
    }
}

/// `validateHTTPStatus`.
fn http_status(status: i64) -> common::Rule {
    if !(200..=600).contains(&status) {
        return Err(format!("HTTP status {status} is not in range 200-599"));
    }
    Ok(())
}

/// gRPC status names Istio can inject (`grpc.SupportedGRPCStatus`).
const GRPC_STATUS: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// `validateHTTPFaultInjection`.
fn fault_injection(cx: &mut Ctx, fault: &HttpFaultInjection) {
    if fault.abort.is_none() && fault.delay.is_none() {
        cx.error("HTTP fault injection must have an abort and/or a delay");
    }
    if let Some(abort) = &fault.abort {
        cx.field("abort", |cx| {
            if let Some(p) = &abort.percentage {
                cx.check_at("percentage", common::percentage(p.value));
            }
            match &abort.error_type {
                Some(AbortError::GrpcStatus(s)) => {
                    if !GRPC_STATUS.contains(&s.as_str()) {
                        cx.error_at("grpcStatus", format!(
                            "gRPC status {s:?} is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'"
                        ));
                    }
                }
                Some(AbortError::Http2Error(_)) => cx.error_at(
                    "http2Error",
                    "HTTP/2 abort fault injection not supported yet",
                ),
                Some(AbortError::HttpStatus(s)) => {
                    cx.check_at("httpStatus", http_status(i64::from(*s)))
                }
                None => cx.warn("abort configured, but error type not set"),
            }
        });
    }
    if let Some(delay) = &fault.delay {
        cx.field("delay", |cx| {
            if let Some(p) = &delay.percentage {
                cx.check_at("percentage", common::percentage(p.value));
            }
            match &delay.http_delay_type {
                Some(DelayType::FixedDelay(d)) => cx.check_at("fixedDelay", common::duration(d)),
                Some(DelayType::ExponentialDelay(d)) => cx.field("exponentialDelay", |cx| {
                    cx.check(common::duration(d));
                    cx.error("exponentialDelay not supported yet");
                }),
                None => {}
            }
        });
    }
}

/// `validateDestination`.
fn destination(cx: &mut Ctx, d: &Destination) {
    if d.host == "*" {
        cx.error_at("host", format!("invalid destination host {}", d.host));
    } else {
        cx.check_at("host", common::wildcard_domain(&d.host));
    }
    if !d.subset.is_empty() && !is_label(&d.subset) {
        cx.error_at("subset", format!("subset name is invalid: {}", d.subset));
    }
    if let Some(p) = &d.port {
        cx.field("port", |cx| {
            cx.check_at("number", common::port(i64::from(p.number)))
        });
    }
}

/// `validateHTTPRedirect`: the first problem only, as Istio reports it.
fn redirect(r: &HttpRedirect, matches: &[HttpMatchRequest]) -> common::Rule {
    if !r.uri.is_empty() && !r.prefix_rewrite.is_empty() {
        return Err("redirect may only specify one of uri or prefix_rewrite".into());
    }
    if !r.prefix_rewrite.is_empty()
        && matches.iter().any(|m| {
            m.uri
                .as_ref()
                .is_some_and(|u| !matches!(u, StringMatch::Prefix(_)))
        })
    {
        return Err(
            "redirect prefix_rewrite requires all URI matches to use prefix match type".into(),
        );
    }
    if r.uri.is_empty()
        && r.prefix_rewrite.is_empty()
        && r.authority.is_empty()
        && r.redirect_port.is_none()
        && r.scheme.is_empty()
    {
        return Err("redirect must specify URI, authority, scheme, or port".into());
    }
    if r.redirect_code != 0 && !(300..=399).contains(&r.redirect_code) {
        return Err(format!(
            "{} is not a valid redirect code, must be 3xx",
            r.redirect_code
        ));
    }
    if !r.scheme.is_empty() && r.scheme != "http" && r.scheme != "https" {
        return Err(r#"invalid redirect scheme, must be "http" or "https""#.into());
    }
    if let Some(RedirectPort::Port(p)) = r.redirect_port {
        if p > 0 {
            common::port(i64::from(p))?;
        }
    }
    Ok(())
}

/// The decoded size of a base64 text.
fn base64_decoded_len(s: &str) -> usize {
    let data = s.trim_end_matches('=').len();
    data * 3 / 4
}

/// `validateHTTPDirectResponse`.
fn direct_response(cx: &mut Ctx, d: &HttpDirectResponse) {
    if let Some(body) = &d.body {
        let size = match body {
            HttpBody::Unset => 0,
            HttpBody::String(s) => s.len(),
            HttpBody::Bytes(b) => base64_decoded_len(b),
        };
        if size > MB {
            cx.error_at(
                "body",
                "large direct_responses may impact control plane performance, must be less than 1MB",
            );
        } else if size > 100 * KB {
            cx.warn_at(
                "body",
                "large direct_responses may impact control plane performance",
            );
        }
    }
    cx.check_at("status", http_status(i64::from(d.status)));
}

/// `validateHTTPMirrors`, for one mirror.
fn mirror_policy(cx: &mut Ctx, m: &HttpMirrorPolicy) {
    let Some(d) = &m.destination else {
        cx.error("destination is required for mirrors");
        return;
    };
    cx.field("destination", |cx| destination(cx, d));
    if let Some(p) = &m.percentage {
        cx.field("percentage", |cx| {
            let value = p.value;
            if value > 100.0 {
                cx.error(format!(
                    "mirror percentage must have a max value of 100 (it has {value:.6})"
                ));
            }
            if value < 0.0 {
                cx.error(format!(
                    "mirror percentage must have a min value of 0 (it has {value:.6})"
                ));
            }
        });
    }
}

/// HTTP status codes Go's `net/http` knows (`StatusText` is not empty).
fn is_known_http_status(code: i64) -> bool {
    matches!(
        code,
        100..=103
            | 200..=208
            | 226
            | 300..=305
            | 307
            | 308
            | 400..=418
            | 421..=426
            | 428
            | 429
            | 431
            | 451
            | 500..=508
            | 510
            | 511
    )
}

/// `retryOn` policies Envoy supports (`x-envoy-retry-on` and `x-envoy-retry-grpc-on`).
const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// `ValidateHTTPRetry`.
fn retry(cx: &mut Ctx, r: &HttpRetry) {
    if r.attempts < 0 {
        cx.error_at("attempts", "attempts cannot be negative");
    }
    if r.attempts == 0
        && (r.per_try_timeout.is_some()
            || !r.retry_on.is_empty()
            || r.retry_remote_localities.is_some())
    {
        cx.error("http retry policy configured when attempts are set to 0 (disabled)");
    }
    if let Some(t) = &r.per_try_timeout {
        cx.check_at("perTryTimeout", common::duration(t));
    }
    if !r.retry_on.is_empty() {
        cx.field("retryOn", |cx| {
            for policy in r.retry_on.split(',') {
                let code = policy.parse::<i64>().unwrap_or(0);
                if !is_known_http_status(code) && !RETRY_ON.contains(&policy) {
                    cx.error(format!("{policy:?} is not a valid retryOn policy"));
                }
            }
        });
    }
    if let Some(b) = &r.backoff {
        cx.check_at("backoff", common::duration(b));
    }
}

/// `validateHTTPRewrite`: the first problem only.
fn rewrite(r: &HttpRewrite) -> common::Rule {
    if !r.uri.is_empty() && r.uri_regex_rewrite.is_some() {
        return Err("rewrite may only contain one of URI or UriRegexRewrite".into());
    }
    if r.uri.is_empty() && r.uri_regex_rewrite.is_none() && r.authority.is_empty() {
        return Err("rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified".into());
    }
    if let Some(rr) = &r.uri_regex_rewrite {
        let res = if rr.r#match.is_empty() || rr.rewrite.is_empty() {
            Err("UriRegexRewrite requires both Rewrite and Match fields to be specified".into())
        } else {
            string_regexp(&rr.r#match, "HTTPRewrite.UriRegexRewrite.Match")
        };
        res.map_err(|e| format!("UriRegexRewrite has errors: {e}"))?;
    }
    Ok(())
}

/// `validateHTTPRouteDestinations`.
fn http_route_destinations(cx: &mut Ctx, dests: &[HttpRouteDestination], gateway_semantics: bool) {
    let mut total: i64 = 0;
    cx.each("route", dests, |cx, d| {
        match &d.destination {
            None => cx.error("destination is required"),
            Some(dest) if !gateway_semantics => cx.field("destination", |cx| destination(cx, dest)),
            Some(_) => {}
        }
        if let Some(h) = &d.headers {
            header_operations(cx, h);
        }
        if d.weight < 0 {
            cx.error_at("weight", format!("weight {} < 0", d.weight));
        }
        total += i64::from(d.weight);
    });
    if dests.len() > 1 && total == 0 {
        cx.error_at("route", "total destination weight = 0");
    }
}

/// `validateRouteDestinations` (TLS and TCP).
fn route_destinations(cx: &mut Ctx, dests: &[RouteDestination], gateway_semantics: bool) {
    let mut total: i64 = 0;
    cx.each("route", dests, |cx, d| {
        match &d.destination {
            None => cx.error("destination is required"),
            Some(dest) if !gateway_semantics => cx.field("destination", |cx| destination(cx, dest)),
            Some(_) => {}
        }
        if d.weight < 0 {
            cx.error_at("weight", format!("weight {} < 0", d.weight));
        }
        total += i64::from(d.weight);
    });
    if dests.len() > 1 && total == 0 {
        cx.error_at("route", "total destination weight = 0");
    }
}

// ---- TLS and TCP routes ----

/// `validateTLSRoute`.
fn tls_route(cx: &mut Ctx, tls: &TlsRoute, vs: &VirtualServiceSpec, gateway_semantics: bool) {
    if tls.r#match.is_empty() {
        cx.error("TLS route must have at least one match condition");
    }
    cx.each("match", &tls.r#match, |cx, m| tls_match(cx, m, vs));
    if tls.route.is_empty() {
        cx.error("TLS route is required");
    }
    route_destinations(cx, &tls.route, gateway_semantics);
}

/// `validateTLSMatch`.
fn tls_match(cx: &mut Ctx, m: &TlsMatchAttributes, vs: &VirtualServiceSpec) {
    if m.sni_hosts.is_empty() {
        cx.error("TLS match must have at least one SNI host");
    } else {
        cx.each("sniHosts", &m.sni_hosts, |cx, sni| sni_host(cx, sni, vs));
    }
    l4_match_common(
        cx,
        &m.destination_subnets,
        m.port,
        &m.source_labels,
        &m.gateways,
    );
}

/// `validateSniHost`: a domain (an IP only with a warning) covered by one of the hosts.
fn sni_host(cx: &mut Ctx, sni: &str, vs: &VirtualServiceSpec) {
    let res = if is_gateway(vs) {
        wildcard_domain_for_gateway_vs(true, sni)
    } else {
        common::wildcard_domain(sni)
    };
    if let Err(e) = res {
        if common::is_ip(sni) {
            cx.warn(format!(
                "using an IP address ({sni:?}) goes against SNI spec and most clients do not support this"
            ));
        } else {
            cx.error(e);
        }
        return;
    }
    if vs.hosts.iter().any(|h| host_subset_of(sni, h)) {
        return;
    }
    cx.error(format!(
        "SNI host {sni:?} is not a compatible subset of any of the virtual service hosts: [{}]",
        vs.hosts.join(", ")
    ));
}

fn l4_match_common(
    cx: &mut Ctx,
    destination_subnets: &[String],
    port: u32,
    labels: &BTreeMap<String, String>,
    gateways: &[String],
) {
    cx.each("destinationSubnets", destination_subnets, |cx, s| {
        cx.check(common::ip_subnet(s))
    });
    if port != 0 {
        cx.check_at("port", common::port(i64::from(port)));
    }
    source_labels(cx, labels);
    gateway_names(cx, "gateways", gateways, false);
}

/// `validateTCPRoute`.
fn tcp_route(cx: &mut Ctx, tcp: &TcpRoute, gateway_semantics: bool) {
    cx.each("match", &tcp.r#match, |cx, m: &L4MatchAttributes| {
        l4_match_common(
            cx,
            &m.destination_subnets,
            m.port,
            &m.source_labels,
            &m.gateways,
        )
    });
    if tcp.route.is_empty() {
        cx.error("TCP route is required");
    }
    route_destinations(cx, &tcp.route, gateway_semantics);
}

// ---- Unreachable rules and ineffective matches (warnings) ----

fn warn_unused(cx: &mut Ctx, rule: &str, reason: &str) {
    cx.warn(format!("virtualService rule {rule} not used ({reason})"));
}

fn warn_ineffective(cx: &mut Ctx, rule: &str, matchn: &str, dup: &str) {
    cx.warn(format!(
        "virtualService rule {rule} match {matchn} is not used (duplicate/overlapping match in rule {dup})"
    ));
}

fn http_route_name(route: &HttpRoute, n: usize) -> String {
    if route.name.is_empty() {
        format!("#{n}")
    } else {
        format!("{:?}", route.name)
    }
}

fn http_match_name(m: &HttpMatchRequest, n: usize) -> String {
    if m.name.is_empty() {
        format!("#{n}")
    } else {
        format!("{:?}", m.name)
    }
}

/// The summary of a prefix match used to find matches covered by an earlier one
/// (`OverlappingMatchValidationForHTTPRoute`).
struct PrefixMatch {
    rule: usize,
    matchn: usize,
    route_str: String,
    match_str: String,
    prefix: String,
    port: u32,
    method: String,
    authority: String,
    headers: BTreeMap<String, String>,
    query_params: BTreeMap<String, String>,
    without_headers: BTreeMap<String, String>,
}

fn exact_or_prefix(sm: Option<&StringMatch>) -> String {
    match sm {
        Some(StringMatch::Exact(s)) if !s.is_empty() => format!("exact:{s}"),
        Some(StringMatch::Prefix(s)) if !s.is_empty() => format!("prefix:{s}"),
        _ => String::new(),
    }
}

fn summarize(map: &BTreeMap<String, StringMatch>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.clone(), exact_or_prefix(Some(v))))
        .collect()
}

/// `genMatchHTTPRoutes`: only matches with a non-empty URI prefix take part.
fn prefix_match(
    route: &HttpRoute,
    m: &HttpMatchRequest,
    rule: usize,
    matchn: usize,
) -> Option<PrefixMatch> {
    let Some(StringMatch::Prefix(prefix)) = &m.uri else {
        return None;
    };
    if prefix.is_empty() {
        return None;
    }
    let mut method = exact_or_prefix(m.method.as_ref());
    if method.is_empty() {
        // No method means GET.
        method = "exact:GET".into();
    }
    Some(PrefixMatch {
        rule,
        matchn,
        route_str: http_route_name(route, rule),
        match_str: http_match_name(m, matchn),
        prefix: prefix.clone(),
        port: m.port,
        method,
        authority: exact_or_prefix(m.authority.as_ref()),
        headers: summarize(&m.headers),
        query_params: summarize(&m.query_params),
        without_headers: summarize(&m.without_headers),
    })
}

/// `coveredValidation`: does `a` (earlier) cover `b` (later)?
fn covered(a: &PrefixMatch, b: &PrefixMatch) -> bool {
    if !b.prefix.starts_with(&a.prefix) || a.port != b.port {
        return false;
    }
    let value_covers = |va: &str, vb: &str| va == vb || va.starts_with(vb);
    if !value_covers(&a.method, &b.method) || !value_covers(&a.authority, &b.authority) {
        return false;
    }
    let map_covers = |ma: &BTreeMap<String, String>, mb: &BTreeMap<String, String>| {
        ma.len() == mb.len()
            && ma
                .iter()
                .all(|(k, va)| mb.get(k).is_some_and(|vb| value_covers(va, vb)))
    };
    map_covers(&a.headers, &b.headers)
        && map_covers(&a.query_params, &b.query_params)
        && map_covers(&a.without_headers, &b.without_headers)
}

/// `analyzeUnreachableHTTPRules`.
fn unreachable_http_rules(cx: &mut Ctx, routes: &[HttpRoute]) {
    let mut seen: Vec<(HttpMatchRequest, usize)> = Vec::new();
    let mut empty_match: Option<usize> = None;
    let mut prefixes: Vec<PrefixMatch> = Vec::new();
    cx.field("http", |cx| {
        for (rulen, route) in routes.iter().enumerate() {
            cx.index(rulen, |cx| {
                let name = http_route_name(route, rulen);
                if route.r#match.is_empty() {
                    if empty_match.is_some() {
                        warn_unused(cx, &name, "only the last rule can have no matches");
                    }
                    empty_match = Some(rulen);
                    return;
                }
                let mut duplicates = 0;
                for (matchn, m) in route.r#match.iter().enumerate() {
                    if empty_match.is_some() {
                        warn_unused(cx, &name, "route without matches defined before");
                        continue;
                    }
                    let mut key = m.clone();
                    key.name.clear();
                    if let Some((_, dup)) = seen.iter().find(|(k, _)| *k == key) {
                        let dup_name = http_route_name(&routes[*dup], *dup);
                        cx.field("match", |cx| {
                            cx.index(matchn, |cx| {
                                warn_ineffective(cx, &name, &http_match_name(m, matchn), &dup_name)
                            })
                        });
                        duplicates += 1;
                        continue;
                    }
                    seen.push((key, rulen));
                    if let Some(p) = prefix_match(route, m, rulen, matchn) {
                        prefixes.push(p);
                    }
                }
                if duplicates == route.r#match.len() {
                    warn_unused(cx, &name, "all matches used by prior rules");
                }
            });
        }
        for (i, a) in prefixes.iter().enumerate() {
            for b in &prefixes[i + 1..] {
                if b.prefix == a.prefix {
                    continue;
                }
                if covered(a, b) {
                    let this = format!("{} of prefix {}", b.match_str, b.prefix);
                    let other =
                        format!("{} of prefix {} on {}", a.match_str, a.prefix, a.route_str);
                    cx.index(b.rule, |cx| {
                        cx.field("match", |cx| {
                            cx.index(b.matchn, |cx| {
                                warn_ineffective(cx, &b.route_str, &this, &other)
                            })
                        })
                    });
                }
            }
        }
    });
}

/// `analyzeUnreachableTCPRules` / `analyzeUnreachableTLSRules`.
fn unreachable_l4_rules<R, M: PartialEq>(
    cx: &mut Ctx,
    field: &str,
    routes: &[R],
    matches: impl Fn(&R) -> &Vec<M>,
) {
    let mut seen: Vec<(&M, usize)> = Vec::new();
    let mut empty_match: Option<usize> = None;
    cx.field(field, |cx| {
        for (rulen, route) in routes.iter().enumerate() {
            let ms = matches(route);
            cx.index(rulen, |cx| {
                let name = format!("#{rulen}");
                if ms.is_empty() {
                    if empty_match.is_some() {
                        warn_unused(cx, &name, "only the last rule can have no matches");
                    }
                    empty_match = Some(rulen);
                    return;
                }
                let mut duplicates = 0;
                for (matchn, m) in ms.iter().enumerate() {
                    if empty_match.is_some() {
                        warn_unused(cx, &name, "route without matches defined before");
                        continue;
                    }
                    if let Some((_, dup)) = seen.iter().find(|(k, _)| *k == m) {
                        let dup_name = format!("#{dup}");
                        cx.field("match", |cx| {
                            cx.index(matchn, |cx| {
                                warn_ineffective(cx, &name, &format!("#{matchn}"), &dup_name)
                            })
                        });
                        duplicates += 1;
                    } else {
                        seen.push((m, rulen));
                    }
                }
                if duplicates == ms.len() {
                    warn_unused(cx, &name, "all matches used by prior rules");
                }
            });
        }
    });
}

#[cfg(test)]
mod corpus {
    use std::path::{Path, PathBuf};

    use crate::api::Object;
    use crate::load;
    use crate::validate::validate;

    const ROOT: &str = "/work/shared/istio-corpus/istio";

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".golden")
            }) {
                out.push(p);
            }
        }
    }

    /// The documents of a stream that are VirtualServices (top-level `kind: VirtualService`).
    fn vs_documents(text: &str) -> Vec<String> {
        let mut docs = vec![String::new()];
        for line in text.lines() {
            if line.starts_with("---") {
                docs.push(String::new());
            } else if let Some(d) = docs.last_mut() {
                d.push_str(line);
                d.push('\n');
            }
        }
        docs.into_iter()
            .filter(|d| {
                d.lines().any(|l| l.trim_end() == "kind: VirtualService")
                    && d.lines()
                        .any(|l| l.starts_with("apiVersion: networking.istio.io/"))
            })
            .collect()
    }

    #[test]
    fn corpus_virtual_services_load_strictly_and_validate() {
        if !Path::new(ROOT).exists() {
            return;
        }
        let mut paths = Vec::new();
        for dir in [
            "samples",
            "tests/testdata/config",
            "pilot/pkg/config/kube/gateway/testdata",
        ] {
            files(&Path::new(ROOT).join(dir), &mut paths);
        }
        let mut count = 0;
        let mut failures = Vec::new();
        for p in paths {
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            if p.to_string_lossy().contains("/gateway/testdata/")
                && !p.to_string_lossy().ends_with(".golden")
            {
                continue;
            }
            let golden = p.to_string_lossy().ends_with(".golden");
            for doc in vs_documents(&text) {
                if doc.contains("{{") {
                    continue; // templates
                }
                match load::from_str(&doc, &p.to_string_lossy()) {
                    Err(e) => failures.push(format!("{}: load: {e}", p.display())),
                    Ok(objs) => {
                        for o in objs {
                            if !matches!(o.object, Object::VirtualService(_)) {
                                continue;
                            }
                            count += 1;
                            // Generated by the Gateway API translation, never admitted by the
                            // webhook: they only have to load.
                            if golden {
                                continue;
                            }
                            let r = validate(&o.object);
                            for e in r
                                .errors
                                .iter()
                                .filter(|e| e.path.to_string().starts_with("spec"))
                            {
                                failures.push(format!(
                                    "{}: {} {e}",
                                    p.display(),
                                    o.object.metadata().name
                                ));
                            }
                        }
                    }
                }
            }
        }
        assert!(count > 50, "only {count} VirtualServices found");
        // Known: a sample with a placeholder host to be substituted by the user, and test data
        // using `websocketUpgrade`, a field removed from the API long ago.
        failures.retain(|f| {
            !f.contains("ISTIOD-HOST.DOMAIN") && !f.contains("websocketUpgrade: unknown field")
        });
        assert!(
            failures.is_empty(),
            "{count} checked:\n{}",
            failures.join("\n")
        );
    }
}
