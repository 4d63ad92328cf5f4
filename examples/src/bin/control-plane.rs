//! `control-plane`: serves xDS from a directory of manifests, like a small istiod.
//!
//! ```text
//! control-plane --config DIR [--xds 127.0.0.1:15010] [--admin 127.0.0.1:15014]
//! ```
//!
//! The directory (Kubernetes and Istio YAML, searched recursively) is watched: a change is
//! pushed to every connected proxy after 100 ms of quiet (at most 10 s after the first event).
//! A file that does not load or validate is reported (log, `/debug/config_errors`,
//! `mesh_config_file_errors`) and keeps its last good objects. Admin endpoints:
//! `/debug/syncz` (per proxy and type: SYNCED / STALE / NOT SENT, the last rejection),
//! `/debug/config_dump?proxyID=<node id>`, `/debug/config_errors`, `/metrics` (Prometheus text).
//! SIGTERM or Ctrl-C stops it gracefully.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use mesh_core::model::MeshOptions;
use mesh_core::translate::sidecar::SidecarOptions;
use mesh_xds::{
    ConfigSource, Debounce, DirectorySource, FileError, MeshGenerator, SourceUpdate, SyncStatus,
    XdsServer, types,
};

/// Serve xDS from a directory of Istio and Kubernetes YAML.
#[derive(Parser, Debug)]
#[command(name = "control-plane", version)]
struct Args {
    /// The directory of manifests.
    #[arg(long)]
    config: std::path::PathBuf,
    /// Where to serve xDS (gRPC, ADS).
    #[arg(long, default_value = "127.0.0.1:15010")]
    xds: SocketAddr,
    /// Where to serve the debug and metrics endpoints.
    #[arg(long, default_value = "127.0.0.1:15014")]
    admin: SocketAddr,
}

#[derive(Clone)]
struct State {
    server: XdsServer,
    generator: Arc<MeshGenerator>,
    errors: Arc<Mutex<Vec<FileError>>>,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    anyhow::ensure!(
        args.config.is_dir(),
        "--config {}: not a directory",
        args.config.display()
    );
    let source = DirectorySource::new(&args.config, MeshOptions::default());
    let (server, state, _running) = serve_source(source)?;
    tracing::info!("serving {}", args.config.display());

    // On SIGTERM: stop accepting, let streams end for up to 2 s (ADS streams do not end on
    // their own: proxies keep them open), then exit.
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopping = {
        let stop = stop.clone();
        async move {
            shutdown().await;
            tracing::info!("shutting down");
            stop.notify_waiters();
        }
    };
    let xds = tonic::transport::Server::builder()
        .add_service(server.service())
        .serve_with_shutdown(args.xds, stopping);
    let admin = tokio::net::TcpListener::bind(args.admin)
        .await
        .with_context(|| format!("binding the admin address {}", args.admin))?;
    tracing::info!(xds = %args.xds, admin = %args.admin, "serving");
    let admin_task = tokio::spawn(serve_admin(admin, state));
    let grace = async {
        stop.notified().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    tokio::select! {
        r = xds => r.context("serving xDS")?,
        _ = grace => tracing::info!("grace period over; closing open streams"),
    }
    admin_task.abort();
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn serve_admin(listener: tokio::net::TcpListener, state: State) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(admin(&state, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

fn respond(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn query_param(req: &Request<hyper::body::Incoming>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.replace("%7E", "~").replace("%7e", "~"))
    })
}

fn admin(state: &State, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let json = "application/json";
    match req.uri().path() {
        "/debug/syncz" => {
            let proxies: Vec<serde_json::Value> = state
                .server
                .status()
                .iter()
                .map(|p| {
                    let types: serde_json::Map<String, serde_json::Value> = [types::CLUSTER, types::LISTENER, types::ENDPOINT, types::ROUTE]
                        .iter()
                        .map(|t| {
                            let st = p.types.get(*t);
                            (
                                types::short_name(t).to_string(),
                                serde_json::json!({
                                    "status": p.sync(t).to_string(),
                                    "sent": st.map(|s| s.sent_version.clone()),
                                    "acked": st.map(|s| s.acked_version.clone()),
                                    "last_nack": st.and_then(|s| s.last_nack.as_ref().map(|(v, m)| serde_json::json!({"version": v, "message": m}))),
                                }),
                            )
                        })
                        .collect();
                    serde_json::json!({"proxy": p.node_id, "connection": p.connection, "delta": p.delta, "types": types})
                })
                .collect();
            respond(200, json, serde_json::Value::Array(proxies).to_string())
        }
        "/debug/config_errors" => {
            let errors = state
                .errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let list: Vec<serde_json::Value> = errors
                .iter()
                .map(|e| serde_json::json!({"file": e.path.display().to_string(), "message": e.message}))
                .collect();
            respond(200, json, serde_json::Value::Array(list).to_string())
        }
        "/debug/config_dump" => {
            let Some(id) = query_param(req, "proxyID") else {
                return respond(400, "text/plain", "proxyID is required\n".into());
            };
            let Some(proxy) = state.server.proxy_info(&id).and_then(|i| i.proxy) else {
                return respond(404, "text/plain", format!("proxy {id} is not connected\n"));
            };
            match state.generator.resources(&proxy).config_dump("").to_json() {
                Ok(v) => respond(200, json, v.to_string()),
                Err(e) => respond(500, "text/plain", format!("{e}\n")),
            }
        }
        "/metrics" => respond(200, "text/plain; version=0.0.4", metrics(state)),
        _ => respond(404, "text/plain", "not found\n".into()),
    }
}

/// Starts a generator and an xDS server over any config source: the first update becomes the
/// snapshot; every later one is pushed to the proxies its change set concerns, and the failing
/// inputs are kept for `/debug/config_errors`.
fn serve_source<S: ConfigSource>(source: S) -> Result<(XdsServer, State, S::Running)> {
    let slot: Arc<Mutex<Option<State>>> = Arc::new(Mutex::new(None));
    let on_update = {
        let slot = slot.clone();
        move |update: SourceUpdate| {
            let Some(state) = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
            else {
                return;
            };
            tracing::info!(
                objects = update.snapshot.len(),
                errors = update.errors.len(),
                "config changed"
            );
            for e in &update.errors {
                tracing::warn!(input = %e.path.display(), message = %e.message, "invalid input kept its last good objects");
            }
            *state
                .errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = update.errors;
            if update.changes.is_empty() {
                return; // only the set of failing inputs changed
            }
            let (changes, snapshot) = (update.changes, update.snapshot);
            // The clusters and assignments the change left valid are kept.
            state.generator.update(snapshot.clone(), &changes);
            // Only the proxies whose scope the change touches regenerate.
            state.server.push_scoped(Arc::new(move |p| {
                mesh_xds::scope::affected(&changes, &snapshot, p)
            }));
        }
    };
    // Held until the state exists, so that an update arriving meanwhile waits for it.
    let mut ready = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (first, running) = source
        .start(Debounce::default(), Box::new(on_update))
        .map_err(anyhow::Error::msg)?;
    for e in &first.errors {
        tracing::warn!(input = %e.path.display(), message = %e.message, "invalid input");
    }
    tracing::info!(objects = first.snapshot.len(), "loaded");
    let generator = Arc::new(MeshGenerator::new(
        first.snapshot,
        SidecarOptions::default(),
    ));
    let server = XdsServer::new(generator.clone());
    let state = State {
        server: server.clone(),
        generator,
        errors: Arc::new(Mutex::new(first.errors)),
    };
    *ready = Some(state.clone());
    drop(ready);
    Ok((server, state, running))
}

/// Prometheus text exposition with Istio's metric names.
fn metrics(state: &State) -> String {
    use std::fmt::Write;
    let status = state.server.status();
    let totals = state.server.totals();
    let mut out = String::new();
    let _ = writeln!(out, "# HELP pilot_xds Proxies connected over xDS.");
    let _ = writeln!(out, "# TYPE pilot_xds gauge");
    let _ = writeln!(out, "pilot_xds {}", status.len());
    let _ = writeln!(out, "# HELP pilot_xds_pushes xDS responses sent, by type.");
    let _ = writeln!(out, "# TYPE pilot_xds_pushes counter");
    for (t, n) in &totals.pushes {
        let _ = writeln!(
            out,
            "pilot_xds_pushes{{type=\"{}\"}} {n}",
            types::short_name(t).to_lowercase()
        );
    }
    let _ = writeln!(
        out,
        "# HELP pilot_total_xds_rejects xDS responses proxies rejected, by type."
    );
    let _ = writeln!(out, "# TYPE pilot_total_xds_rejects counter");
    for (t, n) in &totals.rejects {
        let _ = writeln!(
            out,
            "pilot_total_xds_rejects{{type=\"{}\"}} {n}",
            types::short_name(t).to_lowercase()
        );
    }
    let _ = writeln!(
        out,
        "# HELP pilot_xds_push_time Seconds from generating an xDS response to sending it, by type."
    );
    let _ = writeln!(out, "# TYPE pilot_xds_push_time histogram");
    for (t, h) in &totals.push_time {
        let short = types::short_name(t).to_lowercase();
        h.write_prometheus(&mut out, "pilot_xds_push_time", &[("type", &short)]);
    }
    let _ = writeln!(
        out,
        "# HELP pilot_proxy_convergence_time Seconds from a config change to a proxy having been sent all of it."
    );
    let _ = writeln!(out, "# TYPE pilot_proxy_convergence_time histogram");
    totals
        .convergence
        .write_prometheus(&mut out, "pilot_proxy_convergence_time", &[]);
    let stale = status
        .iter()
        .flat_map(|p| p.types.keys().map(move |t| p.sync(t)))
        .filter(|s| *s == SyncStatus::Stale)
        .count();
    let _ = writeln!(
        out,
        "# HELP mesh_xds_stale Proxy types sent but not acknowledged."
    );
    let _ = writeln!(out, "# TYPE mesh_xds_stale gauge");
    let _ = writeln!(out, "mesh_xds_stale {stale}");
    let errors = state.errors.lock().map(|e| e.len()).unwrap_or(0);
    let _ = writeln!(
        out,
        "# HELP mesh_config_file_errors Config files that fail to load or validate."
    );
    let _ = writeln!(out, "# TYPE mesh_config_file_errors gauge");
    let _ = writeln!(out, "mesh_config_file_errors {errors}");
    out
}
