//! Sidecar listeners (istiod's `listener.go` and `listener_builder.go`): the HTTP connection
//! manager of outbound HTTP ports, TCP proxies, outbound per-port listeners and the
//! `virtualOutbound` listener on 15001.
//!
//! The filter chains use Envoy's own filters only. istiod also inserts Istio-proxy extensions
//! (`istio.metadata_exchange`, `istio.alpn`, `istio.stats`) that upstream Envoy does not have;
//! they are left out so that stock Envoy (and `envoy --mode validate`) accepts the output.
//!
//! ```
//! use mesh_core::translate::listener::{virtual_outbound_listener, VIRTUAL_OUTBOUND};
//! use mesh_core::translate::vhost::CatchAll;
//!
//! let l = virtual_outbound_listener(15001, &CatchAll::default());
//! assert_eq!(l.name, VIRTUAL_OUTBOUND);
//! let json = mesh_core::dump::message_to_json(&l)?;
//! assert_eq!(json["filter_chains"][1]["name"], "virtualOutbound-catchall-tcp");
//! # Ok::<(), mesh_core::dump::DumpError>(())
//! ```

use envoy_types::pb::envoy::config::core::v3::Address;
use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, SocketAddress, TrafficDirection, address,
    config_source, socket_address,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, filter,
};
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::Cors;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::google::protobuf::{BoolValue, Duration as PbDuration, UInt32Value};

use super::cluster::BLACKHOLE_CLUSTER;
use super::vhost::CatchAll;
use crate::dump::to_any;

/// The name of the outbound capture listener.
pub const VIRTUAL_OUTBOUND: &str = "virtualOutbound";
/// The chain refusing traffic sent to the capture port itself.
pub const VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN: &str = "virtualOutbound-blackhole";
/// The chain for traffic no other listener took.
pub const VIRTUAL_OUTBOUND_CATCHALL_CHAIN: &str = "virtualOutbound-catchall-tcp";

/// A socket address.
pub fn socket(ip: &str, port: u32) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// ADS as the config source, with no initial fetch timeout (as istiod writes it).
pub fn ads_config_source() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        initial_fetch_timeout: Some(PbDuration::default()),
        resource_api_version: ApiVersion::V3 as i32,
        ..Default::default()
    }
}

/// An HTTP filter with a typed configuration.
pub(crate) fn http_filter_of<M: prost::Message + prost::Name>(
    name: &str,
    config: &M,
) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(to_any(config))),
        ..Default::default()
    }
}

/// A network filter with a typed configuration.
pub(crate) fn network_filter_of<M: prost::Message + prost::Name>(name: &str, config: &M) -> Filter {
    Filter {
        name: name.into(),
        config_type: Some(filter::ConfigType::TypedConfig(to_any(config))),
    }
}

/// `buildHTTPConnectionManager` for an outbound sidecar port: codec AUTO, path normalization
/// (mesh default `BASE`), escaped slashes kept, websocket upgrades, no stream idle timeout,
/// `use_remote_address` off, routes over RDS (`rds` names the route configuration), and the
/// HTTP filters fault, CORS, router.
pub fn outbound_http_connection_manager(stat_prefix: &str, rds: &str) -> HttpConnectionManager {
    use http_connection_manager::{
        CodecType, PathWithEscapedSlashesAction, RouteSpecifier, UpgradeConfig,
    };
    HttpConnectionManager {
        codec_type: CodecType::Auto as i32,
        stat_prefix: stat_prefix.to_string(),
        normalize_path: Some(BoolValue { value: true }),
        path_with_escaped_slashes_action: PathWithEscapedSlashesAction::KeepUnchanged as i32,
        use_remote_address: Some(BoolValue { value: false }),
        upgrade_configs: vec![UpgradeConfig {
            upgrade_type: "websocket".into(),
            ..Default::default()
        }],
        stream_idle_timeout: Some(PbDuration::default()),
        route_specifier: Some(RouteSpecifier::Rds(Rds {
            config_source: Some(ads_config_source()),
            route_config_name: rds.to_string(),
        })),
        http_filters: vec![
            http_filter_of("envoy.filters.http.fault", &HttpFault::default()),
            http_filter_of("envoy.filters.http.cors", &Cors::default()),
            http_filter_of("envoy.filters.http.router", &Router::default()),
        ],
        ..Default::default()
    }
}

/// A network filter holding a TCP proxy to `cluster`.
pub fn tcp_proxy_filter(stat_prefix: &str, cluster: &str) -> Filter {
    let proxy = TcpProxy {
        stat_prefix: stat_prefix.to_string(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(cluster.to_string())),
        ..Default::default()
    };
    Filter {
        name: "envoy.filters.network.tcp_proxy".into(),
        config_type: Some(filter::ConfigType::TypedConfig(to_any(&proxy))),
    }
}

/// A TCP proxy to route destinations `(cluster, weight)`: none goes to `default`, one to its
/// cluster, several are weighted (zero weights left out), as istiod builds VirtualService
/// `tcp` and `tls` routes.
pub fn weighted_tcp_proxy_filter(destinations: &[(String, u32)], default: &str) -> Filter {
    match destinations {
        [] => tcp_proxy_filter(default, default),
        [(only, _)] => tcp_proxy_filter(only, only),
        many => {
            let clusters = many
                .iter()
                .filter(|(_, w)| *w > 0)
                .map(
                    |(name, weight)| tcp_proxy::weighted_cluster::ClusterWeight {
                        name: name.clone(),
                        weight: *weight,
                        ..Default::default()
                    },
                )
                .collect();
            let proxy = TcpProxy {
                stat_prefix: default.to_string(),
                cluster_specifier: Some(tcp_proxy::ClusterSpecifier::WeightedClusters(
                    tcp_proxy::WeightedCluster { clusters },
                )),
                ..Default::default()
            };
            Filter {
                name: "envoy.filters.network.tcp_proxy".into(),
                config_type: Some(filter::ConfigType::TypedConfig(to_any(&proxy))),
            }
        }
    }
}

fn hcm_filter(hcm: &HttpConnectionManager) -> Filter {
    Filter {
        name: "envoy.filters.network.http_connection_manager".into(),
        config_type: Some(filter::ConfigType::TypedConfig(to_any(hcm))),
    }
}

/// An outbound listener that does not bind (traffic reaches it through `virtualOutbound`).
fn outbound_listener(ip: &str, port: u32, chains: Vec<FilterChain>) -> Listener {
    Listener {
        name: format!("{ip}_{port}"),
        address: Some(socket(ip, port)),
        filter_chains: chains,
        traffic_direction: TrafficDirection::Outbound as i32,
        bind_to_port: Some(BoolValue { value: false }),
        ..Default::default()
    }
}

/// The outbound listener of an HTTP port: `0.0.0.0_<port>`, routes from RDS `"<port>"`.
pub fn outbound_http_listener(port: u32) -> Listener {
    outbound_http_listener_on("0.0.0.0", port)
}

/// The outbound HTTP listener of a Sidecar egress listener bound to a Unix domain socket
/// (`unix:///path`): `<bind>_0` on the pipe, binding it itself, routes from RDS `<bind>`.
pub fn outbound_uds_http_listener(bind: &str) -> Listener {
    let name = format!("{bind}_0");
    let hcm = outbound_http_connection_manager(&format!("outbound_{name}"), bind);
    Listener {
        name,
        address: Some(super::endpoints::endpoint_address(bind, 0)),
        filter_chains: vec![FilterChain {
            filters: vec![hcm_filter(&hcm)],
            ..Default::default()
        }],
        traffic_direction: TrafficDirection::Outbound as i32,
        ..Default::default()
    }
}

/// The outbound HTTP listener of a port on `ip` (a Sidecar egress listener's `bind`):
/// `<ip>_<port>`, routes from RDS `<port>`.
pub fn outbound_http_listener_on(ip: &str, port: u32) -> Listener {
    let name = format!("{ip}_{port}");
    let hcm = outbound_http_connection_manager(&format!("outbound_{name}"), &port.to_string());
    outbound_listener(
        ip,
        port,
        vec![FilterChain {
            filters: vec![hcm_filter(&hcm)],
            ..Default::default()
        }],
    )
}

/// The outbound listener of a TCP service port: `<vip>_<port>`, proxying to `cluster`.
pub fn outbound_tcp_listener(vip: &str, port: u32, cluster: &str) -> Listener {
    outbound_listener(
        vip,
        port,
        vec![FilterChain {
            filters: vec![tcp_proxy_filter(cluster, cluster)],
            ..Default::default()
        }],
    )
}

/// A chain sending traffic addressed to the capture port itself to the black hole (traffic
/// must reach a capture listener through redirection, never directly).
pub fn blackhole_chain(name: &str, capture_port: u32) -> FilterChain {
    FilterChain {
        name: name.to_string(),
        filter_chain_match: Some(FilterChainMatch {
            destination_port: Some(UInt32Value {
                value: capture_port,
            }),
            ..Default::default()
        }),
        filters: vec![tcp_proxy_filter(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
        ..Default::default()
    }
}

/// `buildVirtualOutboundListener`: `0.0.0.0:<capture_port>` with the original destination,
/// a chain refusing traffic addressed to the capture port itself, and a catch-all chain to
/// the passthrough cluster (`ALLOW_ANY`) or the black hole (`REGISTRY_ONLY`).
pub fn virtual_outbound_listener(capture_port: u32, catch_all: &CatchAll) -> Listener {
    let egress = match catch_all {
        CatchAll::AllowAny(cluster) => cluster.as_str(),
        CatchAll::RegistryOnly => BLACKHOLE_CLUSTER,
    };
    let blackhole = blackhole_chain(VIRTUAL_OUTBOUND_BLACKHOLE_CHAIN, capture_port);
    let catch_all_chain = FilterChain {
        name: VIRTUAL_OUTBOUND_CATCHALL_CHAIN.into(),
        filters: vec![tcp_proxy_filter(egress, egress)],
        ..Default::default()
    };
    Listener {
        name: VIRTUAL_OUTBOUND.into(),
        address: Some(socket("0.0.0.0", capture_port)),
        use_original_dst: Some(BoolValue { value: true }),
        filter_chains: vec![blackhole, catch_all_chain],
        traffic_direction: TrafficDirection::Outbound as i32,
        ..Default::default()
    }
}
