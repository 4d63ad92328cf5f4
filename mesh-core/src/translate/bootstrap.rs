//! A complete Envoy bootstrap holding one proxy's resources as static resources
//! (`meshctl proxy-config -o bootstrap`), for `envoy --mode validate -c FILE` or for running
//! Envoy without a control plane.
//!
//! Routes that listeners fetch over RDS are put inline in their connection managers, EDS
//! clusters become `STATIC` clusters holding their assignments, and the `sds-grpc` cluster that
//! SDS secrets name is added (a Unix socket, as istio-agent serves it), so the bootstrap
//! needs nothing from a control plane but the certificates.
//!
//! ```
//! use mesh_core::translate::bootstrap::{BootstrapOptions, static_bootstrap};
//! use mesh_core::translate::sidecar::ProxyResources;
//!
//! let b = static_bootstrap(&ProxyResources::default(), "sidecar~10.0.0.1~a.default~default.svc.cluster.local", &BootstrapOptions::default());
//! assert_eq!(b.node.unwrap().id, "sidecar~10.0.0.1~a.default~default.svc.cluster.local");
//! ```

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::bootstrap::v3::{Admin, Bootstrap, bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster as envoy_cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, ApiConfigSource, ApiVersion, GrpcService, Node, Pipe, address, api_config_source,
    grpc_service,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options,
};
use envoy_types::pb::google::protobuf::Duration as PbDuration;
use prost::Message;

use super::cluster::HTTP_PROTOCOL_OPTIONS;
use super::listener::socket;
use super::sidecar::ProxyResources;
use super::tls::SDS_CLUSTER;
use crate::dump::to_any;

/// Where the bootstrap's admin listens and where SDS is served.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BootstrapOptions {
    /// The admin address (`127.0.0.1`).
    pub admin_ip: String,
    /// The admin port (15000).
    pub admin_port: u32,
    /// The Unix socket of the SDS server (istio-agent's
    /// `./var/run/secrets/workload-spiffe-uds/socket`).
    pub sds_socket: String,
    /// The control plane (`xds-grpc`, 127.0.0.1:15010) for what is only served over ADS:
    /// a gateway's `credentialName` secrets.
    pub xds_address: (String, u32),
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            admin_ip: "127.0.0.1".into(),
            admin_port: 15000,
            sds_socket: "./var/run/secrets/workload-spiffe-uds/socket".into(),
            xds_address: ("127.0.0.1".into(), 15010),
        }
    }
}

/// The bootstrap for `resources`, for the proxy whose node id is `node_id`.
pub fn static_bootstrap(
    resources: &ProxyResources,
    node_id: &str,
    options: &BootstrapOptions,
) -> Bootstrap {
    let routes: BTreeMap<&str, &RouteConfiguration> = resources
        .routes
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    let assignments: BTreeMap<&str, &ClusterLoadAssignment> = resources
        .endpoints
        .iter()
        .map(|e| (e.cluster_name.as_str(), e))
        .collect();
    let listeners = resources
        .listeners
        .iter()
        .map(|l| inline_routes(l, &routes))
        .collect();
    let mut clusters: Vec<Cluster> = resources
        .clusters
        .iter()
        .map(|c| static_endpoints(c, &assignments))
        .collect();
    clusters.push(grpc_cluster(
        SDS_CLUSTER,
        Address {
            address: Some(address::Address::Pipe(Pipe {
                path: options.sds_socket.clone(),
                mode: 0,
            })),
        },
    ));
    clusters.push(grpc_cluster(
        XDS_CLUSTER,
        socket(&options.xds_address.0, options.xds_address.1),
    ));
    let cluster_name = node_id.split('~').nth(2).unwrap_or_default().to_string();
    Bootstrap {
        node: Some(Node {
            id: node_id.to_string(),
            cluster: cluster_name,
            ..Default::default()
        }),
        static_resources: Some(bootstrap::StaticResources {
            listeners,
            clusters,
            ..Default::default()
        }),
        dynamic_resources: Some(bootstrap::DynamicResources {
            ads_config: Some(ApiConfigSource {
                api_type: api_config_source::ApiType::Grpc as i32,
                transport_api_version: ApiVersion::V3 as i32,
                grpc_services: vec![GrpcService {
                    target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                        grpc_service::EnvoyGrpc {
                            cluster_name: XDS_CLUSTER.into(),
                            ..Default::default()
                        },
                    )),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }),
        admin: Some(Admin {
            address: Some(socket(&options.admin_ip, options.admin_port)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A listener with every RDS reference replaced by the named route configuration (an empty
/// one of that name if it is missing).
fn inline_routes(listener: &Listener, routes: &BTreeMap<&str, &RouteConfiguration>) -> Listener {
    let mut l = listener.clone();
    for chain in &mut l.filter_chains {
        for f in &mut chain.filters {
            let Some(filter::ConfigType::TypedConfig(any)) = &mut f.config_type else {
                continue;
            };
            if !any.type_url.ends_with("HttpConnectionManager") {
                continue;
            }
            let Ok(mut hcm) = HttpConnectionManager::decode(any.value.as_slice()) else {
                continue;
            };
            if let Some(RouteSpecifier::Rds(rds)) = &hcm.route_specifier {
                let name = rds.route_config_name.clone();
                let rc = routes.get(name.as_str()).map_or_else(
                    || RouteConfiguration {
                        name: name.clone(),
                        ..Default::default()
                    },
                    |r| (*r).clone(),
                );
                hcm.route_specifier = Some(RouteSpecifier::RouteConfig(rc));
                *any = to_any(&hcm);
            }
        }
    }
    l
}

/// An EDS cluster as a STATIC one with its assignment.
fn static_endpoints(c: &Cluster, assignments: &BTreeMap<&str, &ClusterLoadAssignment>) -> Cluster {
    let eds = c.cluster_discovery_type
        == Some(envoy_cluster::ClusterDiscoveryType::Type(
            envoy_cluster::DiscoveryType::Eds as i32,
        ));
    if !eds {
        return c.clone();
    }
    let mut out = c.clone();
    out.cluster_discovery_type = Some(envoy_cluster::ClusterDiscoveryType::Type(
        envoy_cluster::DiscoveryType::Static as i32,
    ));
    out.eds_cluster_config = None;
    let mut cla = assignments
        .get(c.name.as_str())
        .map_or_else(ClusterLoadAssignment::default, |a| (*a).clone());
    cla.cluster_name = c.name.clone();
    out.load_assignment = Some(cla);
    out
}

/// The bootstrap's control plane cluster.
pub const XDS_CLUSTER: &str = "xds-grpc";

/// A static HTTP/2 cluster to one address, as gRPC services (`sds-grpc`, `xds-grpc`) need.
pub fn grpc_cluster(name: &str, address: Address) -> Cluster {
    let options = HttpProtocolOptions {
        upstream_protocol_options: Some(
            http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
                http_protocol_options::ExplicitHttpConfig {
                    protocol_config: Some(
                        http_protocol_options::explicit_http_config::ProtocolConfig::Http2ProtocolOptions(
                            Default::default(),
                        ),
                    ),
                },
            ),
        ),
        ..Default::default()
    };
    let mut c = Cluster {
        name: name.into(),
        cluster_discovery_type: Some(envoy_cluster::ClusterDiscoveryType::Type(
            envoy_cluster::DiscoveryType::Static as i32,
        )),
        connect_timeout: Some(PbDuration {
            seconds: 1,
            nanos: 0,
        }),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: name.into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: Some(address),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    c.typed_extension_protocol_options
        .insert(HTTP_PROTOCOL_OPTIONS.into(), to_any(&options));
    c
}
