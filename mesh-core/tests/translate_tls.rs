//! Upstream TLS: ISTIO_MUTUAL over SDS, auto mTLS transport socket matches, SIMPLE and MUTUAL
//! with files or credentials, and real Envoy accepting every variant.

mod support;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use mesh_core::api::networking::ClientTlsSettings;
use mesh_core::dump;
use mesh_core::translate::cluster::base_cluster;
use mesh_core::translate::tls::{UpstreamTls, apply_upstream_tls};
use serde_json::{Value, json};

const HOST: &str = "reviews.default.svc.cluster.local";
const SA: &str = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews";

fn tls(v: Value) -> ClientTlsSettings {
    serde_json::from_value(v).expect("valid ClientTLSSettings")
}

fn cluster_with(t: UpstreamTls<'_>, h2: bool) -> Cluster {
    let mut c = base_cluster(
        &format!("outbound|9080|v1|{HOST}"),
        cluster::DiscoveryType::Static,
    );
    c.connect_timeout = Some(envoy_types::pb::google::protobuf::Duration {
        seconds: 1,
        nanos: 0,
    });
    apply_upstream_tls(&mut c, t, (9080, "v1", HOST), &[SA.to_string()], h2);
    c
}

#[test]
fn istio_mutual_from_a_destination_rule() {
    let t = tls(json!({"mode": "ISTIO_MUTUAL"}));
    let j = dump::message_to_json(&cluster_with(UpstreamTls::Configured(&t), false)).unwrap();
    let ts = &j["transport_socket"];
    assert_eq!(ts["name"], "envoy.transport_sockets.tls");
    let ctx = &ts["typed_config"];
    assert_eq!(
        ctx["@type"],
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
    );
    assert_eq!(
        ctx["sni"],
        "outbound_.9080_.v1_.reviews.default.svc.cluster.local"
    );
    let common = &ctx["common_tls_context"];
    let sds = &common["tls_certificate_sds_secret_configs"][0];
    assert_eq!(sds["name"], "default");
    assert_eq!(
        sds["sds_config"]["api_config_source"]["grpc_services"][0]["envoy_grpc"]["cluster_name"],
        "sds-grpc"
    );
    assert_eq!(
        sds["sds_config"]["api_config_source"]["set_node_on_first_message_only"],
        true
    );
    let v = &common["combined_validation_context"];
    assert_eq!(v["validation_context_sds_secret_config"]["name"], "ROOTCA");
    assert_eq!(
        v["default_validation_context"]["match_typed_subject_alt_names"][0],
        json!({"san_type": "URI", "matcher": {"exact": SA}})
    );
    assert_eq!(
        common["alpn_protocols"],
        json!(["istio-peer-exchange", "istio"])
    );
    assert_eq!(
        common["tls_params"],
        json!({"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"})
    );
    // h2 clusters advertise h2 too; an explicit SNI and SANs win.
    let t = tls(
        json!({"mode": "ISTIO_MUTUAL", "sni": "custom.sni", "subjectAltNames": ["spiffe://td/ns/x/sa/y"]}),
    );
    let j = dump::message_to_json(&cluster_with(UpstreamTls::Configured(&t), true)).unwrap();
    let ctx = &j["transport_socket"]["typed_config"];
    assert_eq!(ctx["sni"], "custom.sni");
    assert_eq!(
        ctx["common_tls_context"]["alpn_protocols"],
        json!(["istio-peer-exchange", "istio", "h2"])
    );
    assert_eq!(
        ctx["common_tls_context"]["combined_validation_context"]["default_validation_context"]["match_typed_subject_alt_names"]
            [0]["matcher"]["exact"],
        "spiffe://td/ns/x/sa/y"
    );
}

#[test]
fn auto_mtls_uses_transport_socket_matches() {
    let j = dump::message_to_json(&cluster_with(UpstreamTls::AutoMutual, false)).unwrap();
    assert!(j.get("transport_socket").is_none());
    let m = j["transport_socket_matches"].as_array().unwrap();
    assert_eq!(m[0]["name"], "tlsMode-istio");
    assert_eq!(m[0]["match"], json!({"tlsMode": "istio"}));
    assert_eq!(
        m[0]["transport_socket"]["typed_config"]["sni"],
        "outbound_.9080_.v1_.reviews.default.svc.cluster.local"
    );
    assert_eq!(m[1]["name"], "tlsMode-disabled");
    assert_eq!(m[1]["match"], json!({}));
    assert_eq!(
        m[1]["transport_socket"]["name"],
        "envoy.transport_sockets.raw_buffer"
    );
}

#[test]
fn disable_and_none_leave_plaintext() {
    let t = tls(json!({"mode": "DISABLE"}));
    for c in [
        cluster_with(UpstreamTls::Configured(&t), false),
        cluster_with(UpstreamTls::None, false),
    ] {
        assert!(c.transport_socket.is_none() && c.transport_socket_matches.is_empty());
    }
}

#[test]
fn simple_and_mutual() {
    let ctx = |v: Value, h2: bool| {
        let t = tls(v);
        dump::message_to_json(&cluster_with(UpstreamTls::Configured(&t), h2)).unwrap()["transport_socket"]["typed_config"].clone()
    };
    // SIMPLE without a CA: the system roots.
    let c = ctx(json!({"mode": "SIMPLE", "sni": "api.example.com"}), false);
    assert_eq!(c["sni"], "api.example.com");
    assert_eq!(
        c["common_tls_context"]["combined_validation_context"]["validation_context_sds_secret_config"]
            ["name"],
        "file-root:system"
    );
    assert!(
        c["common_tls_context"]
            .get("tls_certificate_sds_secret_configs")
            .is_none()
    );
    // MUTUAL with files.
    let c = ctx(
        json!({"mode": "MUTUAL", "clientCertificate": "/etc/certs/cert.pem", "privateKey": "/etc/certs/key.pem",
                       "caCertificates": "/etc/certs/ca.pem", "subjectAltNames": ["api.example.com"], "caCrl": "/etc/certs/crl.pem"}),
        true,
    );
    assert_eq!(
        c["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"],
        "file-cert:/etc/certs/cert.pem~/etc/certs/key.pem"
    );
    let v = &c["common_tls_context"]["combined_validation_context"];
    assert_eq!(
        v["validation_context_sds_secret_config"]["name"],
        "file-root:/etc/certs/ca.pem"
    );
    assert_eq!(
        v["default_validation_context"]["match_typed_subject_alt_names"][0],
        json!({"san_type": "DNS", "matcher": {"exact": "api.example.com"}})
    );
    assert_eq!(
        v["default_validation_context"]["crl"]["filename"],
        "/etc/certs/crl.pem"
    );
    assert_eq!(c["common_tls_context"]["alpn_protocols"], json!(["h2"]));
    // A credential.
    let c = ctx(
        json!({"mode": "MUTUAL", "credentialName": "client-cred"}),
        false,
    );
    assert_eq!(
        c["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"],
        "kubernetes://client-cred"
    );
    assert_eq!(
        c["common_tls_context"]["combined_validation_context"]["validation_context_sds_secret_config"]
            ["name"],
        "kubernetes://client-cred-cacert"
    );
    // insecureSkipVerify: no root validation.
    let c = ctx(json!({"mode": "SIMPLE", "insecureSkipVerify": true}), false);
    assert_eq!(c["common_tls_context"]["validation_context"], json!({}));
}

#[test]
fn envoy_accepts_every_tls_variant() {
    let variants = [
        json!({"mode": "ISTIO_MUTUAL"}),
        json!({"mode": "SIMPLE", "sni": "api.example.com"}),
        json!({"mode": "MUTUAL", "clientCertificate": "/c.pem", "privateKey": "/k.pem", "caCertificates": "/ca.pem", "subjectAltNames": ["a.example"]}),
        json!({"mode": "MUTUAL", "credentialName": "cred"}),
        json!({"mode": "SIMPLE", "insecureSkipVerify": true}),
    ];
    let settings: Vec<ClientTlsSettings> = variants.into_iter().map(tls).collect();
    let mut clusters: Vec<Cluster> = settings
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut c = cluster_with(UpstreamTls::Configured(t), i == 0);
            c.name = format!("tls-{i}");
            c.alt_stat_name.clear();
            c
        })
        .collect();
    let mut auto = cluster_with(UpstreamTls::AutoMutual, false);
    auto.name = "auto".into();
    clusters.push(auto);
    clusters.push(support::envoy::grpc_cluster("sds-grpc", 15012));
    support::envoy::assert_accepts(
        &support::envoy::bootstrap(vec![], clusters, false),
        "the TLS clusters",
    );
}
