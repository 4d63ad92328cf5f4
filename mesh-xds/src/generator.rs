//! How resources are made for a proxy: the [`Generator`] trait, and [`MeshGenerator`], which
//! translates a `mesh_core` snapshot with `mesh_core::translate::translate_proxy`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::google::protobuf::Any;
use mesh_core::model::{Proxy, Snapshot};
use mesh_core::translate::cache::{RouteCache, TranslationCache};
use mesh_core::translate::sidecar::{ProxyResources, SidecarOptions};
use prost::Message;

use crate::types;

/// One resource, encoded, with its version (a hash of its bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// The resource name (listener, cluster, route configuration, cluster of an assignment).
    pub name: String,
    /// Its version: changes exactly when its content does.
    pub version: String,
    /// The resource.
    pub body: Any,
}

impl Resource {
    /// A resource from an encoded message, versioned by its content.
    pub fn new(name: impl Into<String>, body: Any) -> Resource {
        let version = format!("{:016x}", fnv(&body.value));
        Resource {
            name: name.into(),
            version,
            body,
        }
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a generator knows about the proxy a stream serves.
#[derive(Clone, Debug)]
pub struct ProxyInfo {
    /// The Envoy node as sent on the stream's first request.
    pub node: Node,
    /// The node read as Istio reads it, when its id has Istio's form.
    pub proxy: Option<Proxy>,
}

impl ProxyInfo {
    /// Reads a node: `proxy` is set when the id is `type~ip~id~domain`.
    pub fn from_node(node: Node) -> ProxyInfo {
        let metadata = node
            .metadata
            .as_ref()
            .map(struct_to_json)
            .unwrap_or(serde_json::Value::Null);
        let mut proxy = Proxy::from_node(&node.id, &metadata).ok();
        // The node's own locality wins over the `istio-locality` label.
        if let (Some(p), Some(l)) = (proxy.as_mut(), node.locality.as_ref())
            && !(l.region.is_empty() && l.zone.is_empty() && l.sub_zone.is_empty())
        {
            p.locality = format!("{}/{}/{}", l.region, l.zone, l.sub_zone);
        }
        ProxyInfo { node, proxy }
    }
}

/// A protobuf `Struct` as JSON.
pub fn struct_to_json(s: &envoy_types::pb::google::protobuf::Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(v: &envoy_types::pb::google::protobuf::Value) -> serde_json::Value {
    use envoy_types::pb::google::protobuf::value::Kind;
    match &v.kind {
        Some(Kind::NullValue(_)) | None => serde_json::Value::Null,
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.iter().map(value_to_json).collect())
        }
    }
}

/// Why resources could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The node is not one this generator can serve.
    #[error("cannot serve node {0:?}: {1}")]
    UnknownProxy(String, String),
}

/// Makes the resources of one type for one proxy. The server asks for every resource of the
/// type and narrows to the stream's subscription itself.
pub trait Generator: Send + Sync + 'static {
    /// Every resource of `type_url` for `proxy`.
    fn generate(&self, proxy: &ProxyInfo, type_url: &str) -> Result<Vec<Resource>, GenerateError>;
}

/// The resources of one proxy, encoded, by type URL; identical resources of different proxies
/// are one allocation.
type Encoded = std::collections::BTreeMap<&'static str, Vec<Arc<Resource>>>;

/// Encoded resources by (name, version), shared by every proxy that has them (most proxies of
/// a namespace get the same bytes); entries die with their last user.
#[derive(Debug, Default)]
struct Interner {
    map: HashMap<(String, String), std::sync::Weak<Resource>>,
    sweep_at: usize,
}

impl Interner {
    fn intern(&mut self, r: Resource) -> Arc<Resource> {
        let key = (r.name.clone(), r.version.clone());
        if let Some(shared) = self.map.get(&key).and_then(std::sync::Weak::upgrade) {
            return shared;
        }
        let shared = Arc::new(r);
        self.map.insert(key, Arc::downgrade(&shared));
        if self.map.len() > self.sweep_at {
            self.map.retain(|_, w| w.strong_count() > 0);
            self.sweep_at = (self.map.len() * 2).max(1024);
        }
        shared
    }
}

/// The default generator: `mesh_core` translation of the current snapshot, once per proxy and
/// snapshot (the four types of a push share one translation). What is kept between the types
/// of a push is the encoded resources, much smaller than the typed ones.
#[derive(Debug)]
pub struct MeshGenerator {
    state: RwLock<(u64, Snapshot)>,
    options: SidecarOptions,
    cache: Mutex<HashMap<String, (u64, Arc<Encoded>)>>,
    interner: Mutex<Interner>,
    /// What the proxies of the current snapshot share: translated clusters and assignments,
    /// and their encodings by the address of the shared value.
    shared: Mutex<(u64, Arc<Shared>)>,
    /// Encoded virtual hosts and routes, kept across snapshots: after an edit, a route
    /// configuration rebuilds only the virtual hosts whose inputs changed.
    routes: RouteCache,
}

/// Encodings of shared values, by the value's address (the map keeps the value alive).
type EncodedBy<M> = Mutex<HashMap<usize, (Arc<M>, Arc<Resource>)>>;

/// Per snapshot: [`TranslationCache`] and the resources made of what it holds: typed values
/// encoded, encoded ones (sidecars' assignments and route configurations) versioned.
#[derive(Debug, Default)]
struct Shared {
    translation: TranslationCache,
    clusters: EncodedBy<Cluster>,
    endpoints: EncodedBy<ClusterLoadAssignment>,
    routes: EncodedBy<RouteConfiguration>,
    encoded_clusters: EncodedBy<[u8]>,
    encoded_endpoints: EncodedBy<[u8]>,
    encoded_routes: EncodedBy<[u8]>,
}

/// The resource of a shared value, made by `body` once per value (keyed by its address,
/// which the map keeps alive) and interned.
fn resource_once<M: ?Sized>(
    map: &EncodedBy<M>,
    value: &Arc<M>,
    name: &str,
    body: impl FnOnce(&M) -> Any,
    interner: &Mutex<Interner>,
) -> Arc<Resource> {
    let key = Arc::as_ptr(value).cast::<u8>() as usize;
    let mut map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, r)) = map.get(&key) {
        return Arc::clone(r);
    }
    let r = interner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .intern(Resource::new(name, body(value)));
    map.insert(key, (Arc::clone(value), Arc::clone(&r)));
    r
}

/// The encoding of a shared typed value, made once per value.
fn encoded_once<M: Message + prost::Name>(
    map: &EncodedBy<M>,
    value: &Arc<M>,
    name: &str,
    interner: &Mutex<Interner>,
) -> Arc<Resource> {
    resource_once(map, value, name, mesh_core::dump::to_any, interner)
}

/// The resource of shared bytes of type `type_url`, made once per value.
fn versioned_once(
    map: &EncodedBy<[u8]>,
    bytes: &Arc<[u8]>,
    name: &str,
    type_url: &str,
    interner: &Mutex<Interner>,
) -> Arc<Resource> {
    let body = |bytes: &[u8]| Any {
        type_url: type_url.to_string(),
        value: bytes.to_vec(),
    };
    resource_once(map, bytes, name, body, interner)
}

/// The encodings in `map` of the values in `held`.
fn still_held<M: ?Sized>(map: &EncodedBy<M>, held: &[Arc<M>]) -> EncodedBy<M> {
    let held: std::collections::HashSet<usize> = held
        .iter()
        .map(|v| Arc::as_ptr(v).cast::<u8>() as usize)
        .collect();
    let map = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Mutex::new(
        map.iter()
            .filter(|(k, _)| held.contains(*k))
            .map(|(k, v)| (*k, v.clone()))
            .collect(),
    )
}

impl MeshGenerator {
    /// A generator over `snapshot`.
    pub fn new(snapshot: Snapshot, options: SidecarOptions) -> MeshGenerator {
        MeshGenerator {
            state: RwLock::new((0, snapshot)),
            options,
            cache: Mutex::new(HashMap::new()),
            interner: Mutex::new(Interner::default()),
            shared: Mutex::new((0, Arc::new(Shared::default()))),
            routes: RouteCache::default(),
        }
    }

    /// The shared caches of snapshot `epoch` (new ones when the snapshot changed; throwaway
    /// ones for a translation of a snapshot already replaced).
    fn shared(&self, epoch: u64) -> Arc<Shared> {
        let mut s = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.0 < epoch {
            *s = (epoch, Arc::new(Shared::default()));
        } else if s.0 > epoch {
            return Arc::new(Shared::default());
        }
        Arc::clone(&s.1)
    }

    /// Replaces the snapshot (then call `XdsServer::push`). Everything shared between proxies
    /// is rebuilt: prefer [`Self::update`] when the change set is known.
    pub fn set_snapshot(&self, snapshot: Snapshot) {
        self.replace(snapshot, None);
    }

    /// Replaces the snapshot with `snapshot`, which `changes` (as the store returned them,
    /// merged since the last call) made from the current one, then call
    /// `XdsServer::push_scoped`. The clusters and assignments shared between proxies, and
    /// their encodings, are kept where the change cannot have altered them
    /// (`TranslationCache::carry_over`): after a VirtualService edit the first proxy
    /// translated rebuilds no cluster.
    pub fn update(&self, snapshot: Snapshot, changes: &mesh_core::model::ChangeSet) {
        self.replace(snapshot, Some(changes));
    }

    /// The next epoch with `snapshot`, and shared caches carried over by `changes` (fresh
    /// ones without).
    fn replace(&self, snapshot: Snapshot, changes: Option<&mesh_core::model::ChangeSet>) {
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut shared = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let carried = match changes {
            Some(changes) if shared.0 == state.0 => {
                let translation = shared
                    .1
                    .translation
                    .carry_over(&state.1, &snapshot, changes);
                Shared {
                    clusters: still_held(&shared.1.clusters, &translation.shared_clusters()),
                    endpoints: still_held(&shared.1.endpoints, &translation.shared_endpoints()),
                    encoded_clusters: still_held(
                        &shared.1.encoded_clusters,
                        &translation.shared_encoded_clusters(),
                    ),
                    encoded_endpoints: still_held(
                        &shared.1.encoded_endpoints,
                        &translation.shared_encoded_endpoints(),
                    ),
                    routes: Mutex::default(),
                    encoded_routes: Mutex::default(),
                    translation,
                }
            }
            _ => Shared::default(),
        };
        state.0 += 1;
        state.1 = snapshot;
        let old = std::mem::replace(&mut *shared, (state.0, Arc::new(carried)));
        // What the old snapshot alone held is freed after the locks are released, off the
        // path of proxies waiting for the new one.
        drop(shared);
        drop(state);
        drop(old);
    }

    fn current(&self) -> (u64, Snapshot) {
        let s = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (s.0, s.1.clone())
    }

    /// The proxy's translated resources at the current snapshot (translated anew: for debug
    /// endpoints and tools).
    pub fn resources(&self, proxy: &Proxy) -> Arc<ProxyResources> {
        let (_, snapshot) = self.current();
        Arc::new(mesh_core::translate::translate_proxy(
            &snapshot,
            proxy,
            &self.options,
        ))
    }

    fn encoded(&self, proxy: &Proxy) -> Arc<Encoded> {
        let (epoch, snapshot) = self.current();
        let key = proxy.node_id();
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((e, r)) = cache.get(&key)
            && *e == epoch
        {
            return Arc::clone(r);
        }
        // Clusters, assignments and route configurations are shared by the proxies that see
        // them alike, and encoded once per snapshot; listeners are the proxy's own.
        drop(cache);
        let shared = self.shared(epoch);
        // Sidecars' clusters, assignments and route configurations come encoded; gateways'
        // and proxyless clients' typed.
        let r = mesh_core::translate::translate_proxy_shared_encoded(
            &snapshot,
            proxy,
            &self.options,
            &shared.translation,
            &self.routes,
        );
        let mut clusters: Vec<Arc<Resource>> = r
            .clusters
            .iter()
            .map(|c| encoded_once(&shared.clusters, c, &c.name, &self.interner))
            .collect();
        clusters.extend(r.encoded_clusters.iter().map(|(name, bytes)| {
            versioned_once(
                &shared.encoded_clusters,
                bytes,
                name,
                types::CLUSTER,
                &self.interner,
            )
        }));
        let mut endpoints: Vec<Arc<Resource>> = r
            .endpoints
            .iter()
            .map(|e| encoded_once(&shared.endpoints, e, &e.cluster_name, &self.interner))
            .collect();
        endpoints.extend(r.encoded_endpoints.iter().map(|(name, bytes)| {
            versioned_once(
                &shared.encoded_endpoints,
                bytes,
                name,
                types::ENDPOINT,
                &self.interner,
            )
        }));
        let mut interner = self
            .interner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut own = |rs: Vec<Resource>| -> Vec<Arc<Resource>> {
            rs.into_iter().map(|r| interner.intern(r)).collect()
        };
        let mut out = Encoded::new();
        out.insert(types::CLUSTER, clusters);
        out.insert(types::ENDPOINT, endpoints);
        out.insert(types::LISTENER, own(encode(&r.listeners, |l| &l.name)));
        drop(interner);
        let mut routes: Vec<Arc<Resource>> = r
            .routes
            .iter()
            .map(|rc| encoded_once(&shared.routes, rc, &rc.name, &self.interner))
            .collect();
        routes.extend(r.encoded_routes.iter().map(|(name, bytes)| {
            versioned_once(
                &shared.encoded_routes,
                bytes,
                name,
                types::ROUTE,
                &self.interner,
            )
        }));
        out.insert(types::ROUTE, routes);
        let out = Arc::new(out);
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, (epoch, Arc::clone(&out)));
        out
    }
}

fn encode<M: Message + prost::Name>(items: &[M], name: impl Fn(&M) -> &str) -> Vec<Resource> {
    items
        .iter()
        .map(|m| Resource::new(name(m), mesh_core::dump::to_any(m)))
        .collect()
}

impl Generator for MeshGenerator {
    fn generate(&self, proxy: &ProxyInfo, type_url: &str) -> Result<Vec<Resource>, GenerateError> {
        let Some(p) = &proxy.proxy else {
            return Err(GenerateError::UnknownProxy(
                proxy.node.id.clone(),
                "the node id is not type~ip~id~domain".into(),
            ));
        };
        Ok(self
            .encoded(p)
            .get(type_url)
            .map(|rs| rs.iter().map(|r| (**r).clone()).collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::model::{MeshOptions, ProxyType, Store};

    const MESH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {clusterIP: 10.96.0.10, selector: {app: cart}, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: pay, namespace: shop}
spec: {clusterIP: 10.96.0.11, selector: {app: pay}, ports: [{name: grpc, port: 9000}]}
---
apiVersion: v1
kind: Pod
metadata: {name: cart-1, namespace: shop, labels: {app: cart, version: v1}}
status: {podIP: 10.244.0.10}
---
apiVersion: v1
kind: Pod
metadata: {name: pay-1, namespace: shop, labels: {app: pay, version: v1}}
status: {podIP: 10.244.0.11}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay, namespace: shop}
spec: {host: pay, subsets: [{name: v1, labels: {version: v1}}]}
"#;

    fn load(yaml: &str) -> Vec<mesh_core::api::Object> {
        mesh_core::load::from_str(yaml, "test.yaml")
            .expect("loads")
            .into_iter()
            .map(|l| l.object)
            .collect()
    }

    fn everything(g: &MeshGenerator, proxy: &Proxy) -> Vec<(String, Vec<Arc<Resource>>)> {
        g.encoded(proxy)
            .iter()
            .map(|(t, rs)| (t.to_string(), rs.clone()))
            .collect()
    }

    /// What the generator sends, encoded directly or from typed values, decodes to what
    /// `translate_proxy` gives the proxy, type by type and in order.
    #[test]
    fn resources_decode_to_the_translation() {
        fn decoded<M: Message + Default>(rs: &[Arc<Resource>]) -> Vec<M> {
            rs.iter()
                .map(|r| M::decode(&r.body.value[..]).expect("decodes"))
                .collect()
        }
        let mut store = Store::new(MeshOptions::default());
        store.apply_all(load(MESH));
        let snapshot = store.snapshot();
        let g = MeshGenerator::new(snapshot.clone(), SidecarOptions::default());
        for w in snapshot.workloads() {
            let proxy = Proxy::for_workload(w, ProxyType::Sidecar, "cluster.local");
            let typed = g.resources(&proxy);
            let sent = g.encoded(&proxy);
            let of = |t: &str| sent.get(t).cloned().unwrap_or_default();
            assert!(!typed.endpoints.is_empty() && !typed.routes.is_empty());
            assert_eq!(decoded::<Cluster>(&of(types::CLUSTER)), typed.clusters);
            assert_eq!(
                decoded::<ClusterLoadAssignment>(&of(types::ENDPOINT)),
                typed.endpoints
            );
            assert_eq!(
                decoded::<RouteConfiguration>(&of(types::ROUTE)),
                typed.routes
            );
            let names: Vec<String> = of(types::ENDPOINT).iter().map(|r| r.name.clone()).collect();
            let expected: Vec<String> = typed
                .endpoints
                .iter()
                .map(|e| e.cluster_name.clone())
                .collect();
            assert_eq!(names, expected);
        }
    }

    /// After `update`, every proxy gets what a generator started on the new snapshot gives
    /// it; what the edit cannot touch is kept (the same encodings), the rest rebuilt.
    #[test]
    fn update_carries_over_what_the_change_left_valid() {
        let mut store = Store::new(MeshOptions::default());
        store.apply_all(load(MESH));
        let snapshot = store.snapshot();
        let proxy = Proxy::for_workload(
            &snapshot.workloads()[0],
            ProxyType::Sidecar,
            "cluster.local",
        );
        let g = MeshGenerator::new(snapshot, SidecarOptions::default());
        let before = everything(&g, &proxy);
        let cluster = |rs: &[(String, Vec<Arc<Resource>>)], name: &str| {
            rs.iter()
                .filter(|(t, _)| t == types::CLUSTER)
                .flat_map(|(_, rs)| rs)
                .find(|r| r.name == name)
                .cloned()
                .unwrap_or_else(|| panic!("cluster {name}"))
        };
        let pay = "outbound|9000|v1|pay.shop.svc.cluster.local";

        let edits = [
            r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec: {hosts: [cart], http: [{timeout: 2s, route: [{destination: {host: cart}}]}]}
"#,
            r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay, namespace: shop}
spec:
  host: pay
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 9}}}
  subsets: [{name: v1, labels: {version: v1}}]
"#,
        ];
        // What the generator shares: (services' clusters, assignments) translated, and
        // cluster encodings.
        let held = |g: &MeshGenerator| {
            let s = g.shared.lock().expect("lock");
            (
                s.1.translation.len(),
                s.1.encoded_clusters.lock().expect("lock").len(),
            )
        };
        let mut previous = before;
        for (i, edit) in edits.iter().enumerate() {
            let changes = store.apply_all(load(edit));
            let snapshot = store.snapshot();
            let was = held(&g);
            g.update(snapshot.clone(), &changes);
            let kept = held(&g);
            // The encodings kept are those of the services' clusters (cart's one, pay's two),
            // not of the proxy's own (blackhole, passthrough, inbound).
            if i == 0 {
                assert_eq!(kept, (was.0, 3), "a VirtualService keeps every service's");
            } else {
                assert_eq!(
                    kept,
                    ((1, 1), 1),
                    "pay's DestinationRule drops pay's: {was:?}"
                );
            }
            let after = everything(&g, &proxy);
            let fresh = everything(
                &MeshGenerator::new(snapshot, SidecarOptions::default()),
                &proxy,
            );
            let plain = |rs: &[(String, Vec<Arc<Resource>>)]| -> Vec<(String, Vec<Resource>)> {
                rs.iter()
                    .map(|(t, rs)| (t.clone(), rs.iter().map(|r| (**r).clone()).collect()))
                    .collect()
            };
            assert_eq!(plain(&after), plain(&fresh), "edit {i}");
            if i == 1 {
                assert_ne!(
                    cluster(&previous, pay).version,
                    cluster(&after, pay).version,
                    "the DestinationRule edit shows"
                );
            }
            previous = after;
        }
    }
}
