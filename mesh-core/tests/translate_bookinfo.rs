//! The translation building blocks on Istio's Bookinfo configuration, as a sidecar in the
//! `default` namespace would get them for the `reviews` service on port 9080: clusters per
//! DestinationRule subset, the route configuration `"9080"` from the VirtualService, the
//! outbound listener and `virtualOutbound`. Real Envoy 1.40 accepts the whole config: listeners
//! with RDS and EDS-over-ADS clusters in a bootstrap, and the route configuration inline.

mod support;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, VirtualHost};
use mesh_core::api::Object;
use mesh_core::api::networking::Destination;
use mesh_core::dump;
use mesh_core::load;
use mesh_core::translate::cluster::{
    ClusterDefaults, apply_traffic_policy, base_cluster, blackhole_cluster,
    effective_traffic_policy, outbound_cluster_name, passthrough_cluster,
};
use mesh_core::translate::listener::{outbound_http_listener, virtual_outbound_listener};
use mesh_core::translate::route::{RouteContext, build_http_routes};
use mesh_core::translate::vhost::{
    CatchAll, DomainOptions, outbound_route_configuration, virtual_host_domains, virtual_host_name,
};

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
    // Listeners with RDS and EDS clusters over ADS, as a sidecar receives them.
    support::envoy::assert_accepts(
        &support::envoy::bootstrap(listeners, clusters, true),
        "the sidecar config",
    );
    // The route configuration inline, with static clusters, so that Envoy also checks that every
    // cluster a route names exists.
    let clusters = [
        "PassthroughCluster",
        "outbound|9080|v2|reviews.default.svc.cluster.local",
        "outbound|9080|v3|reviews.default.svc.cluster.local",
    ]
    .iter()
    .map(|n| support::envoy::static_cluster(n, None))
    .collect();
    let mut rc = rc;
    rc.validate_clusters = Some(envoy_types::pb::google::protobuf::BoolValue { value: true });
    let listener = support::envoy::inline_routes_listener(19090, rc);
    support::envoy::assert_accepts(
        &support::envoy::bootstrap(vec![listener], clusters, false),
        "the route configuration",
    );
}
