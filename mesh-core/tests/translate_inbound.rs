//! The inbound side: filter chains per port and mutual TLS mode as istiod builds them, the
//! inspectors, inbound clusters and routes; real Envoy accepts every combination.

mod support;

use mesh_core::dump;
use mesh_core::translate::cluster::{ClusterDefaults, blackhole_cluster};
use mesh_core::translate::inbound::{
    InboundPort, MtlsMode, PortProtocol, inbound_cluster, inbound_passthrough_cluster,
    virtual_inbound_listener,
};
use serde_json::{Value, json};

fn listener(ports: &[InboundPort], passthrough: MtlsMode) -> Value {
    dump::message_to_json(&virtual_inbound_listener(
        15006,
        ports,
        passthrough,
        &["old-td.example".to_string()],
    ))
    .expect("dumps")
}

fn chains_for_port(l: &Value, port: u32) -> Vec<Value> {
    l["filter_chains"]
        .as_array()
        .expect("chains")
        .iter()
        .filter(|c| c["filter_chain_match"]["destination_port"] == port)
        .cloned()
        .collect()
}

#[test]
fn strict_http_port_takes_only_mtls() {
    let l = listener(
        &[InboundPort::new(9080, PortProtocol::Http, MtlsMode::Strict)],
        MtlsMode::Strict,
    );
    let c = chains_for_port(&l, 9080);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["name"], "0.0.0.0_9080");
    assert_eq!(c[0]["filter_chain_match"]["transport_protocol"], "tls");
    let tls = &c[0]["transport_socket"]["typed_config"];
    assert_eq!(tls["require_client_certificate"], true);
    assert_eq!(
        tls["common_tls_context"]["alpn_protocols"],
        json!(["h2", "http/1.1"])
    );
    assert_eq!(
        tls["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"],
        "default"
    );
    let v = &tls["common_tls_context"]["combined_validation_context"];
    assert_eq!(v["validation_context_sds_secret_config"]["name"], "ROOTCA");
    assert_eq!(
        v["default_validation_context"]["match_typed_subject_alt_names"][0]["matcher"]["prefix"],
        "spiffe://old-td.example/"
    );
    let hcm = &c[0]["filters"][0]["typed_config"];
    assert_eq!(hcm["stat_prefix"], "inbound_0.0.0.0_9080;");
    assert_eq!(hcm["forward_client_cert_details"], "APPEND_FORWARD");
    assert_eq!(hcm["set_current_client_cert_details"]["uri"], true);
    let rc = &hcm["route_config"];
    assert_eq!(rc["name"], "inbound|9080||");
    assert_eq!(rc["virtual_hosts"][0]["name"], "inbound|http|9080");
    assert_eq!(
        rc["virtual_hosts"][0]["routes"][0]["route"]["cluster"],
        "inbound|9080||"
    );
    assert_eq!(
        rc["virtual_hosts"][0]["routes"][0]["route"]["retry_policy"]["retry_on"],
        "reset-before-request"
    );
}

#[test]
fn permissive_ports_accept_both() {
    let l = listener(
        &[
            InboundPort::new(9080, PortProtocol::Http, MtlsMode::Permissive),
            InboundPort::new(3306, PortProtocol::Tcp, MtlsMode::Permissive),
        ],
        MtlsMode::Permissive,
    );
    let http = chains_for_port(&l, 9080);
    let kinds: Vec<(Value, bool)> = http
        .iter()
        .map(|c| {
            (
                c["filter_chain_match"]["transport_protocol"].clone(),
                c.get("transport_socket").is_some(),
            )
        })
        .collect();
    assert_eq!(kinds, [(json!("tls"), true), (json!("raw_buffer"), false)]);
    assert_eq!(
        http[0]["filter_chain_match"]["application_protocols"][0],
        "istio"
    );
    let tcp = chains_for_port(&l, 3306);
    assert_eq!(tcp.len(), 3);
    assert_eq!(
        tcp[0]["filters"][0]["typed_config"]["cluster"],
        "inbound|3306||"
    );
    assert_eq!(
        tcp[0]["transport_socket"]["typed_config"]["common_tls_context"]["alpn_protocols"],
        json!(["istio-peer-exchange", "h2", "http/1.1"])
    );
    assert!(
        tcp[1].get("transport_socket").is_none(),
        "TLS that is not Istio's passes through"
    );
}

#[test]
fn disable_is_plaintext_and_passthrough_chains_exist() {
    let l = listener(
        &[InboundPort::new(
            8080,
            PortProtocol::Auto,
            MtlsMode::Disable,
        )],
        MtlsMode::Permissive,
    );
    let c = chains_for_port(&l, 8080);
    assert!(c.iter().all(
        |c| c["filter_chain_match"]["transport_protocol"] == "raw_buffer"
            && c.get("transport_socket").is_none()
    ));
    let names: Vec<&str> = l["filter_chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "virtualInbound-blackhole");
    assert!(names.contains(&"virtualInbound") && names.contains(&"virtualInbound-catchall-http"));
    assert_eq!(
        l["filter_chains"][0]["filter_chain_match"]["destination_port"],
        15006
    );
    let lf: Vec<&str> = l["listener_filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        lf,
        [
            "envoy.filters.listener.original_dst",
            "envoy.filters.listener.tls_inspector",
            "envoy.filters.listener.http_inspector"
        ]
    );
    // TLS is inspected by default (the passthrough needs it) but not on the plaintext-only port
    // nor on the capture port's black hole.
    assert_eq!(
        l["listener_filters"][1]["filter_disabled"]["or_match"]["rules"],
        json!([{"destination_port_range": {"start": 8080, "end": 8081}}, {"destination_port_range": {"start": 15006, "end": 15007}}])
    );
    assert_eq!(l["traffic_direction"], "INBOUND");
}

#[test]
fn inbound_clusters() {
    let d = ClusterDefaults::default();
    let c = dump::message_to_json(&inbound_cluster(9080, &d)).unwrap();
    assert_eq!(c["name"], "inbound|9080||");
    assert_eq!(c["type"], "ORIGINAL_DST");
    assert_eq!(c["lb_policy"], "CLUSTER_PROVIDED");
    assert_eq!(
        c["upstream_bind_config"]["source_address"]["address"],
        "127.0.0.6"
    );
    let p = dump::message_to_json(&inbound_passthrough_cluster(&d)).unwrap();
    assert_eq!(p["name"], "InboundPassthroughCluster");
    assert_eq!(
        p["upstream_bind_config"]["source_address"]["address"],
        "127.0.0.6"
    );
}

#[test]
fn envoy_accepts_every_mode_and_protocol() {
    let d = ClusterDefaults::default();
    let mut ports = Vec::new();
    let mut port = 9000;
    for mode in [MtlsMode::Strict, MtlsMode::Permissive, MtlsMode::Disable] {
        for proto in [
            PortProtocol::Http,
            PortProtocol::Http2,
            PortProtocol::Tcp,
            PortProtocol::Auto,
        ] {
            ports.push(InboundPort::new(port, proto, mode));
            port += 1;
        }
    }
    let mut clusters = vec![
        blackhole_cluster(&d),
        inbound_passthrough_cluster(&d),
        support::envoy::grpc_cluster("sds-grpc", 15012),
    ];
    clusters.extend(ports.iter().map(|p| inbound_cluster(p.port, &d)));
    for passthrough in [MtlsMode::Strict, MtlsMode::Permissive, MtlsMode::Disable] {
        let listener = virtual_inbound_listener(15006, &ports, passthrough, &[]);
        let b = support::envoy::bootstrap(vec![listener], clusters.clone(), false);
        support::envoy::assert_accepts(
            &b,
            &format!("virtualInbound with a {passthrough:?} passthrough"),
        );
    }
}
