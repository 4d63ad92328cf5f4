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
                if !prefix_ok || !common::is_qualified_name(name) {
                    cx.error(format!("invalid tag key: {k:?}"));
                } else if prefix.is_some_and(|p| p.len() > 253) {
                    cx.error(format!("invalid tag key: {k:?} (DNS prefix is too long)"));
                } else if name.len() > 63 {
                    cx.error(format!("invalid tag key: {k:?} (name is too long)"));
                }
                if !v.is_empty() && !common::is_qualified_name(v) {
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
    match common::re2_error(re) {
        None => Ok(()),
        Some(detail) => Err(format!(
            "{what:?}: error parsing regexp: {detail}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"
        )),
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
                    if crate::api::networking::grpc_status_code(s).is_none() {
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

/// The CRD schema requires `destination.host`; it is the only check left on destinations of
/// routes with Gateway API semantics.
fn required_host(cx: &mut Ctx, d: &Destination) {
    if d.host.is_empty() {
        cx.field("destination", |cx| cx.error_at("host", "Required value"));
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
    if let Some(RedirectPort::Port(p)) = r.redirect_port
        && p > 0
    {
        common::port(i64::from(p))?;
    }
    Ok(())
}

/// The CRD's `format: byte`: standard base64 with padding, as the API server checks it.
fn is_base64(s: &str) -> bool {
    let data = s.trim_end_matches('=');
    s.len().is_multiple_of(4)
        && s.len() - data.len() <= 2
        && data
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
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
        if let HttpBody::Bytes(b) = body
            && !is_base64(b)
        {
            cx.field("body", |cx| {
                cx.error_at("bytes", "in body must be of type byte (base64-encoded)")
            });
        }
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
            Some(dest) => required_host(cx, dest),
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
            Some(dest) => required_host(cx, dest),
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
mod tests {
    use crate::validate::test_support::{check, expect};

    /// A VirtualService in namespace `default` with the given spec (flow YAML).
    fn vs(spec: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: vs, namespace: default}}\nspec: {spec}\n"
        )
    }

    /// A VirtualService with one HTTP route (flow YAML), for host `foo.bar`.
    fn http(route: &str) -> String {
        vs(&format!("{{hosts: [foo.bar], http: [{route}]}}"))
    }

    /// A delegate VirtualService (no hosts) with one HTTP route.
    fn delegate(route: &str) -> String {
        vs(&format!("{{http: [{route}]}}"))
    }

    /// A VirtualService with one TCP route whose destinations are `route`.
    fn tcp(route: &str) -> String {
        vs(&format!("{{hosts: [foo.bar], tcp: [{{route: {route}}}]}}"))
    }

    const D: &str = "route: [{destination: {host: foo.baz}}]";
    const REDIRECT: &str = "redirect: {uri: /, authority: foo.biz}";
    const DELEGATE: &str = "delegate: {name: test, namespace: test}";

    fn run(rows: &[(&str, String, Option<&str>)]) {
        for (name, yaml, want) in rows {
            expect(name, yaml, *want);
        }
    }

    #[test]
    fn virtual_service() {
        let r = |s: &str| format!("{{hosts: [foo.bar], gateways: [{s}], http: [{{{D}}}]}}");
        run(&[
            (
                "simple",
                vs(&format!("{{hosts: [foo.bar], http: [{{{D}}}]}}")),
                None,
            ),
            (
                "allow sni based domains",
                vs(
                    "{hosts: [outbound_.15010_._.istiod.istio-system.svc.cluster.local], gateways: [ns1/gateway], tls: [{match: [{sniHosts: [outbound_.15010_._.istiod.istio-system.svc.cluster.local]}], route: [{destination: {host: istio.istio-system.svc.cluster.local}}]}]}",
                ),
                None,
            ),
            (
                "bad sni based domain",
                vs(
                    "{hosts: [outbound_.abc_._.foo.com], gateways: [ns1/gateway], tls: [{match: [{sniHosts: [outbound_.abc_._.foo.com]}], route: [{destination: {host: foo.com}}]}]}",
                ),
                Some("should follow outbound_.<PORT>_._.<HOSTNAME> format"),
            ),
            (
                "duplicate hosts",
                vs(&format!(
                    "{{hosts: ['*.foo.bar', '*.bar'], http: [{{{D}}}]}}"
                )),
                Some("duplicate hosts in virtual service: *.foo.bar & *.bar"),
            ),
            (
                "literal duplicate hosts",
                vs(&format!("{{hosts: [a.com, a.com], http: [{{{D}}}]}}")),
                Some("duplicate hosts"),
            ),
            (
                "with no destination",
                vs("{hosts: ['*.foo.bar'], http: [{route: [{}]}]}"),
                Some("destination is required"),
            ),
            (
                "destination without host",
                vs("{hosts: ['*.foo.bar'], http: [{route: [{destination: {}}]}]}"),
                Some("empty domain name not allowed"),
            ),
            (
                "delegate with no hosts",
                vs(&format!("{{http: [{{{D}}}]}}")),
                None,
            ),
            (
                "bad host",
                vs(&format!("{{hosts: [foo.ba!r], http: [{{{D}}}]}}")),
                Some("invalid"),
            ),
            (
                "short host",
                vs(&format!("{{hosts: [reviews], http: [{{{D}}}]}}")),
                None,
            ),
            (
                "ip host",
                vs(&format!("{{hosts: [10.1.1.1], http: [{{{D}}}]}}")),
                None,
            ),
            (
                "no tcp or http routing",
                vs("{hosts: [foo.bar]}"),
                Some("http, tcp or tls must be provided in virtual service"),
            ),
            ("bad gateway", vs(&r("b@dgateway")), Some("invalid")),
            ("FQDN for gateway", vs(&r("gateway.example.com")), None),
            ("namespace/name for gateway", vs(&r("ns1/gateway")), None),
            ("mesh gateway", vs(&r("mesh")), None),
            (
                "namespace/* for gateway",
                vs(&r("ns1/*")),
                Some("invalid value for gateway name: \"*\""),
            ),
            (
                "*/name for gateway",
                vs(&r("'*/gateway'")),
                Some("invalid value for namespace: \"*\""),
            ),
            (
                "empty gateway name",
                vs(&r("ns1/")),
                Some("config namespace and gateway name cannot be empty"),
            ),
            (
                "gateways after a name without namespace are not checked (as Istio)",
                vs(&r("mesh, ns1/b@d")),
                None,
            ),
            (
                "wildcard for mesh gateway",
                vs(&format!("{{hosts: ['*'], http: [{{{D}}}]}}")),
                Some(
                    "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                ),
            ),
            (
                "wildcard for mesh and gateway",
                vs(&format!(
                    "{{hosts: ['*'], gateways: [mesh, ns1/gw], http: [{{{D}}}]}}"
                )),
                Some("wildcard host *"),
            ),
            (
                "wildcard for non-mesh gateway",
                vs(&format!(
                    "{{hosts: ['*'], gateways: [somegateway], http: [{{{D}}}]}}"
                )),
                None,
            ),
            (
                "missing tcp route",
                vs("{hosts: [foo.bar], tcp: [{match: [{port: 999}]}]}"),
                Some("TCP route is required"),
            ),
            (
                "missing tls route",
                vs("{hosts: [foo.bar], tls: [{match: [{port: 999, sniHosts: [foo.bar]}]}]}"),
                Some("TLS route is required"),
            ),
            (
                "deprecated mirror",
                vs(&format!(
                    "{{hosts: [foo.bar], gateways: [ns1/gateway], http: [{{mirrorPercent: 5, {D}}}]}}"
                )),
                None,
            ),
            (
                "set authority",
                http(&format!(
                    "{{headers: {{request: {{set: {{':authority': foo}}}}}}, {D}}}"
                )),
                None,
            ),
            (
                "set authority in destination",
                http(
                    "{route: [{destination: {host: foo.baz}, headers: {request: {set: {':authority': foo}}}}]}",
                ),
                None,
            ),
            (
                "set authority in rewrite and header",
                http(&format!(
                    "{{headers: {{request: {{set: {{':authority': foo}}}}}}, rewrite: {{authority: bar}}, {D}}}"
                )),
                Some(
                    "authority header cannot be set multiple times: have \"bar\", attempting to set \"foo\"",
                ),
            ),
            (
                "set host and authority headers",
                http(&format!(
                    "{{headers: {{request: {{set: {{':authority': foo}}, add: {{host: bar}}}}}}, {D}}}"
                )),
                Some("authority header cannot be set multiple times"),
            ),
            (
                "non-method-get",
                http(&format!(
                    "{{match: [{{uri: {{prefix: /api/v1/product}}}}, {{uri: {{prefix: /api/v1/products}}, method: {{exact: GET}}}}], {D}}}"
                )),
                None,
            ),
            (
                "uri-with-prefix-exact",
                http(&format!(
                    "{{match: [{{uri: {{prefix: /}}}}, {{uri: {{exact: /}}, method: {{exact: GET}}}}], {D}}}"
                )),
                None,
            ),
            (
                "jwt claim route without gateway",
                vs(&format!(
                    "{{hosts: [foo.bar], gateways: [mesh], http: [{{match: [{{uri: {{prefix: /}}, headers: {{'@request.auth.claims.foo': {{exact: bar}}}}}}], {D}}}]}}"
                )),
                Some(
                    "JWT claim based routing (key: @request.auth.claims.foo) is only supported for gateway, found no gateways: [mesh]",
                ),
            ),
            (
                "jwt claim route in withoutHeaders without gateway",
                http(&format!(
                    "{{match: [{{withoutHeaders: {{'@request.auth.claims[foo]': {{exact: bar}}}}}}], {D}}}"
                )),
                Some("JWT claim based routing"),
            ),
            (
                "jwt claim route with gateway",
                vs(&format!(
                    "{{hosts: [foo.bar], gateways: [ns1/gw], http: [{{match: [{{headers: {{'@request.auth.claims.foo': {{exact: bar}}}}}}], {D}}}]}}"
                )),
                None,
            ),
            (
                "ip address as sni host",
                vs(
                    "{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}], match: [{port: 999, sniHosts: [1.1.1.1]}]}]}",
                ),
                None,
            ),
            (
                "invalid wildcard as sni host",
                vs(
                    "{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}], match: [{port: 999, sniHosts: ['foo.*.com']}]}]}",
                ),
                Some("invalid"),
            ),
            (
                "sni host outside the hosts",
                vs(
                    "{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}], match: [{sniHosts: [other.bar]}]}]}",
                ),
                Some(
                    "SNI host \"other.bar\" is not a compatible subset of any of the virtual service hosts: [foo.bar]",
                ),
            ),
            (
                "sni host covered by a wildcard host",
                vs(
                    "{hosts: ['*.bar.com'], tls: [{route: [{destination: {host: foo.baz}}], match: [{sniHosts: [a.bar.com, '*.x.bar.com']}]}]}",
                ),
                None,
            ),
            (
                "wildcard sni host wider than the host",
                vs(
                    "{hosts: [a.bar.com], tls: [{route: [{destination: {host: foo.baz}}], match: [{sniHosts: ['*.bar.com']}]}]}",
                ),
                Some("not a compatible subset"),
            ),
            (
                "tls route without match",
                vs("{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}]}]}"),
                Some("TLS route must have at least one match condition"),
            ),
            (
                "tls match without sni hosts",
                vs(
                    "{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}], match: [{port: 443}]}]}",
                ),
                Some("TLS match must have at least one SNI host"),
            ),
            (
                "tls match bad destination subnet",
                vs(
                    "{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}], match: [{sniHosts: [foo.bar], destinationSubnets: [1.2.3.4/33]}]}]}",
                ),
                Some("not a valid CIDR"),
            ),
            (
                "tls match bad port",
                vs(
                    "{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}], match: [{sniHosts: [foo.bar], port: 70000}]}]}",
                ),
                Some("port number 70000"),
            ),
            (
                "tls match bad gateway",
                vs(
                    "{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}], match: [{sniHosts: [foo.bar], gateways: [ns/b@d]}]}]}",
                ),
                Some("invalid value for gateway name"),
            ),
            (
                "tls match bad source labels",
                vs(
                    "{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}], match: [{sniHosts: [foo.bar], sourceLabels: {'bad key': v}}]}]}",
                ),
                Some("invalid tag key"),
            ),
            (
                "tcp match full",
                vs(
                    "{hosts: [foo.bar], tcp: [{match: [{port: 3306, destinationSubnets: [10.0.0.0/8, 10.1.1.1], sourceLabels: {app: a}, gateways: [mesh], sourceNamespace: ns}], route: [{destination: {host: mysql}}]}]}",
                ),
                None,
            ),
            (
                "tcp match bad subnet",
                vs(
                    "{hosts: [foo.bar], tcp: [{match: [{destinationSubnets: [not-an-ip]}], route: [{destination: {host: mysql}}]}]}",
                ),
                Some("not a valid IP"),
            ),
            (
                "tcp match bad port",
                vs(
                    "{hosts: [foo.bar], tcp: [{match: [{port: 65536}], route: [{destination: {host: mysql}}]}]}",
                ),
                Some("port number 65536"),
            ),
            (
                "tcp match bad label value",
                vs(
                    "{hosts: [foo.bar], tcp: [{match: [{sourceLabels: {app: 'a b'}}], route: [{destination: {host: mysql}}]}]}",
                ),
                Some("invalid tag value: \"a b\""),
            ),
            (
                "exportTo current namespace",
                vs(&format!(
                    "{{hosts: [foo.bar], exportTo: ['.'], http: [{{{D}}}]}}"
                )),
                None,
            ),
            (
                "exportTo public and private",
                vs(&format!(
                    "{{hosts: [foo.bar], exportTo: ['.', '*'], http: [{{{D}}}]}}"
                )),
                Some("cannot have both public (*) and non-public exportTo values"),
            ),
            (
                "exportTo bad namespace",
                vs(&format!(
                    "{{hosts: [foo.bar], exportTo: [Bad_NS], http: [{{{D}}}]}}"
                )),
                Some("exportTo"),
            ),
            (
                "exportTo ~ not for virtual services",
                vs(&format!(
                    "{{hosts: [foo.bar], exportTo: ['~'], http: [{{{D}}}]}}"
                )),
                Some("exportTo"),
            ),
        ]);
    }

    #[test]
    fn virtual_service_warnings() {
        let cases: &[(&str, String, &str)] = &[
            (
                "FQDN for gateway",
                vs(&format!(
                    "{{hosts: [foo.bar], gateways: [gateway.example.com], http: [{{{D}}}]}}"
                )),
                "using legacy gatewayName format \"gateway.example.com\"; prefer the <namespace>/<name> format: \"example/gateway\"",
            ),
            (
                "deprecated mirror",
                http(&format!("{{mirrorPercent: 5, {D}}}")),
                "using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead",
            ),
            (
                "non-method-get",
                http(&format!(
                    "{{match: [{{uri: {{prefix: /api/v1/product}}}}, {{uri: {{prefix: /api/v1/products}}, method: {{exact: GET}}}}], {D}}}"
                )),
                "virtualService rule #0 match #1 of prefix /api/v1/products is not used (duplicate/overlapping match in rule #0 of prefix /api/v1/product on #0)",
            ),
            (
                "ip address as sni host",
                vs(
                    "{hosts: [foo.bar], tls: [{route: [{destination: {host: foo.baz}}], match: [{sniHosts: [1.1.1.1]}]}]}",
                ),
                "using an IP address (\"1.1.1.1\") goes against SNI spec",
            ),
            (
                "two catch-all rules",
                vs(&format!("{{hosts: [foo.bar], http: [{{{D}}}, {{{D}}}]}}")),
                "virtualService rule #1 not used (only the last rule can have no matches)",
            ),
            (
                "rule after a catch-all",
                vs(&format!(
                    "{{hosts: [foo.bar], http: [{{name: all, {D}}}, {{name: late, match: [{{uri: {{exact: /a}}}}], {D}}}]}}"
                )),
                "virtualService rule \"late\" not used (route without matches defined before)",
            ),
            (
                "duplicate match",
                vs(&format!(
                    "{{hosts: [foo.bar], http: [{{name: a, match: [{{uri: {{exact: /a}}}}], {D}}}, {{name: b, match: [{{name: m, uri: {{exact: /a}}}}], {D}}}]}}"
                )),
                "virtualService rule \"b\" match \"m\" is not used (duplicate/overlapping match in rule \"a\")",
            ),
            (
                "all matches duplicated",
                vs(&format!(
                    "{{hosts: [foo.bar], http: [{{match: [{{uri: {{exact: /a}}}}], {D}}}, {{match: [{{uri: {{exact: /a}}}}], {D}}}]}}"
                )),
                "virtualService rule #1 not used (all matches used by prior rules)",
            ),
            (
                "prefix covered by a shorter prefix",
                vs(&format!(
                    "{{hosts: [foo.bar], http: [{{match: [{{uri: {{prefix: /debug}}}}], {D}}}, {{match: [{{uri: {{prefix: /debugs}}}}], {D}}}]}}"
                )),
                "virtualService rule #1 match #0 of prefix /debugs is not used (duplicate/overlapping match in rule #0 of prefix /debug on #0)",
            ),
            (
                "duplicate tcp match",
                vs(
                    "{hosts: [foo.bar], tcp: [{match: [{port: 1}], route: [{destination: {host: a}}]}, {match: [{port: 1}], route: [{destination: {host: b}}]}]}",
                ),
                "virtualService rule #1 match #0 is not used (duplicate/overlapping match in rule #0)",
            ),
            (
                "tcp rule after a catch-all",
                vs(
                    "{hosts: [foo.bar], tcp: [{route: [{destination: {host: a}}]}, {match: [{port: 1}], route: [{destination: {host: b}}]}]}",
                ),
                "virtualService rule #1 not used (route without matches defined before)",
            ),
            (
                "duplicate tls match",
                vs(
                    "{hosts: [foo.bar], tls: [{match: [{sniHosts: [foo.bar]}], route: [{destination: {host: a}}]}, {match: [{sniHosts: [foo.bar]}], route: [{destination: {host: b}}]}]}",
                ),
                "virtualService rule #1 not used (all matches used by prior rules)",
            ),
            (
                "abort without error type",
                http(&format!(
                    "{{fault: {{abort: {{percentage: {{value: 5}}}}}}, {D}}}"
                )),
                "abort configured, but error type not set",
            ),
            (
                "direct response over 100KB",
                http(&format!(
                    "{{directResponse: {{status: 200, body: {{string: {}}}}}}}",
                    "a".repeat(101 * 1024)
                )),
                "large direct_responses may impact control plane performance",
            ),
            (
                "bytes direct response over 100KB",
                http(&format!(
                    "{{directResponse: {{status: 200, body: {{bytes: {}}}}}}}",
                    "YWFh".repeat(34 * 1024)
                )),
                "large direct_responses may impact control plane performance",
            ),
        ];
        for (name, yaml, warning) in cases {
            let r = expect(name, yaml, None);
            assert!(
                r.has_warning(warning),
                "case {name:?}: expected warning {warning:?}, got:\n{r}"
            );
        }
        // No warnings where Istio has none.
        for (name, yaml) in [
            (
                "uri-with-prefix-exact",
                http(&format!(
                    "{{match: [{{uri: {{prefix: /}}}}, {{uri: {{exact: /}}, method: {{exact: GET}}}}], {D}}}"
                )),
            ),
            (
                "different methods",
                vs(&format!(
                    "{{hosts: [foo.bar], http: [{{match: [{{uri: {{prefix: /a}}, method: {{exact: POST}}}}], {D}}}, {{match: [{{uri: {{prefix: /ab}}}}], {D}}}]}}"
                )),
            ),
            (
                "last catch-all",
                vs(&format!(
                    "{{hosts: [foo.bar], http: [{{match: [{{uri: {{prefix: /a}}}}], {D}}}, {{{D}}}]}}"
                )),
            ),
            (
                "direct response under 100KB",
                http(&format!(
                    "{{directResponse: {{status: 200, body: {{string: {}}}}}}}",
                    "a".repeat(1024)
                )),
            ),
        ] {
            let r = expect(name, &yaml, None);
            assert!(
                r.warnings.is_empty(),
                "case {name:?}: unexpected warnings:\n{r}"
            );
        }
    }

    #[test]
    fn chaining() {
        run(&[
            (
                "root simple",
                vs(&format!(
                    "{{hosts: [foo.bar], gateways: [test-gateway], http: [{{{DELEGATE}}}]}}"
                )),
                None,
            ),
            (
                "root applies to sidecar with delegate",
                http(&format!("{{{DELEGATE}}}")),
                None,
            ),
            (
                "root with delegate and destination in one route",
                http(&format!("{{{DELEGATE}, {D}}}")),
                Some("root HTTP route  must not specify route"),
            ),
            (
                "root with delegate and redirect",
                http(&format!("{{name: r, {DELEGATE}, {REDIRECT}}}")),
                Some("root HTTP route r must not specify redirect"),
            ),
            (
                "delegate with no destination",
                delegate("{}"),
                Some("HTTP route, redirect or direct_response is required"),
            ),
            (
                "delegate with delegate",
                delegate(&format!("{{{DELEGATE}}}")),
                Some("delegate HTTP route cannot contain delegate"),
            ),
            (
                "delegate with TCP route",
                vs("{tcp: [{route: [{destination: {host: foo.baz}}]}]}"),
                Some("delegate virtual service must have no tcp route specified"),
            ),
            (
                "delegate with TLS route",
                vs(
                    "{tls: [{match: [{sniHosts: [a.com]}], route: [{destination: {host: foo.baz}}]}]}",
                ),
                Some("delegate virtual service must have no tls route specified"),
            ),
            (
                "delegate with gateway",
                vs(&format!("{{gateways: [test], http: [{{{D}}}]}}")),
                Some("delegate virtual service must have no gateways specified"),
            ),
            (
                "delegate with sourceNamespace",
                delegate(&format!("{{match: [{{sourceNamespace: test}}], {D}}}")),
                None,
            ),
        ]);
    }

    #[test]
    fn root_http_route_matches() {
        let root = |m: &str| http(&format!("{{{DELEGATE}, match: [{m}]}}"));
        let redirect = |m: &str| http(&format!("{{{REDIRECT}, match: [{m}]}}"));
        run(&[
            ("simple", http(&format!("{{{DELEGATE}}}")), None),
            (
                "prefix header match",
                root("{headers: {header: {prefix: test}}}"),
                None,
            ),
            (
                "empty prefix header match (delegate)",
                root("{headers: {header: {prefix: ''}}}"),
                Some("\"headers\": prefix string match should not be empty"),
            ),
            (
                "exact header match",
                root("{headers: {header: {exact: test}}}"),
                None,
            ),
            (
                "regex header match",
                root("{headers: {header: {regex: test}}}"),
                None,
            ),
            (
                "presence header match",
                root("{headers: {header: {}}}"),
                None,
            ),
            (
                "exact without headers match",
                redirect("{withoutHeaders: {header: {exact: test}}}"),
                None,
            ),
            (
                "regex without headers match",
                redirect("{withoutHeaders: {header: {regex: test}}}"),
                None,
            ),
            (
                "regex without headers match ?",
                redirect("{withoutHeaders: {header: {regex: '?'}}}"),
                Some("\"withoutHeaders\": error parsing regexp"),
            ),
            (
                "regex without headers match *",
                redirect("{withoutHeaders: {header: {regex: '*'}}}"),
                None,
            ),
            ("regex uri match", root("{uri: {regex: test}}"), None),
            ("prefix uri match", root("{uri: {prefix: test}}"), None),
            ("exact uri match", root("{uri: {exact: test}}"), None),
            (
                "prefix queryParams match",
                root("{queryParams: {q: {prefix: test}}}"),
                None,
            ),
            (
                "exact queryParams match",
                root("{queryParams: {q: {exact: test}}}"),
                None,
            ),
            (
                "regex queryParams match",
                root("{queryParams: {q: {regex: test}}}"),
                None,
            ),
            (
                "bad regex queryParams match",
                root("{queryParams: {q: {regex: '(a'}}}"),
                Some("\"queryParams\": error parsing regexp"),
            ),
            (
                "empty prefix match in method",
                redirect("{method: {prefix: ''}}"),
                Some("\"method\": prefix string match should not be empty"),
            ),
            (
                "empty regex match in method",
                redirect("{method: {regex: ''}}"),
                Some("\"method\": regex string match should not be empty"),
            ),
            (
                "empty prefix match in uri",
                redirect("{uri: {prefix: ''}}"),
                None,
            ),
            (
                "empty regex match in uri",
                redirect("{uri: {regex: ''}}"),
                Some("\"uri\": regex string match should not be empty"),
            ),
            (
                "bad regex in uri",
                redirect("{uri: {regex: '[a-'}}"),
                Some("Istio uses RE2 style regex-based match"),
            ),
            (
                "regex repeat count above RE2's limit",
                redirect("{uri: {regex: 'a{1001}'}}"),
                Some("invalid repeat count: `{1001}`"),
            ),
            (
                "regex repeat count at RE2's limit",
                redirect("{uri: {regex: '[{]a{2,1000}'}}"),
                None,
            ),
            (
                "too long regex in uri",
                redirect(&format!("{{uri: {{regex: '{}'}}}}", "a".repeat(1025))),
                Some("\"uri\": regex is too large, max length allowed is 1024"),
            ),
            (
                "empty regex match in query",
                redirect("{queryParams: {q: {regex: ''}}}"),
                Some("\"queryParams\": regex string match should not be empty"),
            ),
            (
                "empty regex match in scheme",
                redirect("{scheme: {regex: ''}}"),
                Some("\"scheme\": regex string match should not be empty"),
            ),
            (
                "empty prefix match in scheme",
                redirect("{scheme: {prefix: ''}}"),
                Some("\"scheme\": prefix string match should not be empty"),
            ),
            (
                "empty prefix match in authority",
                redirect("{authority: {prefix: ''}}"),
                Some("\"authority\": prefix string match should not be empty"),
            ),
            (
                "empty prefix header match",
                http("{match: [{headers: {header: {prefix: ''}}}]}"),
                Some("prefix string match should not be empty"),
            ),
            (
                "bad header name in match",
                redirect("{headers: {'bad header': {exact: a}}}"),
                Some("header name bad header is not a valid header name"),
            ),
            (
                "pseudo header in match",
                redirect("{headers: {':authority': {exact: a}}}"),
                None,
            ),
            (
                "empty header name in withoutHeaders",
                redirect("{withoutHeaders: {'': {exact: a}}}"),
                Some("header name cannot be empty"),
            ),
            ("match port", redirect("{port: 8080}"), None),
            (
                "match bad port",
                redirect("{port: 70000}"),
                Some("port number 70000"),
            ),
            (
                "match bad sourceNamespace",
                redirect("{sourceNamespace: 'bad_ns'}"),
                Some("sourceNamespace match bad_ns is invalid"),
            ),
            (
                "match sourceLabels",
                redirect("{sourceLabels: {app.kubernetes.io/name: a, version: v1}}"),
                None,
            ),
            (
                "match sourceLabels bad key",
                redirect("{sourceLabels: {'-app': a}}"),
                Some("invalid tag key: \"-app\""),
            ),
            (
                "match sourceLabels key too long",
                redirect(&format!("{{sourceLabels: {{{}: a}}}}", "a".repeat(64))),
                Some("(name is too long)"),
            ),
            ("match gateways", redirect("{gateways: [mesh]}"), None),
            (
                "match bad gateways",
                redirect("{gateways: ['ns/B@d']}"),
                Some("invalid value for gateway name"),
            ),
            (
                "match statPrefix and ignoreUriCase",
                redirect("{statPrefix: foo, ignoreUriCase: true, uri: {exact: /A}}"),
                None,
            ),
        ]);
    }

    #[test]
    fn delegate_http_route() {
        run(&[
            (
                "empty",
                delegate("{}"),
                Some("HTTP route, redirect or direct_response is required"),
            ),
            ("simple", delegate(&format!("{{{D}}}")), None),
            (
                "no destination",
                delegate("{route: [{}]}"),
                Some("destination is required"),
            ),
            (
                "weighted",
                delegate(
                    "{route: [{destination: {host: foo.baz.south}, weight: 25}, {destination: {host: foo.baz.east}, weight: 75}]}",
                ),
                None,
            ),
            (
                "total weight > 100",
                delegate(
                    "{route: [{destination: {host: foo.baz.south}, weight: 55}, {destination: {host: foo.baz.east}, weight: 50}]}",
                ),
                None,
            ),
            (
                "total weight < 100",
                delegate(
                    "{route: [{destination: {host: foo.baz.south}, weight: 49}, {destination: {host: foo.baz.east}, weight: 50}]}",
                ),
                None,
            ),
            (
                "simple redirect",
                delegate("{redirect: {uri: /lerp, authority: foo.biz}}"),
                None,
            ),
            (
                "conflicting redirect and route",
                delegate(&format!("{{{REDIRECT}, {D}}}")),
                Some("HTTP route cannot contain both route and redirect"),
            ),
            (
                "valid headers",
                delegate(
                    "{route: [{destination: {host: foo.baz}, headers: {request: {add: {name: ''}, set: {name: ''}, remove: [name]}, response: {add: {name: ''}, set: {name: ''}, remove: [name]}}}]}",
                ),
                None,
            ),
            (
                "empty header name - request add",
                delegate(
                    "{route: [{destination: {host: foo.baz}, headers: {request: {add: {'': value}}}}]}",
                ),
                Some("header name cannot be empty"),
            ),
            (
                "empty header name - response remove",
                delegate(
                    "{route: [{destination: {host: foo.baz}, headers: {response: {remove: ['']}}}]}",
                ),
                Some("header name cannot be empty"),
            ),
            (
                "invalid mirror percent",
                delegate(&format!("{{mirrorPercent: 101, {D}}}")),
                Some("mirror_percent must have a max value of 100 (it has 101)"),
            ),
            (
                "invalid mirror percentage",
                delegate(&format!("{{mirrorPercentage: {{value: 101}}, {D}}}")),
                Some("mirror_percentage must have a max value of 100 (it has 101.000000)"),
            ),
            (
                "valid mirror percentage",
                delegate(&format!("{{mirrorPercentage: {{value: 1}}, {D}}}")),
                None,
            ),
            (
                "negative mirror percentage",
                delegate(&format!("{{mirrorPercentage: {{value: -1}}, {D}}}")),
                Some("mirror_percentage must have a min value of 0 (it has -1.000000)"),
            ),
            (
                "delegate route with delegate",
                delegate(&format!("{{{DELEGATE}}}")),
                Some("delegate HTTP route cannot contain delegate"),
            ),
        ]);
    }

    #[test]
    fn http_route() {
        let h = |s: &str| http(&format!("{{{s}}}"));
        let dh = |ops: &str| {
            http(&format!(
                "{{route: [{{destination: {{host: foo.baz}}, headers: {ops}}}]}}"
            ))
        };
        let rh = |ops: &str| http(&format!("{{headers: {ops}, {D}}}"));
        run(&[
            (
                "empty",
                h(""),
                Some("HTTP route, redirect or direct_response is required"),
            ),
            ("simple", h(D), None),
            (
                "no destination",
                h("route: [{}]"),
                Some("destination is required"),
            ),
            (
                "weighted",
                h(
                    "route: [{destination: {host: foo.baz.south}, weight: 25}, {destination: {host: foo.baz.east}, weight: 75}]",
                ),
                None,
            ),
            (
                "total weight > 100",
                h(
                    "route: [{destination: {host: foo.baz.south}, weight: 550}, {destination: {host: foo.baz.east}, weight: 500}]",
                ),
                None,
            ),
            (
                "total weight = 0",
                h(
                    "route: [{destination: {host: foo.baz.south}}, {destination: {host: foo.baz.east}}]",
                ),
                Some("total destination weight = 0"),
            ),
            (
                "negative weight",
                h(
                    "route: [{destination: {host: foo.baz.south}, weight: 101}, {destination: {host: foo.baz.east}, weight: -1}]",
                ),
                Some("weight -1 < 0"),
            ),
            (
                "simple redirect",
                h("redirect: {uri: /lerp, authority: foo.biz}"),
                None,
            ),
            (
                "prefix_rewrite redirect with prefix URI match",
                h("match: [{uri: {prefix: /foo}}], redirect: {prefixRewrite: /bar}"),
                None,
            ),
            (
                "prefix_rewrite redirect with exact URI match is invalid",
                h("match: [{uri: {exact: /foo}}], redirect: {prefixRewrite: /bar}"),
                Some("redirect prefix_rewrite requires all URI matches to use prefix match type"),
            ),
            (
                "prefix_rewrite redirect with regex URI match is invalid",
                h("match: [{uri: {regex: /foo.*}}], redirect: {prefixRewrite: /bar}"),
                Some("redirect prefix_rewrite requires all URI matches to use prefix match type"),
            ),
            (
                "prefix_rewrite redirect with no URI match (wildcard) is valid",
                h("match: [{headers: {x-foo: {exact: bar}}}], redirect: {prefixRewrite: /bar}"),
                None,
            ),
            (
                "conflicting redirect and route",
                h(&format!("{REDIRECT}, {D}")),
                Some("HTTP route cannot contain both route and redirect"),
            ),
            (
                "conflicting redirect and fault",
                h(&format!(
                    "{REDIRECT}, fault: {{abort: {{httpStatus: 500}}}}"
                )),
                Some("HTTP route cannot contain both fault and redirect"),
            ),
            (
                "conflicting redirect and rewrite",
                h(&format!("{REDIRECT}, rewrite: {{uri: /a}}")),
                Some("HTTP route rule cannot contain both rewrite and redirect"),
            ),
            (
                "conflicting redirect and direct response",
                h(&format!("{REDIRECT}, directResponse: {{status: 200}}")),
                Some("HTTP route rule cannot contain both direct_response and redirect"),
            ),
            (
                "conflicting direct response and route",
                h(&format!("directResponse: {{status: 200}}, {D}")),
                Some("HTTP route cannot contain both route and direct_response"),
            ),
            (
                "conflicting direct response and fault",
                h("directResponse: {status: 200}, fault: {abort: {httpStatus: 500}}"),
                Some("HTTP route cannot contain both fault and direct_response"),
            ),
            (
                "conflicting direct response and rewrite",
                h("directResponse: {status: 200}, rewrite: {uri: /a}"),
                Some("HTTP route rule cannot contain both rewrite and direct_response"),
            ),
            (
                "direct response alone",
                h("directResponse: {status: 503, body: {string: down}}"),
                None,
            ),
            ("request response headers", h(D), None),
            (
                "valid headers",
                dh(
                    "{request: {add: {name: ''}, set: {name: ''}, remove: [name]}, response: {add: {name: ''}, set: {name: ''}, remove: [name]}}",
                ),
                None,
            ),
            (
                "empty header name - request add",
                dh("{request: {add: {'': value}}}"),
                Some("header name cannot be empty"),
            ),
            (
                "empty header name - request set",
                dh("{request: {set: {'': value}}}"),
                Some("header name cannot be empty"),
            ),
            (
                "empty header name - request remove",
                dh("{request: {remove: ['']}}"),
                Some("header name cannot be empty"),
            ),
            (
                "empty header name - response add",
                dh("{response: {add: {'': value}}}"),
                Some("header name cannot be empty"),
            ),
            (
                "empty header name - response set",
                dh("{response: {set: {'': value}}}"),
                Some("header name cannot be empty"),
            ),
            (
                "empty header name - response remove",
                dh("{response: {remove: ['']}}"),
                Some("header name cannot be empty"),
            ),
            (
                "envoy escaped % set",
                dh("{response: {set: {i-love-istio: '100%%'}}}"),
                None,
            ),
            (
                "envoy variable set",
                dh("{response: {set: {name: '%HOSTNAME%'}}}"),
                None,
            ),
            (
                "envoy unescaped % set",
                dh("{response: {set: {name: 'abcd%oijasodifj'}}}"),
                Some("header value configuration"),
            ),
            (
                "envoy escaped % add",
                dh("{response: {add: {i-love-istio: '100%% and more'}}}"),
                None,
            ),
            (
                "envoy variable add",
                dh("{response: {add: {name: 'hello %HOSTNAME%'}}}"),
                None,
            ),
            (
                "envoy unescaped % add",
                dh("{response: {add: {name: 'abcd%oijasodifj'}}}"),
                Some("header value configuration"),
            ),
            (
                "control character in header value",
                rh("{request: {set: {x-a: \"a\\nb\"}}}"),
                Some("header value configuration"),
            ),
            (
                "route-level request headers",
                rh("{request: {set: {x-a: b}, add: {x-c: d}, remove: [x-e]}}"),
                None,
            ),
            (
                "route-level empty header name",
                rh("{request: {set: {'': b}}}"),
                Some("header name cannot be empty"),
            ),
            (
                "route-level set pseudo header",
                rh("{request: {set: {':path': /a}}}"),
                Some("header cannot have \":\" prefix"),
            ),
            (
                "route-level set authority",
                rh("{request: {add: {':authority': a}}}"),
                None,
            ),
            (
                "route-level remove host",
                rh("{request: {remove: [Host]}}"),
                Some("cannot set Host header"),
            ),
            (
                "route-level response set host",
                rh("{response: {set: {host: a}}}"),
                Some("cannot set Host header"),
            ),
            (
                "route-level response remove pseudo",
                rh("{response: {remove: [':status']}}"),
                Some("header cannot have \":\" prefix"),
            ),
            ("nil match", h(D), None),
            (
                "match with empty element",
                h(&format!("match: [{{}}], {D}")),
                None,
            ),
            (
                "mirror",
                h(&format!(
                    "mirror: {{host: foo.bar, subset: v1, port: {{number: 80}}}}, {D}"
                )),
                None,
            ),
            (
                "mirror bad host",
                h(&format!("mirror: {{host: '*'}}, {D}")),
                Some("invalid destination host *"),
            ),
            (
                "mirrors without destination",
                h(&format!("mirrors: [{{percentage: {{value: 1}}}}], {D}")),
                Some("destination is required for mirrors"),
            ),
            (
                "mirrors invalid mirror percentage",
                h(&format!(
                    "mirrors: [{{destination: {{host: foo.baz}}}}, {{destination: {{host: foo.baz}}, percentage: {{value: 101}}}}], {D}"
                )),
                Some("mirror percentage must have a max value of 100 (it has 101.000000)"),
            ),
            (
                "mirrors valid mirror percentage",
                h(&format!(
                    "mirrors: [{{destination: {{host: foo.baz}}, percentage: {{value: 1}}}}, {{destination: {{host: foo.bar}}, percentage: {{value: 50}}}}], {D}"
                )),
                None,
            ),
            (
                "mirrors negative mirror percentage",
                h(&format!(
                    "mirrors: [{{destination: {{host: foo.baz}}, percentage: {{value: -1}}}}], {D}"
                )),
                Some("mirror percentage must have a min value of 0 (it has -1.000000)"),
            ),
            (
                "mirrors bad destination",
                h(&format!(
                    "mirrors: [{{destination: {{host: 'foo.*'}}}}], {D}"
                )),
                Some("invalid"),
            ),
            (
                "conflicting mirror and mirrors",
                h(&format!(
                    "mirror: {{host: foo.baz}}, mirrors: [{{destination: {{host: foo.bar}}}}], {D}"
                )),
                Some("HTTP route cannot contain both mirror and mirrors"),
            ),
            ("timeout", h(&format!("timeout: 10s, {D}")), None),
            (
                "timeout too small",
                h(&format!("timeout: 0.5ms, {D}")),
                Some("duration must be greater than 1ms"),
            ),
            (
                "timeout not ms precision",
                h(&format!("timeout: 1.5ms, {D}")),
                Some("only durations to ms precision are supported"),
            ),
        ]);
    }

    #[test]
    fn route_destinations() {
        run(&[
            ("simple", tcp("[{destination: {host: foo.baz}}]"), None),
            (
                "wildcard dash",
                tcp("[{destination: {host: '*-foo.baz'}}]"),
                None,
            ),
            (
                "wildcard prefix",
                tcp("[{destination: {host: '*foo.baz'}}]"),
                None,
            ),
            (
                "wildcard",
                tcp("[{destination: {host: '*'}}]"),
                Some("invalid destination host *"),
            ),
            (
                "bad wildcard",
                tcp("[{destination: {host: 'foo.*'}}]"),
                Some("invalid"),
            ),
            (
                "bad fqdn",
                tcp("[{destination: {host: default/baz}}]"),
                Some("invalid"),
            ),
            (
                "no destination",
                tcp("[{}]"),
                Some("destination is required"),
            ),
            (
                "weighted",
                tcp(
                    "[{destination: {host: foo.baz.south}, weight: 25}, {destination: {host: foo.baz.east}, weight: 75}]",
                ),
                None,
            ),
            (
                "weight < 0",
                tcp(
                    "[{destination: {host: foo.baz.south}, weight: 5}, {destination: {host: foo.baz.east}, weight: -1}]",
                ),
                Some("weight -1 < 0"),
            ),
            (
                "total weight > 100",
                tcp(
                    "[{destination: {host: foo.baz.south}, weight: 550}, {destination: {host: foo.baz.east}, weight: 500}]",
                ),
                None,
            ),
            (
                "total weight < 100",
                tcp(
                    "[{destination: {host: foo.baz.south}, weight: 49}, {destination: {host: foo.baz.east}, weight: 50}]",
                ),
                None,
            ),
            (
                "total weight = 100",
                tcp(
                    "[{destination: {host: foo.baz.south}, weight: 100}, {destination: {host: foo.baz.east}, weight: 0}]",
                ),
                None,
            ),
            (
                "weight = 0",
                tcp("[{destination: {host: foo.baz.south}, weight: 0}]"),
                None,
            ),
            (
                "total weight = 0 with multi RouteDestination",
                tcp("[{destination: {host: foo.baz.south}}, {destination: {host: foo.baz.east}}]"),
                Some("total destination weight = 0"),
            ),
            // validateDestination
            (
                "destination empty",
                tcp("[{destination: {}}]"),
                Some("empty domain name not allowed"),
            ),
            (
                "destination full",
                tcp("[{destination: {host: foo.bar, subset: shiny, port: {number: 5000}}}]"),
                None,
            ),
            (
                "destination unnumbered selector",
                tcp("[{destination: {host: foo.bar, subset: shiny, port: {}}}]"),
                Some("port number 0 must be in the range 1..65535"),
            ),
            (
                "destination bad subset",
                tcp("[{destination: {host: foo.bar, subset: 'shiny_v1'}}]"),
                Some("subset name is invalid: shiny_v1"),
            ),
            (
                "destination upper-case subset",
                tcp("[{destination: {host: foo.bar, subset: V1}}]"),
                None,
            ),
            (
                "destination short name",
                tcp("[{destination: {host: reviews}}]"),
                None,
            ),
        ]);
    }

    #[test]
    fn gateway_semantics() {
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: vs\n  namespace: default\n  annotations: {internal.istio.io/route-semantics: gateway}\nspec:\n  hosts: ['*']\n  gateways: [ns/gw~name]\n  http: [{route: [{destination: {host: 'Some_Service'}}]}]\n";
        expect(
            "gateway semantics skip destination and gateway name checks",
            yaml,
            None,
        );
        let plain = yaml.replace(
            "  annotations: {internal.istio.io/route-semantics: gateway}\n",
            "",
        );
        let r = expect(
            "without gateway semantics",
            &plain,
            Some("invalid value for gateway name"),
        );
        assert!(r.has_error("invalid"), "{r}");
        assert!(
            r.errors
                .iter()
                .any(|e| e.path.to_string() == "spec.http[0].route[0].destination.host"),
            "{r}"
        );
    }

    #[test]
    fn cors_policy() {
        let c = |p: &str| http(&format!("{{corsPolicy: {p}, {D}}}"));
        const BASE: &str =
            "allowMethods: [GET, POST], allowHeaders: [header1, header2], exposeHeaders: [header3]";
        run(&[
            ("valid", c(&format!("{{{BASE}, maxAge: 2s}}")), None),
            (
                "bad method",
                c("{allowMethods: [GET, PUTT]}"),
                Some("\"PUTT\" is not a supported HTTP method"),
            ),
            (
                "lower-case method",
                c("{allowMethods: [get]}"),
                Some("is not a supported HTTP method"),
            ),
            ("wildcard method", c("{allowMethods: ['*']}"), None),
            (
                "bad header",
                c(
                    "{allowMethods: [GET, POST], allowHeaders: [header1, header2], exposeHeaders: ['']}",
                ),
                Some("header name cannot be empty"),
            ),
            (
                "bad allow header",
                c("{allowHeaders: ['bad header']}"),
                Some("is not a valid header name"),
            ),
            (
                "wildcard header",
                c("{allowHeaders: ['*'], exposeHeaders: ['*']}"),
                None,
            ),
            (
                "bad max age",
                c("{maxAge: 2.000000042s}"),
                Some("max_age duration is accurate only to seconds precision"),
            ),
            (
                "max age with milliseconds",
                c("{maxAge: 2500ms}"),
                Some("max_age duration is accurate only to seconds precision"),
            ),
            (
                "max age too small",
                c("{maxAge: 0s}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "empty matchType AllowOrigins",
                c("{allowOrigins: [{exact: ''}, {prefix: ''}, {regex: ''}]}"),
                Some("'' is not a valid match type for CORS allow origins"),
            ),
            (
                "unset AllowOrigins",
                c("{allowOrigins: [{}]}"),
                Some("is not a valid match type"),
            ),
            (
                "non empty matchType AllowOrigins",
                c(&format!(
                    "{{allowOrigins: [{{exact: exact}}, {{prefix: prefix}}, {{regex: regex}}], {BASE}, maxAge: 2s}}"
                )),
                None,
            ),
            (
                "bad regex AllowOrigins",
                c("{allowOrigins: [{regex: '('}]}"),
                Some("\"corsPolicy.allowOrigins\": error parsing regexp"),
            ),
            (
                "all fields",
                c("{allowOrigin: [a.com], allowCredentials: false, unmatchedPreflights: FORWARD}"),
                None,
            ),
        ]);
    }

    #[test]
    fn fault_injection() {
        let f = |fault: &str| http(&format!("{{fault: {fault}, {D}}}"));
        let abort = |a: &str| f(&format!("{{abort: {a}}}"));
        let delay = |d: &str| f(&format!("{{delay: {d}}}"));
        run(&[
            (
                "empty fault",
                f("{}"),
                Some("HTTP fault injection must have an abort and/or a delay"),
            ),
            (
                "valid",
                abort("{percentage: {value: 20}, httpStatus: 200}"),
                None,
            ),
            ("valid default", abort("{httpStatus: 200}"), None),
            (
                "invalid http status",
                abort("{percentage: {value: 20}, httpStatus: 9000}"),
                Some("HTTP status 9000 is not in range 200-599"),
            ),
            (
                "invalid low http status",
                abort("{percentage: {value: 20}, httpStatus: 100}"),
                Some("HTTP status 100 is not in range 200-599"),
            ),
            (
                "valid percentage",
                abort("{percentage: {value: 0.001}, httpStatus: 200}"),
                None,
            ),
            (
                "invalid fractional percent",
                abort("{percentage: {value: -10.0}, httpStatus: 200}"),
                Some("percentage -10 is neither 0.0, nor in range [0.0001, 100.0]"),
            ),
            (
                "grpc: valid",
                abort("{percentage: {value: 20}, grpcStatus: DEADLINE_EXCEEDED}"),
                None,
            ),
            (
                "grpc: valid default percentage",
                abort("{grpcStatus: DEADLINE_EXCEEDED}"),
                None,
            ),
            (
                "grpc: invalid status",
                abort("{percentage: {value: 20}, grpcStatus: BAD_STATUS}"),
                Some("gRPC status \"BAD_STATUS\" is not supported"),
            ),
            (
                "grpc: valid percentage",
                abort("{percentage: {value: 0.001}, grpcStatus: INTERNAL}"),
                None,
            ),
            (
                "grpc: invalid fractional percent",
                abort("{percentage: {value: -10.0}, grpcStatus: DEADLINE_EXCEEDED}"),
                Some("is neither 0.0"),
            ),
            (
                "http2 error",
                abort("{http2Error: PROTOCOL_ERROR}"),
                Some("HTTP/2 abort fault injection not supported yet"),
            ),
            (
                "abort without error type",
                abort("{percentage: {value: 1}}"),
                None,
            ),
            (
                "delay: valid fixed",
                delay("{percentage: {value: 20}, fixedDelay: 3s}"),
                None,
            ),
            ("delay: valid default", delay("{fixedDelay: 3s}"), None),
            (
                "delay: invalid percent",
                delay("{percentage: {value: 101}, fixedDelay: 3s}"),
                Some("percentage 101 is neither 0.0"),
            ),
            (
                "delay: invalid delay",
                delay("{percentage: {value: 20}, fixedDelay: 3.000000042s}"),
                Some("only durations to ms precision are supported"),
            ),
            (
                "delay: zero delay",
                delay("{fixedDelay: 0s}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "delay: valid fractional percentage",
                delay("{percentage: {value: 0.001}, fixedDelay: 3s}"),
                None,
            ),
            (
                "delay: invalid fractional percentage",
                delay("{percentage: {value: -10.0}, fixedDelay: 3s}"),
                Some("is neither 0.0"),
            ),
            (
                "delay: tiny percentage",
                delay("{percentage: {value: 0.00001}, fixedDelay: 3s}"),
                Some("is neither 0.0"),
            ),
            (
                "delay: exponential",
                delay("{exponentialDelay: 3s}"),
                Some("exponentialDelay not supported yet"),
            ),
            (
                "delay: deprecated percent",
                delay("{percent: 50, fixedDelay: 3s}"),
                None,
            ),
            (
                "abort and delay",
                f("{abort: {httpStatus: 503}, delay: {fixedDelay: 1s}}"),
                None,
            ),
        ]);
    }

    #[test]
    fn retries() {
        let r = |retry: &str| http(&format!("{{retries: {retry}, {D}}}"));
        run(&[
            (
                "valid",
                r("{attempts: 10, perTryTimeout: 2s, retryOn: '5xx,gateway-error'}"),
                None,
            ),
            ("disable retries", r("{attempts: 0}"), None),
            (
                "invalid, retry policy configured but attempts set to zero",
                r("{attempts: 0, perTryTimeout: 2s, retryOn: '5xx,gateway-error'}"),
                Some("http retry policy configured when attempts are set to 0 (disabled)"),
            ),
            ("valid default", r("{attempts: 10}"), None),
            (
                "valid http status retryOn",
                r("{attempts: 10, perTryTimeout: 2s, retryOn: '503,connect-failure'}"),
                None,
            ),
            (
                "valid grpc retryOn",
                r(
                    "{attempts: 3, retryOn: 'cancelled,deadline-exceeded,internal,resource-exhausted,unavailable'}",
                ),
                None,
            ),
            (
                "invalid attempts",
                r("{attempts: -1, perTryTimeout: 2s}"),
                Some("attempts cannot be negative"),
            ),
            (
                "invalid timeout",
                r("{attempts: 10, perTryTimeout: 2.000000001s}"),
                Some("only durations to ms precision are supported"),
            ),
            (
                "timeout too small",
                r("{attempts: 10, perTryTimeout: 0.000000999s}"),
                Some("duration must be greater than 1ms"),
            ),
            (
                "invalid backoff",
                r("{attempts: 10, backoff: 0.000000999s}"),
                Some("duration must be greater than 1ms"),
            ),
            ("valid backoff", r("{attempts: 10, backoff: 25ms}"), None),
            (
                "invalid policy retryOn",
                r("{attempts: 10, perTryTimeout: 2s, retryOn: '5xx,invalid policy'}"),
                Some("\"invalid policy\" is not a valid retryOn policy"),
            ),
            (
                "invalid http status retryOn",
                r("{attempts: 10, perTryTimeout: 2s, retryOn: '600,connect-failure'}"),
                Some("\"600\" is not a valid retryOn policy"),
            ),
            (
                "invalid, retryRemoteLocalities configured but attempts set to zero",
                r("{attempts: 0, retryRemoteLocalities: false}"),
                Some("http retry policy configured when attempts are set to 0"),
            ),
            (
                "retryIgnorePreviousHosts with zero attempts",
                r("{attempts: 0, retryIgnorePreviousHosts: true}"),
                None,
            ),
        ]);
    }

    #[test]
    fn rewrite() {
        let r = |rw: &str| http(&format!("{{rewrite: {rw}, {D}}}"));
        run(&[
            (
                "uri and authority",
                r("{uri: /path/to/resource, authority: foobar.org}"),
                None,
            ),
            ("uri", r("{uri: /path/to/resource}"), None),
            ("authority", r("{authority: foobar.org}"), None),
            (
                "uriRegexRewrite",
                r(
                    r"{uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$', rewrite: '\2/instance/\1'}}",
                ),
                None,
            ),
            (
                "uriRegexRewrite and authority",
                r(
                    r"{authority: foobar.org, uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$', rewrite: '\2/instance/\1'}}",
                ),
                None,
            ),
            (
                "uriRegexRewrite and uri",
                r(
                    r"{uri: /path/to/resource, uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$', rewrite: '\2/instance/\1'}}",
                ),
                Some("rewrite may only contain one of URI or UriRegexRewrite"),
            ),
            (
                "no uri, uriRegexRewrite, or authority",
                r("{}"),
                Some("rewrite must specify at least one of URI, UriRegexRewrite, or authority"),
            ),
            (
                "uriRegexRewrite missing match",
                r(r"{uriRegexRewrite: {rewrite: '\2/instance/\1'}}"),
                Some("UriRegexRewrite requires both Rewrite and Match fields to be specified"),
            ),
            (
                "uriRegexRewrite missing rewrite",
                r("{uriRegexRewrite: {match: '^/service/([^/]+)(/.*)$'}}"),
                Some("UriRegexRewrite requires both Rewrite and Match fields to be specified"),
            ),
            (
                "uriRegexRewrite invalid regex patterns",
                r("{uriRegexRewrite: {match: '[', rewrite: '['}}"),
                Some("\"HTTPRewrite.UriRegexRewrite.Match\": error parsing regexp"),
            ),
        ]);
    }

    #[test]
    fn redirect() {
        let r = |rd: &str| http(&format!("{{redirect: {rd}}}"));
        run(&[
            (
                "empty uri and authority",
                r("{uri: '', authority: ''}"),
                Some("redirect must specify URI, authority, scheme, or port"),
            ),
            (
                "too small redirect code",
                r("{uri: t, redirectCode: 299}"),
                Some("299 is not a valid redirect code, must be 3xx"),
            ),
            (
                "too large redirect code",
                r("{uri: t, redirectCode: 400}"),
                Some("400 is not a valid redirect code, must be 3xx"),
            ),
            ("empty authority", r("{uri: t}"), None),
            ("empty uri", r("{authority: t}"), None),
            (
                "empty redirect code",
                r("{uri: t, authority: t, redirectCode: 0}"),
                None,
            ),
            (
                "normal redirect",
                r("{uri: t, authority: t, redirectCode: 308}"),
                None,
            ),
            ("prefix_rewrite alone", r("{prefixRewrite: /bar}"), None),
            (
                "prefix_rewrite with authority",
                r("{authority: foo.example.com, prefixRewrite: /}"),
                None,
            ),
            (
                "uri and prefix_rewrite mutually exclusive",
                r("{uri: /old, prefixRewrite: /new}"),
                Some("redirect may only specify one of uri or prefix_rewrite"),
            ),
            ("scheme only", r("{scheme: https}"), None),
            (
                "bad scheme",
                r("{scheme: ftp}"),
                Some("invalid redirect scheme, must be \"http\" or \"https\""),
            ),
            ("port only", r("{port: 8443}"), None),
            ("bad port", r("{port: 70000}"), Some("port number 70000")),
            (
                "derivePort only",
                r("{derivePort: FROM_PROTOCOL_DEFAULT}"),
                None,
            ),
        ]);
    }

    #[test]
    fn direct_response() {
        let d = |dr: &str| http(&format!("{{directResponse: {dr}}}"));
        run(&[
            ("status 200", d("{status: 200}"), None),
            (
                "status 199",
                d("{status: 199}"),
                Some("HTTP status 199 is not in range 200-599"),
            ),
            ("status 600", d("{status: 600}"), None),
            (
                "status 601",
                d("{status: 601}"),
                Some("HTTP status 601 is not in range 200-599"),
            ),
            (
                "status missing",
                d("{}"),
                Some("HTTP status 0 is not in range 200-599"),
            ),
            (
                "with string body",
                d("{status: 200, body: {string: hello}}"),
                None,
            ),
            ("with empty body", d("{status: 200, body: {}}"), None),
            (
                "with string body over 1mb",
                d(&format!(
                    "{{status: 200, body: {{string: {}}}}}",
                    "a".repeat(2 * 1024 * 1024)
                )),
                Some(
                    "large direct_responses may impact control plane performance, must be less than 1MB",
                ),
            ),
            (
                "with bytes body",
                d("{status: 200, body: {bytes: aGVsbG8=}}"),
                None,
            ),
            (
                "with bytes body over 1mb",
                d(&format!(
                    "{{status: 200, body: {{bytes: {}}}}}",
                    "YWFh".repeat(350 * 1024)
                )),
                Some("must be less than 1MB"),
            ),
        ]);
    }

    #[test]
    fn findings_carry_paths() {
        let r = check(&vs(
            "{hosts: [foo.bar], http: [{route: [{destination: {host: a}, weight: -1}, {destination: {host: b}}], retries: {attempts: -1}, match: [{headers: {x: {prefix: ''}}}]}]}",
        ));
        let paths: Vec<String> = r.errors.iter().map(|e| e.path.to_string()).collect();
        for want in [
            "spec.http[0].route[0].weight",
            "spec.http[0].retries.attempts",
            "spec.http[0].match[0].headers.x",
        ] {
            assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
        }
        let r = check(&vs(
            "{hosts: [foo.bar], http: [{match: [{uri: {exact: /a}}], route: [{destination: {host: a}}]}, {match: [{uri: {exact: /a}}], route: [{destination: {host: a}}]}]}",
        ));
        assert_eq!(r.warnings.len(), 2, "{r}");
        assert_eq!(r.warnings[0].path.to_string(), "spec.http[1].match[0]");
        assert_eq!(r.warnings[1].path.to_string(), "spec.http[1]");
    }

    #[test]
    fn load_time_rejections() {
        // A null header match (Istio: "header match header cannot be null") and two members of
        // a oneof are rejected by the loader.
        for spec in [
            "{hosts: [a], http: [{match: [{headers: {header: null}}], route: [{destination: {host: a}}]}]}",
            "{hosts: [a], http: [{match: [{uri: {exact: /a, regex: /b}}], route: [{destination: {host: a}}]}]}",
            "{hosts: [a], http: [{corsPolicy: {unmatchedPreflights: SOMETIMES}, route: [{destination: {host: a}}]}]}",
            "{hosts: [a], http: [{redirect: {derivePort: FROM_NOWHERE}}]}",
            "{hosts: [a], tcp: [{match: [{port: -1}], route: [{destination: {host: a}}]}]}",
            "{hosts: [a], http: [{timeout: soon, route: [{destination: {host: a}}]}]}",
        ] {
            assert!(
                crate::load::from_str(&vs(spec), "t.yaml").is_err(),
                "{spec}"
            );
        }
    }
}
