//! The `control-plane` example end to end with real Envoy 1.40: a directory of YAML in, Envoy
//! routing real requests out; file edits reach Envoy's routing, invalid edits change nothing and
//! are reported, Envoy keeps serving while the control plane is down and resyncs after a
//! restart, SIGTERM stops it cleanly.

#[path = "../../mesh-xds/tests/support/mod.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{eventually, free_port, get, mesh_yaml, start_envoy, upstream};

struct ControlPlane(Child);

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path, xds: u16, admin: u16) -> ControlPlane {
    let child = Command::new(env!("CARGO_BIN_EXE_control-plane"))
        .arg("--config")
        .arg(dir)
        .args([
            "--xds",
            &format!("127.0.0.1:{xds}"),
            "--admin",
            &format!("127.0.0.1:{admin}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("control-plane starts");
    let up = eventually(20, || {
        std::net::TcpStream::connect(("127.0.0.1", admin)).ok()
    });
    assert!(up.is_some(), "control-plane listens on its admin port");
    ControlPlane(child)
}

fn admin_json(port: u16, path: &str) -> serde_json::Value {
    let (_, text) = get(port, "admin", path).expect("admin answers");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

#[test]
fn directory_to_envoy_sotw() {
    directory_to_envoy("GRPC");
}

#[test]
fn directory_to_envoy_delta() {
    directory_to_envoy("DELTA_GRPC");
}

/// The example end to end with Envoy on `api_type` (`GRPC`: State of the World,
/// `DELTA_GRPC`: Delta).
fn directory_to_envoy(api_type: &str) {
    let up = upstream();
    let gw = free_port();
    let (xds, admin, envoy_admin) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mesh.yaml");
    std::fs::write(&file, mesh_yaml(up, gw, 418)).expect("write");
    let mut cp = start(dir.path(), xds, admin);
    let _envoy = start_envoy(xds, envoy_admin, api_type);

    let served = eventually(20, || {
        get(gw, "shop.example.com", "/teapot").filter(|(c, _)| *c == 418)
    });
    assert!(served.is_some(), "envoy routes with the directory's config");
    assert_eq!(get(gw, "shop.example.com", "/x").map(|r| r.0), Some(200));
    // Envoy's own view: every resource in its config dump, none rejected.
    support::assert_envoy_holds_the_mesh(envoy_admin, gw, api_type);

    let syncz = admin_json(admin, "/debug/syncz");
    let proxy = &syncz[0];
    assert!(
        proxy["proxy"]
            .as_str()
            .is_some_and(|p| p.starts_with("router~"))
    );
    let synced = eventually(5, || {
        let s = admin_json(admin, "/debug/syncz");
        ["CDS", "EDS", "LDS", "RDS"]
            .iter()
            .all(|t| s[0]["types"][*t]["status"] == "SYNCED")
            .then_some(())
    });
    assert!(synced.is_some(), "{}", admin_json(admin, "/debug/syncz"));
    let node = proxy["proxy"].as_str().expect("id").replace('~', "%7E");
    let dump = admin_json(admin, &format!("/debug/config_dump?proxyID={node}"));
    assert!(dump.to_string().contains(&format!("http.{gw}")));
    let (_, metrics) = get(admin, "admin", "/metrics").expect("metrics");
    assert!(metrics.contains("pilot_xds 1"), "{metrics}");
    // meshctl proxy-status prints istioctl's table.
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(["proxy-status", "--admin", &format!("127.0.0.1:{admin}")])
        .output()
        .expect("meshctl runs");
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ISTIOD", "VERSION"
        ],
        "{table}"
    );
    assert_eq!(
        lines[1][..6],
        [
            "gw-0.istio-system",
            "Kubernetes",
            "SYNCED",
            "SYNCED",
            "SYNCED",
            "SYNCED"
        ],
        "{table}"
    );
    assert!(
        metrics.contains("pilot_xds_pushes{type=\"rds\"}"),
        "{metrics}"
    );

    // An edit to the file reaches Envoy's routing.
    let t = Instant::now();
    std::fs::write(&file, mesh_yaml(up, gw, 419)).expect("edit");
    let edited = eventually(10, || {
        get(gw, "shop.example.com", "/teapot").filter(|(c, _)| *c == 419)
    });
    assert!(edited.is_some(), "the edit reached envoy");
    eprintln!("{api_type}: file edit -> Envoy routing: {:?}", t.elapsed());
    // The push was timed: per type, and from the change to the proxy having it all.
    let (_, metrics) = get(admin, "admin", "/metrics").expect("metrics");
    let count = |name: &str| -> Option<u64> {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    assert!(
        count("pilot_proxy_convergence_time_count").is_some_and(|n| n >= 1),
        "{metrics}"
    );
    assert!(
        count("pilot_xds_push_time_bucket{type=\"rds\",le=\"+Inf\"}").is_some_and(|n| n >= 2),
        "{metrics}"
    );

    // An invalid edit changes nothing and is reported.
    std::fs::write(
        &file,
        mesh_yaml(up, gw, 420).replace("directResponse", "directRespons"),
    )
    .expect("edit");
    let reported = eventually(10, || {
        let e = admin_json(admin, "/debug/config_errors");
        e.as_array().filter(|a| !a.is_empty()).cloned()
    });
    let errors = reported.expect("the bad file is reported");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("directRespons")),
        "{errors:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get(gw, "shop.example.com", "/teapot").map(|r| r.0),
        Some(419),
        "still the last good config"
    );
    let (_, metrics) = get(admin, "admin", "/metrics").expect("metrics");
    assert!(metrics.contains("mesh_config_file_errors 1"), "{metrics}");

    // The control plane dies: Envoy keeps serving. It comes back with a newer file: resync.
    drop(cp);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get(gw, "shop.example.com", "/x").map(|r| r.0),
        Some(200),
        "serving without a control plane"
    );
    std::fs::write(&file, mesh_yaml(up, gw, 421)).expect("edit");
    cp = start(dir.path(), xds, admin);
    let resynced = eventually(20, || {
        get(gw, "shop.example.com", "/teapot").filter(|(c, _)| *c == 421)
    });
    assert!(resynced.is_some(), "envoy resynced after the restart");

    // SIGTERM: a clean exit.
    let pid = cp.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exited = eventually(10, || cp.0.try_wait().ok().flatten());
    assert!(
        exited.is_some_and(|s| s.success()),
        "graceful exit: {exited:?}"
    );
}
