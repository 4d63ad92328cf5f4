//! The xDS protocol between our client (and a raw stream where a test must control every
//! message) and our server: ACK and NACK, content versions, stale nonces, unsubscribe,
//! reconnect and Delta resume.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DiscoveryRequest};
use mesh_core::dump::to_any;
use mesh_xds::client::{AdsClient, ClientOptions, Received, Subscription};
use mesh_xds::{GenerateError, Generator, ProxyInfo, Resource, SyncStatus, XdsServer, types};
use support::{free_port, serve};
use tokio_stream::StreamExt;

/// Resources set by the test.
#[derive(Default)]
struct Fixed(Mutex<BTreeMap<String, Vec<Resource>>>);

impl Fixed {
    fn set_clusters(&self, names: &[(&str, u64)]) {
        let r = names
            .iter()
            .map(|(n, timeout)| {
                let c = Cluster {
                    name: n.to_string(),
                    connect_timeout: Some(envoy_types::pb::google::protobuf::Duration {
                        seconds: *timeout as i64,
                        nanos: 0,
                    }),
                    ..Default::default()
                };
                Resource::new(*n, to_any(&c))
            })
            .collect();
        self.0
            .lock()
            .expect("lock")
            .insert(types::CLUSTER.into(), r);
    }

    fn set_endpoints(&self, names: &[&str], weight: u32) {
        let r = names
            .iter()
            .map(|n| {
                let e = ClusterLoadAssignment {
                    cluster_name: n.to_string(),
                    policy: Some(envoy_types::pb::envoy::config::endpoint::v3::cluster_load_assignment::Policy {
                        overprovisioning_factor: Some(envoy_types::pb::google::protobuf::UInt32Value { value: weight }),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                Resource::new(*n, to_any(&e))
            })
            .collect();
        self.0
            .lock()
            .expect("lock")
            .insert(types::ENDPOINT.into(), r);
    }
}

impl Generator for Fixed {
    fn generate(&self, _: &ProxyInfo, type_url: &str) -> Result<Vec<Resource>, GenerateError> {
        Ok(self
            .0
            .lock()
            .expect("lock")
            .get(type_url)
            .cloned()
            .unwrap_or_default())
    }
}

fn node() -> Node {
    Node {
        id: "sidecar~10.0.0.1~client-0.default~default.svc.cluster.local".into(),
        ..Default::default()
    }
}

async fn until<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Some(v) = f() {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn names(rs: &[&Received]) -> Vec<String> {
    rs.iter().map(|r| r.name.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_nack_and_versions_with_our_client() {
    for delta in [false, true] {
        let fixed = Arc::new(Fixed::default());
        fixed.set_clusters(&[("a", 1), ("b", 1)]);
        fixed.set_endpoints(&["a", "b"], 140);
        let server = XdsServer::new(fixed.clone());
        let port = free_port();
        let _running = serve(server.clone(), port);
        let mut options = ClientOptions::new(node());
        options.delta = delta;
        // The validator rejects any cluster named `bad`.
        let client = AdsClient::spawn(
            format!("http://127.0.0.1:{port}"),
            options,
            vec![
                Subscription::wildcard(types::CLUSTER),
                Subscription::named(types::ENDPOINT, &["a"]),
            ],
            Arc::new(|t: &str, rs: &[Received]| {
                if t == types::CLUSTER && rs.iter().any(|r| r.name == "bad") {
                    Err("cluster bad is not acceptable".into())
                } else {
                    Ok(())
                }
            }),
        );
        let got = until(5, || {
            let s = client.state();
            (s.resources(types::CLUSTER).len() == 2 && s.resources(types::ENDPOINT).len() == 1)
                .then_some(s)
        })
        .await
        .unwrap_or_else(|| panic!("delta={delta}: {:?}", client.state()));
        assert_eq!(
            names(&got.resources(types::ENDPOINT)),
            ["a"],
            "named subscription only"
        );
        let synced = until(5, || {
            let st = server.status();
            let p = st.first()?;
            (p.sync(types::CLUSTER) == SyncStatus::Synced
                && p.sync(types::ENDPOINT) == SyncStatus::Synced)
                .then_some(())
        })
        .await;
        assert!(synced.is_some(), "delta={delta}: {:?}", server.status());

        // A change reaches the client; unchanged types are not resent.
        let acks = client.state().acks;
        fixed.set_clusters(&[("a", 2), ("b", 1)]);
        server.push();
        let changed = until(5, || (client.state().acks > acks).then(|| client.state()))
            .await
            .expect("update");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            client.state().acks,
            acks + 1,
            "delta={delta}: only the changed type was sent"
        );
        let a = changed.accepted[types::CLUSTER]["a"].clone();
        let decoded: Cluster = prost::Message::decode(a.body.value.as_slice()).expect("cluster");
        assert_eq!(decoded.connect_timeout.map(|d| d.seconds), Some(2));

        // A response the client rejects: NACK recorded by the server, the client keeps its
        // last accepted clusters, the server does not resend.
        fixed.set_clusters(&[("a", 2), ("b", 1), ("bad", 1)]);
        server.push();
        let nack = until(5, || {
            let t = server.status().first()?.types.get(types::CLUSTER)?.clone();
            t.last_nack.clone().map(|n| (n, t.sync()))
        })
        .await
        .unwrap_or_else(|| panic!("delta={delta}: NACK recorded: {:?}", server.status()));
        assert_eq!(nack.0.1, "cluster bad is not acceptable");
        assert_eq!(nack.1, SyncStatus::Stale);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let s = client.state();
        assert_eq!(s.nacks, 1, "delta={delta}");
        assert_eq!(
            names(&s.resources(types::CLUSTER)),
            ["a", "b"],
            "delta={delta}: last accepted kept"
        );
        assert_eq!(server.totals().rejects.get(types::CLUSTER), Some(&1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_and_delta_resume() {
    let fixed = Arc::new(Fixed::default());
    fixed.set_clusters(&[("a", 1), ("b", 1), ("c", 1)]);
    let server = XdsServer::new(fixed.clone());
    let port = free_port();
    let running = serve(server.clone(), port);
    let mut options = ClientOptions::new(node());
    options.delta = true;
    options.initial_backoff = Duration::from_millis(50);
    let client = AdsClient::spawn(
        format!("http://127.0.0.1:{port}"),
        options,
        vec![Subscription::wildcard(types::CLUSTER)],
        Arc::new(|_: &str, _: &[Received]| Ok(())),
    );
    until(5, || {
        (client.state().resources(types::CLUSTER).len() == 3).then_some(())
    })
    .await
    .expect("initial");
    let pushes_before = server
        .totals()
        .pushes
        .get(types::CLUSTER)
        .copied()
        .unwrap_or(0);

    // The server goes away: the client keeps what it has.
    drop(running);
    until(5, || (!client.state().connected).then_some(()))
        .await
        .expect("disconnected");
    assert_eq!(
        client.state().resources(types::CLUSTER).len(),
        3,
        "kept while the server is away"
    );

    // It comes back with one cluster changed: the client resumes with its versions and gets
    // only that one.
    fixed.set_clusters(&[("a", 1), ("b", 5), ("c", 1)]);
    let _running = serve(server.clone(), port);
    let resumed = until(10, || {
        let s = client.state();
        (s.connections >= 2
            && s.accepted
                .get(types::CLUSTER)
                .and_then(|m| m.get("b"))
                .is_some_and(|b| {
                    let c: Cluster =
                        prost::Message::decode(b.body.value.as_slice()).expect("cluster");
                    c.connect_timeout.map(|d| d.seconds) == Some(5)
                }))
        .then_some(s)
    })
    .await
    .expect("resumed");
    assert_eq!(resumed.resources(types::CLUSTER).len(), 3);
    let pushes = server
        .totals()
        .pushes
        .get(types::CLUSTER)
        .copied()
        .unwrap_or(0);
    assert_eq!(pushes, pushes_before + 1, "one response on resume");
    let status = server.status();
    assert_eq!(status.len(), 1, "the old connection is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_nonces_and_unsubscribe_on_raw_streams() {
    let fixed = Arc::new(Fixed::default());
    fixed.set_clusters(&[("a", 1)]);
    fixed.set_endpoints(&["a", "b"], 140);
    let server = XdsServer::new(fixed.clone());
    let port = free_port();
    let _running = serve(server.clone(), port);
    let mut ads = AggregatedDiscoveryServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .expect("connects");

    // SotW: a request echoing an old nonce is ignored.
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut responses = ads
        .stream_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("stream")
        .into_inner();
    tx.send(DiscoveryRequest {
        node: Some(node()),
        type_url: types::CLUSTER.into(),
        ..Default::default()
    })
    .await
    .expect("send");
    let first = responses.next().await.expect("response").expect("ok");
    fixed.set_clusters(&[("a", 2)]);
    server.push();
    let second = responses.next().await.expect("response").expect("ok");
    assert_ne!(first.nonce, second.nonce);
    assert_ne!(first.version_info, second.version_info);
    // Stale: acknowledges the first response (with a NACK, even) after the second was sent.
    tx.send(DiscoveryRequest {
        type_url: types::CLUSTER.into(),
        response_nonce: first.nonce.clone(),
        error_detail: Some(envoy_types::pb::google::rpc::Status {
            code: 3,
            message: "late".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .expect("send");
    let nothing = tokio::time::timeout(Duration::from_millis(300), responses.next()).await;
    assert!(nothing.is_err(), "no answer to a stale request");
    assert!(
        server.status()[0].types[types::CLUSTER].last_nack.is_none(),
        "a stale NACK is not recorded"
    );
    drop(tx);

    // Delta: unsubscribing stops updates for that name.
    let (dtx, drx) = tokio::sync::mpsc::channel(8);
    let mut delta = ads
        .delta_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(drx))
        .await
        .expect("stream")
        .into_inner();
    dtx.send(DeltaDiscoveryRequest {
        node: Some(node()),
        type_url: types::ENDPOINT.into(),
        resource_names_subscribe: vec!["a".into(), "b".into()],
        ..Default::default()
    })
    .await
    .expect("send");
    let r = delta.next().await.expect("response").expect("ok");
    let mut got: Vec<String> = r.resources.iter().map(|x| x.name.clone()).collect();
    got.sort();
    assert_eq!(got, ["a", "b"]);
    dtx.send(DeltaDiscoveryRequest {
        type_url: types::ENDPOINT.into(),
        response_nonce: r.nonce.clone(),
        resource_names_unsubscribe: vec!["b".into()],
        ..Default::default()
    })
    .await
    .expect("send");
    // Let the unsubscribe land before the push (they race otherwise).
    tokio::time::sleep(Duration::from_millis(200)).await;
    fixed.set_endpoints(&["a", "b"], 150);
    server.push();
    let r = delta.next().await.expect("response").expect("ok");
    let got: Vec<String> = r.resources.iter().map(|x| x.name.clone()).collect();
    assert_eq!(got, ["a"], "b was unsubscribed");
    // A name that does not exist is reported removed.
    dtx.send(DeltaDiscoveryRequest {
        type_url: types::ENDPOINT.into(),
        response_nonce: r.nonce.clone(),
        resource_names_subscribe: vec!["ghost".into()],
        ..Default::default()
    })
    .await
    .expect("send");
    let r = delta.next().await.expect("response").expect("ok");
    assert_eq!(r.removed_resources, ["ghost"]);
}

/// Counts generations per node id.
#[derive(Default)]
struct Counting {
    inner: Fixed,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Generator for Counting {
    fn generate(&self, proxy: &ProxyInfo, type_url: &str) -> Result<Vec<Resource>, GenerateError> {
        *self
            .calls
            .lock()
            .expect("lock")
            .entry(proxy.node.id.clone())
            .or_default() += 1;
        self.inner.generate(proxy, type_url)
    }
}

fn node_in(ns: &str) -> Node {
    use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
    Node {
        id: format!("sidecar~10.0.0.1~app-0.{ns}~{ns}.svc.cluster.local"),
        metadata: Some(Struct {
            fields: [(
                "NAMESPACE".to_string(),
                Value {
                    kind: Some(Kind::StringValue(ns.into())),
                },
            )]
            .into(),
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_pushes_reach_only_the_proxies_concerned() {
    let gen_ = Arc::new(Counting::default());
    gen_.inner.set_clusters(&[("a", 1)]);
    let server = XdsServer::new(gen_.clone());
    let port = free_port();
    let _running = serve(server.clone(), port);
    let clients: Vec<AdsClient> = ["a", "b"]
        .iter()
        .map(|ns| {
            AdsClient::spawn(
                format!("http://127.0.0.1:{port}"),
                ClientOptions::new(node_in(ns)),
                vec![Subscription::wildcard(types::CLUSTER)],
                Arc::new(|_: &str, _: &[Received]| Ok(())),
            )
        })
        .collect();
    for c in &clients {
        until(5, || (c.state().acks == 1).then_some(()))
            .await
            .expect("initial config");
    }
    let calls = |ns: &str| {
        gen_.calls
            .lock()
            .expect("lock")
            .get(&node_in(ns).id)
            .copied()
            .unwrap_or(0)
    };
    let ns_of = |ns: &'static str| -> mesh_xds::PushFilter {
        Arc::new(move |p: &ProxyInfo| p.proxy.as_ref().is_some_and(|p| p.config_namespace == ns))
    };
    let (a0, b0) = (calls("a"), calls("b"));
    gen_.inner.set_clusters(&[("a", 2)]);
    server.push_scoped(ns_of("a"));
    until(5, || (clients[0].state().acks == 2).then_some(()))
        .await
        .expect("a pushed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(calls("a") > a0);
    assert_eq!(calls("b"), b0, "b is not concerned: not even regenerated");
    assert_eq!(clients[1].state().acks, 1);
    // Two scoped pushes in a row: each proxy concerned by either regenerates.
    gen_.inner.set_clusters(&[("a", 3)]);
    server.push_scoped(ns_of("a"));
    server.push_scoped(ns_of("b"));
    until(5, || {
        (clients[0].state().acks == 3 && clients[1].state().acks == 2).then_some(())
    })
    .await
    .expect("both pushed");
}

#[test]
fn change_sets_concern_the_namespaces_proxies_import() {
    use mesh_core::model::{ChangeKind, ChangeSet, MeshOptions, ObjectKey, Store};
    let objects = mesh_core::load::from_str(
        r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: scoped}
spec: {egress: [{hosts: ["./*", "shared/*"]}]}
"#,
        "sidecar.yaml",
    )
    .expect("loads");
    let mut store = Store::new(MeshOptions::default());
    store.apply_all(objects.into_iter().map(|l| l.object));
    let snap = store.snapshot();
    let change = |ns: &str| {
        let mut c = ChangeSet::default();
        c.objects.insert(
            ObjectKey {
                kind: "VirtualService".into(),
                namespace: ns.into(),
                name: "x".into(),
            },
            ChangeKind::Updated,
        );
        c
    };
    let scoped = ProxyInfo::from_node(node_in("scoped"));
    let open = ProxyInfo::from_node(node_in("open"));
    for (ns, expected) in [
        ("scoped", true),
        ("shared", true),
        ("istio-system", true),
        ("other", false),
    ] {
        assert_eq!(
            mesh_xds::scope::affected(&change(ns), &snap, &scoped),
            expected,
            "{ns}"
        );
    }
    assert!(
        mesh_xds::scope::affected(&change("other"), &snap, &open),
        "no Sidecar: everything"
    );
}
