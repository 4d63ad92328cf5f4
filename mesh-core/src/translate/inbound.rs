//! The sidecar's inbound side (istiod's `listener_inbound.go`, `filterchain_options.go` and
//! `authn/utils`): the `virtualInbound` listener on 15006 with a filter chain per workload port
//! and mutual TLS mode (`STRICT`, `PERMISSIVE`, `DISABLE`), the passthrough chains, the
//! listener filters that detect TLS and HTTP where a chain needs them, inbound clusters
//! `inbound|<port>||` and their route configurations.
//!
//! ```
//! use mesh_core::translate::inbound::{InboundPort, MtlsMode, PortProtocol, virtual_inbound_listener};
//!
//! let ports = [InboundPort::new(9080, PortProtocol::Http, MtlsMode::Strict)];
//! let l = virtual_inbound_listener(15006, &ports, MtlsMode::Permissive, &[]);
//! let json = mesh_core::dump::message_to_json(&l)?;
//! let names: Vec<&str> = json["filter_chains"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
//! assert_eq!(names[0], "virtualInbound-blackhole");
//! assert!(names.contains(&"0.0.0.0_9080"));
//! # Ok::<(), mesh_core::dump::DumpError>(())
//! ```

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster as envoy_cluster};
use envoy_types::pb::envoy::config::core::v3::{
    BindConfig, SocketAddress, TrafficDirection, TransportSocket, socket_address, transport_socket,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter,
    ListenerFilterChainMatchPredicate, filter, listener_filter,
    listener_filter_chain_match_predicate as predicate,
};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action,
    route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::listener::http_inspector::v3::HttpInspector;
use envoy_types::pb::envoy::extensions::filters::listener::original_dst::v3::OriginalDst;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SubjectAltNameMatcher,
    TlsParameters,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
    subject_alt_name_matcher::SanType,
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::envoy::r#type::v3::Int32Range;
use envoy_types::pb::google::protobuf::{BoolValue, Duration as PbDuration, UInt32Value};

use super::cluster::{ClusterDefaults, passthrough_cluster};
use super::listener::{blackhole_chain, socket, tcp_proxy_filter};
use super::tls::{SDS_DEFAULT, SDS_ROOT, TLS_TRANSPORT_SOCKET, sds_secret_config};
use crate::dump::to_any;

/// The inbound capture listener.
pub const VIRTUAL_INBOUND: &str = "virtualInbound";
/// The chain for HTTP traffic to ports the proxy does not know.
pub const VIRTUAL_INBOUND_CATCHALL_HTTP: &str = "virtualInbound-catchall-http";
/// The chain refusing traffic addressed to the capture port itself.
pub const VIRTUAL_INBOUND_BLACKHOLE: &str = "virtualInbound-blackhole";
/// The cluster forwarding inbound traffic to ports the proxy does not know.
pub const INBOUND_PASSTHROUGH_CLUSTER: &str = "InboundPassthroughCluster";
/// The source address inbound clusters connect from (so the app sees local traffic).
pub const INBOUND_PASSTHROUGH_BIND: &str = "127.0.0.6";

/// Istio's default downstream cipher suites for mesh mTLS.
pub const SUPPORTED_CIPHERS: &[&str] = &[
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
];

const MTLS_HTTP_ALPNS: &[&str] = &["istio-http/1.0", "istio-http/1.1", "istio-h2"];
const PLAINTEXT_HTTP_ALPNS: &[&str] = &["http/1.0", "http/1.1", "h2c"];
const MTLS_TCP_ALPNS: &[&str] = &["istio-peer-exchange", "istio"];
/// Every ALPN an Istio mTLS client offers (istiod's `allIstioMtlsALPNs`).
pub const ALL_ISTIO_MTLS_ALPNS: &[&str] = &[
    "istio",
    "istio-peer-exchange",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];

/// The effective mutual TLS mode of a port (after PeerAuthentication).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MtlsMode {
    /// Plaintext only.
    Disable,
    /// Plaintext and mutual TLS (Istio's default).
    #[default]
    Permissive,
    /// Mutual TLS only.
    Strict,
}

/// How the proxy treats a workload port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortProtocol {
    /// Declared HTTP (HTTP/1.1, HTTP/2, gRPC).
    Http,
    /// Declared HTTP/2 or gRPC: the inbound connection manager speaks h2 upstream too.
    Http2,
    /// Declared TCP (or TLS, Mongo, ...).
    Tcp,
    /// Unknown: detected per connection (`http_inspector`).
    Auto,
}

/// One workload port the sidecar receives traffic on.
#[derive(Clone, Debug, PartialEq)]
pub struct InboundPort {
    /// The port the workload listens on (the service's target port).
    pub port: u32,
    /// Its protocol.
    pub protocol: PortProtocol,
    /// Its mutual TLS mode.
    pub mtls: MtlsMode,
    /// Policy filters for HTTP chains (JWT authentication, RBAC), run before the router in
    /// this order.
    pub http_filters: Vec<HttpFilter>,
    /// Policy filters for TCP chains (network RBAC), run before the TCP proxy.
    pub network_filters: Vec<Filter>,
}

impl InboundPort {
    /// A port with its protocol and mode, and no policy filters.
    pub fn new(port: u32, protocol: PortProtocol, mtls: MtlsMode) -> Self {
        Self {
            port,
            protocol,
            mtls,
            http_filters: Vec::new(),
            network_filters: Vec::new(),
        }
    }
}

/// `model.BuildInboundSubsetKey`: `inbound|<port>||`.
pub fn inbound_cluster_name(port: u32) -> String {
    format!("inbound|{port}||")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ChainProtocol {
    Http,
    Tcp,
}

struct MatchOption {
    alpns: &'static [&'static str],
    tls_transport: bool,
    protocol: ChainProtocol,
    terminate_tls: bool,
}

const fn opt(
    alpns: &'static [&'static str],
    tls_transport: bool,
    protocol: ChainProtocol,
    terminate_tls: bool,
) -> MatchOption {
    MatchOption {
        alpns,
        tls_transport,
        protocol,
        terminate_tls,
    }
}

/// `getFilterChainMatchOptions`: the chains a port gets for its protocol and mode.
fn match_options(protocol: PortProtocol, mode: MtlsMode) -> Vec<MatchOption> {
    use ChainProtocol::{Http, Tcp};
    match (protocol, mode) {
        (PortProtocol::Http | PortProtocol::Http2, MtlsMode::Strict) => {
            vec![opt(&[], true, Http, true)]
        }
        (PortProtocol::Http | PortProtocol::Http2, MtlsMode::Permissive) => {
            vec![
                opt(ALL_ISTIO_MTLS_ALPNS, true, Http, true),
                opt(&[], false, Http, false),
            ]
        }
        (PortProtocol::Http | PortProtocol::Http2, MtlsMode::Disable) => {
            vec![opt(&[], false, Http, false)]
        }
        (PortProtocol::Auto, MtlsMode::Strict) => vec![
            opt(MTLS_HTTP_ALPNS, true, Http, true),
            opt(&[], true, Tcp, true),
        ],
        (PortProtocol::Auto, MtlsMode::Permissive) => vec![
            opt(MTLS_HTTP_ALPNS, true, Http, true),
            opt(PLAINTEXT_HTTP_ALPNS, false, Http, false),
            opt(MTLS_TCP_ALPNS, true, Tcp, true),
            opt(&[], false, Tcp, false),
            opt(&[], true, Tcp, false),
        ],
        (PortProtocol::Auto, MtlsMode::Disable) => vec![
            opt(PLAINTEXT_HTTP_ALPNS, false, Http, false),
            opt(&[], false, Tcp, false),
        ],
        (PortProtocol::Tcp, MtlsMode::Strict) => vec![opt(&[], true, Tcp, true)],
        (PortProtocol::Tcp, MtlsMode::Permissive) => {
            vec![
                opt(ALL_ISTIO_MTLS_ALPNS, true, Tcp, true),
                opt(&[], true, Tcp, false),
                opt(&[], false, Tcp, false),
            ]
        }
        (PortProtocol::Tcp, MtlsMode::Disable) => vec![opt(&[], false, Tcp, false)],
    }
}

/// `BuildInboundTLS`: require a client certificate from the mesh root; TLS 1.2-1.3 with
/// Istio's ciphers; ALPN `istio-peer-exchange`/`h2`/`http/1.1` for TCP chains, `h2`/`http/1.1`
/// for HTTP ones; peers from trust domain aliases accepted by SAN prefix.
pub fn inbound_tls(http: bool, trust_domain_aliases: &[String]) -> DownstreamTlsContext {
    let alpn: &[&str] = if http {
        &["h2", "http/1.1"]
    } else {
        &["istio-peer-exchange", "h2", "http/1.1"]
    };
    let sans = trust_domain_aliases
        .iter()
        .map(|td| SubjectAltNameMatcher {
            san_type: SanType::Uri as i32,
            matcher: Some(StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::Prefix(format!(
                    "spiffe://{td}/"
                ))),
                ignore_case: false,
            }),
            ..Default::default()
        })
        .collect();
    DownstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            alpn_protocols: alpn.iter().map(|s| s.to_string()).collect(),
            tls_params: Some(TlsParameters {
                cipher_suites: SUPPORTED_CIPHERS.iter().map(|s| s.to_string()).collect(),
                tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
                tls_maximum_protocol_version: TlsProtocol::TlSv13 as i32,
                ..Default::default()
            }),
            tls_certificate_sds_secret_configs: vec![sds_secret_config(SDS_DEFAULT)],
            validation_context_type: Some(ValidationContextType::CombinedValidationContext(
                CombinedCertificateValidationContext {
                    default_validation_context: Some(CertificateValidationContext {
                        match_typed_subject_alt_names: sans,
                        ..Default::default()
                    }),
                    validation_context_sds_secret_config: Some(sds_secret_config(SDS_ROOT)),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    }
}

/// `buildSidecarInboundHTTPRouteConfig`: one virtual host `inbound|http|<port>` with the
/// `default` route to the inbound cluster, no timeout, and Istio's inbound retry policy.
#[allow(deprecated)] // max_grpc_timeout, as istiod still writes it
pub fn inbound_route_configuration(port: u32, cluster: &str) -> RouteConfiguration {
    use envoy_types::pb::envoy::config::route::v3::RetryPolicy;
    let action = RouteAction {
        cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster.to_string())),
        timeout: Some(PbDuration::default()),
        max_stream_duration: Some(route_action::MaxStreamDuration {
            max_stream_duration: Some(PbDuration::default()),
            grpc_timeout_header_max: Some(PbDuration::default()),
            ..Default::default()
        }),
        retry_policy: Some(RetryPolicy {
            retry_on: "reset-before-request".into(),
            num_retries: Some(UInt32Value { value: 2 }),
            ..Default::default()
        }),
        ..Default::default()
    };
    RouteConfiguration {
        name: cluster.to_string(),
        virtual_hosts: vec![VirtualHost {
            name: format!("inbound|http|{port}"),
            domains: vec!["*".into()],
            routes: vec![Route {
                name: "default".into(),
                r#match: Some(RouteMatch {
                    path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
                    ..Default::default()
                }),
                action: Some(route::Action::Route(action)),
                ..Default::default()
            }],
            ..Default::default()
        }],
        validate_clusters: Some(BoolValue { value: false }),
        ..Default::default()
    }
}

/// The inbound HTTP connection manager: inline routes, the peer's certificate forwarded in
/// `x-forwarded-client-cert` (subject, URI, DNS), `use_remote_address` off.
fn inbound_hcm(
    stat_prefix: &str,
    routes: RouteConfiguration,
    h2: bool,
    policy_filters: &[HttpFilter],
) -> HttpConnectionManager {
    use http_connection_manager::{
        CodecType, ForwardClientCertDetails, PathWithEscapedSlashesAction, RouteSpecifier,
        SetCurrentClientCertDetails, UpgradeConfig,
    };
    HttpConnectionManager {
        codec_type: CodecType::Auto as i32,
        stat_prefix: stat_prefix.to_string(),
        normalize_path: Some(BoolValue { value: true }),
        path_with_escaped_slashes_action: PathWithEscapedSlashesAction::KeepUnchanged as i32,
        use_remote_address: Some(BoolValue { value: false }),
        forward_client_cert_details: ForwardClientCertDetails::AppendForward as i32,
        set_current_client_cert_details: Some(SetCurrentClientCertDetails {
            subject: Some(BoolValue { value: true }),
            dns: true,
            uri: true,
            ..Default::default()
        }),
        upgrade_configs: vec![UpgradeConfig {
            upgrade_type: "websocket".into(),
            ..Default::default()
        }],
        stream_idle_timeout: Some(PbDuration::default()),
        http2_protocol_options: h2.then(Default::default),
        route_specifier: Some(RouteSpecifier::RouteConfig(routes)),
        http_filters: policy_filters
            .iter()
            .cloned()
            .chain(std::iter::once(HttpFilter {
                name: "envoy.filters.http.router".into(),
                config_type: Some(http_filter::ConfigType::TypedConfig(to_any(
                    &Router::default(),
                ))),
                ..Default::default()
            }))
            .collect(),
        ..Default::default()
    }
}

/// The chains of one port (or of the passthrough, `port` 0).
fn chains_for(p: &InboundPort, aliases: &[String]) -> Vec<FilterChain> {
    let (port, protocol, mode) = (p.port, p.protocol, p.mtls);
    let passthrough = port == 0;
    let cluster = if passthrough {
        INBOUND_PASSTHROUGH_CLUSTER.to_string()
    } else {
        inbound_cluster_name(port)
    };
    match_options(protocol, mode)
        .into_iter()
        .map(|o| {
            let http = o.protocol == ChainProtocol::Http;
            let name = match (passthrough, http) {
                (true, true) => VIRTUAL_INBOUND_CATCHALL_HTTP.to_string(),
                (true, false) => VIRTUAL_INBOUND.to_string(),
                (false, _) => format!("0.0.0.0_{port}"),
            };
            let filters = if http {
                let stat = if passthrough {
                    format!("{cluster};")
                } else {
                    format!("inbound_0.0.0.0_{port};")
                };
                let hcm = inbound_hcm(
                    &stat,
                    inbound_route_configuration(port, &cluster),
                    protocol == PortProtocol::Http2,
                    &p.http_filters,
                );
                vec![Filter {
                    name: "envoy.filters.network.http_connection_manager".into(),
                    config_type: Some(filter::ConfigType::TypedConfig(to_any(&hcm))),
                }]
            } else {
                let mut filters = p.network_filters.clone();
                filters.push(tcp_proxy_filter(&cluster, &cluster));
                filters
            };
            FilterChain {
                name,
                filter_chain_match: Some(FilterChainMatch {
                    destination_port: (port > 0).then_some(UInt32Value { value: port }),
                    transport_protocol: if o.tls_transport { "tls" } else { "raw_buffer" }.into(),
                    application_protocols: o.alpns.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                }),
                filters,
                transport_socket: o.terminate_tls.then(|| TransportSocket {
                    name: TLS_TRANSPORT_SOCKET.into(),
                    config_type: Some(transport_socket::ConfigType::TypedConfig(to_any(
                        &inbound_tls(http, aliases),
                    ))),
                }),
                ..Default::default()
            }
        })
        .collect()
}

fn port_range(p: u32) -> ListenerFilterChainMatchPredicate {
    let p = i32::try_from(p).unwrap_or(i32::MAX);
    ListenerFilterChainMatchPredicate {
        rule: Some(predicate::Rule::DestinationPortRange(Int32Range {
            start: p,
            end: p.saturating_add(1),
        })),
    }
}

/// `listenerPredicateExcludePorts`: true for any of `ports`.
fn any_port(ports: &[u32]) -> ListenerFilterChainMatchPredicate {
    if ports.len() == 1 {
        return port_range(ports[0]);
    }
    ListenerFilterChainMatchPredicate {
        rule: Some(predicate::Rule::OrMatch(predicate::MatchSet {
            rules: ports.iter().map(|p| port_range(*p)).collect(),
        })),
    }
}

fn listener_filter<M: prost::Message + prost::Name>(
    name: &str,
    config: &M,
    disabled: Option<ListenerFilterChainMatchPredicate>,
) -> ListenerFilter {
    ListenerFilter {
        name: name.into(),
        filter_disabled: disabled,
        config_type: Some(listener_filter::ConfigType::TypedConfig(to_any(config))),
    }
}

/// `populateListenerFilters`: the original destination, then the TLS and HTTP inspectors,
/// each disabled on the ports whose chains do not need it.
fn listener_filters(chains: &[FilterChain]) -> Vec<ListenerFilter> {
    use std::collections::BTreeMap;
    let mut inspectors: BTreeMap<u32, (bool, bool)> = BTreeMap::new();
    for c in chains {
        let m = c.filter_chain_match.clone().unwrap_or_default();
        let port = m.destination_port.map_or(0, |p| p.value);
        let tls = m.transport_protocol == "tls";
        let http = m
            .application_protocols
            .iter()
            .any(|a| a == "http/1.1" || a == "h2c");
        let e = inspectors.entry(port).or_default();
        e.0 |= tls;
        e.1 |= http;
    }
    let mut out = vec![listener_filter(
        "envoy.filters.listener.original_dst",
        &OriginalDst::default(),
        None,
    )];
    if inspectors.values().any(|i| i.0) {
        let default_on = inspectors.get(&0).is_some_and(|i| i.0);
        let disabled = if default_on {
            let off: Vec<u32> = inspectors
                .iter()
                .filter(|(p, i)| **p != 0 && !i.0)
                .map(|(p, _)| *p)
                .collect();
            (!off.is_empty()).then(|| any_port(&off))
        } else {
            let on: Vec<u32> = inspectors
                .iter()
                .filter(|(p, i)| **p != 0 && i.0)
                .map(|(p, _)| *p)
                .collect();
            (!on.is_empty()).then(|| ListenerFilterChainMatchPredicate {
                rule: Some(predicate::Rule::NotMatch(Box::new(any_port(&on)))),
            })
        };
        out.push(listener_filter(
            "envoy.filters.listener.tls_inspector",
            &TlsInspector::default(),
            disabled,
        ));
    }
    if inspectors.values().any(|i| i.1) {
        let off: Vec<u32> = inspectors
            .iter()
            .filter(|(_, i)| !i.1)
            .map(|(p, _)| *p)
            .collect();
        out.push(listener_filter(
            "envoy.filters.listener.http_inspector",
            &HttpInspector::default(),
            (!off.is_empty()).then(|| any_port(&off)),
        ));
    }
    out
}

/// `inboundVirtualListener`: `0.0.0.0:<capture_port>`: the black hole for the capture port,
/// the passthrough chains (for ports the proxy does not know, in the mesh or namespace mode),
/// then a set of chains per workload port.
pub fn virtual_inbound_listener(
    capture_port: u32,
    ports: &[InboundPort],
    passthrough_mode: MtlsMode,
    trust_domain_aliases: &[String],
) -> Listener {
    virtual_inbound_listener_with(
        capture_port,
        ports,
        &InboundPort::new(0, PortProtocol::Auto, passthrough_mode),
        trust_domain_aliases,
    )
}

/// [`virtual_inbound_listener`] with the passthrough given as a port (number ignored), so
/// that its chains carry the workload's policy filters too.
pub fn virtual_inbound_listener_with(
    capture_port: u32,
    ports: &[InboundPort],
    passthrough: &InboundPort,
    trust_domain_aliases: &[String],
) -> Listener {
    let mut chains = vec![blackhole_chain(VIRTUAL_INBOUND_BLACKHOLE, capture_port)];
    let passthrough = InboundPort {
        port: 0,
        protocol: PortProtocol::Auto,
        ..passthrough.clone()
    };
    chains.extend(chains_for(&passthrough, trust_domain_aliases));
    for p in ports {
        chains.extend(chains_for(p, trust_domain_aliases));
    }
    Listener {
        name: VIRTUAL_INBOUND.into(),
        address: Some(socket("0.0.0.0", capture_port)),
        traffic_direction: TrafficDirection::Inbound as i32,
        continue_on_listener_filters_timeout: true,
        listener_filters_timeout: Some(PbDuration::default()),
        listener_filters: listener_filters(&chains),
        filter_chains: chains,
        ..Default::default()
    }
}

fn bind_127_0_0_6() -> BindConfig {
    BindConfig {
        source_address: Some(SocketAddress {
            address: INBOUND_PASSTHROUGH_BIND.into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(0)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `buildInboundCluster` for a workload port reached through redirection: the original
/// destination, connected from 127.0.0.6 so the application sees local traffic.
pub fn inbound_cluster(port: u32, defaults: &ClusterDefaults) -> Cluster {
    let name = inbound_cluster_name(port);
    let mut c = super::cluster::base_cluster(&name, envoy_cluster::DiscoveryType::OriginalDst);
    super::cluster::apply_inbound_connection_pool(&mut c, defaults);
    c.lb_policy = envoy_cluster::LbPolicy::ClusterProvided as i32;
    c.cleanup_interval = Some(PbDuration {
        seconds: 9_223_372_035, // istiod's maxSecondsValue: the largest duration Envoy accepts (~292 years)
        nanos: 0,
    });
    c.upstream_bind_config = Some(bind_127_0_0_6());
    c
}

/// `buildInboundCluster` for a Sidecar ingress listener with a `defaultEndpoint`: a STATIC
/// cluster to that one address (a socket, or a `unix://` pipe), connected from 127.0.0.6 when
/// it is a socket.
pub fn inbound_cluster_to(
    port: u32,
    endpoint: envoy_types::pb::envoy::config::core::v3::Address,
    defaults: &ClusterDefaults,
) -> Cluster {
    use envoy_types::pb::envoy::config::endpoint::v3::{
        ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
    };
    let name = inbound_cluster_name(port);
    let pipe = matches!(
        endpoint.address,
        Some(envoy_types::pb::envoy::config::core::v3::address::Address::Pipe(_))
    );
    let mut c = super::cluster::base_cluster(&name, envoy_cluster::DiscoveryType::Static);
    super::cluster::apply_inbound_connection_pool(&mut c, defaults);
    c.load_assignment = Some(ClusterLoadAssignment {
        cluster_name: name,
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: vec![LbEndpoint {
                host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                    address: Some(endpoint),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    if !pipe {
        c.upstream_bind_config = Some(bind_127_0_0_6());
    }
    c
}

/// `buildInboundPassthroughCluster`.
pub fn inbound_passthrough_cluster(defaults: &ClusterDefaults) -> Cluster {
    let mut c = passthrough_cluster(defaults);
    c.name = INBOUND_PASSTHROUGH_CLUSTER.into();
    c.alt_stat_name = format!("{INBOUND_PASSTHROUGH_CLUSTER};");
    c.upstream_bind_config = Some(bind_127_0_0_6());
    c
}
