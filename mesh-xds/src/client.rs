//! An ADS client for bespoke data planes and load tests: typed subscriptions, a validator that
//! decides ACK or NACK, reconnection with jittered exponential backoff, Delta resume with
//! `initial_resource_versions`, and the last accepted resources kept while the server is away.
//!
//! ```no_run
//! use mesh_xds::client::{AdsClient, ClientOptions, Subscription};
//! use mesh_xds::types;
//!
//! # async fn run() {
//! let node = envoy_types::pb::envoy::config::core::v3::Node {
//!     id: "sidecar~10.0.0.1~app-0.default~default.svc.cluster.local".into(),
//!     ..Default::default()
//! };
//! let client = AdsClient::spawn(
//!     "http://127.0.0.1:15010".into(),
//!     ClientOptions::new(node),
//!     vec![Subscription::wildcard(types::CLUSTER), Subscription::wildcard(types::LISTENER)],
//!     std::sync::Arc::new(|_: &str, _: &[mesh_xds::client::Received]| Ok(())),
//! );
//! let mut updates = client.subscribe();
//! updates.changed().await.ok();
//! println!("{} clusters", client.state().resources(types::CLUSTER).len());
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DiscoveryRequest};
use envoy_types::pb::google::protobuf::Any;
use envoy_types::pb::google::rpc::Status as RpcStatus;
use tokio::sync::{mpsc, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

/// One resource as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// Its name (from the Delta envelope, or decoded from field 1 of the resource in SotW).
    pub name: String,
    /// Its version (Delta), or the response's version (SotW).
    pub version: String,
    /// The resource.
    pub body: Any,
}

/// What to subscribe to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The type URL.
    pub type_url: String,
    /// Names; empty for a wildcard subscription.
    pub names: Vec<String>,
}

impl Subscription {
    /// Every resource of a type.
    pub fn wildcard(type_url: &str) -> Subscription {
        Subscription {
            type_url: type_url.into(),
            names: Vec::new(),
        }
    }

    /// Named resources of a type.
    pub fn named(type_url: &str, names: &[&str]) -> Subscription {
        Subscription {
            type_url: type_url.into(),
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Decides whether a response is accepted (ACK) or rejected with a message (NACK).
pub type Validator = Arc<dyn Fn(&str, &[Received]) -> Result<(), String> + Send + Sync>;

/// How the client connects.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The node sent on each stream's first request.
    pub node: Node,
    /// Delta (`DeltaAggregatedResources`) instead of State of the World.
    pub delta: bool,
    /// First reconnection delay (100 ms), doubled up to `max_backoff` (10 s), jittered.
    pub initial_backoff: Duration,
    /// Longest reconnection delay.
    pub max_backoff: Duration,
    /// Keep the resources' bodies (default); without, only names and versions are kept
    /// (load tests with thousands of clients in one process).
    pub keep_bodies: bool,
}

impl ClientOptions {
    /// SotW, default backoff.
    pub fn new(node: Node) -> ClientOptions {
        ClientOptions {
            node,
            delta: false,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            keep_bodies: true,
        }
    }
}

/// What the client holds: the accepted resources per type, and its history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientState {
    /// Accepted resources by type, then name.
    pub accepted: BTreeMap<String, BTreeMap<String, Received>>,
    /// The last accepted version per type (SotW).
    pub versions: BTreeMap<String, String>,
    /// Whether a stream is up.
    pub connected: bool,
    /// Streams opened so far.
    pub connections: u64,
    /// Responses accepted.
    pub acks: u64,
    /// Responses rejected.
    pub nacks: u64,
}

impl ClientState {
    /// The accepted resources of a type.
    pub fn resources(&self, type_url: &str) -> Vec<&Received> {
        self.accepted
            .get(type_url)
            .map(|m| m.values().collect())
            .unwrap_or_default()
    }
}

/// A running client. Dropping it stops it.
#[derive(Debug)]
pub struct AdsClient {
    state: watch::Receiver<ClientState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AdsClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `name` field (1) of an encoded resource.
fn resource_name(any: &Any) -> String {
    #[derive(Clone, PartialEq, prost::Message)]
    struct Named {
        #[prost(string, tag = "1")]
        name: String,
    }
    <Named as prost::Message>::decode(any.value.as_slice())
        .map(|n| n.name)
        .unwrap_or_default()
}

/// The resources as kept: bodies dropped unless `keep`.
fn strip(received: Vec<Received>, keep: bool) -> Vec<Received> {
    if keep {
        return received;
    }
    received
        .into_iter()
        .map(|r| Received {
            body: Any {
                type_url: r.body.type_url,
                value: Vec::new(),
            },
            ..r
        })
        .collect()
}

/// Half to all of `d`, spread by the clock's sub-second part (enough to keep reconnecting
/// clients from moving in step).
fn jitter(d: Duration) -> Duration {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d.mul_f64(0.5 + 0.5 * f64::from(n % 1000) / 1000.0)
}

/// Where the client's streams go.
#[derive(Clone, Debug)]
enum Target {
    /// Dial this endpoint for each stream.
    Endpoint(String),
    /// Open streams on this (shared, HTTP/2-multiplexed) channel.
    Channel(tonic::transport::Channel),
}

impl AdsClient {
    /// Starts the client (within a tokio runtime), dialing `endpoint` (`http://host:port`).
    pub fn spawn(
        endpoint: String,
        options: ClientOptions,
        subscriptions: Vec<Subscription>,
        validator: Validator,
    ) -> AdsClient {
        Self::start(
            Target::Endpoint(endpoint),
            options,
            subscriptions,
            validator,
        )
    }

    /// Starts the client on a channel shared with others (their streams multiplexed on its
    /// connection, as load tests with thousands of clients need).
    pub fn spawn_on(
        channel: tonic::transport::Channel,
        options: ClientOptions,
        subscriptions: Vec<Subscription>,
        validator: Validator,
    ) -> AdsClient {
        Self::start(Target::Channel(channel), options, subscriptions, validator)
    }

    fn start(
        endpoint: Target,
        options: ClientOptions,
        subscriptions: Vec<Subscription>,
        validator: Validator,
    ) -> AdsClient {
        let (tx, state) = watch::channel(ClientState::default());
        let task = tokio::spawn(async move {
            let mut backoff = options.initial_backoff;
            loop {
                let result = if options.delta {
                    delta_stream(&endpoint, &options, &subscriptions, &validator, &tx).await
                } else {
                    sotw_stream(&endpoint, &options, &subscriptions, &validator, &tx).await
                };
                tx.send_modify(|s| s.connected = false);
                if let Ok(true) = result {
                    // A stream that got responses: start over with short delays.
                    backoff = options.initial_backoff;
                }
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(options.max_backoff);
            }
        });
        AdsClient { state, task }
    }

    /// The state now.
    pub fn state(&self) -> ClientState {
        self.state.borrow().clone()
    }

    /// A receiver notified on every change.
    pub fn subscribe(&self) -> watch::Receiver<ClientState> {
        self.state.clone()
    }
}

type StreamResult = Result<bool, String>;

async fn connect(
    target: &Target,
) -> Result<AggregatedDiscoveryServiceClient<tonic::transport::Channel>, String> {
    let endpoint = match target {
        Target::Channel(c) => return Ok(AggregatedDiscoveryServiceClient::new(c.clone())),
        Target::Endpoint(e) => e,
    };
    let channel = tonic::transport::Channel::from_shared(endpoint.to_string())
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(2))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(AggregatedDiscoveryServiceClient::new(channel))
}

async fn sotw_stream(
    endpoint: &Target,
    options: &ClientOptions,
    subscriptions: &[Subscription],
    validator: &Validator,
    state: &watch::Sender<ClientState>,
) -> StreamResult {
    let mut client = connect(endpoint).await?;
    let (req_tx, req_rx) = mpsc::channel::<DiscoveryRequest>(16);
    let versions = state.borrow().versions.clone();
    for (i, s) in subscriptions.iter().enumerate() {
        let _ = req_tx
            .send(DiscoveryRequest {
                node: (i == 0).then(|| options.node.clone()),
                type_url: s.type_url.clone(),
                resource_names: s.names.clone(),
                // A reconnect carries the versions it has (the server answers anyway).
                version_info: versions.get(&s.type_url).cloned().unwrap_or_default(),
                ..Default::default()
            })
            .await;
    }
    let mut responses = client
        .stream_aggregated_resources(ReceiverStream::new(req_rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    state.send_modify(|s| {
        s.connected = true;
        s.connections += 1;
    });
    let mut got_any = false;
    while let Some(r) = responses.next().await {
        let r = r.map_err(|e| e.to_string())?;
        got_any = true;
        let received: Vec<Received> = r
            .resources
            .iter()
            .map(|a| Received {
                name: resource_name(a),
                version: r.version_info.clone(),
                body: a.clone(),
            })
            .collect();
        let names = subscriptions
            .iter()
            .find(|s| s.type_url == r.type_url)
            .map(|s| s.names.clone())
            .unwrap_or_default();
        let verdict = validator(&r.type_url, &received);
        let previous = state
            .borrow()
            .versions
            .get(&r.type_url)
            .cloned()
            .unwrap_or_default();
        let request = match verdict {
            Ok(()) => {
                let received = strip(received, options.keep_bodies);
                state.send_modify(|s| {
                    s.accepted.insert(
                        r.type_url.clone(),
                        received.into_iter().map(|x| (x.name.clone(), x)).collect(),
                    );
                    s.versions
                        .insert(r.type_url.clone(), r.version_info.clone());
                    s.acks += 1;
                });
                DiscoveryRequest {
                    type_url: r.type_url.clone(),
                    version_info: r.version_info.clone(),
                    response_nonce: r.nonce.clone(),
                    resource_names: names,
                    ..Default::default()
                }
            }
            Err(message) => {
                state.send_modify(|s| s.nacks += 1);
                DiscoveryRequest {
                    type_url: r.type_url.clone(),
                    version_info: previous,
                    response_nonce: r.nonce.clone(),
                    resource_names: names,
                    error_detail: Some(RpcStatus {
                        code: 3,
                        message,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            }
        };
        if req_tx.send(request).await.is_err() {
            break;
        }
    }
    Ok(got_any)
}

async fn delta_stream(
    endpoint: &Target,
    options: &ClientOptions,
    subscriptions: &[Subscription],
    validator: &Validator,
    state: &watch::Sender<ClientState>,
) -> StreamResult {
    let mut client = connect(endpoint).await?;
    let (req_tx, req_rx) = mpsc::channel::<DeltaDiscoveryRequest>(16);
    let accepted = state.borrow().accepted.clone();
    for (i, s) in subscriptions.iter().enumerate() {
        // Resume: tell the server what we have, so it sends only what changed.
        let initial = accepted
            .get(&s.type_url)
            .map(|m| {
                m.values()
                    .map(|r| (r.name.clone(), r.version.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let _ = req_tx
            .send(DeltaDiscoveryRequest {
                node: (i == 0).then(|| options.node.clone()),
                type_url: s.type_url.clone(),
                resource_names_subscribe: s.names.clone(),
                initial_resource_versions: initial,
                ..Default::default()
            })
            .await;
    }
    let mut responses = client
        .delta_aggregated_resources(ReceiverStream::new(req_rx))
        .await
        .map_err(|e| e.to_string())?
        .into_inner();
    state.send_modify(|s| {
        s.connected = true;
        s.connections += 1;
    });
    let mut got_any = false;
    while let Some(r) = responses.next().await {
        let r = r.map_err(|e| e.to_string())?;
        got_any = true;
        let received: Vec<Received> = r
            .resources
            .iter()
            .filter_map(|x| {
                Some(Received {
                    name: x.name.clone(),
                    version: x.version.clone(),
                    body: x.resource.clone()?,
                })
            })
            .collect();
        let request = match validator(&r.type_url, &received) {
            Ok(()) => {
                let received = strip(received, options.keep_bodies);
                state.send_modify(|s| {
                    let m = s.accepted.entry(r.type_url.clone()).or_default();
                    for x in received {
                        m.insert(x.name.clone(), x);
                    }
                    for n in &r.removed_resources {
                        m.remove(n);
                    }
                    s.acks += 1;
                });
                DeltaDiscoveryRequest {
                    type_url: r.type_url.clone(),
                    response_nonce: r.nonce.clone(),
                    ..Default::default()
                }
            }
            Err(message) => {
                state.send_modify(|s| s.nacks += 1);
                DeltaDiscoveryRequest {
                    type_url: r.type_url.clone(),
                    response_nonce: r.nonce.clone(),
                    error_detail: Some(RpcStatus {
                        code: 3,
                        message,
                        ..Default::default()
                    }),
                    ..Default::default()
                }
            }
        };
        if req_tx.send(request).await.is_err() {
            break;
        }
    }
    Ok(got_any)
}
