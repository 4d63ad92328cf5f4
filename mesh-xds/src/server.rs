//! The ADS server: `StreamAggregatedResources` (State of the World) and
//! `DeltaAggregatedResources`, per the xDS transport protocol.
//!
//! Per stream and type: a version and nonce per response; a request echoing an older nonce is
//! stale and ignored (SotW; in Delta its subscription changes still apply); `error_detail`
//! marks a NACK, recorded in the proxy's status while the proxy keeps its last accepted
//! config and nothing is resent; an ACK records the version as accepted. Subscriptions are
//! wildcard (listeners, clusters) or by name (endpoints by cluster, routes by name). Every push
//! goes clusters, endpoints, listeners, routes, and sends a type only when its content changed.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
    Resource as DeltaResource,
};
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_server::{
    SecretDiscoveryService, SecretDiscoveryServiceServer,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::generator::{Generator, ProxyInfo, Resource};
use crate::status::{Histogram, ProxyStatus, TypeStatus};
use crate::types;

/// Which proxies a push concerns.
pub type PushFilter = Arc<dyn Fn(&ProxyInfo) -> bool + Send + Sync>;

/// How many proxies regenerate at once at most (others wait their turn).
pub const DEFAULT_PUSH_CONCURRENCY: usize = 64;

/// How many recent pushes are remembered for scoping.
const SCOPE_HISTORY: usize = 256;

/// An xDS server over a [`Generator`]. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct XdsServer {
    inner: Arc<Inner>,
}

struct Inner {
    generator: Arc<dyn Generator>,
    epoch: watch::Sender<u64>,
    /// Recent pushes: epoch, when, and which proxies they concern (`None`: all).
    scopes: Mutex<std::collections::VecDeque<(u64, Instant, Option<PushFilter>)>>,
    /// Bounds how many proxies regenerate at once.
    permits: tokio::sync::Semaphore,
    nonce: AtomicU64,
    connection: AtomicU64,
    status: Mutex<BTreeMap<String, ProxyStatus>>,
    proxies: Mutex<BTreeMap<String, ProxyInfo>>,
    totals: Mutex<Totals>,
}

/// Counters and timings over the server's life (they never go down, unlike per-connection
/// status), as istiod exports them.
#[derive(Clone, Debug, PartialEq)]
pub struct Totals {
    /// Responses sent, by type URL (`pilot_xds_pushes`).
    pub pushes: BTreeMap<String, u64>,
    /// Rejections received, by type URL (`pilot_total_xds_rejects`).
    pub rejects: BTreeMap<String, u64>,
    /// By type URL, from generating a response to handing it to the stream
    /// (`pilot_xds_push_time`).
    pub push_time: BTreeMap<String, Histogram>,
    /// From a push being asked for ([`XdsServer::push`]) to a proxy concerned having been
    /// sent everything that changed for it (`pilot_proxy_convergence_time`).
    pub convergence: Histogram,
}

impl Default for Totals {
    fn default() -> Totals {
        Totals {
            pushes: BTreeMap::new(),
            rejects: BTreeMap::new(),
            push_time: BTreeMap::new(),
            convergence: Histogram::new(&Histogram::CONVERGENCE_BOUNDS),
        }
    }
}

impl std::fmt::Debug for XdsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdsServer").finish_non_exhaustive()
    }
}

impl XdsServer {
    /// A server making resources with `generator`.
    pub fn new(generator: Arc<dyn Generator>) -> XdsServer {
        let (epoch, _) = watch::channel(0);
        XdsServer {
            inner: Arc::new(Inner {
                generator,
                epoch,
                scopes: Mutex::new(std::collections::VecDeque::new()),
                permits: tokio::sync::Semaphore::new(DEFAULT_PUSH_CONCURRENCY),
                nonce: AtomicU64::new(0),
                connection: AtomicU64::new(0),
                status: Mutex::new(BTreeMap::new()),
                proxies: Mutex::new(BTreeMap::new()),
                totals: Mutex::new(Totals::default()),
            }),
        }
    }

    /// Asks every connected proxy to regenerate; each receives the types whose content
    /// changed, in push order.
    pub fn push(&self) {
        self.push_with(None);
    }

    /// A push for the proxies `filter` accepts only (say, those whose scope a change set
    /// touches: see [`crate::scope::affected`]). Pushes that follow each other before a proxy
    /// looks are all taken into account: it regenerates if any of them concerns it.
    pub fn push_scoped(&self, filter: PushFilter) {
        self.push_with(Some(filter));
    }

    fn push_with(&self, filter: Option<PushFilter>) {
        let mut scopes = self
            .inner
            .scopes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let epoch = *self.inner.epoch.borrow() + 1;
        scopes.push_back((epoch, Instant::now(), filter));
        while scopes.len() > SCOPE_HISTORY {
            scopes.pop_front();
        }
        self.inner.epoch.send_modify(|e| *e = epoch);
    }

    /// Whether a proxy that last looked at `seen` must regenerate for the pushes since: when
    /// the earliest push concerning it was asked for.
    fn concerns(&self, seen: u64, info: &ProxyInfo) -> Option<Instant> {
        let scopes = self
            .inner
            .scopes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // History lost (more pushes than kept): regenerate to be safe.
        if scopes.front().is_none_or(|(e, _, _)| *e > seen + 1) {
            return Some(scopes.front().map_or_else(Instant::now, |(_, at, _)| *at));
        }
        scopes
            .iter()
            .filter(|(e, _, _)| *e > seen)
            .find(|(_, _, f)| f.as_ref().is_none_or(|f| f(info)))
            .map(|(_, at, _)| *at)
    }

    /// The tonic service to add to a `tonic::transport::Server`.
    pub fn service(&self) -> AggregatedDiscoveryServiceServer<XdsServer> {
        AggregatedDiscoveryServiceServer::new(self.clone())
    }

    /// Every connected proxy's status, by connection.
    pub fn status(&self) -> Vec<ProxyStatus> {
        self.lock_status().values().cloned().collect()
    }

    /// Responses sent and rejections received since the server started.
    pub fn totals(&self) -> Totals {
        self.lock_totals().clone()
    }

    /// The node of a connected proxy, by node id.
    pub fn proxy_info(&self, node_id: &str) -> Option<ProxyInfo> {
        self.inner
            .proxies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .find(|p| p.node.id == node_id)
            .cloned()
    }

    fn lock_totals(&self) -> std::sync::MutexGuard<'_, Totals> {
        self.inner
            .totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn observe_push(&self, type_url: &str, started: Instant) {
        self.lock_totals()
            .push_time
            .entry(type_url.to_string())
            .or_insert_with(|| Histogram::new(&Histogram::PUSH_TIME_BOUNDS))
            .observe(started.elapsed());
    }

    fn count(&self, type_url: &str, reject: bool) {
        let mut t = self.lock_totals();
        let map = if reject {
            &mut t.rejects
        } else {
            &mut t.pushes
        };
        *map.entry(type_url.to_string()).or_default() += 1;
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ProxyStatus>> {
        self.inner
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn next_nonce(&self) -> String {
        self.inner.nonce.fetch_add(1, Ordering::Relaxed).to_string()
    }

    fn update_status(&self, conn: &str, f: impl FnOnce(&mut ProxyStatus)) {
        if let Some(s) = self.lock_status().get_mut(conn) {
            f(s);
        }
    }

    fn sent(&self, conn: &str, type_url: &str, version: &str) {
        self.count(type_url, false);
        self.update_status(conn, |s| {
            s.types
                .entry(type_url.to_string())
                .or_default()
                .sent(version)
        });
    }

    fn nacked(&self, conn: &str, type_url: &str, message: &str) {
        tracing::warn!(
            connection = conn,
            type_url,
            message,
            "proxy rejected config"
        );
        self.count(type_url, true);
        self.update_status(conn, |s| {
            s.types
                .entry(type_url.to_string())
                .or_default()
                .nacked(message)
        });
    }

    fn register(&self, info: &ProxyInfo, delta: bool) -> String {
        let n = self.inner.connection.fetch_add(1, Ordering::Relaxed);
        let conn = format!("{}-{n}", info.node.id);
        self.inner
            .proxies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(conn.clone(), info.clone());
        self.lock_status().insert(
            conn.clone(),
            ProxyStatus {
                connection: conn.clone(),
                node_id: info.node.id.clone(),
                delta,
                types: BTreeMap::new(),
            },
        );
        conn
    }

    fn generate(&self, info: &ProxyInfo, type_url: &str) -> Result<Vec<Resource>, Status> {
        self.inner
            .generator
            .generate(info, type_url)
            .map_err(|e| Status::failed_precondition(e.to_string()))
    }
}

/// A stream's subscription to one type.
#[derive(Default)]
struct Subscription {
    /// `None`: wildcard.
    names: Option<BTreeSet<String>>,
    /// Version and nonce of the last response.
    version: String,
    nonce: String,
    /// What was sent (SotW: to skip identical responses).
    sent: Option<String>,
    requested: bool,
}

fn sotw_version(resources: &[Resource]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for r in resources {
        for b in r.name.bytes().chain([0xff]).chain(r.version.bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn filter(resources: Vec<Resource>, names: Option<&BTreeSet<String>>) -> Vec<Resource> {
    match names {
        None => resources,
        Some(n) => resources
            .into_iter()
            .filter(|r| n.contains(&r.name))
            .collect(),
    }
}

type Boxed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for XdsServer {
    type StreamAggregatedResourcesStream = Boxed<DiscoveryResponse>;
    type DeltaAggregatedResourcesStream = Boxed<DeltaDiscoveryResponse>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        Ok(Response::new(self.spawn_sotw(request.into_inner())))
    }

    async fn delta_aggregated_resources(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Ok(Response::new(self.spawn_delta(request.into_inner())))
    }
}

type SotwTx = mpsc::Sender<Result<DiscoveryResponse, Status>>;

impl XdsServer {
    /// The same server as Envoy's SDS service (`SecretDiscoveryService`, what the `sds-grpc`
    /// cluster of a sidecar's bootstrap points at): streams behave as on ADS, for secrets.
    pub fn sds_service(&self) -> SecretDiscoveryServiceServer<XdsServer> {
        SecretDiscoveryServiceServer::new(self.clone())
    }

    fn spawn_sotw(&self, mut requests: Streaming<DiscoveryRequest>) -> Boxed<DiscoveryResponse> {
        let (tx, rx) = mpsc::channel(16);
        let server = self.clone();
        tokio::spawn(async move {
            let session = SotwSession {
                subs: BTreeMap::new(),
                tx: tx.clone(),
            };
            if let Err(e) = run(&server, &mut requests, false, session).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }

    fn spawn_delta(
        &self,
        mut requests: Streaming<DeltaDiscoveryRequest>,
    ) -> Boxed<DeltaDiscoveryResponse> {
        let (tx, rx) = mpsc::channel(16);
        let server = self.clone();
        tokio::spawn(async move {
            let session = DeltaSession {
                subs: BTreeMap::new(),
                tx: tx.clone(),
            };
            if let Err(e) = run(&server, &mut requests, true, session).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

#[tonic::async_trait]
impl SecretDiscoveryService for XdsServer {
    type StreamSecretsStream = Boxed<DiscoveryResponse>;
    type DeltaSecretsStream = Boxed<DeltaDiscoveryResponse>;

    async fn stream_secrets(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamSecretsStream>, Status> {
        Ok(Response::new(self.spawn_sotw(request.into_inner())))
    }

    async fn delta_secrets(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaSecretsStream>, Status> {
        Ok(Response::new(self.spawn_delta(request.into_inner())))
    }

    async fn fetch_secrets(
        &self,
        _request: Request<DiscoveryRequest>,
    ) -> Result<Response<DiscoveryResponse>, Status> {
        Err(Status::unimplemented(
            "REST-style FetchSecrets is not served; use StreamSecrets",
        ))
    }
}

/// Sends `type_url` if its content differs from what was last sent (or `force`).
async fn sotw_respond(
    server: &XdsServer,
    conn: &str,
    info: &ProxyInfo,
    type_url: &str,
    sub: &mut Subscription,
    tx: &SotwTx,
    force: bool,
) -> Result<(), Status> {
    let started = Instant::now();
    let resources = filter(server.generate(info, type_url)?, sub.names.as_ref());
    let version = sotw_version(&resources);
    if !force && sub.sent.as_deref() == Some(version.as_str()) {
        return Ok(());
    }
    let nonce = server.next_nonce();
    sub.version = version.clone();
    sub.nonce = nonce.clone();
    sub.sent = Some(version.clone());
    let response = DiscoveryResponse {
        version_info: version.clone(),
        resources: resources.into_iter().map(|r| r.body).collect(),
        type_url: type_url.to_string(),
        nonce,
        ..Default::default()
    };
    server.sent(conn, type_url, &version);
    tx.send(Ok(response))
        .await
        .map_err(|_| Status::cancelled("client gone"))?;
    server.observe_push(type_url, started);
    Ok(())
}

/// What a stream does with its requests and with pushes; [`run`] drives either variant.
#[tonic::async_trait]
trait Session: Send {
    type Request: Send + 'static;
    /// The node a request carries.
    fn node(req: &Self::Request) -> Option<envoy_types::pb::envoy::config::core::v3::Node>;
    /// Handles one request from the proxy.
    async fn request(&mut self, cx: &Cx<'_>, req: Self::Request) -> Result<(), Status>;
    /// Regenerates and sends what changed, in push order.
    async fn push(&mut self, cx: &Cx<'_>) -> Result<(), Status>;
}

/// A stream's fixed context.
struct Cx<'a> {
    server: &'a XdsServer,
    conn: &'a str,
    info: &'a ProxyInfo,
}

/// Reads the first request (it must carry the node), registers the proxy, then handles
/// requests and pushes until the stream ends.
async fn run<S: Session>(
    server: &XdsServer,
    requests: &mut Streaming<S::Request>,
    delta: bool,
    mut session: S,
) -> Result<(), Status> {
    let mut epochs = server.inner.epoch.subscribe();
    let mut seen = *epochs.borrow_and_update();
    let Some(first) = requests.next().await.transpose()? else {
        return Ok(());
    };
    let Some(node) = S::node(&first) else {
        return Err(Status::invalid_argument(
            "the first request carries no node",
        ));
    };
    let info = ProxyInfo::from_node(node);
    let conn = server.register(&info, delta);
    let _guard = Deregister(server.clone(), conn.clone());
    let cx = Cx {
        server,
        conn: &conn,
        info: &info,
    };
    session.request(&cx, first).await?;
    loop {
        tokio::select! {
            r = requests.next() => match r.transpose()? {
                Some(r) => session.request(&cx, r).await?,
                None => return Ok(()),
            },
            changed = epochs.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                let epoch = *epochs.borrow_and_update();
                if let Some(asked) = server.concerns(seen, &info) {
                    // Bounded concurrency: a burst of pushes never regenerates everyone at once.
                    let _permit = server.inner.permits.acquire().await;
                    session.push(&cx).await?;
                    server.lock_totals().convergence.observe(asked.elapsed());
                }
                seen = epoch;
            }
        }
    }
}

struct SotwSession {
    subs: BTreeMap<String, Subscription>,
    tx: SotwTx,
}

#[tonic::async_trait]
impl Session for SotwSession {
    type Request = DiscoveryRequest;

    fn node(req: &DiscoveryRequest) -> Option<envoy_types::pb::envoy::config::core::v3::Node> {
        req.node.clone()
    }

    async fn push(&mut self, cx: &Cx<'_>) -> Result<(), Status> {
        for t in types::PUSH_ORDER {
            if let Some(sub) = self.subs.get_mut(t).filter(|s| s.requested) {
                sotw_respond(cx.server, cx.conn, cx.info, t, sub, &self.tx, false).await?;
            }
        }
        Ok(())
    }

    async fn request(&mut self, cx: &Cx<'_>, req: DiscoveryRequest) -> Result<(), Status> {
        let (server, conn) = (cx.server, cx.conn);
        let t = req.type_url.clone();
        let sub = self.subs.entry(t.clone()).or_default();
        if !req.response_nonce.is_empty() && req.response_nonce != sub.nonce {
            // A stale nonce: the client has not seen our latest response yet.
            return Ok(());
        }
        if let Some(err) = &req.error_detail {
            server.nacked(conn, &t, &err.message);
            return Ok(());
        }
        let names: Option<BTreeSet<String>> = {
            let n: BTreeSet<String> = req.resource_names.iter().cloned().collect();
            if n.contains("*") || (n.is_empty() && types::wildcard_by_default(&t)) {
                None
            } else {
                Some(n)
            }
        };
        let changed = sub.names != names || !sub.requested;
        sub.names = names;
        sub.requested = true;
        if req.response_nonce.is_empty() {
            // A first request (or a reconnect carrying its old version): always answer.
            sotw_respond(server, conn, cx.info, &t, sub, &self.tx, true).await?;
        } else {
            server.update_status(conn, |s| {
                s.types
                    .entry(t.clone())
                    .or_default()
                    .acked(&req.version_info)
            });
            if changed {
                sotw_respond(server, conn, cx.info, &t, sub, &self.tx, false).await?;
            }
        }
        Ok(())
    }
}

/// Removes a connection's status when its stream ends.
struct Deregister(XdsServer, String);

impl Drop for Deregister {
    fn drop(&mut self) {
        self.0.lock_status().remove(&self.1);
        self.0
            .inner
            .proxies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.1);
    }
}

type DeltaTx = mpsc::Sender<Result<DeltaDiscoveryResponse, Status>>;

/// A delta stream's subscription to one type.
#[derive(Default)]
struct DeltaSub {
    wildcard: bool,
    names: BTreeSet<String>,
    /// What the client has: name -> version.
    client: BTreeMap<String, String>,
    /// Names to send even if the client should have them (just subscribed).
    resend: BTreeSet<String>,
    nonce: String,
    started: bool,
}

async fn delta_respond(
    server: &XdsServer,
    conn: &str,
    info: &ProxyInfo,
    type_url: &str,
    sub: &mut DeltaSub,
    tx: &DeltaTx,
) -> Result<(), Status> {
    let started = Instant::now();
    let all = server.generate(info, type_url)?;
    let current: BTreeMap<String, Resource> = all
        .into_iter()
        .filter(|r| sub.wildcard || sub.names.contains(&r.name))
        .map(|r| (r.name.clone(), r))
        .collect();
    let changed: Vec<&Resource> = current
        .values()
        .filter(|r| sub.resend.contains(&r.name) || sub.client.get(&r.name) != Some(&r.version))
        .collect();
    let mut removed: Vec<String> = sub
        .client
        .keys()
        .filter(|n| !current.contains_key(*n))
        .cloned()
        .collect();
    // Subscribed names that do not exist are reported removed.
    removed.extend(
        sub.resend
            .iter()
            .filter(|n| !current.contains_key(*n) && !sub.client.contains_key(*n))
            .cloned(),
    );
    removed.sort();
    removed.dedup();
    sub.resend.clear();
    if changed.is_empty() && removed.is_empty() {
        return Ok(());
    }
    let nonce = server.next_nonce();
    let version = sotw_version(&current.values().cloned().collect::<Vec<_>>());
    let response = DeltaDiscoveryResponse {
        system_version_info: version.clone(),
        resources: changed
            .iter()
            .map(|r| DeltaResource {
                name: r.name.clone(),
                version: r.version.clone(),
                resource: Some(r.body.clone()),
                ..Default::default()
            })
            .collect(),
        type_url: type_url.to_string(),
        removed_resources: removed.clone(),
        nonce: nonce.clone(),
        ..Default::default()
    };
    for r in &changed {
        sub.client.insert(r.name.clone(), r.version.clone());
    }
    for n in &removed {
        sub.client.remove(n);
    }
    sub.nonce = nonce;
    server.sent(conn, type_url, &version);
    tx.send(Ok(response))
        .await
        .map_err(|_| Status::cancelled("client gone"))?;
    server.observe_push(type_url, started);
    Ok(())
}

struct DeltaSession {
    subs: BTreeMap<String, DeltaSub>,
    tx: DeltaTx,
}

#[tonic::async_trait]
impl Session for DeltaSession {
    type Request = DeltaDiscoveryRequest;

    fn node(req: &DeltaDiscoveryRequest) -> Option<envoy_types::pb::envoy::config::core::v3::Node> {
        req.node.clone()
    }

    async fn push(&mut self, cx: &Cx<'_>) -> Result<(), Status> {
        for t in types::PUSH_ORDER {
            if let Some(sub) = self.subs.get_mut(t).filter(|s| s.started) {
                delta_respond(cx.server, cx.conn, cx.info, t, sub, &self.tx).await?;
            }
        }
        Ok(())
    }

    async fn request(&mut self, cx: &Cx<'_>, req: DeltaDiscoveryRequest) -> Result<(), Status> {
        let (server, conn) = (cx.server, cx.conn);
        let t = req.type_url.clone();
        let sub = self.subs.entry(t.clone()).or_default();
        let first_for_type = !sub.started;
        if first_for_type {
            sub.started = true;
            sub.wildcard =
                types::wildcard_by_default(&t) && req.resource_names_subscribe.is_empty();
            sub.client = req
                .initial_resource_versions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
        // Subscription changes apply even with a stale nonce.
        for n in &req.resource_names_subscribe {
            if n == "*" {
                sub.wildcard = true;
            } else {
                sub.names.insert(n.clone());
                sub.resend.insert(n.clone());
            }
        }
        for n in &req.resource_names_unsubscribe {
            if n == "*" {
                sub.wildcard = false;
            } else {
                sub.names.remove(n);
                sub.client.remove(n);
            }
        }
        let subscription_changed =
            !req.resource_names_subscribe.is_empty() || !req.resource_names_unsubscribe.is_empty();
        if !req.response_nonce.is_empty() && req.response_nonce != sub.nonce {
            return Ok(()); // stale
        }
        if let Some(err) = &req.error_detail {
            server.nacked(conn, &t, &err.message);
            return Ok(());
        }
        if !req.response_nonce.is_empty() {
            server.update_status(conn, |s| {
                let ts: &mut TypeStatus = s.types.entry(t.clone()).or_default();
                let sent = ts.sent_version.clone();
                ts.acked(&sent)
            });
        }
        if first_for_type || subscription_changed || req.response_nonce.is_empty() {
            delta_respond(server, conn, cx.info, &t, sub, &self.tx).await?;
        }
        Ok(())
    }
}
