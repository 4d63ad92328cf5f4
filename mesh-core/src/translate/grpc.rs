//! Proxyless gRPC clients (istiod's `grpcgen`): what a gRPC library with an xDS resolver reads.
//!
//! A gRPC client dialing `xds:///reviews.default.svc.cluster.local:9080` asks for the
//! listener named after its target, follows that listener's `ApiListener` (an HTTP connection
//! manager) to a route configuration over RDS, then to clusters and their assignments. The
//! nodes that want this say so with the node metadata `GENERATOR: grpc`, as Istio's gRPC
//! bootstrap writes it ([`Proxy::is_proxyless_grpc`]).
//!
//! The resources come from the sidecar translation of the same proxy, reshaped the way
//! istiod reshapes them:
//! - **listeners** named `host:port` for each HTTP service port the proxy can see, one per
//!   name the proxy may dial (the FQDN and the short names its namespace allows, as the
//!   sidecar's virtual host domains list them), each an `ApiListener` whose connection manager
//!   has the fault and router filters and takes its routes over ADS;
//! - **route configurations** named as the service's default cluster
//!   (`outbound|port||host`), each with the one virtual host of that service: the sidecar's,
//!   VirtualService rules included, with `host:port` domains added (gRPC matches the
//!   authority with its port), and per-route filter configurations gRPC has no filter for
//!   left out (it refuses unknown ones);
//! - **clusters**: every outbound EDS cluster (subsets included) as a plain EDS cluster over
//!   ADS keeping only its load-balancing policy, as istiod does; TLS is left out (gRPC reads
//!   certificate-provider plugins, not SDS; istiod only writes them for an explicit
//!   `ISTIO_MUTUAL`, which is not translated here);
//! - **endpoints**: the sidecar's assignments of those clusters (every endpoint group has a
//!   locality, which gRPC requires).
//!
//! Non-HTTP ports, DNS-resolved and passthrough clusters have no gRPC form and are left out.
//!
//! ```
//! use mesh_core::model::{MeshOptions, Proxy, Store};
//! use mesh_core::translate::{grpc, sidecar::SidecarOptions};
//!
//! let yaml = r#"
//! apiVersion: networking.istio.io/v1
//! kind: ServiceEntry
//! metadata: {name: echo, namespace: default}
//! spec:
//!   hosts: [echo.example.internal]
//!   location: MESH_INTERNAL
//!   resolution: STATIC
//!   ports: [{number: 7070, name: grpc, protocol: GRPC}]
//!   endpoints: [{address: 10.0.0.7}]
//! "#;
//! let mut store = Store::new(MeshOptions::default());
//! store.apply_all(mesh_core::load::from_str(yaml, "echo.yaml")?.into_iter().map(|l| l.object));
//! let node = serde_json::json!({"GENERATOR": "grpc", "NAMESPACE": "default"});
//! let proxy = Proxy::from_node("sidecar~10.0.0.9~client.default~default.svc.cluster.local", &node)?;
//! assert!(proxy.is_proxyless_grpc());
//!
//! let r = grpc::translate_grpc(&store.snapshot(), &proxy, &SidecarOptions::default());
//! assert_eq!(r.listeners[0].name, "echo.example.internal:7070");
//! assert_eq!(r.routes[0].name, "outbound|7070||echo.example.internal");
//! assert_eq!(r.clusters[0].name, "outbound|7070||echo.example.internal");
//! assert_eq!(r.endpoints[0].cluster_name, "outbound|7070||echo.example.internal");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Proxy::is_proxyless_grpc`]: crate::model::Proxy::is_proxyless_grpc

use std::collections::BTreeSet;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster as envoy_cluster};
use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ConfigSource, config_source,
};
use envoy_types::pb::envoy::config::listener::v3::{ApiListener, Listener};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteConfiguration, VirtualHost, route, route_action,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, Rds, http_connection_manager,
};

use super::listener::{http_filter_of, socket};
use super::sidecar::{ProxyResources, SidecarOptions, translate_sidecar};
use crate::dump::to_any;
use crate::model::{Proxy, Snapshot};

/// The HTTP filter names gRPC implements, and so the only per-route configurations kept.
const GRPC_FILTERS: [&str; 2] = ["envoy.filters.http.fault", "envoy.filters.http.router"];

/// The resources of a proxyless gRPC client: the sidecar translation of `proxy`, reshaped
/// (see the module documentation).
pub fn translate_grpc(
    snapshot: &Snapshot,
    proxy: &Proxy,
    options: &SidecarOptions,
) -> ProxyResources {
    from_sidecar(translate_sidecar(snapshot, proxy, options))
}

/// Reshapes a sidecar's resources into what a proxyless gRPC client reads.
pub fn from_sidecar(sidecar: ProxyResources) -> ProxyResources {
    let mut out = ProxyResources {
        warnings: sidecar.warnings,
        ..ProxyResources::default()
    };
    for rc in &sidecar.routes {
        let Ok(port) = rc.name.parse::<u32>() else {
            continue;
        };
        for vhost in &rc.virtual_hosts {
            let Some(host) = service_host(&vhost.name, port) else {
                continue;
            };
            let key = format!("outbound|{port}||{host}");
            for name in listener_names(host, port, &vhost.domains) {
                out.listeners
                    .push(api_listener(&name, &vhost.domains, port, &key));
            }
            out.routes.push(RouteConfiguration {
                name: key,
                virtual_hosts: vec![grpc_virtual_host(vhost, port)],
                ..Default::default()
            });
        }
    }
    let kept: BTreeSet<String> = sidecar
        .clusters
        .iter()
        .filter(|c| c.name.starts_with("outbound|") && is_eds(c))
        .map(|c| c.name.clone())
        .collect();
    out.clusters = sidecar
        .clusters
        .iter()
        .filter(|c| kept.contains(&c.name))
        .map(grpc_cluster)
        .collect();
    out.endpoints = sidecar
        .endpoints
        .into_iter()
        .filter(|e| kept.contains(&e.cluster_name))
        .collect();
    out.listeners.sort_by(|a, b| a.name.cmp(&b.name));
    out.listeners.dedup_by(|a, b| a.name == b.name);
    out.routes.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The service host of a sidecar virtual host named `host:port` (`[v6]:port` for addresses);
/// `None` for the catch-all hosts (`allow_any`, `block_all`) and other ports.
fn service_host(vhost_name: &str, port: u32) -> Option<&str> {
    let host = vhost_name.strip_suffix(&format!(":{port}"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// `host:port` for every name the client may dial the service by: the virtual host's domains
/// (the FQDN and the short names the proxy's namespace allows), without the absolute
/// (`host.`) form, addresses and wildcards.
fn listener_names(host: &str, port: u32, domains: &[String]) -> Vec<String> {
    let mut names = vec![format!("{host}:{port}")];
    for d in domains {
        if d.ends_with('.')
            || d.contains('*')
            || d.contains(':')
            || d.parse::<std::net::IpAddr>().is_ok()
        {
            continue;
        }
        names.push(format!("{d}:{port}"));
    }
    names.dedup();
    names
}

fn api_listener(name: &str, domains: &[String], port: u32, route_config: &str) -> Listener {
    // The listener address is informative for gRPC; istiod writes the service's address.
    let vip = domains
        .iter()
        .find(|d| d.parse::<std::net::IpAddr>().is_ok())
        .map_or("0.0.0.0", String::as_str);
    let hcm = HttpConnectionManager {
        http_filters: vec![
            http_filter_of(GRPC_FILTERS[0], &HttpFault::default()),
            http_filter_of(GRPC_FILTERS[1], &Router::default()),
        ],
        route_specifier: Some(http_connection_manager::RouteSpecifier::Rds(Rds {
            config_source: Some(ads()),
            route_config_name: route_config.to_string(),
        })),
        ..Default::default()
    };
    Listener {
        name: name.to_string(),
        address: Some(socket(vip, port)),
        api_listener: Some(ApiListener {
            api_listener: Some(to_any(&hcm)),
        }),
        ..Default::default()
    }
}

fn ads() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        ..Default::default()
    }
}

/// The sidecar's virtual host with `domain:port` forms added and per-route configurations of
/// filters gRPC lacks removed.
fn grpc_virtual_host(vhost: &VirtualHost, port: u32) -> VirtualHost {
    let mut v = vhost.clone();
    let mut domains = Vec::with_capacity(v.domains.len() * 2);
    for d in &v.domains {
        domains.push(d.clone());
        if d.parse::<std::net::Ipv6Addr>().is_ok() {
            domains.push(format!("[{d}]:{port}"));
        } else if !d.contains(':') {
            domains.push(format!("{d}:{port}"));
        }
    }
    v.domains = domains;
    v.typed_per_filter_config
        .retain(|k, _| GRPC_FILTERS.contains(&k.as_str()));
    v.routes.iter_mut().for_each(grpc_route);
    v
}

fn grpc_route(r: &mut Route) {
    r.typed_per_filter_config
        .retain(|k, _| GRPC_FILTERS.contains(&k.as_str()));
    if let Some(route::Action::Route(action)) = &mut r.action
        && let Some(route_action::ClusterSpecifier::WeightedClusters(w)) =
            &mut action.cluster_specifier
    {
        for c in &mut w.clusters {
            c.typed_per_filter_config
                .retain(|k, _| GRPC_FILTERS.contains(&k.as_str()));
        }
    }
}

fn is_eds(c: &Cluster) -> bool {
    matches!(
        c.cluster_discovery_type,
        Some(envoy_cluster::ClusterDiscoveryType::Type(t))
            if t == envoy_cluster::DiscoveryType::Eds as i32
    )
}

/// istiod's `edsCluster` plus the load-balancing policy (round robin, or ring hash with its
/// configuration; gRPC has no others of Istio's).
fn grpc_cluster(c: &Cluster) -> Cluster {
    let mut out = Cluster {
        name: c.name.clone(),
        cluster_discovery_type: Some(envoy_cluster::ClusterDiscoveryType::Type(
            envoy_cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(envoy_cluster::EdsClusterConfig {
            service_name: c.name.clone(),
            eds_config: Some(ads()),
        }),
        ..Default::default()
    };
    if c.lb_policy == envoy_cluster::LbPolicy::RingHash as i32 {
        out.lb_policy = c.lb_policy;
        out.lb_config.clone_from(&c.lb_config);
    }
    out
}
