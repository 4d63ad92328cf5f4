//! A proxyless gRPC client nobody here wrote: Python `grpcio`, bootstrapped with
//! `GRPC_XDS_BOOTSTRAP` to our ADS server, resolves `xds:///echo.example.internal:7070`
//! through it and makes RPCs to two real gRPC servers, routed by a VirtualService (a header
//! match to one subset, the rest to the other); an edit to the VirtualService re-routes the
//! client's calls. Node metadata `GENERATOR: grpc` makes the translation emit `ApiListener`s,
//! as istiod's `grpcgen` does.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use support::{free_port, serve};

use mesh_core::model::{MeshOptions, Snapshot, Store};
use mesh_core::translate::sidecar::SidecarOptions;
use mesh_xds::{MeshGenerator, SyncStatus, XdsServer, types};

const NODE: &str = "sidecar~127.0.0.1~client.default~default.svc.cluster.local";
const TARGET: &str = "echo.example.internal:7070";

fn python() -> String {
    std::env::var("MESH_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| {
            panic!(
                "MESH_PYTHON is not set: run ./scripts/test.sh, which installs grpcio into a venv"
            )
        })
}

/// The echo service on two ports (subsets v1, v2), and a VirtualService sending
/// `x-version: v2` to v2 and everything else to `default_subset`.
fn snapshot(ports: [u16; 2], default_subset: &str) -> Snapshot {
    let [p1, p2] = ports;
    let yaml = format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: echo, namespace: default}}
spec:
  hosts: [echo.example.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{{number: 7070, name: grpc, protocol: GRPC}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{grpc: {p1}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{grpc: {p2}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: echo, namespace: default}}
spec:
  host: echo.example.internal
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo, namespace: default}}
spec:
  hosts: [echo.example.internal]
  http:
  - match: [{{headers: {{x-version: {{exact: v2}}}}}}]
    route: [{{destination: {{host: echo.example.internal, subset: v2}}}}]
  - route: [{{destination: {{host: echo.example.internal, subset: {default_subset}}}}}]
"#
    );
    let objects = mesh_core::load::from_str(&yaml, "echo.yaml")
        .expect("loads")
        .into_iter()
        .map(|l| l.object);
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects);
    store.snapshot()
}

/// The Python client process: commands in on stdin, one answer line each on stdout.
struct Client {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    log: std::path::PathBuf,
}

impl Client {
    fn start(xds: u16, ports: [u16; 2], dir: &std::path::Path) -> Client {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/grpc/xds_echo.py");
        let log = dir.join("grpc.log");
        let mut child = Command::new(python())
            .arg(script)
            .arg(format!("127.0.0.1:{xds}"))
            .arg(NODE)
            .arg(format!("{},{}", ports[0], ports[1]))
            .env("GRPC_VERBOSITY", "ERROR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("python starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut c = Client {
            child,
            stdin,
            lines,
            log,
        };
        let ready = c.line();
        assert_eq!(ready, "ready", "the gRPC servers started");
        c
    }

    fn line(&mut self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "no answer from the gRPC client; its log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                )
            })
    }

    /// One RPC through `xds:///TARGET` with `metadata` (`key=value`); the answer line.
    fn call(&mut self, metadata: &[&str]) -> String {
        writeln!(self.stdin, "call {TARGET} {}", metadata.join(" ")).expect("write");
        self.stdin.flush().expect("flush");
        self.line()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn grpcio_resolves_and_routes_through_our_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = [free_port(), free_port()];
    let xds = free_port();
    let generator = Arc::new(MeshGenerator::new(
        snapshot(ports, "v1"),
        SidecarOptions::default(),
    ));
    let server = XdsServer::new(generator.clone());
    let _running = serve(server.clone(), xds);
    let mut client = Client::start(xds, ports, dir.path());

    // Resolved over xDS and routed by the VirtualService: no header to v1, the header to v2.
    let started = Instant::now();
    assert_eq!(
        client.call(&[]),
        "ok v1:hi",
        "the default route (subset v1)"
    );
    eprintln!("first RPC over xDS after {:?}", started.elapsed());
    assert_eq!(
        client.call(&["x-version=v2"]),
        "ok v2:hi",
        "the header match (subset v2)"
    );

    // The client asked for exactly what istiod's grpcgen serves, and accepted all of it.
    let status = server.status();
    let proxy = status
        .iter()
        .find(|p| p.node_id == NODE)
        .unwrap_or_else(|| panic!("the gRPC client is connected: {status:?}"));
    assert!(!proxy.delta, "gRPC speaks State of the World");
    for t in [
        types::LISTENER,
        types::ROUTE,
        types::CLUSTER,
        types::ENDPOINT,
    ] {
        let ts = proxy.types.get(t);
        assert_eq!(proxy.sync(t), SyncStatus::Synced, "{t}: {ts:?}");
        assert_eq!(ts.map(|s| s.rejects), Some(0), "{t} never rejected: {ts:?}");
    }

    // An edit: everything to v2. The client's calls follow without a reconnect.
    generator.set_snapshot(snapshot(ports, "v2"));
    server.push();
    let edited = Instant::now();
    let deadline = edited + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        last = client.call(&[]);
        if last == "ok v2:hi" {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        last, "ok v2:hi",
        "the edited default route reached the client"
    );
    eprintln!(
        "edit followed by the gRPC client after {:?}",
        edited.elapsed()
    );
    let rejects: u64 = server
        .status()
        .iter()
        .flat_map(|p| p.types.values())
        .map(|t| t.rejects)
        .sum();
    assert_eq!(rejects, 0, "nothing rejected after the edit");
}
