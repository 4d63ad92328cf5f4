//! A traffic simulator over translated resources (the idea of istiod's `pilot/pkg/simulation`):
//! a call goes in (address, port, TLS, SNI, ALPN, host, path, headers); the listener, filter
//! chain, route configuration, virtual host, route and cluster it reaches come out, following
//! Envoy's matching rules. Teams can assert in CI where a request goes without running Envoy.
//!
//! Matching as Envoy does it:
//! - listeners: for an outbound call, the listener on the exact `address:port`, else
//!   `0.0.0.0:port`, else the capture listener's (`virtualOutbound`) own chains; for an inbound
//!   call, `virtualInbound`; for a gateway, the listener bound to the port;
//! - filter chains: destination port, destination IP prefix (longest), server name (exact, then
//!   the longest wildcard), transport protocol (`tls` or `raw_buffer`), application protocols
//!   (the ALPN offered, or what the HTTP inspector detects on plaintext HTTP), each step keeping
//!   the most specific chains and falling back to those that leave the field unset; then the
//!   default chain;
//! - virtual hosts: exact domain, then the longest `*.suffix`, then the longest `prefix.*`,
//!   then `*` (the port stripped when the route configuration ignores it);
//! - routes: in order, by path (prefix, exact, regex, path-separated prefix, case
//!   sensitivity), headers (every `HeaderMatcher` form, inverted, missing-as-empty) and query
//!   parameters.
//!
//! ```
//! use mesh_core::model::{MeshOptions, Proxy, ProxyType, Store};
//! use mesh_core::simulate::{Call, simulate};
//! use mesh_core::translate::sidecar::{SidecarOptions, translate_sidecar};
//!
//! let objects = mesh_core::load::from_str(r#"
//! apiVersion: v1
//! kind: Service
//! metadata: {name: reviews, namespace: default}
//! spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 9080}], selector: {app: reviews}}
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: reviews, namespace: default}
//! spec:
//!   hosts: [reviews]
//!   http:
//!   - match: [{headers: {end-user: {exact: jason}}}]
//!     route: [{destination: {host: reviews, subset: v2}}]
//!   - route: [{destination: {host: reviews, subset: v1}}]
//! "#, "inline.yaml")?;
//! let mut store = Store::new(MeshOptions::default());
//! store.apply_all(objects.into_iter().map(|l| l.object));
//! let snapshot = store.snapshot();
//! let proxy = Proxy::sidecar("productpage-0", "default", "10.244.0.9".parse()?, Default::default(), "cluster.local");
//! let config = translate_sidecar(&snapshot, &proxy, &SidecarOptions::default());
//!
//! let call = Call::http("10.96.0.20", 9080, "reviews", "/reviews/1").header("end-user", "jason");
//! let hit = simulate(&config, &call)?;
//! assert_eq!(hit.listener, "0.0.0.0_9080");
//! assert_eq!(hit.route_config.as_deref(), Some("9080"));
//! assert_eq!(hit.virtual_host.as_deref(), Some("reviews.default.svc.cluster.local:9080"));
//! assert_eq!(hit.cluster.as_deref(), Some("outbound|9080|v2|reviews.default.svc.cluster.local"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{address, socket_address};
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, Route, RouteConfiguration, VirtualHost,
    header_matcher::HeaderMatchSpecifier, query_parameter_matcher::QueryParameterMatchSpecifier,
    route, route_action, route_match,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use prost::Message;

use crate::translate::sidecar::ProxyResources;

/// Where a call enters the proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallMode {
    /// From the application, captured on the way out (sidecar outbound).
    #[default]
    Outbound,
    /// From the network to the workload (sidecar inbound, `virtualInbound`).
    Inbound,
    /// To a gateway's bound listener.
    Gateway,
}

/// What the client speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallProtocol {
    /// HTTP/1.1.
    #[default]
    Http,
    /// HTTP/2 (prior knowledge over plaintext: `h2c`).
    Http2,
    /// Opaque TCP.
    Tcp,
}

/// One call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Call {
    /// Where it enters.
    pub mode: CallMode,
    /// The destination IP.
    pub address: String,
    /// The destination port.
    pub port: u32,
    /// What the client speaks.
    pub protocol: CallProtocol,
    /// Whether the client starts TLS.
    pub tls: bool,
    /// The TLS server name (SNI).
    pub sni: Option<String>,
    /// The ALPN the client offers (TLS only).
    pub alpn: Vec<String>,
    /// The `:authority` / `Host`.
    pub host: String,
    /// The path, with any query string.
    pub path: String,
    /// The method.
    pub method: String,
    /// Other request headers (names lower case).
    pub headers: BTreeMap<String, String>,
}

impl Call {
    /// A plaintext HTTP/1.1 GET from the application to `address:port`.
    pub fn http(address: &str, port: u32, host: &str, path: &str) -> Call {
        Call {
            address: address.to_string(),
            port,
            host: host.to_string(),
            path: path.to_string(),
            method: "GET".into(),
            ..Default::default()
        }
    }

    /// A plaintext TCP connection to `address:port`.
    pub fn tcp(address: &str, port: u32) -> Call {
        Call {
            address: address.to_string(),
            port,
            protocol: CallProtocol::Tcp,
            ..Default::default()
        }
    }

    /// With a request header.
    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers
            .insert(name.to_ascii_lowercase(), value.to_string());
        self
    }

    /// With TLS, the given SNI and ALPN.
    pub fn with_tls(mut self, sni: &str, alpn: &[&str]) -> Call {
        self.tls = true;
        self.sni = (!sni.is_empty()).then(|| sni.to_string());
        self.alpn = alpn.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Entering as `mode`.
    pub fn mode(mut self, mode: CallMode) -> Call {
        self.mode = mode;
        self
    }

    /// With this method.
    pub fn method(mut self, method: &str) -> Call {
        self.method = method.to_string();
        self
    }
}

/// Where a call went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The listener that took the connection.
    pub listener: String,
    /// The filter chain (its name, or `#<index>` when unnamed; `default` for the default chain).
    pub filter_chain: String,
    /// The route configuration, for HTTP chains.
    pub route_config: Option<String>,
    /// The virtual host.
    pub virtual_host: Option<String>,
    /// The route's name (may be empty) and index in its virtual host.
    pub route: Option<(String, usize)>,
    /// The cluster (the first of weighted clusters).
    pub cluster: Option<String>,
    /// Every weighted cluster with its weight.
    pub weighted_clusters: Vec<(String, u32)>,
    /// The status of a direct response.
    pub direct_response: Option<u32>,
    /// Whether the answer is a redirect (a route's, or `require_tls` sending plaintext to HTTPS).
    pub redirect: bool,
}

/// Why a call went nowhere.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimulationError {
    /// No listener takes the address and port.
    #[error("no listener for {0}")]
    NoListener(String),
    /// The listener has no matching filter chain and no default (connection closed).
    #[error("listener {0}: no filter chain matches")]
    NoFilterChain(String),
    /// The chain names a route configuration that is not in the resources.
    #[error("route configuration {0} not found")]
    MissingRouteConfig(String),
    /// No virtual host matches the host (Envoy answers 404).
    #[error("route configuration {0}: no virtual host for {1:?} (404)")]
    NoVirtualHost(String, String),
    /// No route matches (Envoy answers 404).
    #[error("virtual host {0}: no route matches (404)")]
    NoRoute(String),
    /// The chain has neither an HTTP connection manager nor a TCP proxy.
    #[error("filter chain {0}: no terminal filter")]
    NoTerminalFilter(String),
}

/// Runs `call` through `resources`.
pub fn simulate(resources: &ProxyResources, call: &Call) -> Result<Outcome, SimulationError> {
    let listener = pick_listener(&resources.listeners, call)?;
    let (chain_name, chain) = pick_chain(listener, call)?;
    let mut out = Outcome {
        listener: listener.name.clone(),
        filter_chain: chain_name,
        ..Default::default()
    };
    for f in &chain.filters {
        if let Some(hcm) = typed::<HttpConnectionManager>(f, "HttpConnectionManager") {
            let rc = match &hcm.route_specifier {
                Some(RouteSpecifier::Rds(rds)) => resources
                    .routes
                    .iter()
                    .find(|r| r.name == rds.route_config_name)
                    .cloned()
                    .ok_or_else(|| {
                        SimulationError::MissingRouteConfig(rds.route_config_name.clone())
                    })?,
                Some(RouteSpecifier::RouteConfig(rc)) => rc.clone(),
                _ => return Err(SimulationError::MissingRouteConfig(String::new())),
            };
            out.route_config = Some(rc.name.clone());
            route_http(&rc, call, &mut out)?;
            return Ok(out);
        }
        if let Some(tcp) = typed::<TcpProxy>(f, "TcpProxy") {
            match tcp.cluster_specifier {
                Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => out.cluster = Some(c),
                Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) => {
                    out.weighted_clusters = w
                        .clusters
                        .iter()
                        .map(|c| (c.name.clone(), c.weight))
                        .collect();
                    out.cluster = out.weighted_clusters.first().map(|c| c.0.clone());
                }
                None => {}
            }
            return Ok(out);
        }
    }
    Err(SimulationError::NoTerminalFilter(out.filter_chain))
}

fn typed<M: Message + Default>(f: &Filter, suffix: &str) -> Option<M> {
    match &f.config_type {
        Some(filter::ConfigType::TypedConfig(any)) if any.type_url.ends_with(suffix) => {
            M::decode(any.value.as_slice()).ok()
        }
        _ => None,
    }
}

fn socket_of(l: &Listener) -> Option<(String, u32)> {
    match l.address.as_ref()?.address.as_ref()? {
        address::Address::SocketAddress(sa) => Some((
            sa.address.clone(),
            match sa.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => p,
                _ => 0,
            },
        )),
        _ => None,
    }
}

fn pick_listener<'a>(
    listeners: &'a [Listener],
    call: &Call,
) -> Result<&'a Listener, SimulationError> {
    let at = |ip: &str| {
        listeners
            .iter()
            .find(|l| socket_of(l).is_some_and(|(a, p)| a == ip && p == call.port))
    };
    let found = match call.mode {
        CallMode::Inbound => listeners
            .iter()
            .find(|l| l.name == crate::translate::inbound::VIRTUAL_INBOUND),
        CallMode::Gateway => at(&call.address).or_else(|| at("0.0.0.0")),
        CallMode::Outbound => at(&call.address).or_else(|| at("0.0.0.0")).or_else(|| {
            listeners
                .iter()
                .find(|l| l.use_original_dst.as_ref().is_some_and(|b| b.value))
        }),
    };
    found.ok_or_else(|| SimulationError::NoListener(format!("{}:{}", call.address, call.port)))
}

/// The ALPN the filter chain match sees.
fn application_protocols(call: &Call) -> Vec<String> {
    if call.tls {
        return call.alpn.clone();
    }
    match call.protocol {
        CallProtocol::Http => vec!["http/1.1".into()],
        CallProtocol::Http2 => vec!["h2c".into()],
        CallProtocol::Tcp => Vec::new(),
    }
}

fn ip_in(prefix: &str, len: u32, ip: &str) -> Option<u32> {
    let (Ok(net), Ok(ip)) = (
        prefix.parse::<std::net::IpAddr>(),
        ip.parse::<std::net::IpAddr>(),
    ) else {
        return None;
    };
    let matches = match (net, ip) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len.min(32))
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len.min(128))
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    };
    matches.then_some(len)
}

/// How well a server name pattern matches the SNI: exact beats the longest wildcard.
fn sni_rank(pattern: &str, sni: &str) -> Option<usize> {
    if pattern.eq_ignore_ascii_case(sni) {
        return Some(usize::MAX);
    }
    let suffix = pattern.strip_prefix('*')?;
    (sni.len() > suffix.len()
        && sni
            .to_ascii_lowercase()
            .ends_with(&suffix.to_ascii_lowercase()))
    .then_some(suffix.len())
}

/// Envoy's filter chain selection: each criterion narrows to the most specific matches, with
/// chains leaving it unset as the fallback.
fn pick_chain<'a>(
    l: &'a Listener,
    call: &Call,
) -> Result<(String, &'a FilterChain), SimulationError> {
    let mut candidates: Vec<(usize, &FilterChain)> = l.filter_chains.iter().enumerate().collect();
    let narrow = |cands: Vec<(usize, &'a FilterChain)>,
                  score: &dyn Fn(&FilterChain) -> Option<Option<usize>>| {
        // score: None = does not match; Some(None) = criterion unset; Some(Some(r)) = rank.
        let scored: Vec<(usize, &FilterChain, Option<Option<usize>>)> =
            cands.into_iter().map(|(i, c)| (i, c, score(c))).collect();
        let best = scored.iter().filter_map(|(_, _, s)| s.flatten()).max();
        match best {
            Some(b) => scored
                .into_iter()
                .filter(|(_, _, s)| *s == Some(Some(b)))
                .map(|(i, c, _)| (i, c))
                .collect::<Vec<_>>(),
            None => scored
                .into_iter()
                .filter(|(_, _, s)| *s == Some(None))
                .map(|(i, c, _)| (i, c))
                .collect(),
        }
    };
    let m = |c: &FilterChain| c.filter_chain_match.clone().unwrap_or_default();
    candidates = narrow(candidates, &|c| match m(c).destination_port {
        Some(p) if p.value == call.port => Some(Some(1)),
        Some(_) => None,
        None => Some(None),
    });
    candidates = narrow(candidates, &|c| {
        let ranges = m(c).prefix_ranges;
        if ranges.is_empty() {
            return Some(None);
        }
        ranges
            .iter()
            .filter_map(|r| {
                ip_in(
                    &r.address_prefix,
                    r.prefix_len.as_ref().map_or(0, |v| v.value),
                    &call.address,
                )
            })
            .max()
            .map(|len| Some(len as usize))
    });
    candidates = narrow(candidates, &|c| {
        let names = m(c).server_names;
        if names.is_empty() {
            return Some(None);
        }
        let sni = call.sni.as_deref()?;
        names
            .iter()
            .filter_map(|n| sni_rank(n, sni))
            .max()
            .map(Some)
    });
    let transport = if call.tls { "tls" } else { "raw_buffer" };
    candidates = narrow(candidates, &|c| {
        let t = m(c).transport_protocol;
        if t.is_empty() {
            Some(None)
        } else if t == transport {
            Some(Some(1))
        } else {
            None
        }
    });
    let alpn = application_protocols(call);
    candidates = narrow(candidates, &|c| {
        let protos = m(c).application_protocols;
        if protos.is_empty() {
            Some(None)
        } else if protos.iter().any(|p| alpn.contains(p)) {
            Some(Some(1))
        } else {
            None
        }
    });
    match candidates.first() {
        Some((i, c)) => Ok((
            if c.name.is_empty() {
                format!("#{i}")
            } else {
                c.name.clone()
            },
            c,
        )),
        None => l
            .default_filter_chain
            .as_ref()
            .map(|c| ("default".to_string(), c))
            .ok_or_else(|| SimulationError::NoFilterChain(l.name.clone())),
    }
}

/// Envoy's virtual host selection.
fn pick_virtual_host<'a>(rc: &'a RouteConfiguration, host: &str) -> Option<&'a VirtualHost> {
    let host = host.to_ascii_lowercase();
    let stripped = if rc.ignore_port_in_host_matching {
        match host.rsplit_once(':') {
            Some((h, p))
                if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(']')
                    || host.starts_with('[') && host.contains("]:") =>
            {
                h.to_string()
            }
            _ => host.clone(),
        }
    } else {
        host.clone()
    };
    let h = stripped.as_str();
    let mut best: Option<(u8, usize, &VirtualHost)> = None;
    for vh in &rc.virtual_hosts {
        for d in &vh.domains {
            let d = d.to_ascii_lowercase();
            let rank = if d == h {
                Some((4, usize::MAX))
            } else if d == "*" {
                Some((1, 0))
            } else if let Some(suffix) = d.strip_prefix('*') {
                (h.len() > suffix.len() && h.ends_with(suffix)).then_some((3, suffix.len()))
            } else if let Some(prefix) = d.strip_suffix('*') {
                (h.len() > prefix.len() && h.starts_with(prefix)).then_some((2, prefix.len()))
            } else {
                None
            };
            if let Some((class, len)) = rank
                && best.is_none_or(|(bc, bl, _)| (class, len) > (bc, bl))
            {
                best = Some((class, len, vh));
            }
        }
    }
    best.map(|(_, _, vh)| vh)
}

fn string_match(m: &StringMatcher, value: &str) -> bool {
    let (v, ic) = (value, m.ignore_case);
    let eq = |a: &str, b: &str| {
        if ic {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let lower = |s: &str| {
        if ic {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    match &m.match_pattern {
        Some(string_matcher::MatchPattern::Exact(e)) => eq(v, e),
        Some(string_matcher::MatchPattern::Prefix(p)) => lower(v).starts_with(&lower(p)),
        Some(string_matcher::MatchPattern::Suffix(s)) => lower(v).ends_with(&lower(s)),
        Some(string_matcher::MatchPattern::Contains(s)) => lower(v).contains(&lower(s)),
        Some(string_matcher::MatchPattern::SafeRegex(r)) => full_regex(&r.regex, v),
        _ => false,
    }
}

fn full_regex(pattern: &str, value: &str) -> bool {
    regex::Regex::new(&format!("^(?:{pattern})$")).is_ok_and(|re| re.is_match(value))
}

fn header_value<'c>(call: &'c Call, name: &str) -> Option<&'c str> {
    match name {
        ":authority" | "host" => Some(&call.host),
        ":method" => Some(&call.method),
        ":path" => Some(&call.path),
        ":scheme" => Some(if call.tls { "https" } else { "http" }),
        other => call.headers.get(other).map(String::as_str),
    }
}

#[allow(deprecated)] // the legacy forms: other control planes still write them
fn header_matches(h: &HeaderMatcher, call: &Call) -> bool {
    let value = header_value(call, &h.name.to_ascii_lowercase());
    let value = match value {
        None if h.treat_missing_header_as_empty => Some(""),
        v => v,
    };
    let matched = match (&h.header_match_specifier, value) {
        (Some(HeaderMatchSpecifier::PresentMatch(p)), v) => v.is_some() == *p,
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(HeaderMatchSpecifier::ExactMatch(e)), Some(v)) => v == e,
        (Some(HeaderMatchSpecifier::PrefixMatch(p)), Some(v)) => v.starts_with(p.as_str()),
        (Some(HeaderMatchSpecifier::SuffixMatch(s)), Some(v)) => v.ends_with(s.as_str()),
        (Some(HeaderMatchSpecifier::ContainsMatch(s)), Some(v)) => v.contains(s.as_str()),
        (Some(HeaderMatchSpecifier::SafeRegexMatch(r)), Some(v)) => full_regex(&r.regex, v),
        (Some(HeaderMatchSpecifier::StringMatch(m)), Some(v)) => string_match(m, v),
        (Some(HeaderMatchSpecifier::RangeMatch(r)), Some(v)) => {
            v.parse::<i64>().is_ok_and(|n| n >= r.start && n < r.end)
        }
    };
    // A missing header never matches, inverted or not (unless treated as empty).
    if value.is_none()
        && !matches!(
            h.header_match_specifier,
            Some(HeaderMatchSpecifier::PresentMatch(_))
        )
    {
        return false;
    }
    matched != h.invert_match
}

fn query_params(path: &str) -> BTreeMap<String, String> {
    path.split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

fn query_matches(q: &QueryParameterMatcher, params: &BTreeMap<String, String>) -> bool {
    let v = params.get(&q.name);
    match &q.query_parameter_match_specifier {
        Some(QueryParameterMatchSpecifier::PresentMatch(p)) => v.is_some() == *p,
        Some(QueryParameterMatchSpecifier::StringMatch(m)) => v.is_some_and(|v| string_match(m, v)),
        None => v.is_some(),
    }
}

fn route_matches(r: &Route, call: &Call) -> bool {
    let Some(m) = &r.r#match else { return false };
    let path = call.path.split(['?', '#']).next().unwrap_or_default();
    let case_sensitive = m.case_sensitive.as_ref().is_none_or(|b| b.value);
    let norm = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_ascii_lowercase()
        }
    };
    let path_ok = match &m.path_specifier {
        Some(route_match::PathSpecifier::Prefix(p)) => norm(path).starts_with(&norm(p)),
        Some(route_match::PathSpecifier::Path(p)) => norm(path) == norm(p),
        Some(route_match::PathSpecifier::SafeRegex(re)) => full_regex(&re.regex, path),
        Some(route_match::PathSpecifier::PathSeparatedPrefix(p)) => {
            let (path, p) = (norm(path), norm(p));
            path == p || path.starts_with(&format!("{}/", p.trim_end_matches('/')))
        }
        _ => false,
    };
    if !path_ok {
        return false;
    }
    if !m.headers.iter().all(|h| header_matches(h, call)) {
        return false;
    }
    let params = query_params(&call.path);
    m.query_parameters.iter().all(|q| query_matches(q, &params))
}

fn route_http(
    rc: &RouteConfiguration,
    call: &Call,
    out: &mut Outcome,
) -> Result<(), SimulationError> {
    let vh = pick_virtual_host(rc, &call.host)
        .ok_or_else(|| SimulationError::NoVirtualHost(rc.name.clone(), call.host.clone()))?;
    out.virtual_host = Some(vh.name.clone());
    let all = envoy_types::pb::envoy::config::route::v3::virtual_host::TlsRequirementType::All;
    if vh.require_tls == all as i32 && !call.tls {
        // Envoy answers 301 to https before any route.
        out.redirect = true;
        return Ok(());
    }
    let (i, r) = vh
        .routes
        .iter()
        .enumerate()
        .find(|(_, r)| route_matches(r, call))
        .ok_or_else(|| SimulationError::NoRoute(vh.name.clone()))?;
    out.route = Some((r.name.clone(), i));
    match &r.action {
        Some(route::Action::Route(a)) => match &a.cluster_specifier {
            Some(route_action::ClusterSpecifier::Cluster(c)) => out.cluster = Some(c.clone()),
            Some(route_action::ClusterSpecifier::WeightedClusters(w)) => {
                out.weighted_clusters = w
                    .clusters
                    .iter()
                    .map(|c| (c.name.clone(), c.weight.as_ref().map_or(0, |v| v.value)))
                    .collect();
                out.cluster = out.weighted_clusters.first().map(|c| c.0.clone());
            }
            _ => {}
        },
        Some(route::Action::DirectResponse(d)) => out.direct_response = Some(d.status),
        Some(route::Action::Redirect(_)) => out.redirect = true,
        _ => {}
    }
    Ok(())
}
