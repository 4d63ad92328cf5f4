//! Real Envoy 1.40 against our ADS server, State of the World and Delta: it receives every
//! resource, rejects none, routes real requests, follows an edit, keeps serving when the
//! server goes away and resyncs when it comes back.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{admin, eventually, free_port, get, serve, start_envoy, stat, upstream};

use mesh_core::model::{MeshOptions, Snapshot, Store};
use mesh_core::translate::sidecar::SidecarOptions;
use mesh_xds::{MeshGenerator, SyncStatus, XdsServer, types};

fn snapshot(upstream: u16, gateway_port: u16, teapot: u16) -> Snapshot {
    let yaml = support::mesh_yaml(upstream, gateway_port, teapot);
    let objects = mesh_core::load::from_str(&yaml, "mesh.yaml")
        .expect("loads")
        .into_iter()
        .map(|l| l.object);
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects);
    store.snapshot()
}

fn scenario(api_type: &str) {
    let up = upstream();
    let gw = free_port();
    let admin_port = free_port();
    let xds_port = free_port();
    let generator = Arc::new(MeshGenerator::new(
        snapshot(up, gw, 418),
        SidecarOptions::default(),
    ));
    let server = XdsServer::new(generator.clone());
    let task = serve(server.clone(), xds_port);
    let envoy = start_envoy(xds_port, admin_port, api_type);

    // Envoy receives the config and routes real requests.
    let ok = eventually(20, || {
        get(gw, "shop.example.com", "/anything").filter(|(c, _)| *c == 200)
    });
    let log = std::fs::read_to_string(&envoy.log).unwrap_or_default();
    let stats = admin(admin_port, "/stats");
    let relevant: Vec<&str> = stats
        .lines()
        .filter(|l| l.starts_with("control_plane") || l.contains(".cds.") || l.contains(".lds."))
        .collect();
    let (_, body) = ok.unwrap_or_else(|| {
        panic!(
            "{api_type}: no route through envoy; log:\n{log}\nstats:\n{}",
            relevant.join("\n")
        )
    });
    assert!(body.ends_with("upstream"));
    assert_eq!(
        get(gw, "shop.example.com", "/teapot").map(|r| r.0),
        Some(418)
    );

    // Every resource is in the config dump; nothing rejected; every type SYNCED.
    support::assert_envoy_holds_the_mesh(admin_port, gw, api_type);
    let synced = eventually(5, || {
        let st = server.status();
        let p = st.first()?;
        [
            types::CLUSTER,
            types::ENDPOINT,
            types::LISTENER,
            types::ROUTE,
        ]
        .iter()
        .all(|t| p.sync(t) == SyncStatus::Synced)
        .then_some(())
    });
    assert!(
        synced.is_some(),
        "{api_type}: all types SYNCED: {:?}",
        server.status()
    );
    assert_eq!(server.status()[0].delta, api_type == "DELTA_GRPC");

    // An edit reaches Envoy's routing.
    let rds = format!("http.outbound_0.0.0.0_{gw}.rds.http.{gw}.update_success");
    let before = stat(admin_port, &rds);
    let started = Instant::now();
    generator.set_snapshot(snapshot(up, gw, 419));
    server.push();
    let applied = eventually(10, || (stat(admin_port, &rds) != before).then_some(()));
    assert!(
        applied.is_some(),
        "{api_type}: envoy applied the new route configuration"
    );
    eprintln!(
        "{api_type}: edit applied by Envoy (RDS update_success) after {:?}",
        started.elapsed()
    );
    let changed = eventually(10, || {
        get(gw, "shop.example.com", "/teapot").filter(|(c, _)| *c == 419)
    });
    assert!(changed.is_some(), "{api_type}: the edit reached envoy");
    eprintln!(
        "{api_type}: edit visible in Envoy's routing after {:?}",
        started.elapsed()
    );
    let updates = stat(admin_port, &rds);
    assert!(
        updates.is_some_and(|n| n >= 2),
        "{api_type}: RDS updated: {updates:?}"
    );
    // An unchanged push sends nothing new: no extra RDS update.
    server.push();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        stat(admin_port, &rds),
        updates,
        "{api_type}: unchanged resources are not resent"
    );

    // The control plane goes away: Envoy keeps serving its last config.
    drop(task);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        get(gw, "shop.example.com", "/anything").map(|r| r.0),
        Some(200),
        "{api_type}: serving without the server"
    );

    // It comes back with new config: Envoy reconnects and resyncs.
    generator.set_snapshot(snapshot(up, gw, 420));
    let task = serve(server.clone(), xds_port);
    let resynced = eventually(20, || {
        get(gw, "shop.example.com", "/teapot").filter(|(c, _)| *c == 420)
    });
    assert!(resynced.is_some(), "{api_type}: resynced after the restart");
    drop(task);
    drop(envoy);
}

#[test]
fn envoy_over_sotw_ads() {
    scenario("GRPC");
}

#[test]
fn envoy_over_delta_ads() {
    scenario("DELTA_GRPC");
}

/// Wraps the mesh generator; when `broken`, adds a listener Envoy must reject.
struct Breakable {
    inner: Arc<MeshGenerator>,
    broken: std::sync::atomic::AtomicBool,
}

impl mesh_xds::Generator for Breakable {
    fn generate(
        &self,
        proxy: &mesh_xds::ProxyInfo,
        type_url: &str,
    ) -> Result<Vec<mesh_xds::Resource>, mesh_xds::GenerateError> {
        let mut out = self.inner.generate(proxy, type_url)?;
        if type_url == types::LISTENER && self.broken.load(std::sync::atomic::Ordering::SeqCst) {
            // A listener without an address: Envoy rejects the whole update.
            let bad = envoy_types::pb::envoy::config::listener::v3::Listener {
                name: "broken".into(),
                ..Default::default()
            };
            out.push(mesh_xds::Resource::new(
                "broken",
                mesh_core::dump::to_any(&bad),
            ));
        }
        Ok(out)
    }
}

fn nack_scenario(api_type: &str) {
    let up = upstream();
    let gw = free_port();
    let admin_port = free_port();
    let xds_port = free_port();
    let mesh = Arc::new(MeshGenerator::new(
        snapshot(up, gw, 418),
        SidecarOptions::default(),
    ));
    let generator = Arc::new(Breakable {
        inner: mesh.clone(),
        broken: std::sync::atomic::AtomicBool::new(false),
    });
    let server = XdsServer::new(generator.clone());
    let _running = serve(server.clone(), xds_port);
    let _envoy = start_envoy(xds_port, admin_port, api_type);
    let ok = eventually(20, || {
        get(gw, "shop.example.com", "/teapot").filter(|(c, _)| *c == 418)
    });
    assert!(ok.is_some(), "{api_type}: serving");

    // A bad listener together with a route edit: Envoy rejects the listeners, the server
    // records the rejection, and the proxy keeps its last accepted listeners.
    generator
        .broken
        .store(true, std::sync::atomic::Ordering::SeqCst);
    server.push();
    let nack = eventually(10, || {
        let st = server.status();
        let t = st.first()?.types.get(types::LISTENER)?.clone();
        let (sync, rejects) = (t.sync(), t.rejects);
        t.last_nack.map(|n| (n, sync, rejects))
    });
    let ((_, message), sync, rejects) =
        nack.unwrap_or_else(|| panic!("{api_type}: NACK recorded: {:?}", server.status()));
    assert!(
        message.contains("broken") || message.to_lowercase().contains("address"),
        "{message}"
    );
    assert_eq!(sync, SyncStatus::Stale);
    assert_eq!(rejects, 1);
    assert!(stat(admin_port, "listener_manager.lds.update_rejected").is_some_and(|n| n >= 1));
    assert_eq!(
        get(gw, "shop.example.com", "/teapot").map(|r| r.0),
        Some(418),
        "{api_type}: still serving"
    );
    // Nothing is resent after a NACK until the content changes.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.status()[0].types[types::LISTENER].rejects, 1);

    // Fixed: the next push is accepted.
    generator
        .broken
        .store(false, std::sync::atomic::Ordering::SeqCst);
    server.push();
    let synced = eventually(10, || {
        (server.status().first()?.sync(types::LISTENER) == SyncStatus::Synced).then_some(())
    });
    assert!(
        synced.is_some(),
        "{api_type}: SYNCED again: {:?}",
        server.status()
    );
}

#[test]
fn nack_keeps_last_good_sotw() {
    nack_scenario("GRPC");
}

#[test]
fn nack_keeps_last_good_delta() {
    nack_scenario("DELTA_GRPC");
}
