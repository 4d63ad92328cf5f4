//! VirtualService HTTP rules to Envoy routes (istiod's `route/route.go` and `route/retry`).
//!
//! One Envoy `Route` per `HTTPMatchRequest` (one for a rule without matches), in rule order,
//! stopping after the first catch-all; matches for another port, other source labels, other
//! gateways or another source namespace are dropped, as istiod drops them for a given proxy.
//!
//! ```
//! use mesh_core::api::networking::HttpRoute;
//! use mesh_core::translate::route::{RouteContext, build_http_routes};
//!
//! let rules: Vec<HttpRoute> = serde_json::from_value(serde_json::json!([
//!     {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
//!      "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
//!     {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}
//! ]))?;
//! let cluster = |d: &mesh_core::api::networking::Destination| {
//!     format!("outbound|9080|{}|{}.default.svc.cluster.local", d.subset, d.host)
//! };
//! let ctx = RouteContext::new(9080, &cluster);
//! let routes = build_http_routes(&rules, &ctx);
//! assert_eq!(routes.len(), 2);
//! let json = mesh_core::dump::message_to_json(&routes[0])?;
//! assert_eq!(json["match"]["headers"][0]["name"], "end-user");
//! assert_eq!(json["route"]["cluster"], "outbound|9080|v2|reviews.default.svc.cluster.local");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{
    DataSource, HeaderValue, HeaderValueOption, RuntimeFractionalPercent, data_source,
    header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3::route_action::RequestMirrorPolicy;
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, HeaderMatcher, QueryParameterMatcher, RedirectAction, RetryPolicy, Route,
    RouteAction, RouteMatch, WeightedCluster, header_matcher, query_parameter_matcher,
    redirect_action::{self, RedirectResponseCode},
    retry_policy::{RetryBackOff, RetryHostPredicate, RetryPriority},
    route, route_action, route_match, weighted_cluster,
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
    FaultDelay as EnvoyFaultDelay, fault_delay,
};
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy as EnvoyCorsPolicy;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort as EnvoyFaultAbort, HttpFault, fault_abort,
};
use envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
use envoy_types::pb::envoy::extensions::retry::priority::previous_priorities::v3::PreviousPrioritiesConfig;
use envoy_types::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::pb::google::protobuf::{BoolValue, Duration as PbDuration, UInt32Value};

use crate::api::Duration;
use crate::api::networking::{
    AbortError, CorsPolicy, DelayType, Destination, HeaderOperations, HttpBody, HttpDirectResponse,
    HttpFaultInjection, HttpMatchRequest, HttpRedirect, HttpRetry, HttpRoute,
    Percent as IstioPercent, RedirectPort, RedirectPortSelection, StringMatch, UnmatchedPreflights,
};
use crate::dump::to_any;

/// Istio's default `retryOn` for outbound routes.
pub const DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

/// What route building needs to know about the proxy and the listener.
pub struct RouteContext<'a> {
    /// The listener (service) port the routes are built for.
    pub listener_port: u32,
    /// Whether the listener terminates TLS (for redirect schemes).
    pub is_tls: bool,
    /// The proxy's labels, for `sourceLabels` matches.
    pub proxy_labels: BTreeMap<String, String>,
    /// The proxy's namespace, for `sourceNamespace` matches.
    pub proxy_namespace: String,
    /// The gateways the routes are for (`mesh` for sidecars).
    pub gateways: Vec<String>,
    /// Whether the destination uses consistent hashing (the default retry policy then omits the
    /// previous-hosts predicate).
    pub consistent_hash: bool,
    /// Cluster name of a destination (`outbound|port|subset|host`).
    pub cluster_name: &'a dyn Fn(&Destination) -> String,
}

impl<'a> RouteContext<'a> {
    /// A context for a sidecar (gateway `mesh`) with no labels.
    pub fn new(listener_port: u32, cluster_name: &'a dyn Fn(&Destination) -> String) -> Self {
        Self {
            listener_port,
            is_tls: false,
            proxy_labels: BTreeMap::new(),
            proxy_namespace: String::new(),
            gateways: vec!["mesh".to_string()],
            consistent_hash: false,
            cluster_name,
        }
    }
}

fn pb(d: &Duration) -> PbDuration {
    PbDuration {
        seconds: d.seconds(),
        nanos: d.subsec_nanos(),
    }
}

/// The routes of a VirtualService's HTTP rules for one proxy and port.
pub fn build_http_routes(rules: &[HttpRoute], ctx: &RouteContext<'_>) -> Vec<Route> {
    // Routes are large (over 2 KB): room for all, so that none is moved by growing.
    let mut out = Vec::with_capacity(rules.iter().map(|r| r.r#match.len().max(1)).sum());
    for rule in rules {
        if rule.r#match.is_empty() {
            if let Some(r) = translate_route(rule, None, ctx) {
                out.push(r);
            }
            // A rule without matches catches everything: later rules are unreachable.
            break;
        }
        let mut catch_all = false;
        for m in rule.r#match.iter().filter(|m| source_matches(m, ctx)) {
            if let Some(r) = translate_route(rule, Some(m), ctx) {
                catch_all |= is_catch_all(&r);
                out.push(r);
            }
            if catch_all {
                break;
            }
        }
        if catch_all {
            break;
        }
    }
    out
}

/// `sourceMatchHTTP` plus the port filter: whether a match applies to this proxy and port.
fn source_matches(m: &HttpMatchRequest, ctx: &RouteContext<'_>) -> bool {
    if m.port != 0 && m.port != ctx.listener_port {
        return false;
    }
    if !m
        .source_labels
        .iter()
        .all(|(k, v)| ctx.proxy_labels.get(k) == Some(v))
    {
        return false;
    }
    if !m.gateways.is_empty() && !m.gateways.iter().any(|g| ctx.gateways.contains(g)) {
        return false;
    }
    m.source_namespace.is_empty() || m.source_namespace == ctx.proxy_namespace
}

/// `IsCatchAllRoute`: prefix `/` (or regex `.*`) with no header or query matchers.
fn is_catch_all(r: &Route) -> bool {
    let Some(m) = &r.r#match else { return false };
    let path_all = match &m.path_specifier {
        Some(route_match::PathSpecifier::Prefix(p)) => p == "/",
        Some(route_match::PathSpecifier::PathSeparatedPrefix(p)) => p == "/",
        Some(route_match::PathSpecifier::SafeRegex(r)) => r.regex == ".*",
        _ => false,
    };
    path_all
        && m.headers.is_empty()
        && m.query_parameters.is_empty()
        && m.dynamic_metadata.is_empty()
}

/// One route for a rule and one of its matches (`TranslateRoute`).
pub fn translate_route(
    rule: &HttpRoute,
    m: Option<&HttpMatchRequest>,
    ctx: &RouteContext<'_>,
) -> Option<Route> {
    let name = match m.filter(|m| !m.name.is_empty()) {
        Some(m) if !rule.name.is_empty() => format!("{}.{}", rule.name, m.name),
        Some(m) => m.name.clone(),
        None => rule.name.clone(),
    };
    let mut out = Route {
        name,
        r#match: Some(translate_route_match(m)),
        ..Default::default()
    };
    let (request, response) = header_operations(
        rule.headers.as_ref().and_then(|h| h.request.as_ref()),
        rule.headers.as_ref().and_then(|h| h.response.as_ref()),
    );
    out.request_headers_to_add = request.add;
    out.request_headers_to_remove = request.remove;
    out.response_headers_to_add = response.add;
    out.response_headers_to_remove = response.remove;
    if let Some(fault) = rule.fault.as_ref().and_then(translate_fault) {
        crate::dump::proto_insert(
            &mut out.typed_per_filter_config,
            "envoy.filters.http.fault".into(),
            to_any(&fault),
        );
    }
    if let Some(cors) = &rule.cors_policy {
        crate::dump::proto_insert(
            &mut out.typed_per_filter_config,
            "envoy.filters.http.cors".into(),
            to_any(&translate_cors(cors)),
        );
    }

    if let Some(redirect) = &rule.redirect {
        out.action = Some(route::Action::Redirect(redirect_action(redirect, ctx)?));
    } else if let Some(direct) = &rule.direct_response {
        out.action = Some(route::Action::DirectResponse(direct_response(direct)));
    } else {
        let mut action = RouteAction::default();
        set_timeout(&mut action, rule.timeout.as_ref());
        action.retry_policy = retry_policy(rule.retries.as_ref(), ctx.consistent_hash);
        if let Some(rw) = &rule.rewrite {
            if !rw.uri.is_empty() {
                action.prefix_rewrite = rw.uri.clone();
            }
            if let Some(rr) = &rw.uri_regex_rewrite {
                action.regex_rewrite = Some(
                    envoy_types::pb::envoy::r#type::matcher::v3::RegexMatchAndSubstitute {
                        pattern: Some(RegexMatcher {
                            regex: rr.r#match.clone(),
                            ..Default::default()
                        }),
                        substitution: rr.rewrite.clone(),
                    },
                );
            }
            if !rw.authority.is_empty() {
                action.host_rewrite_specifier = Some(
                    route_action::HostRewriteSpecifier::HostRewriteLiteral(rw.authority.clone()),
                );
            }
        }
        if action.host_rewrite_specifier.is_none() && !request.authority.is_empty() {
            action.host_rewrite_specifier = Some(
                route_action::HostRewriteSpecifier::HostRewriteLiteral(request.authority.clone()),
            );
        }
        action.request_mirror_policies = mirror_policies(rule, ctx);
        let destinations: Vec<_> = rule
            .route
            .iter()
            .filter(|d| d.destination.is_some())
            .collect();
        match destinations.as_slice() {
            [] => return None,
            [only] => {
                let dst = only.destination.as_ref()?;
                action.cluster_specifier = Some(route_action::ClusterSpecifier::Cluster((ctx
                    .cluster_name)(
                    dst
                )));
                let (dreq, dresp) = header_operations(
                    only.headers.as_ref().and_then(|h| h.request.as_ref()),
                    only.headers.as_ref().and_then(|h| h.response.as_ref()),
                );
                out.request_headers_to_add.extend(dreq.add);
                out.request_headers_to_remove.extend(dreq.remove);
                out.response_headers_to_add.extend(dresp.add);
                out.response_headers_to_remove.extend(dresp.remove);
                if !dreq.authority.is_empty() {
                    action.host_rewrite_specifier = Some(
                        route_action::HostRewriteSpecifier::HostRewriteLiteral(dreq.authority),
                    );
                }
            }
            many => {
                let clusters = many
                    .iter()
                    .filter(|d| d.weight > 0)
                    .filter_map(|d| {
                        let dst = d.destination.as_ref()?;
                        let (dreq, dresp) = header_operations(d.headers.as_ref().and_then(|h| h.request.as_ref()), d.headers.as_ref().and_then(|h| h.response.as_ref()));
                        Some(weighted_cluster::ClusterWeight {
                            name: (ctx.cluster_name)(dst),
                            weight: u32::try_from(d.weight).ok().map(|value| UInt32Value { value }),
                            request_headers_to_add: dreq.add,
                            request_headers_to_remove: dreq.remove,
                            response_headers_to_add: dresp.add,
                            response_headers_to_remove: dresp.remove,
                            host_rewrite_specifier: (!dreq.authority.is_empty())
                                .then_some(weighted_cluster::cluster_weight::HostRewriteSpecifier::HostRewriteLiteral(dreq.authority)),
                            ..Default::default()
                        })
                    })
                    .collect();
                action.cluster_specifier = Some(route_action::ClusterSpecifier::WeightedClusters(
                    WeightedCluster {
                        clusters,
                        ..Default::default()
                    },
                ));
            }
        }
        out.action = Some(route::Action::Route(action));
    }
    Some(out)
}

/// `TranslateRouteMatch` for sidecar semantics (prefix stays a prefix).
pub fn translate_route_match(m: Option<&HttpMatchRequest>) -> RouteMatch {
    let mut out = RouteMatch {
        path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
        ..Default::default()
    };
    let Some(m) = m else { return out };
    for (name, sm) in &m.headers {
        out.headers.push(header_match(name, sm));
    }
    for (name, sm) in &m.without_headers {
        let mut h = header_match(name, sm);
        h.invert_match = true;
        // treat_missing_header_as_empty conflicts with present_match.
        if !is_present_match(sm) {
            h.treat_missing_header_as_empty = true;
        }
        out.headers.push(h);
    }
    out.headers.sort_by(|a, b| a.name.cmp(&b.name));
    match &m.uri {
        Some(StringMatch::Exact(p)) => {
            out.path_specifier = Some(route_match::PathSpecifier::Path(p.clone()))
        }
        Some(StringMatch::Prefix(p)) => {
            out.path_specifier = Some(route_match::PathSpecifier::Prefix(p.clone()))
        }
        Some(StringMatch::Regex(r)) => {
            out.path_specifier = Some(route_match::PathSpecifier::SafeRegex(RegexMatcher {
                regex: r.clone(),
                ..Default::default()
            }))
        }
        _ => {}
    }
    out.case_sensitive = Some(BoolValue {
        value: !m.ignore_uri_case,
    });
    for (name, sm) in [
        (":method", &m.method),
        (":authority", &m.authority),
        (":scheme", &m.scheme),
    ] {
        if let Some(sm) = sm {
            out.headers.push(header_match(name, sm));
        }
    }
    for (name, sm) in &m.query_params {
        let spec = if is_present_match(sm) {
            Some(query_parameter_matcher::QueryParameterMatchSpecifier::PresentMatch(true))
        } else {
            string_matcher(sm)
                .map(query_parameter_matcher::QueryParameterMatchSpecifier::StringMatch)
        };
        out.query_parameters.push(QueryParameterMatcher {
            name: name.clone(),
            query_parameter_match_specifier: spec,
        });
    }
    out
}

/// `canBeConvertedToPresentMatch`: an empty match, or the regex `*`.
fn is_present_match(sm: &StringMatch) -> bool {
    matches!(sm, StringMatch::Unset) || matches!(sm, StringMatch::Regex(r) if r == "*")
}

fn string_matcher(sm: &StringMatch) -> Option<StringMatcher> {
    let pattern = match sm {
        StringMatch::Exact(s) => string_matcher::MatchPattern::Exact(s.clone()),
        StringMatch::Prefix(s) => string_matcher::MatchPattern::Prefix(s.clone()),
        StringMatch::Regex(r) => string_matcher::MatchPattern::SafeRegex(RegexMatcher {
            regex: r.clone(),
            ..Default::default()
        }),
        StringMatch::Unset => return None,
    };
    Some(StringMatcher {
        match_pattern: Some(pattern),
        ignore_case: false,
    })
}

fn header_match(name: &str, sm: &StringMatch) -> HeaderMatcher {
    let spec = if is_present_match(sm) {
        Some(header_matcher::HeaderMatchSpecifier::PresentMatch(true))
    } else {
        string_matcher(sm).map(header_matcher::HeaderMatchSpecifier::StringMatch)
    };
    HeaderMatcher {
        name: name.to_string(),
        header_match_specifier: spec,
        ..Default::default()
    }
}

/// `setTimeout`: the rule's timeout, or 0 (no timeout); `max_grpc_timeout` follows it. istiod
/// still writes the deprecated `max_grpc_timeout` (its replacement `max_stream_duration` has
/// regressions for sidecars), and so do we, to match its output.
#[allow(deprecated)]
fn set_timeout(action: &mut RouteAction, timeout: Option<&Duration>) {
    let t = timeout.map(pb).unwrap_or_default();
    action.timeout = Some(t);
    action.max_grpc_timeout = Some(t);
}

/// `retry.ConvertPolicy`: Istio's default policy when the rule has none; none when
/// `attempts <= 0`; numeric `retryOn` entries become `retriable_status_codes`.
pub fn retry_policy(retry: Option<&HttpRetry>, consistent_hash: bool) -> Option<RetryPolicy> {
    let previous_hosts = || {
        vec![RetryHostPredicate {
            name: "envoy.retry_host_predicates.previous_hosts".into(),
            config_type: Some(envoy_types::pb::envoy::config::route::v3::retry_policy::retry_host_predicate::ConfigType::TypedConfig(
                to_any(&PreviousHostsPredicate::default()),
            )),
        }]
    };
    let mut out = RetryPolicy {
        num_retries: Some(UInt32Value { value: 2 }),
        retry_on: DEFAULT_RETRY_ON.into(),
        host_selection_retry_max_attempts: 5,
        retry_host_predicate: if consistent_hash {
            Vec::new()
        } else {
            previous_hosts()
        },
        ..Default::default()
    };
    let Some(r) = retry else { return Some(out) };
    let attempts = u32::try_from(r.attempts).ok().filter(|a| *a > 0)?;
    out.num_retries = Some(UInt32Value { value: attempts });
    if !r.retry_on.is_empty() {
        let mut names = Vec::new();
        for part in r
            .retry_on
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match part.parse::<u32>() {
                Ok(code) if (100..=599).contains(&code) => out.retriable_status_codes.push(code),
                _ => names.push(part),
            }
        }
        out.retry_on = names.join(",");
        if !out.retriable_status_codes.is_empty()
            && !out.retry_on.contains("retriable-status-codes")
        {
            out.retry_on.push_str(",retriable-status-codes");
        }
    }
    out.per_try_timeout = r.per_try_timeout.as_ref().map(pb);
    if let Some(ignore) = r.retry_ignore_previous_hosts {
        out.retry_host_predicate = if ignore { previous_hosts() } else { Vec::new() };
    }
    if r.retry_remote_localities == Some(true) {
        out.retry_priority = Some(RetryPriority {
            name: "envoy.retry_priorities.previous_priorities".into(),
            config_type: Some(envoy_types::pb::envoy::config::route::v3::retry_policy::retry_priority::ConfigType::TypedConfig(
                to_any(&PreviousPrioritiesConfig { update_frequency: 2 }),
            )),
        });
    }
    if let Some(b) = &r.backoff {
        out.retry_back_off = Some(RetryBackOff {
            base_interval: Some(pb(b)),
            ..Default::default()
        });
    }
    Some(out)
}

/// `ApplyRedirect`; `None` for a redirect code Envoy cannot send (the route gets no action in
/// istiod, so it is left out here).
fn redirect_action(r: &HttpRedirect, ctx: &RouteContext<'_>) -> Option<RedirectAction> {
    let response_code = match r.redirect_code {
        0 | 301 => RedirectResponseCode::MovedPermanently,
        302 => RedirectResponseCode::Found,
        303 => RedirectResponseCode::SeeOther,
        307 => RedirectResponseCode::TemporaryRedirect,
        308 => RedirectResponseCode::PermanentRedirect,
        _ => return None,
    };
    let mut out = RedirectAction {
        host_redirect: r.authority.clone(),
        response_code: response_code as i32,
        ..Default::default()
    };
    out.path_rewrite_specifier = Some(if r.prefix_rewrite.is_empty() {
        redirect_action::PathRewriteSpecifier::PathRedirect(r.uri.clone())
    } else {
        redirect_action::PathRewriteSpecifier::PrefixRewrite(r.prefix_rewrite.clone())
    });
    if !r.scheme.is_empty() {
        out.scheme_rewrite_specifier = Some(
            redirect_action::SchemeRewriteSpecifier::SchemeRedirect(r.scheme.clone()),
        );
    }
    if let Some(port) = &r.redirect_port {
        out.port_redirect = match port {
            RedirectPort::Port(p) => *p,
            RedirectPort::DerivePort(RedirectPortSelection::FromRequestPort) => ctx.listener_port,
            RedirectPort::DerivePort(_) => 0,
        };
        let scheme = if !r.scheme.is_empty() {
            r.scheme.as_str()
        } else if ctx.is_tls {
            "https"
        } else {
            "http"
        };
        if (out.port_redirect == 80 && scheme == "http")
            || (out.port_redirect == 443 && scheme == "https")
        {
            out.port_redirect = 0;
        }
    }
    Some(out)
}

/// `ApplyDirectResponse`. A `bytes` body is base64 in the API and raw bytes in Envoy.
fn direct_response(d: &HttpDirectResponse) -> DirectResponseAction {
    let body = match &d.body {
        Some(HttpBody::String(s)) => Some(DataSource {
            specifier: Some(data_source::Specifier::InlineString(s.clone())),
            ..Default::default()
        }),
        Some(HttpBody::Bytes(b64)) => Some(DataSource {
            specifier: Some(data_source::Specifier::InlineBytes(
                decode_base64(b64).unwrap_or_else(|| b64.as_bytes().to_vec()),
            )),
            ..Default::default()
        }),
        _ => None,
    };
    DirectResponseAction {
        status: d.status,
        body,
        ..Default::default()
    }
}

/// Standard base64 (validation already rejected anything else).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Header operations for one direction: Envoy's lists, and the authority to rewrite to.
#[derive(Default)]
struct HeaderOps {
    add: Vec<HeaderValueOption>,
    remove: Vec<String>,
    authority: String,
}

/// `TranslateHeadersOperations`: `set` overwrites, `add` appends, both sorted by name;
/// pseudo-headers and `host` are dropped (an `:authority`/`host` value becomes a host rewrite).
fn header_operations(
    request: Option<&HeaderOperations>,
    response: Option<&HeaderOperations>,
) -> (HeaderOps, HeaderOps) {
    let one = |ops: Option<&HeaderOperations>| {
        let mut out = HeaderOps::default();
        let Some(ops) = ops else { return out };
        for (map, action) in [
            (&ops.set, HeaderAppendAction::OverwriteIfExistsOrAdd),
            (&ops.add, HeaderAppendAction::AppendIfExistsOrAdd),
        ] {
            for (k, v) in map {
                if k.eq_ignore_ascii_case(":authority") || k.eq_ignore_ascii_case("host") {
                    out.authority = v.clone();
                }
                if k.starts_with(':') || k.eq_ignore_ascii_case("host") {
                    continue;
                }
                out.add.push(HeaderValueOption {
                    header: Some(HeaderValue {
                        key: k.clone(),
                        value: v.clone(),
                        ..Default::default()
                    }),
                    append_action: action as i32,
                    ..Default::default()
                });
            }
        }
        out.remove = ops
            .remove
            .iter()
            .filter(|k| !k.starts_with(':') && !k.eq_ignore_ascii_case("host"))
            .cloned()
            .collect();
        out
    };
    (one(request), one(response))
}

fn fractional(numerator: u32, denominator: DenominatorType) -> FractionalPercent {
    FractionalPercent {
        numerator,
        denominator: denominator as i32,
    }
}

/// `translatePercentToFractionalPercent`: a double percentage as parts per million.
fn per_million(p: &IstioPercent) -> FractionalPercent {
    fractional((p.value * 10_000.0) as u32, DenominatorType::Million)
}

/// `MirrorPercent` / `MirrorPercentByPolicy` and `TranslateRequestMirrorPolicy`: 100% unless
/// given; an explicit 0 turns the mirror off.
fn mirror_policies(rule: &HttpRoute, ctx: &RouteContext<'_>) -> Vec<RequestMirrorPolicy> {
    let policy = |cluster: String, fraction: FractionalPercent| RequestMirrorPolicy {
        cluster,
        runtime_fraction: Some(RuntimeFractionalPercent {
            default_value: Some(fraction),
            ..Default::default()
        }),
        trace_sampled: Some(BoolValue { value: false }),
        ..Default::default()
    };
    let mut out = Vec::new();
    if let Some(mirror) = &rule.mirror {
        let fraction = match (&rule.mirror_percentage, rule.mirror_percent) {
            (Some(p), _) => (p.value > 0.0).then(|| per_million(p)),
            (None, Some(p)) => (p > 0).then(|| fractional(p, DenominatorType::Hundred)),
            (None, None) => Some(fractional(100, DenominatorType::Hundred)),
        };
        if let Some(f) = fraction {
            out.push(policy((ctx.cluster_name)(mirror), f));
        }
    }
    for m in &rule.mirrors {
        let fraction = match &m.percentage {
            Some(p) => (p.value > 0.0).then(|| per_million(p)),
            None => Some(fractional(100, DenominatorType::Hundred)),
        };
        if let (Some(dst), Some(f)) = (&m.destination, fraction) {
            out.push(policy((ctx.cluster_name)(dst), f));
        }
    }
    out
}

/// `TranslateFault`: fixed delays only (exponential ones are dropped, as istiod does), HTTP or
/// gRPC aborts; `None` when nothing is left.
pub fn translate_fault(f: &HttpFaultInjection) -> Option<HttpFault> {
    let delay = f.delay.as_ref().and_then(|d| {
        let Some(DelayType::FixedDelay(fixed)) = &d.http_delay_type else {
            return None;
        };
        let percent = i32::max(d.percent, 0) as u32;
        Some(EnvoyFaultDelay {
            percentage: Some(
                d.percentage
                    .as_ref()
                    .map_or(fractional(percent, DenominatorType::Hundred), per_million),
            ),
            fault_delay_secifier: Some(fault_delay::FaultDelaySecifier::FixedDelay(pb(fixed))),
        })
    });
    let abort = f.abort.as_ref().and_then(|a| {
        let error_type = match &a.error_type {
            Some(AbortError::HttpStatus(code)) => {
                fault_abort::ErrorType::HttpStatus(u32::try_from(*code).ok()?)
            }
            Some(AbortError::GrpcStatus(name)) => {
                fault_abort::ErrorType::GrpcStatus(crate::api::networking::grpc_status_code(name)?)
            }
            _ => return None,
        };
        Some(EnvoyFaultAbort {
            percentage: a.percentage.as_ref().map(per_million),
            error_type: Some(error_type),
            ..Default::default()
        })
    });
    if delay.is_none() && abort.is_none() {
        return None;
    }
    Some(HttpFault {
        delay,
        abort,
        ..Default::default()
    })
}

/// `TranslateCORSPolicy`.
pub fn translate_cors(c: &CorsPolicy) -> EnvoyCorsPolicy {
    let origins = if !c.allow_origins.is_empty() {
        c.allow_origins.iter().filter_map(string_matcher).collect()
    } else {
        c.allow_origin
            .iter()
            .map(|o| StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::Exact(o.clone())),
                ignore_case: false,
            })
            .collect()
    };
    EnvoyCorsPolicy {
        allow_origin_string_match: origins,
        allow_methods: c.allow_methods.join(","),
        allow_headers: c.allow_headers.join(","),
        expose_headers: c.expose_headers.join(","),
        max_age: c
            .max_age
            .as_ref()
            .map(|d| d.seconds().to_string())
            .unwrap_or_default(),
        allow_credentials: c.allow_credentials.map(|value| BoolValue { value }),
        filter_enabled: Some(RuntimeFractionalPercent {
            default_value: Some(fractional(100, DenominatorType::Hundred)),
            ..Default::default()
        }),
        forward_not_matching_preflights: Some(BoolValue {
            value: c.unmatched_preflights != UnmatchedPreflights::Ignore,
        }),
        ..Default::default()
    }
}

/// `BuildDefaultHTTPOutboundRoute`: the route of a service port without a VirtualService.
pub fn default_outbound_route(cluster: &str, consistent_hash: bool) -> Route {
    let mut action = RouteAction {
        cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster.to_string())),
        ..Default::default()
    };
    action.retry_policy = retry_policy(None, consistent_hash);
    set_timeout(&mut action, None);
    Route {
        name: "default".into(),
        r#match: Some(translate_route_match(None)),
        action: Some(route::Action::Route(action)),
        ..Default::default()
    }
}

/// `ConsistentHashToHashPolicy`: a DestinationRule's consistent hash key as the route's hash
/// policy (header, cookie, source IP or query parameter); `None` without a hash key.
pub fn hash_policy(
    hash: &crate::api::networking::ConsistentHashLb,
) -> Option<route_action::HashPolicy> {
    use crate::api::networking::HashKey;
    use route_action::hash_policy as hp;
    let spec = match hash.hash_key.as_ref()? {
        HashKey::HttpHeaderName(name) => hp::PolicySpecifier::Header(hp::Header {
            header_name: name.clone(),
            ..Default::default()
        }),
        HashKey::HttpCookie(c) => hp::PolicySpecifier::Cookie(hp::Cookie {
            name: c.name.clone(),
            ttl: c.ttl.as_ref().map(pb),
            path: c.path.clone(),
            attributes: c
                .attributes
                .iter()
                .map(|a| hp::CookieAttribute {
                    name: a.name.clone(),
                    value: a.value.clone(),
                })
                .collect(),
        }),
        HashKey::UseSourceIp(on) => {
            hp::PolicySpecifier::ConnectionProperties(hp::ConnectionProperties { source_ip: *on })
        }
        HashKey::HttpQueryParameterName(name) => {
            hp::PolicySpecifier::QueryParameter(hp::QueryParameter { name: name.clone() })
        }
    };
    Some(route_action::HashPolicy {
        policy_specifier: Some(spec),
        terminal: false,
    })
}
