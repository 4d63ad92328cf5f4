//! Real Envoy 1.40 accepts what `mesh_core::dump` prints: a bootstrap whose static resources
//! are hand-made Envoy resources written as proto3 JSON by `dump::message_to_json`, checked
//! with `envoy --mode validate`. (The translation's output is checked the same way once it
//! exists.) Envoy comes from `$ENVOY_BIN`, which `scripts/test.sh` installs from PyPI.

mod support;

use envoy_types::pb::envoy::config::bootstrap::v3::{Admin, Bootstrap, bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, Node, SocketAddress, address, socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action,
    route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager, http_filter,
};
use envoy_types::pb::google::protobuf::Duration;
use mesh_core::dump;

fn socket(ip: &str, port: u32) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

fn bootstrap() -> Bootstrap {
    let cluster_name = "outbound|9080|v1|reviews.default.svc.cluster.local";
    let cluster = Cluster {
        name: cluster_name.into(),
        connect_timeout: Some(Duration {
            seconds: 10,
            nanos: 0,
        }),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: cluster_name.into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: Some(socket("127.0.0.1", 9080)),
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
    let routes = RouteConfiguration {
        name: "9080".into(),
        virtual_hosts: vec![VirtualHost {
            name: "reviews.default.svc.cluster.local:9080".into(),
            domains: vec!["reviews.default.svc.cluster.local".into(), "reviews".into()],
            routes: vec![Route {
                r#match: Some(RouteMatch {
                    path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
                    ..Default::default()
                }),
                action: Some(route::Action::Route(RouteAction {
                    cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(
                        cluster_name.into(),
                    )),
                    timeout: Some(Duration {
                        seconds: 0,
                        nanos: 0,
                    }),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let hcm = HttpConnectionManager {
        stat_prefix: "outbound_0.0.0.0_9080".into(),
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(routes)),
        http_filters: vec![HttpFilter {
            name: "envoy.filters.http.router".into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(dump::to_any(
                &Router::default(),
            ))),
            ..Default::default()
        }],
        ..Default::default()
    };
    let listener = Listener {
        name: "0.0.0.0_9080".into(),
        address: Some(socket("127.0.0.1", 19080)),
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(filter::ConfigType::TypedConfig(dump::to_any(&hcm))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    Bootstrap {
        node: Some(Node {
            id: "sidecar~10.0.0.1~reviews-v1.default~default.svc.cluster.local".into(),
            cluster: "reviews.default".into(),
            ..Default::default()
        }),
        admin: Some(Admin {
            address: Some(socket("127.0.0.1", 0)),
            ..Default::default()
        }),
        static_resources: Some(bootstrap::StaticResources {
            listeners: vec![listener],
            clusters: vec![cluster],
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn envoy_accepts_the_dumped_bootstrap() {
    let json = dump::message_to_json(&bootstrap()).expect("dumps");
    let (ok, output) = support::envoy::validate_json(&json);
    assert!(ok, "envoy rejected the bootstrap:\n{output}\n{json:#}");
}

#[test]
fn envoy_rejects_a_broken_one() {
    // The harness must be able to fail: a route to a cluster that does not exist is refused.
    let mut json = dump::message_to_json(&bootstrap()).expect("dumps");
    json["static_resources"]["clusters"] = serde_json::json!([]);
    let (ok, output) = support::envoy::validate_json(&json);
    assert!(
        !ok,
        "envoy accepted a config with a route to a missing cluster:\n{output}"
    );
}
