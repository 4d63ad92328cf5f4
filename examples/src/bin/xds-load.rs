//! `xds-load`: the xDS server at scale, driven by our own ADS client.
//!
//! ```text
//! xds-load [--proxies 10000] [--services 1000] [--namespaces 100] [--streams-per-connection 500]
//!          [--delta] [--light-clients] [--server-process]
//! ```
//!
//! Builds a mesh of `services` Kubernetes Services spread over `namespaces` (one VirtualService
//! each, a `Sidecar` per namespace importing `./*`, as meshes at this size are run), serves it
//! with `mesh_xds` on 127.0.0.1, and connects `proxies` distinct sidecars (spread over the
//! namespaces), each subscribing to clusters, listeners and route `8080`, their streams
//! multiplexed over shared HTTP/2 connections. Then edits one VirtualService and pushes to the
//! proxies the change concerns. Prints: time to connect and deliver the initial config to all;
//! for the edit, how long until every affected proxy had ACKed the new routes (p50, p99, max);
//! RSS and CPU: of the one process, or with `--server-process` of the server alone (the server
//! then runs in a child process of this binary, driven over its standard input).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use mesh_core::api::Object;
use mesh_core::model::{MeshOptions, Store};
use mesh_core::translate::sidecar::SidecarOptions;
use mesh_xds::client::{AdsClient, ClientOptions, Received, Subscription};
use mesh_xds::{MeshGenerator, XdsServer, types};

#[derive(Parser, Debug)]
#[command(name = "xds-load")]
struct Args {
    /// Concurrent ADS streams, one per simulated sidecar.
    #[arg(long, default_value_t = 10_000)]
    proxies: usize,
    /// Services in the mesh.
    #[arg(long, default_value_t = 1_000)]
    services: usize,
    /// Namespaces they and the proxies spread over.
    #[arg(long, default_value_t = 100)]
    namespaces: usize,
    /// ADS streams sharing one HTTP/2 connection.
    #[arg(long, default_value_t = 500)]
    streams_per_connection: usize,
    /// Use Delta instead of State of the World.
    #[arg(long)]
    delta: bool,
    /// Clients keep only names and versions, not bodies (so the process's memory is mostly
    /// the server's).
    #[arg(long)]
    light_clients: bool,
    /// Run the server in a child process, so that its memory and CPU are its own.
    #[arg(long)]
    server_process: bool,
    /// (internal) Be that child: serve, print `listening ADDR`, then take the commands
    /// `prepare` (apply the edit, answer `prepared`) and `push` (push it, answer `pushed`).
    #[arg(long, hide = true)]
    serve: bool,
}

fn objects(services: usize, namespaces: usize, timeout: u32) -> Result<Vec<Object>> {
    let mut yaml = String::new();
    for n in 0..namespaces {
        yaml.push_str(&format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: default, namespace: ns-{n}}}\nspec: {{egress: [{{hosts: [\"./*\"]}}]}}\n---\n"
        ));
    }
    for i in 0..services {
        let ns = format!("ns-{}", i % namespaces);
        let t = if i == 0 { timeout } else { 5 };
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: {ns}}}\nspec: {{selector: {{app: svc-{i}}}, ports: [{{name: http, port: 8080}}]}}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: svc-{i}, namespace: {ns}}}\nspec: {{hosts: [svc-{i}], http: [{{route: [{{destination: {{host: svc-{i}}}}}], timeout: {t}s}}]}}\n---\n"
        ));
    }
    Ok(mesh_core::load::from_str(&yaml, "load.yaml")
        .context("generated mesh")?
        .into_iter()
        .map(|l| l.object)
        .collect())
}

fn proc_status(pid: &str, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.to_string())
        })
        .unwrap_or_default()
}

fn cpu_seconds(pid: &str) -> f64 {
    // utime + stime, in clock ticks (100 per second on Linux).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let f: Vec<&str> = s.rsplit_once(") ")?.1.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn node(i: usize, namespaces: usize) -> envoy_types::pb::envoy::config::core::v3::Node {
    use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
    let ns = format!("ns-{}", i % namespaces);
    envoy_types::pb::envoy::config::core::v3::Node {
        id: format!(
            "sidecar~10.1.{}.{}~proxy-{i}.{ns}~{ns}.svc.cluster.local",
            i / 250,
            i % 250
        ),
        metadata: Some(Struct {
            fields: [(
                "NAMESPACE".to_string(),
                Value {
                    kind: Some(Kind::StringValue(ns)),
                },
            )]
            .into(),
        }),
        ..Default::default()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The server side: the mesh, the generator, the ADS server on 127.0.0.1.
struct Served {
    store: Store,
    generator: Arc<MeshGenerator>,
    server: XdsServer,
    addr: std::net::SocketAddr,
    changes: Option<mesh_core::model::ChangeSet>,
}

impl Served {
    async fn start(args: &Args) -> Result<Served> {
        let mut store = Store::new(MeshOptions::default());
        store.apply_all(objects(args.services, args.namespaces, 5)?);
        let generator = Arc::new(MeshGenerator::new(
            store.snapshot(),
            SidecarOptions::default(),
        ));
        let server = XdsServer::new(generator.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let svc = server.service();
        tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await;
        });
        Ok(Served {
            store,
            generator,
            server,
            addr,
            changes: None,
        })
    }

    /// Edits one VirtualService (svc-0 in ns-0): the new snapshot, not pushed yet.
    fn prepare(&mut self, args: &Args) -> Result<()> {
        let changes = self
            .store
            .apply_all(objects(args.services, args.namespaces, 7)?);
        // What the edit left valid of the shared clusters and assignments is kept.
        self.generator.update(self.store.snapshot(), &changes);
        self.changes = Some(changes);
        Ok(())
    }

    /// Pushes the edit to the proxies it concerns.
    fn push(&self) {
        let changes = self.changes.clone().unwrap_or_default();
        let snapshot = self.store.snapshot();
        self.server.push_scoped(Arc::new(move |p| {
            mesh_xds::scope::affected(&changes, &snapshot, p)
        }));
    }
}

/// The child process's side of `--server-process`.
async fn serve_commands(args: Args) -> Result<()> {
    use tokio::io::AsyncBufReadExt;
    let mut served = Served::start(&args).await?;
    println!("listening {}", served.addr);
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        match line.trim() {
            "prepare" => {
                served.prepare(&args)?;
                println!("prepared");
            }
            "push" => {
                served.push();
                println!("pushed");
            }
            other => bail!("unknown command {other:?}"),
        }
    }
    Ok(())
}

/// Where the server runs: in this process, or in a child driven over its standard input.
// One value for the whole run: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Server {
    Here(Box<Served>),
    Child {
        child: tokio::process::Child,
        stdin: tokio::process::ChildStdin,
        lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
        addr: std::net::SocketAddr,
    },
}

impl Server {
    async fn start(args: &Args) -> Result<Server> {
        use tokio::io::AsyncBufReadExt;
        if !args.server_process {
            return Ok(Server::Here(Box::new(Served::start(args).await?)));
        }
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args([
                "--serve",
                "--services",
                &args.services.to_string(),
                "--namespaces",
                &args.namespaces.to_string(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the server process")?;
        let stdin = child.stdin.take().context("stdin")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = lines.next_line().await?.unwrap_or_default();
        let addr = first
            .strip_prefix("listening ")
            .with_context(|| format!("the server process said {first:?}"))?
            .parse()?;
        Ok(Server::Child {
            child,
            stdin,
            lines,
            addr,
        })
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Server::Here(s) => s.addr,
            Server::Child { addr, .. } => *addr,
        }
    }

    /// The server's process id, for its RSS and CPU.
    fn pid(&self) -> String {
        match self {
            Server::Here(_) => "self".into(),
            Server::Child { child, .. } => child.id().map(|p| p.to_string()).unwrap_or_default(),
        }
    }

    async fn command(&mut self, args: &Args, command: &str) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        match self {
            Server::Here(s) => {
                match command {
                    "prepare" => s.prepare(args)?,
                    _ => s.push(),
                }
                Ok(())
            }
            Server::Child { stdin, lines, .. } => {
                stdin.write_all(format!("{command}\n").as_bytes()).await?;
                stdin.flush().await?;
                let answer = lines.next_line().await?.unwrap_or_default();
                anyhow::ensure!(
                    answer.starts_with(command),
                    "the server process answered {answer:?} to {command}"
                );
                Ok(())
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.serve {
        return serve_commands(args).await;
    }
    let mut server = Server::start(&args).await?;
    let addr = server.addr();
    let pid = server.pid();

    let started = Instant::now();
    let cpu0 = cpu_seconds(&pid);
    let connections = args.proxies.div_ceil(args.streams_per_connection.max(1));
    let mut channels = Vec::new();
    for _ in 0..connections {
        channels.push(
            tonic::transport::Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await
                .context("connecting")?,
        );
    }
    let accept: mesh_xds::client::Validator = Arc::new(|_: &str, _: &[Received]| Ok(()));
    let clients: Vec<AdsClient> = (0..args.proxies)
        .map(|i| {
            let mut options = ClientOptions::new(node(i, args.namespaces));
            options.delta = args.delta;
            options.keep_bodies = !args.light_clients;
            AdsClient::spawn_on(
                channels[i % connections].clone(),
                options,
                vec![
                    Subscription::wildcard(types::CLUSTER),
                    Subscription::wildcard(types::LISTENER),
                    Subscription::named(types::ROUTE, &["8080"]),
                ],
                accept.clone(),
            )
        })
        .collect();
    // Initial config: every client has accepted its three types.
    loop {
        let done = clients.iter().filter(|c| c.state().acks >= 3).count();
        if done == clients.len() {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "initial config: {done}/{} after 10 min",
            clients.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let initial = started.elapsed();
    let cpu_initial = cpu_seconds(&pid) - cpu0;
    println!(
        "{} proxies ({}), {} services in {} namespaces, {} connections: initial config delivered to all in {:.2?} (CPU {:.1} s)",
        args.proxies,
        if args.delta { "Delta" } else { "SotW" },
        args.services,
        args.namespaces,
        connections,
        initial,
        cpu_initial
    );

    // Edit one VirtualService (svc-0 in ns-0) and push to the proxies it concerns.
    server.command(&args, "prepare").await?;
    let affected: Vec<usize> = (0..args.proxies)
        .filter(|i| i % args.namespaces == 0)
        .collect();
    let mut waiters = Vec::new();
    for &i in &affected {
        let mut rx = clients[i].subscribe();
        waiters.push(tokio::spawn(async move {
            loop {
                if rx.borrow_and_update().acks >= 4 {
                    return Instant::now();
                }
                if rx.changed().await.is_err() {
                    return Instant::now();
                }
            }
        }));
    }
    let cpu1 = cpu_seconds(&pid);
    let t0 = Instant::now();
    server.command(&args, "push").await?;
    let mut times = Vec::new();
    for w in waiters {
        times.push(w.await?.saturating_duration_since(t0));
    }
    times.sort();
    let unaffected_pushed = clients
        .iter()
        .enumerate()
        .filter(|(i, c)| i % args.namespaces != 0 && c.state().acks > 3)
        .count();
    println!(
        "edit of one VirtualService: {} affected proxies ACKed the new routes: p50 {:.2?}, p99 {:.2?}, max {:.2?} (CPU {:.2} s); {} unaffected proxies were sent anything",
        affected.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or_default(),
        cpu_seconds(&pid) - cpu1,
        unaffected_pushed
    );
    let clients_kind = if args.light_clients { "light" } else { "full" };
    if args.server_process {
        println!(
            "server process: {} / {}; CPU {:.1} s in all",
            proc_status(&pid, "VmRSS"),
            proc_status(&pid, "VmHWM"),
            cpu_seconds(&pid)
        );
        println!(
            "client process ({} {clients_kind} clients): {} / {}",
            args.proxies,
            proc_status("self", "VmRSS"),
            proc_status("self", "VmHWM")
        );
    } else {
        println!(
            "process (server and {clients_kind} clients): {} / {}",
            proc_status("self", "VmRSS"),
            proc_status("self", "VmHWM")
        );
    }
    if let Server::Child {
        mut child, stdin, ..
    } = server
    {
        drop(stdin);
        let _ = child.wait().await;
    }
    Ok(())
}
