//! Caching translated pieces across proxies and snapshots, the way istiod's XDS cache lets a
//! push rebuild only what changed.
//!
//! A [`RouteCache`] holds the encoded routes of a virtual host keyed by a fingerprint of every
//! input they depend on (the VirtualService's content, the port, the proxy attributes its
//! matches read, the ports of the destination services; for a default route the service and
//! its consistent hash). [`super::sidecar::SidecarTranslator::route_encoded`] then assembles an
//! encoded `RouteConfiguration` from cached pieces, byte for byte what encoding
//! [`super::sidecar::SidecarTranslator::route`] gives, rebuilding only the virtual hosts whose
//! inputs changed.
//!
//! Fingerprints are 64-bit hashes of the inputs' canonical JSON and fields: two different
//! inputs sharing a fingerprint is possible in principle (about 2^-64 per pair) and would serve
//! the older routes; [`RouteCache::clear`] drops everything.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;

use crate::model::{ChangeSet, Snapshot};

/// A stable 64-bit hash of bytes (the same on every machine and release): eight bytes at a
/// time, each word xored in, multiplied by a large odd constant and folded (the high half
/// xored into the low), so every input bit reaches every output bit within two words.
#[derive(Clone, Copy, Debug)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;

    /// The hash so far.
    pub fn value(&self) -> u64 {
        let h = self.0 ^ (self.0 >> 29);
        let h = h.wrapping_mul(Self::K);
        h ^ (h >> 32)
    }

    fn word(&mut self, w: u64) {
        let h = (self.0 ^ w).wrapping_mul(Self::K);
        self.0 = h ^ (h >> 32);
    }

    /// Adds bytes.
    pub fn bytes(&mut self, data: &[u8]) -> &mut Self {
        let (rest, len) = for_each_word(data, |w| self.word(w));
        // The tail with its length in the top byte, so "a" and "a\0" differ.
        self.word(rest | (0x80 | len) << 56);
        self
    }

    /// Adds a string and a separator, so that `("ab", "c")` and `("a", "bc")` differ.
    pub fn str(&mut self, s: &str) -> &mut Self {
        // `bytes` ends every piece with its length: pieces cannot run together.
        self.bytes(s.as_bytes())
    }

    /// Adds a number.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.word(v);
        self
    }

    /// Adds a value's JSON form (serde), the canonical content of an API object.
    pub fn json<T: serde::Serialize>(&mut self, value: &T) -> &mut Self {
        // Writing into the hasher cannot fail; a serialization error leaves a marker.
        if serde_json::to_writer(&mut *self, value).is_err() {
            self.str("<unserializable>");
        }
        self
    }
}

impl std::io::Write for Fingerprint {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Encoded virtual host routes by fingerprint, shared by every proxy and kept across
/// snapshots. Safe to share between threads.
#[derive(Debug)]
pub struct RouteCache {
    entries: Mutex<FastMap<u64, Arc<[u8]>>>,
    heads: Mutex<FastMap<u64, Arc<VhostHead>>>,
    plans: Mutex<FastMap<u64, Arc<VhostPlan>>>,
    max_entries: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for RouteCache {
    fn default() -> Self {
        RouteCache::new(200_000)
    }
}

impl RouteCache {
    /// A cache that empties itself when it would hold more than `max_entries` pieces.
    pub fn new(max_entries: usize) -> RouteCache {
        RouteCache {
            entries: Mutex::new(FastMap::default()),
            heads: Mutex::new(FastMap::default()),
            plans: Mutex::new(FastMap::default()),
            max_entries,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cached bytes for `key`, or `build`'s (then cached).
    pub fn get_or_insert(&self, key: u64, build: impl FnOnce() -> Vec<u8>) -> Arc<[u8]> {
        let (value, hit) = bounded(&self.entries, self.max_entries, key, || build().into());
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        value
    }

    /// The name and domains of a virtual host for `key` (a fingerprint of everything they
    /// are made from), or `build`'s (then cached).
    pub(crate) fn head(&self, key: u64, build: impl FnOnce() -> VhostHead) -> Arc<VhostHead> {
        bounded(&self.heads, self.max_entries, key, || Arc::new(build())).0
    }

    /// The assembly plan (which virtual hosts, in what order, with which domains) for `key`,
    /// a fingerprint of the virtual hosts' heads in order, or `build`'s (then cached).
    pub(crate) fn plan(&self, key: u64, build: impl FnOnce() -> VhostPlan) -> Arc<VhostPlan> {
        bounded(&self.plans, self.max_entries, key, || Arc::new(build())).0
    }

    /// (hits, misses) since creation.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// How many pieces are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every piece.
    pub fn clear(&self) {
        self.lock().clear();
        lock(&self.heads).clear();
        lock(&self.plans).clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FastMap<u64, Arc<[u8]>>> {
        // A panic while holding the lock leaves a valid map: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A virtual host's name and domains as their encoding (`VirtualHost` fields 1 and 2, which
/// come before its routes), and where each lies in it: one buffer, not a string each.
#[derive(Debug)]
pub(crate) struct VhostHead {
    encoded: Vec<u8>,
    name: std::ops::Range<usize>,
    domains: Vec<std::ops::Range<usize>>,
}

impl VhostHead {
    /// A head named `name`, with `domains` of about `size` bytes in all to come.
    pub(crate) fn new(name: &str, domains: usize, size: usize) -> VhostHead {
        let mut encoded = Vec::with_capacity(super::wire::str_len(1, name) + size + 2 * domains);
        // VirtualHost.name (1).
        super::wire::put_str(&mut encoded, 1, name);
        let end = encoded.len();
        VhostHead {
            name: end - name.len()..end,
            encoded,
            domains: Vec::with_capacity(domains),
        }
    }

    /// Adds a domain (VirtualHost.domains, 2: every one written, as prost does) made of
    /// `parts`.
    pub(crate) fn push_domain(&mut self, parts: &[&str]) {
        let len = parts.iter().map(|p| p.len()).sum();
        super::wire::put_len(&mut self.encoded, 2, len);
        let start = self.encoded.len();
        for p in parts {
            self.encoded.extend_from_slice(p.as_bytes());
        }
        self.domains.push(start..self.encoded.len());
    }

    pub(crate) fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    pub(crate) fn name(&self) -> &str {
        self.text(self.name.clone())
    }

    pub(crate) fn domain_count(&self) -> usize {
        self.domains.len()
    }

    pub(crate) fn domain(&self, i: usize) -> &str {
        self.text(self.domains[i].clone())
    }

    fn text(&self, at: std::ops::Range<usize>) -> &str {
        std::str::from_utf8(&self.encoded[at]).expect("written from strings")
    }
}

/// Which candidate virtual hosts a route configuration keeps, in output order, each with
/// the domains to keep when not all; and the warnings de-duplication gave.
#[derive(Debug, Default)]
pub(crate) struct VhostPlan {
    pub(crate) order: Vec<(usize, Option<Vec<bool>>)>,
    pub(crate) warnings: Vec<String>,
}

/// Calls `f` with each whole eight-byte word of `data` (little-endian), then returns the
/// remaining bytes as a word (zero-padded) and how many there are (0 to 7).
fn for_each_word(data: &[u8], mut f: impl FnMut(u64)) -> (u64, u64) {
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        f(u64::from_le_bytes(b));
    }
    let rest = words.remainder();
    let mut b = [0u8; 8];
    b[..rest.len()].copy_from_slice(rest);
    (u64::from_le_bytes(b), rest.len() as u64)
}

/// A fast hasher for the translation's own short-lived indexes keyed by names and numbers:
/// each 8-byte word is mixed in by a rotate, an xor and a multiply (the scheme of rustc's
/// FxHash). Not for maps whose keys an adversary chooses to collide; nothing here keeps such
/// maps beyond one translation.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let (rest, len) = for_each_word(bytes, |w| self.add(w));
        if len > 0 {
            self.add(rest ^ (len << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the best-mixed bits high; the table indexes by the low ones.
        self.0.rotate_left(26)
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// Values by proxy scope, then by item. The scope is the proxy's `namespace\0locality`: what a
/// shared piece depends on besides the snapshot and the options, with `*` for the namespace of
/// every namespace that changes no DestinationRule or service choice (see
/// [`Snapshot::rules_independent_of`]). The item is `namespace/hostname` for a service's
/// clusters and the cluster name for an assignment; items are reference-counted so that
/// carrying a cache over copies no string. Each value is a cell that one thread fills while
/// the others asking for it wait, so that proxies translated side by side do not build the
/// same clusters twice.
type Scoped<V> = Mutex<FastMap<String, FastMap<Arc<str>, Arc<OnceLock<V>>>>>;

/// Clusters and endpoint assignments shared by the proxies of one snapshot and one set of
/// options (istiod's XDS cache): per service, the outbound clusters a proxy of a given
/// namespace and locality gets; per cluster, its assignment. Proxies of namespaces without
/// DestinationRules of their own (nor named by one's `exportTo`) share one set. Make a new
/// one for every snapshot (or options), or [`Self::carry_over`] what an edit left valid; safe
/// to share between threads.
#[derive(Debug, Default)]
pub struct TranslationCache {
    clusters: Scoped<Arc<[Arc<Cluster>]>>,
    endpoints: Scoped<Option<Arc<ClusterLoadAssignment>>>,
    encoded_clusters: Scoped<Arc<[EncodedCluster]>>,
    encoded_endpoints: Scoped<EncodedAssignments>,
    routes: Mutex<HashMap<String, SharedRoute>>,
    encoded_routes: Mutex<HashMap<String, SharedEncodedRoute>>,
    /// The threads a proxy's translation may use to fill this cache; 0: as many as the
    /// machine has.
    threads: usize,
    /// How many proxies' translations spread over several threads.
    parallel_fills: AtomicU64,
}

/// An encoded cluster: its name, its bytes, and whether it is EDS (has an assignment).
pub(crate) type EncodedCluster = (Arc<str>, Arc<[u8]>, bool);

/// A service's encoded assignments: (cluster name, `ClusterLoadAssignment` bytes), in the
/// order of its clusters.
pub(crate) type EncodedAssignments = Arc<[(Arc<str>, Arc<[u8]>)]>;

/// An encoded route configuration (or none) and the warnings building it gave.
type SharedEncodedRoute = (Option<Arc<[u8]>>, Vec<String>);

/// A route configuration (or none) and the warnings building it gave.
type SharedRoute = (Option<Arc<RouteConfiguration>>, Vec<String>);

impl TranslationCache {
    /// An empty cache.
    pub fn new() -> TranslationCache {
        TranslationCache::default()
    }

    /// An empty cache that a proxy's translation fills on at most `threads` threads (this
    /// one included; 0: as many as `std::thread::available_parallelism` gives, the default).
    /// A proxy uses more than one only when many of the services it sees are missing (the
    /// first of its namespace and locality after start); the output is the same either way.
    pub fn with_threads(threads: usize) -> TranslationCache {
        TranslationCache {
            threads,
            ..TranslationCache::default()
        }
    }

    /// The threads a proxy's translation may use to fill this cache.
    pub fn threads(&self) -> usize {
        match self.threads {
            0 => super::par::available(),
            n => n,
        }
    }

    /// How many proxies' translations found so many services missing that they filled this
    /// cache on several threads.
    pub fn parallel_fills(&self) -> u64 {
        self.parallel_fills.load(Ordering::Relaxed)
    }

    pub(crate) fn count_parallel_fill(&self) {
        self.parallel_fills.fetch_add(1, Ordering::Relaxed);
    }

    /// How many services' clusters are held (or being built) for proxies of `scope`,
    /// encoded or typed.
    pub(crate) fn services_in_scope(&self, scope: &str, encoded: bool) -> usize {
        fn count<V>(map: &Scoped<V>, scope: &str) -> usize {
            lock(map).get(scope).map_or(0, FastMap::len)
        }
        if encoded {
            count(&self.encoded_clusters, scope)
        } else {
            count(&self.clusters, scope)
        }
    }

    /// A service's clusters (`item`: `namespace/hostname`) for proxies of `scope`, built by
    /// `build` the first time.
    pub(crate) fn service_clusters(
        &self,
        scope: &str,
        item: &str,
        build: impl FnOnce() -> Vec<Cluster>,
    ) -> Arc<[Arc<Cluster>]> {
        scoped_once(&self.clusters, scope, item, || {
            build().into_iter().map(Arc::new).collect()
        })
    }

    /// A cluster's assignment for proxies of `scope`, built by `build` the first time.
    pub(crate) fn endpoints(
        &self,
        scope: &str,
        cluster: &str,
        build: impl FnOnce() -> Option<ClusterLoadAssignment>,
    ) -> Option<Arc<ClusterLoadAssignment>> {
        scoped_once(&self.endpoints, scope, cluster, || build().map(Arc::new))
    }

    /// A service's clusters encoded (`item`: `namespace/hostname`), for proxies of `scope`,
    /// built by `build` the first time.
    pub(crate) fn encoded_clusters(
        &self,
        scope: &str,
        item: &str,
        build: impl FnOnce() -> Vec<EncodedCluster>,
    ) -> Arc<[EncodedCluster]> {
        scoped_once(&self.encoded_clusters, scope, item, || build().into())
    }

    /// A service's assignments encoded (`item`: `namespace/hostname`, as for its clusters),
    /// for proxies of `scope`, built by `build` the first time.
    pub(crate) fn encoded_endpoints(
        &self,
        scope: &str,
        item: &str,
        build: impl FnOnce() -> Vec<(Arc<str>, Arc<[u8]>)>,
    ) -> EncodedAssignments {
        scoped_once(&self.encoded_endpoints, scope, item, || build().into())
    }

    /// A route configuration for `key` (its name and everything of the proxy it depends on),
    /// built by `build` the first time.
    pub(crate) fn route(
        &self,
        key: String,
        build: impl FnOnce() -> (Option<RouteConfiguration>, Vec<String>),
    ) -> SharedRoute {
        once(&self.routes, key, || {
            let (route, warnings) = build();
            (route.map(Arc::new), warnings)
        })
    }

    /// An encoded route configuration for `key` (as for [`Self::route`]), built by `build`
    /// the first time.
    pub(crate) fn encoded_route(
        &self,
        key: String,
        build: impl FnOnce() -> (Option<Vec<u8>>, Vec<String>),
    ) -> SharedEncodedRoute {
        once(&self.encoded_routes, key, || {
            let (route, warnings) = build();
            (route.map(Arc::from), warnings)
        })
    }

    /// How many services' clusters (typed, and encoded), and how many assignments (typed
    /// and encoded), are held.
    pub fn len(&self) -> (usize, usize) {
        fn count<V>(map: &Scoped<V>) -> usize {
            let mut n = 0;
            each_held(map, |_| n += 1);
            n
        }
        let mut encoded = 0;
        each_held(&self.encoded_endpoints, |a| encoded += a.len());
        (
            count(&self.clusters) + count(&self.encoded_clusters),
            count(&self.endpoints) + encoded,
        )
    }

    /// Every cluster held (for callers keeping per-value data, such as encodings, across a
    /// [`Self::carry_over`]).
    pub fn shared_clusters(&self) -> Vec<Arc<Cluster>> {
        let mut out = Vec::new();
        each_held(&self.clusters, |cs| out.extend(cs.iter().cloned()));
        out
    }

    /// Every assignment held (as [`Self::shared_clusters`]).
    pub fn shared_endpoints(&self) -> Vec<Arc<ClusterLoadAssignment>> {
        let mut out = Vec::new();
        each_held(&self.endpoints, |e| out.extend(e.iter().cloned()));
        out
    }

    /// Every encoded cluster held (as [`Self::shared_clusters`]).
    pub fn shared_encoded_clusters(&self) -> Vec<Arc<[u8]>> {
        let mut out = Vec::new();
        each_held(&self.encoded_clusters, |a| {
            out.extend(a.iter().map(|(_, bytes, _)| Arc::clone(bytes)));
        });
        out
    }

    /// Every encoded assignment held (as [`Self::shared_clusters`]).
    pub fn shared_encoded_endpoints(&self) -> Vec<Arc<[u8]>> {
        let mut out = Vec::new();
        each_held(&self.encoded_endpoints, |a| {
            out.extend(a.iter().map(|(_, bytes)| Arc::clone(bytes)));
        });
        out
    }

    /// A cache for snapshot `new`, holding the clusters and assignments this cache (built on
    /// `old`, with the same options) shares that the change from `old` to `new` cannot have
    /// altered: istiod's XDS cache surviving a push, so that the first proxy translated after
    /// an edit rebuilds only the services it touched. `changes` is what the store returned
    /// between the two snapshots (merged when several applies happened).
    ///
    /// What a service's clusters and assignments are made from is the service itself, its
    /// workloads (always in its namespace), the DestinationRules for its host and the mesh
    /// options, so: a changed DestinationRule drops the services its host (before and after)
    /// matches; a changed Service or ServiceEntry, the hostnames whose services differ between
    /// the snapshots; a changed workload (Pod, WorkloadEntry, Deployment, StatefulSet), the
    /// services of each namespace whose workloads differ (addresses allocated to manifests
    /// without one included); changed mesh options, everything. Routing, listener and policy
    /// kinds (VirtualService, Gateway, Sidecar, AuthorizationPolicy, ...) drop nothing.
    /// Route configurations are never carried over (see [`RouteCache`] for that).
    ///
    /// ```
    /// use mesh_core::model::{MeshOptions, Proxy, ProxyType, Store};
    /// use mesh_core::translate::cache::TranslationCache;
    /// use mesh_core::translate::sidecar::{SidecarOptions, SidecarTranslator};
    ///
    /// let yaml = r#"
    /// apiVersion: v1
    /// kind: Service
    /// metadata: {name: ratings, namespace: shop}
    /// spec: {clusterIP: 10.96.0.9, selector: {app: ratings}, ports: [{name: http, port: 9080}]}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: ratings-1, namespace: shop, labels: {app: ratings}}
    /// status: {podIP: 10.244.0.9}
    /// "#;
    /// let mut store = Store::new(MeshOptions::default());
    /// store.apply_all(mesh_core::load::from_str(yaml, "shop.yaml").unwrap().into_iter().map(|l| l.object));
    /// let old = store.snapshot();
    /// let proxy = Proxy::for_workload(&old.workloads()[0], ProxyType::Sidecar, "cluster.local");
    /// let options = SidecarOptions::default();
    /// let cache = TranslationCache::new();
    /// SidecarTranslator::new(&old, &proxy, &options).translate_shared(&cache);
    ///
    /// // A VirtualService changes nothing a cluster is made from: everything is kept.
    /// let vs = r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: ratings, namespace: shop}
    /// spec: {hosts: [ratings], http: [{timeout: 3s, route: [{destination: {host: ratings}}]}]}
    /// "#;
    /// let changes = store.apply_all(mesh_core::load::from_str(vs, "vs.yaml").unwrap().into_iter().map(|l| l.object));
    /// let new = store.snapshot();
    /// let carried = cache.carry_over(&old, &new, &changes);
    /// assert_eq!(carried.len(), cache.len());
    /// ```
    pub fn carry_over(
        &self,
        old: &Snapshot,
        new: &Snapshot,
        changes: &ChangeSet,
    ) -> TranslationCache {
        let Some(stale) = stale_hosts(old, new, changes) else {
            return TranslationCache::with_threads(self.threads);
        };
        TranslationCache {
            clusters: kept(&self.clusters, &stale, service_host),
            endpoints: kept(&self.endpoints, &stale, cluster_host),
            encoded_clusters: kept(&self.encoded_clusters, &stale, service_host),
            encoded_endpoints: kept(&self.encoded_endpoints, &stale, service_host),
            threads: self.threads,
            ..TranslationCache::default()
        }
    }
}

/// Calls `f` with each value of `map` (those still being built left out).
fn each_held<V>(map: &Scoped<V>, mut f: impl FnMut(&V)) {
    for cell in lock(map).values().flat_map(FastMap::values) {
        if let Some(v) = cell.get() {
            f(v);
        }
    }
}

/// A copy of `map` without the items whose `host` is stale, nor those still being built
/// (for the old snapshot); no string or value is copied.
fn kept<V>(map: &Scoped<V>, stale: &FastSet<&str>, host: fn(&str) -> Option<&str>) -> Scoped<V> {
    let mut copy = lock(map).clone();
    for items in copy.values_mut() {
        items.retain(|item, cell| {
            cell.get().is_some()
                && (stale.is_empty() || host(item).is_some_and(|h| !stale.contains(h)))
        });
    }
    Mutex::new(copy)
}

/// The hostname of a cluster-cache item, `namespace/hostname`.
fn service_host(item: &str) -> Option<&str> {
    item.split_once('/').map(|(_, h)| h)
}

/// The hostname of an assignment-cache item, a cluster name `outbound|port|subset|hostname`.
fn cluster_host(item: &str) -> Option<&str> {
    item.strip_prefix("outbound|")?.rsplit('|').next()
}

/// The hostnames whose shared clusters and assignments may differ between `old` and `new`
/// given `changes`; `None` when anything may.
fn stale_hosts<'a>(
    old: &'a Snapshot,
    new: &'a Snapshot,
    changes: &ChangeSet,
) -> Option<FastSet<&'a str>> {
    use crate::api::{Kind, Object};
    if old.options() != new.options() {
        return None;
    }
    let mut stale = FastSet::default();
    let (mut services, mut workloads) = (false, false);
    for key in changes.objects.keys() {
        let Some(kind) = Kind::ALL.iter().find(|k| k.as_str() == key.kind) else {
            // The model reads no other untyped kind.
            workloads |= matches!(key.kind.as_str(), "Deployment" | "StatefulSet");
            continue;
        };
        match kind {
            Kind::Service | Kind::ServiceEntry => services = true,
            Kind::Pod | Kind::WorkloadEntry => workloads = true,
            Kind::DestinationRule => {
                for snapshot in [old, new] {
                    let Some(Object::DestinationRule(dr)) = snapshot.get(key) else {
                        continue;
                    };
                    let host = crate::model::store::qualify(
                        &dr.spec.host,
                        &key.namespace,
                        &snapshot.options().domain_suffix,
                    );
                    stale.extend(
                        [old, new]
                            .iter()
                            .flat_map(|s| s.services())
                            .filter(|s| {
                                crate::model::store::host_match_rank(&host, &s.hostname).is_some()
                            })
                            .map(|s| s.hostname.as_str()),
                    );
                }
            }
            // Read by listeners, routes and inbound clusters only, or not read at all (the
            // model takes workloads from pods, not from Endpoints or EndpointSlices).
            Kind::VirtualService
            | Kind::Gateway
            | Kind::Sidecar
            | Kind::WorkloadGroup
            | Kind::EnvoyFilter
            | Kind::ProxyConfig
            | Kind::AuthorizationPolicy
            | Kind::PeerAuthentication
            | Kind::RequestAuthentication
            | Kind::Telemetry
            | Kind::WasmPlugin
            | Kind::Namespace
            | Kind::Endpoints
            | Kind::EndpointSlice
            | Kind::ServiceAccount
            | Kind::Secret => {}
        }
    }
    if services {
        let (before, after) = (
            grouped(old.services(), |s| &s.hostname),
            grouped(new.services(), |s| &s.hostname),
        );
        stale.extend(differing(&before, &after));
    }
    if workloads {
        let (before, after) = (
            grouped(old.workloads(), |w| &w.namespace),
            grouped(new.workloads(), |w| &w.namespace),
        );
        let namespaces: FastSet<&str> = differing(&before, &after).collect();
        stale.extend(
            old.services()
                .iter()
                .chain(new.services())
                .filter(|s| namespaces.contains(s.namespace.as_str()))
                .map(|s| s.hostname.as_str()),
        );
    }
    Some(stale)
}

/// `items` grouped by `key`, in their order.
fn grouped<'a, T>(
    items: &'a [T],
    key: impl Fn(&'a T) -> &'a String,
) -> FastMap<&'a str, Vec<&'a T>> {
    let mut out: FastMap<&str, Vec<&T>> = FastMap::default();
    for i in items {
        out.entry(key(i).as_str()).or_default().push(i);
    }
    out
}

/// The keys whose groups are not equal in `a` and `b` (present in one only included).
fn differing<'a, 'm, T: PartialEq>(
    a: &'m FastMap<&'a str, Vec<&'a T>>,
    b: &'m FastMap<&'a str, Vec<&'a T>>,
) -> impl Iterator<Item = &'a str> + 'm {
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| *k)
        .chain(b.keys().filter(|k| !a.contains_key(*k)).copied())
}

/// The value for `item` in `scope`, built by `build` the first time, outside the map's
/// lock; a thread asking while another builds it waits for that one.
fn scoped_once<V: Clone>(map: &Scoped<V>, scope: &str, item: &str, build: impl FnOnce() -> V) -> V {
    let cell = {
        let mut scopes = lock(map);
        match scopes.get(scope).and_then(|items| items.get(item)) {
            Some(cell) => Arc::clone(cell),
            None => {
                if !scopes.contains_key(scope) {
                    scopes.insert(scope.to_string(), FastMap::default());
                }
                let items = scopes.get_mut(scope).expect("inserted");
                Arc::clone(items.entry(Arc::from(item)).or_default())
            }
        }
    };
    cell.get_or_init(build).clone()
}

/// The value for `key`, built by `build` the first time (outside the lock: two threads may
/// both build, the first insert wins and both return it).
fn once<K: std::hash::Hash + Eq, V: Clone>(
    map: &Mutex<HashMap<K, V>>,
    key: K,
    build: impl FnOnce() -> V,
) -> V {
    if let Some(v) = lock(map).get(&key) {
        return v.clone();
    }
    let built = build();
    lock(map).entry(key).or_insert(built).clone()
}

/// The value for `key` and whether it was cached, else `build`'s, inserted into a map that
/// empties itself when it would hold more than `max` values.
fn bounded<V: ?Sized>(
    map: &Mutex<FastMap<u64, Arc<V>>>,
    max: usize,
    key: u64,
    build: impl FnOnce() -> Arc<V>,
) -> (Arc<V>, bool) {
    if let Some(v) = lock(map).get(&key) {
        return (Arc::clone(v), true);
    }
    let value = build();
    let mut entries = lock(map);
    if entries.len() >= max {
        entries.clear();
    }
    entries.insert(key, Arc::clone(&value));
    (value, false)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves a valid map: keep using it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(name: &str) -> Cluster {
        Cluster {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Proxies translated side by side that miss the same service build its clusters once:
    /// the others wait and get the same values.
    #[test]
    fn concurrent_misses_build_once() {
        let cache = TranslationCache::new();
        let builds = std::sync::atomic::AtomicUsize::new(0);
        let got: Vec<Arc<[Arc<Cluster>]>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        cache.service_clusters("ns\0", "ns/a.example", || {
                            builds.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            vec![cluster("outbound|80||a.example")]
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("joins"))
                .collect()
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert!(got.iter().all(|g| Arc::ptr_eq(&g[0], &got[0][0])));
    }

    /// A value still being built for the old snapshot is not carried over to the new one.
    #[test]
    fn values_in_flight_are_not_carried_over() {
        let store = crate::model::Store::new(crate::model::MeshOptions::default());
        let (old, new) = (store.snapshot(), store.snapshot());
        let cache = TranslationCache::new();
        cache.service_clusters("ns\0", "ns/done.example", || vec![cluster("done")]);
        let started = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                cache.service_clusters("ns\0", "ns/slow.example", || {
                    started.wait();
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    vec![cluster("slow")]
                })
            });
            started.wait();
            let carried = cache.carry_over(&old, &new, &ChangeSet::default());
            assert_eq!(carried.len(), (1, 0), "only the finished value");
            assert_eq!(carried.shared_clusters()[0].name, "done");
        });
        assert_eq!(cache.len(), (2, 0));
    }

    #[test]
    fn fingerprints_separate_fields() {
        let a = Fingerprint::default().str("ab").str("c").value();
        let b = Fingerprint::default().str("a").str("bc").value();
        assert_ne!(a, b);
        assert_eq!(a, Fingerprint::default().str("ab").str("c").value());
        // Word boundaries, trailing zeros and empty pieces all count.
        let eight = Fingerprint::default().str("abcdefgh").str("").value();
        assert_ne!(eight, Fingerprint::default().str("abcdefgh").value());
        assert_ne!(
            Fingerprint::default().str("a").value(),
            Fingerprint::default().str("a\0").value()
        );
        assert_ne!(
            Fingerprint::default().str("abcdefghi").value(),
            Fingerprint::default().str("abcdefgh").str("i").value()
        );
        // One bit anywhere changes the value.
        let base = Fingerprint::default().bytes(&[0u8; 24]).value();
        for i in 0..24 * 8 {
            let mut data = [0u8; 24];
            data[i / 8] |= 1 << (i % 8);
            assert_ne!(Fingerprint::default().bytes(&data).value(), base, "bit {i}");
        }
    }

    #[test]
    fn fast_hasher_separates_lengths() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<FastHasher>::default();
        assert_ne!(h.hash_one("a"), h.hash_one("a\0"));
        assert_ne!(h.hash_one(("ab", "c")), h.hash_one(("a", "bc")));
        assert_eq!(h.hash_one("svc-1.ns"), h.hash_one(String::from("svc-1.ns")));
    }

    #[test]
    fn cache_counts_and_bounds() {
        let c = RouteCache::new(2);
        assert_eq!(&*c.get_or_insert(1, || vec![1]), &[1]);
        assert_eq!(&*c.get_or_insert(1, || vec![9]), &[1]);
        assert_eq!(c.stats(), (1, 1));
        c.get_or_insert(2, || vec![2]);
        c.get_or_insert(3, || vec![3]);
        assert_eq!(c.len(), 1, "emptied at the bound, then holds the new piece");
    }
}
