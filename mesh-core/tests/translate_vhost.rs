//! Virtual host domains as istiod generates them (the cases of istiod's
//! `TestGenerateVirtualHostDomains`), catch-all virtual hosts, and outbound route
//! configurations accepted by real Envoy.

use mesh_core::dump;
use mesh_core::translate::vhost::{
    CatchAll, DomainOptions, catch_all_virtual_host, outbound_route_configuration,
    virtual_host_domains, virtual_host_domains_with_aliases, virtual_host_name,
};
use serde_json::json;

/// (case name, service hostname, proxy DNS domain, service addresses, expected domains)
type DomainCase<'a> = (&'a str, &'a str, &'a str, &'a [&'a str], &'a [&'a str]);

#[test]
fn domains_as_istiod_generates_them() {
    let cases: &[DomainCase<'_>] = &[
        (
            "same domain",
            "foo.local.campus.net",
            "local.campus.net",
            &[],
            &["foo.local.campus.net", "foo.local.campus.net.", "foo"],
        ),
        (
            "different domains with some shared dns",
            "foo.local.campus.net",
            "remote.campus.net",
            &[],
            &[
                "foo.local.campus.net",
                "foo.local.campus.net.",
                "foo.local",
                "foo.local.campus",
            ],
        ),
        (
            "different domains with no shared dns",
            "foo.local.campus.net",
            "example.com",
            &[],
            &["foo.local.campus.net", "foo.local.campus.net."],
        ),
        (
            "k8s service with default domain",
            "echo.default.svc.cluster.local",
            "default.svc.cluster.local",
            &[],
            &[
                "echo.default.svc.cluster.local",
                "echo.default.svc.cluster.local.",
                "echo",
                "echo.default.svc",
                "echo.default",
            ],
        ),
        (
            "non-k8s service",
            "foo.default.svc.bar.baz",
            "default.svc.cluster.local",
            &[],
            &["foo.default.svc.bar.baz", "foo.default.svc.bar.baz."],
        ),
        (
            "k8s service with default domain and different namespace",
            "echo.default.svc.cluster.local",
            "mesh.svc.cluster.local",
            &[],
            &[
                "echo.default.svc.cluster.local",
                "echo.default.svc.cluster.local.",
                "echo.default",
                "echo.default.svc",
            ],
        ),
        (
            "k8s service with custom domain 2",
            "google.local",
            "foo.svc.custom.k8s.local",
            &[],
            &["google.local", "google.local."],
        ),
        ("ipv4 domain", "1.2.3.4", "example.com", &[], &["1.2.3.4"]),
        (
            "ipv6 domain",
            "2406:3003:2064:35b8:864:a648:4b96:e37d",
            "example.com",
            &[],
            &["[2406:3003:2064:35b8:864:a648:4b96:e37d]"],
        ),
        (
            "back subset of cluster domain in address",
            "aaa.example.local",
            "tests.svc.cluster.local",
            &[],
            &["aaa.example.local", "aaa.example.local."],
        ),
        (
            "front subset of cluster domain in address",
            "aaa.example.my",
            "tests.svc.my.long.domain.suffix",
            &[],
            &["aaa.example.my", "aaa.example.my."],
        ),
        (
            "large subset of cluster domain in address",
            "aaa.example.my.long",
            "tests.svc.my.long.domain.suffix",
            &[],
            &["aaa.example.my.long", "aaa.example.my.long."],
        ),
        (
            "no overlap of cluster domain in address",
            "aaa.example.com",
            "tests.svc.cluster.local",
            &[],
            &["aaa.example.com", "aaa.example.com."],
        ),
        (
            "dual stack k8s service with default domain",
            "echo.default.svc.cluster.local",
            "default.svc.cluster.local",
            &["1.2.3.4", "2406:3003:2064:35b8:864:a648:4b96:e37d"],
            &[
                "echo.default.svc.cluster.local",
                "echo.default.svc.cluster.local.",
                "echo",
                "echo.default.svc",
                "echo.default",
                "1.2.3.4",
                "[2406:3003:2064:35b8:864:a648:4b96:e37d]",
            ],
        ),
        (
            "service entry with multiple VIPs, IPv6 only",
            "echo.default.svc.cluster.local",
            "default.svc.cluster.local",
            &["2001:2::f0f0:239", "2001:2::f0f0:240"],
            &[
                "echo.default.svc.cluster.local",
                "echo.default.svc.cluster.local.",
                "echo",
                "echo.default.svc",
                "echo.default",
                "[2001:2::f0f0:239]",
                "[2001:2::f0f0:240]",
            ],
        ),
    ];
    for (name, host, domain, addrs, want) in cases {
        let addrs: Vec<String> = addrs.iter().map(|s| s.to_string()).collect();
        let got = virtual_host_domains(host, &addrs, &DomainOptions::sidecar(*domain));
        assert_eq!(got, *want, "case {name:?}");
    }
}

#[test]
fn headless_aliases_and_ports() {
    let mut opts = DomainOptions::sidecar("default.svc.cluster.local");
    opts.headless_kubernetes = true;
    assert_eq!(
        virtual_host_domains("headless.default.svc.cluster.local", &[], &opts),
        [
            "headless.default.svc.cluster.local",
            "headless.default.svc.cluster.local.",
            "headless",
            "headless.default.svc",
            "headless.default",
            "*.headless.default.svc.cluster.local",
            "*.headless.default.svc.cluster.local.",
            "*.headless",
            "*.headless.default.svc",
            "*.headless.default",
        ]
    );
    let aliases = vec!["alias.local.campus.net".to_string()];
    assert_eq!(
        virtual_host_domains_with_aliases(
            "foo.local.campus.net",
            &aliases,
            &[],
            &DomainOptions::sidecar("local.campus.net")
        ),
        [
            "foo.local.campus.net",
            "foo.local.campus.net.",
            "foo",
            "alias.local.campus.net",
            "alias.local.campus.net.",
            "alias"
        ]
    );
    // With a port (gateways, http_proxy), every name also comes as `name:port`.
    let mut opts = DomainOptions::sidecar("default.svc.cluster.local");
    opts.port = Some(9080);
    assert_eq!(
        virtual_host_domains("echo.mesh.svc.cluster.local", &["10.0.0.1".into()], &opts),
        [
            "echo.mesh.svc.cluster.local",
            "echo.mesh.svc.cluster.local:9080",
            "echo.mesh.svc.cluster.local.",
            "echo.mesh.svc.cluster.local.:9080",
            "echo.mesh",
            "echo.mesh:9080",
            "echo.mesh.svc",
            "echo.mesh.svc:9080",
            "10.0.0.1",
            "10.0.0.1:9080",
        ]
    );
    assert_eq!(
        virtual_host_name("reviews.default.svc.cluster.local", 9080),
        "reviews.default.svc.cluster.local:9080"
    );
    assert_eq!(virtual_host_name("::1", 80), "[::1]:80");
}

#[test]
fn catch_all_virtual_hosts() {
    let allow = dump::message_to_json(&catch_all_virtual_host(&CatchAll::default())).unwrap();
    assert_eq!(allow["name"], "allow_any");
    assert_eq!(allow["domains"], json!(["*"]));
    assert_eq!(allow["routes"][0]["route"]["cluster"], "PassthroughCluster");
    assert_eq!(allow["routes"][0]["route"]["timeout"], "0s");
    let block = dump::message_to_json(&catch_all_virtual_host(&CatchAll::RegistryOnly)).unwrap();
    assert_eq!(block["name"], "block_all");
    assert_eq!(block["routes"][0]["direct_response"]["status"], 502);
}

#[test]
fn outbound_route_configuration_shape() {
    use envoy_types::pb::envoy::config::route::v3::VirtualHost;
    let vh = |name: &str| VirtualHost {
        name: name.into(),
        domains: vec![name.into()],
        ..Default::default()
    };
    let rc = outbound_route_configuration(
        "9080",
        vec![
            vh("reviews.default.svc.cluster.local:9080"),
            vh("details.default.svc.cluster.local:9080"),
        ],
        &CatchAll::RegistryOnly,
    );
    let j = dump::message_to_json(&rc).unwrap();
    let names: Vec<&str> = j["virtual_hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "details.default.svc.cluster.local:9080",
            "reviews.default.svc.cluster.local:9080",
            "block_all"
        ]
    );
    assert_eq!(j["validate_clusters"], false);
    assert_eq!(j["ignore_port_in_host_matching"], true);
    assert_eq!(j["max_direct_response_body_size_bytes"], 1048576);
}
