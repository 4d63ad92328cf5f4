//! Mesh mTLS with real Envoy 1.40: two Envoys get certificates for two SPIFFE identities from
//! our CA over SDS (our server), with the TLS contexts our translation writes
//! (`ISTIO_MUTUAL` upstream, the inbound context requiring a mesh certificate), and complete an
//! mTLS request; the server side sees the client's identity in `x-forwarded-client-cert`; a
//! client whose certificate comes from another CA is refused. The server's certificates come
//! from an `SdsGenerator` beside the CA; the client's the way istio-agent gets them: a
//! `CertManager` asks the CA's gRPC API and an `AgentSdsGenerator` serves what it holds.
//! With 20-second certificates, a steady stream of requests for 2 minutes loses none while
//! both sides rotate their certificates; then the same across a root rotation (new root
//! trusted, then signing, then the old one retired).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::bootstrap::v3::{Admin, Bootstrap, bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action,
    route_match,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::{
    ForwardClientCertDetails, RouteSpecifier, SetCurrentClientCertDetails,
};
use envoy_types::pb::google::protobuf::{Duration as PbDuration, UInt32Value};
use mesh_ca::{Ca, CaOptions, TrustDomain};
use mesh_core::dump::{message_to_json, to_any};
use mesh_core::translate::bootstrap::grpc_cluster;
use mesh_core::translate::inbound::inbound_tls;
use mesh_core::translate::listener::{outbound_http_connection_manager, socket};
use mesh_core::translate::tls::{istio_mutual_upstream, tls_transport_socket};
use mesh_ca::grpc::{Authenticator, Caller, CertificateService};
use mesh_ca::{CertManager, ManagerOptions, SpiffeId};
use mesh_xds::{AgentSdsGenerator, SdsGenerator, XdsServer};
use support::{Envoy, eventually, free_port, get, run_envoy};

/// An upstream answering 200 with the `x-forwarded-client-cert` it received as the body.
fn xfcc_echo() -> u16 {
    support::http_server(|head| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("x-forwarded-client-cert")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    })
}

fn static_cluster(name: &str, port: u16) -> Cluster {
    let mut c = grpc_cluster(name, socket("127.0.0.1", u32::from(port)));
    c.typed_extension_protocol_options.clear(); // plain HTTP/1.1
    c
}

fn routes_to(cluster: &str) -> RouteConfiguration {
    RouteConfiguration {
        name: "local".into(),
        virtual_hosts: vec![VirtualHost {
            name: "all".into(),
            domains: vec!["*".into()],
            routes: vec![Route {
                r#match: Some(RouteMatch {
                    path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
                    ..Default::default()
                }),
                action: Some(route::Action::Route(RouteAction {
                    cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(
                        cluster.into(),
                    )),
                    timeout: Some(PbDuration {
                        seconds: 5,
                        nanos: 0,
                    }),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn http_listener(name: &str, port: u16, cluster: &str, tls: bool) -> Listener {
    let mut hcm = outbound_http_connection_manager(name, "unused");
    hcm.route_specifier = Some(RouteSpecifier::RouteConfig(routes_to(cluster)));
    if tls {
        hcm.forward_client_cert_details = ForwardClientCertDetails::SanitizeSet as i32;
        hcm.set_current_client_cert_details = Some(SetCurrentClientCertDetails {
            uri: true,
            ..Default::default()
        });
    }
    Listener {
        name: name.into(),
        address: Some(socket("127.0.0.1", u32::from(port))),
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(filter::ConfigType::TypedConfig(to_any(&hcm))),
            }],
            transport_socket: tls.then(|| {
                let ctx = inbound_tls(true, &["cluster.local".to_string()]);
                envoy_types::pb::envoy::config::core::v3::TransportSocket {
                    name: "envoy.transport_sockets.tls".into(),
                    config_type: Some(
                        envoy_types::pb::envoy::config::core::v3::transport_socket::ConfigType::TypedConfig(
                            to_any(&ctx),
                        ),
                    ),
                }
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn node(pod: &str, sa: &str) -> Node {
    use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
    let fields = [("NAMESPACE", "shop"), ("SERVICE_ACCOUNT", sa)]
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                Value {
                    kind: Some(Kind::StringValue(v.into())),
                },
            )
        })
        .collect();
    Node {
        id: format!("sidecar~127.0.0.1~{pod}.shop~shop.svc.cluster.local"),
        cluster: pod.into(),
        metadata: Some(Struct { fields }),
        ..Default::default()
    }
}

fn start(
    node: Node,
    sds: u16,
    admin: u16,
    listeners: Vec<Listener>,
    mut clusters: Vec<Cluster>,
) -> Envoy {
    clusters.push(grpc_cluster(
        "sds-grpc",
        socket("127.0.0.1", u32::from(sds)),
    ));
    let b = Bootstrap {
        node: Some(node),
        admin: Some(Admin {
            address: Some(socket("127.0.0.1", u32::from(admin))),
            ..Default::default()
        }),
        static_resources: Some(bootstrap::StaticResources {
            listeners,
            clusters,
            ..Default::default()
        }),
        ..Default::default()
    };
    run_envoy(&message_to_json(&b).expect("dumps"))
}

/// A client sidecar: plain HTTP on `port`, ISTIO_MUTUAL to the server sidecar, expecting the
/// server's identity.
fn client(pod: &str, sa: &str, sds: u16, port: u16, server_port: u16) -> Envoy {
    let mut to_server = static_cluster("outbound|8080||web.shop.svc.cluster.local", server_port);
    to_server.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(
        cluster::DiscoveryType::Static as i32,
    ));
    let tls = istio_mutual_upstream(
        "outbound_.8080_._.web.shop.svc.cluster.local",
        &["spiffe://cluster.local/ns/shop/sa/web".to_string()],
        false,
    );
    to_server.transport_socket = Some(tls_transport_socket(&tls));
    // One request per upstream connection: every request is a new handshake, so rotated
    // certificates are used as soon as they arrive.
    let options = envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions {
        common_http_protocol_options: Some(envoy_types::pb::envoy::config::core::v3::HttpProtocolOptions {
            max_requests_per_connection: Some(UInt32Value { value: 1 }),
            ..Default::default()
        }),
        upstream_protocol_options: Some(
            envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
                envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::ExplicitHttpConfig {
                    protocol_config: Some(
                        envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::explicit_http_config::ProtocolConfig::HttpProtocolOptions(
                            Default::default(),
                        ),
                    ),
                },
            ),
        ),
        ..Default::default()
    };
    to_server.typed_extension_protocol_options.insert(
        mesh_core::translate::cluster::HTTP_PROTOCOL_OPTIONS.into(),
        to_any(&options),
    );
    start(
        node(pod, sa),
        sds,
        free_port(),
        vec![http_listener(
            "outbound",
            port,
            "outbound|8080||web.shop.svc.cluster.local",
            false,
        )],
        vec![to_server],
    )
}

/// Certificates live 20 s and are renewed at half-life.
const TTL: Duration = Duration::from_secs(20);

/// The workload's token, as a projected service account token would be; the CA's
/// authenticator here maps it to the frontend's identity (JWT checking is tested in mesh-ca).
const FRONTEND_TOKEN: &str = "frontend-token";

struct Tokens(SpiffeId);

impl Authenticator for Tokens {
    fn authenticate(&self, caller: &Caller<'_>) -> Result<SpiffeId, tonic::Status> {
        match caller.metadata.get("authorization").map(|v| v.to_str()) {
            Some(Ok(v)) if v == format!("Bearer {FRONTEND_TOKEN}") => Ok(self.0.clone()),
            _ => Err(tonic::Status::unauthenticated("unknown token")),
        }
    }
}

/// istio-agent for the frontend: the CA's gRPC API, a `CertManager` using it, and an SDS
/// server with an `AgentSdsGenerator` pushing every renewal. Lives as long as the value.
struct Agent {
    sds_port: u16,
    manager: Option<CertManager>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Agent {
    fn start(ca: Arc<Mutex<Ca>>, id: SpiffeId) -> Agent {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (sds_port, manager) = rt.block_on(async move {
            let ca_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let ca_port = ca_listener.local_addr().expect("addr").port();
            let service = CertificateService::new(ca, vec![Box::new(Tokens(id.clone()))]);
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(
                        ca_listener,
                    )),
            );
            let mut options = ManagerOptions::default();
            options.ttl = TTL;
            let manager = CertManager::spawn(
                format!("http://127.0.0.1:{ca_port}"),
                Arc::new(|| FRONTEND_TOKEN.to_string()),
                id,
                options,
            );
            let generator = AgentSdsGenerator::new(&manager);
            let server = XdsServer::new(Arc::new(generator.clone()));
            generator.push_on_renewal(server.clone());
            let sds = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let sds_port = sds.local_addr().expect("addr").port();
            tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(server.sds_service())
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(sds)),
            );
            (sds_port, manager)
        });
        Agent {
            sds_port,
            manager: Some(manager),
            rt: Some(rt),
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        drop(self.manager.take());
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn serve_sds(server: XdsServer) -> (u16, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let _ = tx.send(listener.local_addr().expect("addr").port());
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(server.sds_service())
                .serve_with_incoming(incoming)
                .await;
        });
    });
    (rx.recv().expect("port"), handle)
}

#[test]
fn mtls_between_two_envoys_with_our_certificates() {
    let td = TrustDomain::new("cluster.local").expect("td");
    let ca = Arc::new(Mutex::new(
        Ca::generate(CaOptions::new(td.clone())).expect("ca"),
    ));
    let sds = Arc::new(SdsGenerator::new(ca.clone(), TTL));
    let server = XdsServer::new(sds.clone());
    let (sds_port, _t) = serve_sds(server.clone());

    let echo = xfcc_echo();
    let server_port = free_port();
    let _web = start(
        node("web-0", "web"),
        sds_port,
        free_port(),
        vec![http_listener("inbound", server_port, "app", true)],
        vec![static_cluster("app", echo)],
    );
    let frontend_id = SpiffeId::istio(&td, "shop", "frontend").expect("id");
    let agent = Agent::start(ca.clone(), frontend_id);
    let client_port = free_port();
    let _frontend = client(
        "frontend-0",
        "frontend",
        agent.sds_port,
        client_port,
        server_port,
    );

    let first = eventually(20, || {
        get(client_port, "web.shop", "/").filter(|(c, _)| *c == 200)
    });
    let (_, text) = first.expect("an mTLS request through both Envoys");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    assert!(
        body.contains("URI=spiffe://cluster.local/ns/shop/sa/frontend"),
        "the server side sees the client's identity: {body:?}"
    );

    // A client with a certificate from another CA is refused.
    let other_ca = Arc::new(Mutex::new(
        Ca::generate(CaOptions::new(td.clone())).expect("ca"),
    ));
    let other = XdsServer::new(Arc::new(SdsGenerator::new(
        other_ca,
        Duration::from_secs(3600),
    )));
    let (other_sds, _t2) = serve_sds(other);
    let intruder_port = free_port();
    let _intruder = client(
        "intruder-0",
        "frontend",
        other_sds,
        intruder_port,
        server_port,
    );
    let refused = eventually(20, || {
        get(intruder_port, "web.shop", "/").filter(|(c, _)| *c != 0)
    });
    let (code, _) = refused.expect("the intruder gets an answer from its own Envoy");
    assert_eq!(code, 503, "a foreign certificate does not get through");

    // Rotation under load: 20 s certificates renewed at half-life on both sides (the
    // server's on the pushes every 500 ms, the client's by its manager, pushed by the agent),
    // a steady stream of requests, one connection each: 2 minutes, then a root rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (server, stop) = (server.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                server.push();
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let mut load = Load::default();
    load.run(client_port, Duration::from_secs(120), |_| {});
    let steady = load.report("2 minutes of 20 s certificates");
    assert!(steady.ok > 1000, "{steady:?}");
    // 12 renewals per side expected; at least 10 client certificates seen.
    assert!(steady.certificates >= 10, "{steady:?}");

    // A root rotation: at 0 s a new root joins the bundle (trusted everywhere within one
    // renewal: the server's on the next push, the client's with its next certificate); at
    // 12 s it signs; at 34 s, every certificate in use having been renewed under it, the
    // old root is retired; requests go on to 45 s.
    let mut load = Load::default();
    let (mut activated, mut retired) = (false, false);
    ca.lock().expect("ca").add_root().expect("adds a root");
    load.run(client_port, Duration::from_secs(45), |elapsed| {
        if !activated && elapsed > Duration::from_secs(12) {
            ca.lock().expect("ca").activate_root().expect("activates");
            activated = true;
        }
        if !retired && elapsed > Duration::from_secs(34) {
            ca.lock().expect("ca").retire_old_roots();
            retired = true;
        }
    });
    stop.store(true, Ordering::Relaxed);
    let _ = pusher.join();
    let rotation = load.report("root rotation");
    assert!(rotation.ok > 500, "{rotation:?}");
    assert!(rotation.certificates >= 4, "{rotation:?}");
    assert_eq!(
        ca.lock().expect("ca").bundle().roots().len(),
        1,
        "the old root is retired"
    );
    drop(agent);
}

/// Requests through the client Envoy, one every 20 ms.
#[derive(Debug, Default)]
struct Load {
    ok: u32,
    failed: Vec<String>,
    /// Distinct client certificates the server saw (XFCC carries the certificate hash).
    hashes: std::collections::BTreeSet<String>,
    certificates: usize,
}

impl Load {
    /// Sends requests for `duration`, calling `tick` with the elapsed time before each.
    fn run(&mut self, port: u16, duration: Duration, mut tick: impl FnMut(Duration)) {
        let started = Instant::now();
        while started.elapsed() < duration {
            tick(started.elapsed());
            match get(port, "web.shop", "/") {
                Some((200, text)) => {
                    self.ok += 1;
                    let body = text
                        .split_once("\r\n\r\n")
                        .map(|(_, b)| b.to_string())
                        .unwrap_or_default();
                    if let Some(h) = body.split(';').find_map(|p| p.strip_prefix("Hash=")) {
                        self.hashes.insert(h.to_string());
                    }
                }
                other => self.failed.push(format!(
                    "{:?} at {:?}",
                    other.map(|o| o.0),
                    started.elapsed()
                )),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.certificates = self.hashes.len();
    }

    /// Prints the figures and fails on any lost request.
    fn report(self, what: &str) -> Load {
        eprintln!(
            "{what}: {} requests, {} failed, {} client certificates seen",
            self.ok,
            self.failed.len(),
            self.certificates
        );
        assert!(
            self.failed.is_empty(),
            "{what}: {} of {} requests failed: {:?}",
            self.failed.len(),
            self.ok as usize + self.failed.len(),
            self.failed
        );
        self
    }
}
