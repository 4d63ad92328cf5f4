//! The mesh as a store of objects and the immutable, indexed snapshots taken from it.
//!
//! A [`Store`] holds every object (Istio config, Kubernetes objects, anything else) keyed by
//! kind, namespace and name; [`Store::apply`] and [`Store::delete`] return the
//! [`ChangeSet`] they caused, so a control plane knows what to recompute and whom to push.
//! [`Store::snapshot`] builds a [`Snapshot`]: services, workloads and config, indexed, behind an
//! `Arc` so it is cheap to clone and share across threads while the store moves on.
//!
//! Manifests kept in git have no cluster-assigned addresses: a Service without a `clusterIP`
//! gets a VIP in `10.96.0.0/12` and a pod without an IP an address in `10.244.0.0/16`, both
//! derived from the object's namespace and name, so they stay the same from run to run and as
//! other objects come and go (unless two objects hash to the same address, when the later in
//! key order takes the next free one). Deployments and StatefulSets become `spec.replicas` pods (1 by default) named
//! `<name>-<index>` from their pod template, so a directory of manifests translates without
//! a cluster.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, OnceLock};

use crate::api::{Kind, Object, k8s};

use super::service::namespace_or_default;
use super::{Service, UNSPECIFIED_IP, Workload};

/// Mesh-wide settings the model needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshOptions {
    /// The DNS suffix of Kubernetes services (`cluster.local`).
    pub domain_suffix: String,
    /// The namespace whose config applies mesh-wide (`istio-system`).
    pub root_namespace: String,
    /// The SPIFFE trust domain (`cluster.local`).
    pub trust_domain: String,
}

impl Default for MeshOptions {
    fn default() -> Self {
        MeshOptions {
            domain_suffix: "cluster.local".into(),
            root_namespace: "istio-system".into(),
            trust_domain: "cluster.local".into(),
        }
    }
}

/// What identifies an object: its kind (as written), namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The kind name (`VirtualService`, `Deployment`).
    pub kind: String,
    /// The namespace (`default` when a namespaced object names none; empty for namespaces).
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// The key of an object.
    pub fn of(object: &Object) -> ObjectKey {
        let meta = object.metadata();
        let cluster_scoped = object.kind() == Some(Kind::Namespace);
        let namespace = if cluster_scoped {
            String::new()
        } else if meta.namespace.is_empty() {
            super::DEFAULT_NAMESPACE.to_string()
        } else {
            meta.namespace.clone()
        };
        ObjectKey {
            kind: object.kind_name().to_string(),
            namespace,
            name: meta.name.clone(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// How one object changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// It is new.
    Added,
    /// It replaced a different version.
    Updated,
    /// It is gone.
    Deleted,
}

/// The objects a store operation changed. Applying an identical object changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Each changed object and how. An object added then deleted within one set is dropped;
    /// other sequences keep their net effect.
    pub objects: BTreeMap<ObjectKey, ChangeKind>,
}

impl ChangeSet {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The kinds that changed.
    pub fn kinds(&self) -> BTreeSet<&str> {
        self.objects.keys().map(|k| k.kind.as_str()).collect()
    }

    /// Whether any object of `kind` changed.
    pub fn touches(&self, kind: &str) -> bool {
        self.objects.keys().any(|k| k.kind == kind)
    }

    /// Folds a later change set into this one.
    pub fn merge(&mut self, later: ChangeSet) {
        for (key, change) in later.objects {
            self.record(key, change);
        }
    }

    fn record(&mut self, key: ObjectKey, change: ChangeKind) {
        use ChangeKind::*;
        let net = match (self.objects.get(&key).copied(), change) {
            (None, c) => Some(c),
            (Some(Added), Deleted) => None,
            (Some(Added), _) => Some(Added),
            (Some(Deleted), Added) => Some(Updated),
            (Some(_), c) => Some(c),
        };
        match net {
            Some(c) => {
                self.objects.insert(key, c);
            }
            None => {
                self.objects.remove(&key);
            }
        }
    }
}

/// A mutable collection of mesh objects.
#[derive(Debug, Clone, Default)]
pub struct Store {
    options: MeshOptions,
    objects: BTreeMap<ObjectKey, Arc<Object>>,
}

impl Store {
    /// An empty store.
    pub fn new(options: MeshOptions) -> Store {
        Store {
            options,
            objects: BTreeMap::new(),
        }
    }

    /// Adds or replaces an object.
    pub fn apply(&mut self, object: Object) -> ChangeSet {
        let key = ObjectKey::of(&object);
        let mut changes = ChangeSet::default();
        match self.objects.get(&key) {
            Some(old) if **old == object => {}
            Some(_) => {
                self.objects.insert(key.clone(), Arc::new(object));
                changes.record(key, ChangeKind::Updated);
            }
            None => {
                self.objects.insert(key.clone(), Arc::new(object));
                changes.record(key, ChangeKind::Added);
            }
        }
        changes
    }

    /// Applies every object, in order.
    pub fn apply_all(&mut self, objects: impl IntoIterator<Item = Object>) -> ChangeSet {
        let mut changes = ChangeSet::default();
        for o in objects {
            changes.merge(self.apply(o));
        }
        changes
    }

    /// Removes an object; nothing changes if it is not there.
    pub fn delete(&mut self, key: &ObjectKey) -> ChangeSet {
        let mut changes = ChangeSet::default();
        if self.objects.remove(key).is_some() {
            changes.record(key.clone(), ChangeKind::Deleted);
        }
        changes
    }

    /// The object with this key.
    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.objects.get(key).map(|o| &**o)
    }

    /// How many objects the store holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// The keys of every object, in order.
    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> + '_ {
        self.objects.keys()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// An immutable, indexed view of the store as it is now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::build(self.options.clone(), self.objects.clone())
    }
}

/// An immutable view of the mesh: cheap to clone (one `Arc`), safe to share across threads.
#[derive(Debug, Clone)]
pub struct Snapshot {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: MeshOptions,
    objects: BTreeMap<ObjectKey, Arc<Object>>,
    services: Vec<Service>,
    host_ranks: Vec<u32>,
    by_host: BTreeMap<String, Vec<usize>>,
    workloads: Vec<Workload>,
    /// Objects of each modelled kind, in key order.
    by_kind: BTreeMap<Kind, Vec<Arc<Object>>>,
    /// Workload indexes by namespace, label and value (nested, so that a lookup by `&str`
    /// allocates nothing).
    workload_labels: LabelIndex,
    /// Each service's identities ([`Snapshot::service_identities`]), by service index.
    service_identities: Vec<Vec<String>>,
    /// DestinationRules by namespace, indexes into `by_kind[DestinationRule]`.
    destination_rules: HashMap<String, RuleIndex>,
    /// The mesh-bound VirtualServices, scoped once for all proxies (on first use).
    mesh_virtual_services: OnceLock<Vec<crate::translate::scope::ScopedVirtualService>>,
    /// Namespaces a DestinationRule's `exportTo` names, and whether some hostname has
    /// several services (on first use).
    rule_scoping: OnceLock<(HashSet<String>, bool)>,
}

/// Workload indexes by namespace, label and value.
type LabelIndex = HashMap<String, HashMap<String, HashMap<String, Vec<usize>>>>;

/// A namespace's DestinationRules by their (qualified) host.
#[derive(Debug, Default)]
struct RuleIndex {
    exact: HashMap<String, Vec<usize>>,
    wildcard: Vec<(String, usize)>,
}

impl Snapshot {
    fn build(options: MeshOptions, objects: BTreeMap<ObjectKey, Arc<Object>>) -> Snapshot {
        let mut services = Vec::new();
        let mut workloads = Vec::new();
        for object in objects.values() {
            match &**object {
                Object::Service(s) => {
                    services.push(Service::from_kubernetes(s, &options.domain_suffix))
                }
                Object::ServiceEntry(se) => services.extend(Service::from_service_entry(se)),
                Object::Pod(p) => workloads.push(Workload::from_pod(p)),
                Object::WorkloadEntry(we) => workloads.push(Workload::from_workload_entry(we)),
                Object::Untyped(u) if matches!(u.kind.as_str(), "Deployment" | "StatefulSet") => {
                    workloads.extend(template_pods(u).iter().map(Workload::from_pod));
                }
                _ => {}
            }
        }
        allocate_service_vips(&mut services);
        allocate_pod_ips(&mut workloads);
        let mut by_host: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in services.iter().enumerate() {
            by_host.entry(s.hostname.clone()).or_default().push(i);
        }
        let mut host_ranks = vec![0u32; services.len()];
        for (rank, indexes) in by_host.values().enumerate() {
            for i in indexes {
                host_ranks[*i] = rank as u32;
            }
        }
        let mut by_kind: BTreeMap<Kind, Vec<Arc<Object>>> = BTreeMap::new();
        for o in objects.values() {
            if let Some(k) = o.kind() {
                by_kind.entry(k).or_default().push(Arc::clone(o));
            }
        }
        let mut workload_labels: LabelIndex = HashMap::new();
        for (i, w) in workloads.iter().enumerate() {
            let by_label = workload_labels.entry(w.namespace.clone()).or_default();
            for (k, v) in &w.labels {
                by_label
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default()
                    .push(i);
            }
        }
        let mut destination_rules: HashMap<String, RuleIndex> = HashMap::new();
        for (i, o) in by_kind
            .get(&Kind::DestinationRule)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Object::DestinationRule(dr) = &**o {
                let ns = namespace_or_default(&dr.metadata.namespace).to_string();
                let host = qualify(&dr.spec.host, &ns, &options.domain_suffix);
                let index = destination_rules.entry(ns).or_default();
                if host.starts_with('*') {
                    index.wildcard.push((host, i));
                } else {
                    index.exact.entry(host).or_default().push(i);
                }
            }
        }
        let service_identities = services
            .iter()
            .map(|s| {
                identities(
                    s,
                    selected_workloads(s, &workloads, &workload_labels),
                    &options.trust_domain,
                )
            })
            .collect();
        Snapshot {
            inner: Arc::new(Inner {
                options,
                objects,
                services,
                by_host,
                host_ranks,
                workloads,
                by_kind,
                workload_labels,
                service_identities,
                destination_rules,
                mesh_virtual_services: OnceLock::new(),
                rule_scoping: OnceLock::new(),
            }),
        }
    }

    /// Whether a proxy in `namespace` sees every service's DestinationRule and every
    /// hostname's service as proxies of any other such namespace do: no DestinationRule lives
    /// in it or names it in `exportTo`, and no hostname has several services (whose choice
    /// prefers the proxy's namespace). Such proxies share their clusters and assignments.
    pub fn rules_independent_of(&self, namespace: &str) -> bool {
        let (named, duplicate_hosts) = self.inner.rule_scoping.get_or_init(|| {
            let named = self
                .objects_of(Kind::DestinationRule)
                .filter_map(|o| match o {
                    Object::DestinationRule(dr) => Some(&dr.spec.export_to),
                    _ => None,
                })
                .flatten()
                .filter(|e| !matches!(e.as_str(), "*" | "." | "~"))
                .cloned()
                .collect();
            let duplicates = self.inner.by_host.values().any(|v| v.len() > 1);
            (named, duplicates)
        });
        !*duplicate_hosts
            && !named.contains(namespace)
            && !self.inner.destination_rules.contains_key(namespace)
    }

    /// The workloads behind a service (as `translate::endpoints::service_workloads` selects
    /// them), found through the snapshot's label index.
    pub fn service_workloads<'a>(&'a self, service: &'a Service) -> Vec<&'a Workload> {
        self.service_workloads_iter(service).collect()
    }

    /// [`Self::service_workloads`], without collecting them.
    pub fn service_workloads_iter<'a>(
        &'a self,
        service: &'a Service,
    ) -> impl Iterator<Item = &'a Workload> + 'a {
        selected_workloads(service, &self.inner.workloads, &self.inner.workload_labels)
    }

    /// The identities a service's clusters accept (`ISTIO_MUTUAL` SANs): its own
    /// `subjectAltNames` and the SPIFFE ids of the workloads it selects, sorted, each once.
    /// Worked out with the snapshot for its services, as istiod's push context does
    /// (`initServiceAccounts`); computed here for a service from elsewhere.
    pub fn service_identities<'a>(&'a self, service: &Service) -> Cow<'a, [String]> {
        // One of this snapshot's services: its index from its address.
        let services = self.inner.services.as_ptr_range();
        let at = std::ptr::from_ref(service);
        if services.contains(&at) {
            let i = (at as usize - services.start as usize) / std::mem::size_of::<Service>();
            if let Some(ids) = self.inner.service_identities.get(i) {
                return Cow::Borrowed(ids);
            }
        }
        Cow::Owned(identities(
            service,
            self.service_workloads_iter(service),
            &self.inner.options.trust_domain,
        ))
    }

    /// The VirtualServices bound to the mesh (`gateways` empty or `mesh`) with hosts qualified
    /// and delegates merged, oldest first: computed once per snapshot, then filtered per proxy.
    pub fn mesh_virtual_services(&self) -> &[crate::translate::scope::ScopedVirtualService] {
        self.inner
            .mesh_virtual_services
            .get_or_init(|| crate::translate::scope::mesh_virtual_services(self))
    }

    /// The mesh settings.
    pub fn options(&self) -> &MeshOptions {
        &self.inner.options
    }

    /// Every service, Kubernetes ones then ServiceEntries' in key order.
    pub fn services(&self) -> &[Service] {
        &self.inner.services
    }

    /// The services with this hostname (one per namespace or address that declares it).
    pub fn services_for_host<'a>(&'a self, host: &str) -> impl Iterator<Item = &'a Service> + 'a {
        self.inner
            .by_host
            .get(host)
            .into_iter()
            .flatten()
            .map(|i| &self.inner.services[*i])
    }

    /// For each service of [`Self::services`] (same index), the rank of its hostname among
    /// all hostnames in order: sorting services by it sorts them by hostname without
    /// comparing strings.
    pub fn host_ranks(&self) -> &[u32] {
        &self.inner.host_ranks
    }

    /// The services a proxy in `namespace` may see (`exportTo`).
    pub fn services_visible_from<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a Service> + 'a {
        self.inner
            .services
            .iter()
            .filter(move |s| s.visible_from(namespace))
    }

    /// Every workload: pods (also from Deployment and StatefulSet templates) and
    /// WorkloadEntries.
    pub fn workloads(&self) -> &[Workload] {
        &self.inner.workloads
    }

    /// Every object of a modelled kind, in key order.
    pub fn objects_of(&self, kind: Kind) -> impl Iterator<Item = &Object> + '_ {
        self.inner
            .by_kind
            .get(&kind)
            .into_iter()
            .flatten()
            .map(|o| &**o)
    }

    /// The object with this key.
    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.inner.objects.get(key).map(|o| &**o)
    }

    /// How many objects the snapshot holds.
    pub fn len(&self) -> usize {
        self.inner.objects.len()
    }

    /// Whether the snapshot holds nothing.
    pub fn is_empty(&self) -> bool {
        self.inner.objects.is_empty()
    }

    /// The DestinationRule that applies to `host` for a proxy in `proxy_namespace`, as istiod
    /// picks it: one in the proxy's namespace, else in the service's namespace, else in the
    /// root namespace; within a namespace an exact host beats a wildcard, a longer wildcard a
    /// shorter, and then key order. A short `host` in a rule is qualified with the rule's
    /// namespace. Rules not exported to the proxy's namespace are skipped.
    pub fn destination_rule_for(
        &self,
        host: &str,
        service_namespace: &str,
        proxy_namespace: &str,
    ) -> Option<&crate::api::DestinationRule> {
        let visible = |rule: &crate::api::DestinationRule| {
            let ns = &rule.metadata.namespace;
            rule.spec.export_to.is_empty()
                || rule.spec.export_to.iter().any(|e| match e.as_str() {
                    "*" => true,
                    "." => ns == proxy_namespace,
                    "~" => false,
                    other => other == proxy_namespace,
                })
        };
        let rules = self
            .inner
            .by_kind
            .get(&Kind::DestinationRule)
            .map_or(&[][..], Vec::as_slice);
        let rule = |i: usize| match rules.get(i).map(|o| &**o) {
            Some(Object::DestinationRule(dr)) if visible(dr) => Some(dr),
            _ => None,
        };
        let root = self.inner.options.root_namespace.as_str();
        for namespace in [proxy_namespace, service_namespace, root] {
            let Some(index) = self.inner.destination_rules.get(namespace) else {
                continue;
            };
            // An exact host beats every wildcard; then the longest wildcard; then key order.
            if let Some(dr) = index
                .exact
                .get(host)
                .into_iter()
                .flatten()
                .find_map(|i| rule(*i))
            {
                return Some(dr);
            }
            let best = index
                .wildcard
                .iter()
                .filter_map(|(h, i)| host_match_rank(h, host).map(|r| (r, *i)))
                .filter_map(|(r, i)| rule(i).map(|dr| (r, i, dr)))
                .fold(
                    None::<(usize, usize, &crate::api::DestinationRule)>,
                    |best, cur| match best {
                        Some(b)
                            if (b.0, std::cmp::Reverse(b.1))
                                >= (cur.0, std::cmp::Reverse(cur.1)) =>
                        {
                            best
                        }
                        _ => Some(cur),
                    },
                );
            if let Some((_, _, dr)) = best {
                return Some(dr);
            }
        }
        None
    }

    /// The endpoints of an outbound cluster `outbound|<port>|<subset>|<host>` for a proxy in
    /// `proxy_namespace`: the service visible from there (its own namespace first), the
    /// port, and the subset's labels from the applicable DestinationRule. `None` when the name
    /// is not an outbound cluster or names no visible service port; an unknown subset gives an
    /// empty assignment, as istiod sends.
    pub fn outbound_endpoints(
        &self,
        cluster_name: &str,
        proxy_namespace: &str,
    ) -> Option<envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment> {
        use crate::translate::endpoints::{EndpointOptions, selected_cluster_load_assignment};
        let (service, port, labels) =
            self.outbound_endpoint_source(cluster_name, proxy_namespace)?;
        Some(match labels {
            Some(labels) => selected_cluster_load_assignment(
                cluster_name,
                service,
                port,
                labels,
                self.service_workloads(service),
                &EndpointOptions::default(),
            ),
            None => envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment {
                cluster_name: cluster_name.to_string(),
                ..Default::default()
            },
        })
    }

    /// [`Self::outbound_endpoints`] encoded, written directly
    /// ([`crate::translate::endpoints::encoded_cluster_load_assignment`]): the bytes decode to
    /// the same assignment.
    pub fn outbound_endpoints_encoded(
        &self,
        cluster_name: &str,
        proxy_namespace: &str,
    ) -> Option<Vec<u8>> {
        self.outbound_endpoints_encoded_many(&[cluster_name], proxy_namespace)
            .pop()
            .flatten()
    }

    /// [`Self::outbound_endpoints_encoded`] for each of `cluster_names`, in order: the
    /// clusters of one service share its workload selection, and each endpoint is encoded
    /// once for all of them ([`crate::translate::endpoints::encoded_service_assignments`]).
    pub fn outbound_endpoints_encoded_many(
        &self,
        cluster_names: &[&str],
        proxy_namespace: &str,
    ) -> Vec<Option<Vec<u8>>> {
        use crate::translate::endpoints::{
            AssignmentOf, EndpointOptions, encoded_service_assignments,
        };
        // A service's clusters come one after another: its service and DestinationRule are
        // looked up once for them.
        let mut last = None;
        let sources: Vec<_> = cluster_names
            .iter()
            .map(|n| self.outbound_endpoint_source_with(n, proxy_namespace, &mut last))
            .collect();
        // The clusters of each service, services in order of first appearance.
        let mut groups: Vec<(&Service, Vec<usize>)> = Vec::new();
        let mut group_of: HashMap<*const Service, usize> = HashMap::new();
        for (i, source) in sources.iter().enumerate() {
            if let Some((service, _, _)) = source {
                let g = *group_of
                    .entry(std::ptr::from_ref(*service))
                    .or_insert_with(|| {
                        groups.push((service, Vec::new()));
                        groups.len() - 1
                    });
                groups[g].1.push(i);
            }
        }
        let mut out: Vec<Option<Vec<u8>>> = vec![None; cluster_names.len()];
        for (service, members) in groups {
            let clusters: Vec<AssignmentOf<'_>> = members
                .iter()
                .filter_map(|i| {
                    let (_, port, subset) = sources[*i]?;
                    Some(AssignmentOf {
                        cluster_name: cluster_names[*i],
                        port,
                        subset,
                    })
                })
                .collect();
            let encoded = encoded_service_assignments(
                service,
                &clusters,
                self.service_workloads(service),
                &EndpointOptions::default(),
            );
            for (i, bytes) in members.into_iter().zip(encoded) {
                out[i] = Some(bytes);
            }
        }
        out
    }

    /// What [`Self::outbound_endpoints`] builds from: the service, its port and the subset's
    /// labels (`None` for a subset no DestinationRule defines).
    fn outbound_endpoint_source(
        &self,
        cluster_name: &str,
        proxy_namespace: &str,
    ) -> Option<EndpointSource<'_>> {
        self.outbound_endpoint_source_with(cluster_name, proxy_namespace, &mut None)
    }

    /// [`Self::outbound_endpoint_source`], reusing `last`'s lookups (the previous cluster's
    /// host, its service and DestinationRule) when the host is the same.
    fn outbound_endpoint_source_with<'s, 'n>(
        &'s self,
        cluster_name: &'n str,
        proxy_namespace: &str,
        last: &mut Option<HostLookups<'s, 'n>>,
    ) -> Option<EndpointSource<'s>> {
        static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();
        let mut parts = cluster_name.splitn(4, '|');
        let (Some("outbound"), Some(port), Some(subset), Some(host)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let port: u32 = port.parse().ok()?;
        let lookups = match last {
            Some(l) if l.0 == host => l,
            _ => last.insert((
                host,
                // The proxy's own namespace's service first, else the first visible one.
                self.services_for_host(host)
                    .filter(|s| s.visible_from(proxy_namespace))
                    .min_by_key(|s| s.namespace != proxy_namespace),
                None,
            )),
        };
        let service = lookups.1?;
        let service_port = service.port(port)?;
        let labels = if subset.is_empty() {
            Some(&NO_LABELS)
        } else {
            lookups
                .2
                .get_or_insert_with(|| {
                    self.destination_rule_for(host, &service.namespace, proxy_namespace)
                })
                .and_then(|dr| dr.spec.subsets.iter().find(|s| s.name == subset))
                .map(|s| &s.labels)
        };
        Some((service, service_port, labels))
    }
}

/// A cluster host's lookups: the host, its service and (once needed) its DestinationRule.
type HostLookups<'s, 'n> = (
    &'n str,
    Option<&'s Service>,
    Option<Option<&'s crate::api::DestinationRule>>,
);

/// What an outbound cluster's assignment is made from: the service, its port and the
/// subset's labels (`None` for a subset no DestinationRule defines).
type EndpointSource<'a> = (
    &'a Service,
    &'a super::Port,
    Option<&'a BTreeMap<String, String>>,
);

/// A rule's host as a full name: a name without dots is a service in the rule's namespace.
pub(crate) fn qualify(host: &str, namespace: &str, suffix: &str) -> String {
    if host.contains('.') || host == "*" {
        host.to_string()
    } else {
        format!("{host}.{namespace}.svc.{suffix}")
    }
}

/// How well a rule host matches a service host: `None` no match; an exact match outranks
/// every wildcard; a longer wildcard outranks a shorter.
pub(crate) fn host_match_rank(rule_host: &str, host: &str) -> Option<usize> {
    if rule_host == host {
        return Some(usize::MAX);
    }
    let suffix = rule_host.strip_prefix('*')?;
    host.ends_with(suffix).then_some(suffix.len())
}

/// The pods a Deployment or StatefulSet would run: its template, `replicas` times.
fn template_pods(u: &crate::api::UntypedObject) -> Vec<k8s::Pod> {
    let spec = u.rest.get("spec");
    let replicas = spec
        .and_then(|s| s.get("replicas"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1);
    let Some(template) = spec.and_then(|s| s.get("template")) else {
        return Vec::new();
    };
    let namespace = if u.metadata.namespace.is_empty() {
        super::DEFAULT_NAMESPACE
    } else {
        &u.metadata.namespace
    };
    (0..replicas)
        .filter_map(|i| {
            let mut pod = serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": template.get("metadata").cloned().unwrap_or_default(),
                "spec": template.get("spec").cloned().unwrap_or_default(),
            });
            pod["metadata"]["name"] = format!("{}-{i}", u.metadata.name).into();
            pod["metadata"]["namespace"] = namespace.into();
            serde_json::from_value(pod).ok()
        })
        .collect()
}

/// FNV-1a: a hash that is the same on every machine and every Rust release.
fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// An address in `base/bits` for `key`, probing past the ones `taken`, never the network or
/// broadcast address.
fn allocate(
    base: Ipv4Addr,
    bits: u32,
    key: &str,
    taken: &mut HashSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let size = 1u64 << (32 - bits);
    let start = stable_hash(key) % size;
    (0..size).find_map(|probe| {
        let offset = (start + probe) % size;
        if offset == 0 || offset == size - 1 {
            return None;
        }
        let ip = Ipv4Addr::from(u32::from(base) + u32::try_from(offset).ok()?);
        taken.insert(ip).then_some(ip)
    })
}

fn allocate_service_vips(services: &mut [Service]) {
    let mut taken: HashSet<Ipv4Addr> = services
        .iter()
        .filter_map(|s| s.address.parse().ok())
        .collect();
    for s in services.iter_mut().filter(|s| {
        s.registry == super::Registry::Kubernetes
            && s.address == UNSPECIFIED_IP
            && s.resolution == super::Resolution::ClientSideLb
    }) {
        let key = format!("{}/{}", s.namespace, s.object_name);
        if let Some(ip) = allocate(Ipv4Addr::new(10, 96, 0, 0), 12, &key, &mut taken) {
            s.address = ip.to_string();
        }
    }
}

fn allocate_pod_ips(workloads: &mut [Workload]) {
    let mut taken: HashSet<Ipv4Addr> = workloads
        .iter()
        .flat_map(|w| &w.addresses)
        .filter_map(|a| a.parse().ok())
        .collect();
    for w in workloads
        .iter_mut()
        .filter(|w| w.kind == super::WorkloadKind::Pod && w.addresses.is_empty())
    {
        let key = format!("{}/{}", w.namespace, w.name);
        if let Some(ip) = allocate(Ipv4Addr::new(10, 244, 0, 0), 16, &key, &mut taken) {
            w.addresses.push(ip.to_string());
        }
    }
}

/// The workloads a service selects (as `translate::endpoints::service_workloads` does),
/// through the label index: the candidates carry the selector's rarest label, and only the
/// others are checked on each.
fn selected_workloads<'a>(
    service: &'a Service,
    workloads: &'a [Workload],
    index: &'a LabelIndex,
) -> impl Iterator<Item = &'a Workload> + 'a {
    use super::Registry;
    let (inline, candidates, indexed): (&[Workload], &[usize], Option<&str>) =
        match service.registry {
            Registry::External if !service.inline_endpoints.is_empty() => {
                (&service.inline_endpoints, &[], None)
            }
            _ if service.selector.is_empty() => (&[], &[], None),
            _ => {
                let by_label = index.get(&service.namespace);
                let (key, candidates) = service
                    .selector
                    .iter()
                    .map(|(k, v)| {
                        let c = by_label
                            .and_then(|by_label| by_label.get(k))
                            .and_then(|by_value| by_value.get(v))
                            .map_or(&[][..], Vec::as_slice);
                        (k.as_str(), c)
                    })
                    .min_by_key(|(_, c)| c.len())
                    .unwrap_or_default();
                (&[], candidates, Some(key))
            }
        };
    inline
        .iter()
        .chain(candidates.iter().map(|i| &workloads[*i]).filter(move |w| {
            !w.is_terminated()
                && service
                    .selector
                    .iter()
                    .filter(|(k, _)| Some(k.as_str()) != indexed)
                    .all(|(k, v)| w.label(k).is_some_and(|l| l == v))
        }))
}

/// A service's `subjectAltNames` and the SPIFFE ids of `selected` (under `trust_domain`),
/// sorted, each once.
fn identities<'a>(
    service: &Service,
    selected: impl Iterator<Item = &'a Workload>,
    trust_domain: &str,
) -> Vec<String> {
    let mut out: Vec<String> = service.service_accounts.clone();
    // Each identity formatted once, however many workloads run under it (few identities per
    // service: a list is quicker than a set).
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for w in selected {
        let id = (w.namespace.as_str(), w.service_account.as_str());
        if !seen.contains(&id) {
            seen.push(id);
            out.extend(w.spiffe_id(trust_domain));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load;

    fn objects(yaml: &str) -> Vec<Object> {
        load::from_str(yaml, "test.yaml")
            .expect("loads")
            .into_iter()
            .map(|l| l.object)
            .collect()
    }

    const MESH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: reviews}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec:
      serviceAccountName: reviews
      containers: [{name: app, image: reviews, ports: [{containerPort: 9080}]}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec:
  hosts: [api.example.com]
  resolution: DNS
  exportTo: ["."]
  ports: [{number: 443, name: tls, protocol: TLS}]
"#;

    #[test]
    fn snapshots_index_services_and_workloads() {
        let mut store = Store::new(MeshOptions::default());
        let changes = store.apply_all(objects(MESH));
        assert_eq!(changes.objects.len(), 3);
        assert!(changes.objects.values().all(|c| *c == ChangeKind::Added));
        let snap = store.snapshot();
        let reviews: Vec<&Service> = snap
            .services_for_host("reviews.shop.svc.cluster.local")
            .collect();
        assert_eq!(reviews.len(), 1);
        let vip: Ipv4Addr = reviews[0].address.parse().expect("an allocated VIP");
        assert!(
            vip.octets()[0] == 10 && (96..112).contains(&vip.octets()[1]),
            "{vip}"
        );
        let pods: Vec<&Workload> = snap.workloads().iter().collect();
        let names: Vec<&str> = pods.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["reviews-v1-0", "reviews-v1-1"]);
        assert!(
            pods.iter()
                .all(|w| w.service_account == "reviews" && w.labels["version"] == "v1")
        );
        assert_ne!(pods[0].addresses, pods[1].addresses);
        assert!(pods[0].addresses[0].starts_with("10.244."));
        // exportTo ".": only its own namespace sees the ServiceEntry.
        assert_eq!(snap.services_visible_from("shop").count(), 2);
        assert_eq!(snap.services_visible_from("other").count(), 1);
        assert_eq!(snap.objects_of(Kind::ServiceEntry).count(), 1);
    }

    #[test]
    fn indexed_selection_checks_every_selector_label() {
        // The rarest label narrows the candidates; the others are checked on each.
        let mut yaml = String::from(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n\
             spec: {selector: {app: web, tier: front}, ports: [{port: 80}]}\n",
        );
        for (name, ns, labels, phase) in [
            ("both", "shop", "{app: web, tier: front}", "Running"),
            (
                "both-extra",
                "shop",
                "{app: web, tier: front, v: '2'}",
                "Running",
            ),
            ("app-only", "shop", "{app: web, tier: back}", "Running"),
            ("tier-only", "shop", "{app: api, tier: front}", "Running"),
            ("no-tier", "shop", "{app: web}", "Running"),
            ("done", "shop", "{app: web, tier: front}", "Succeeded"),
            ("elsewhere", "other", "{app: web, tier: front}", "Running"),
        ] {
            // Each pod runs as itself: the service's identities are its pods'.
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {labels}}}\nspec: {{serviceAccountName: {name}}}\nstatus: {{phase: {phase}}}\n"
            ));
        }
        // Many `tier: front` pods elsewhere in the namespace make `app: web` the rarer label
        // in one case, and few the other.
        for extra in [0, 6] {
            let mut all = yaml.clone();
            for i in 0..extra {
                all.push_str(&format!(
                    "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: f{i}, namespace: shop, labels: {{app: x{i}, tier: front}}}}\nspec: {{}}\n"
                ));
            }
            let mut store = Store::new(MeshOptions::default());
            store.apply_all(objects(&all));
            let snap = store.snapshot();
            let web = snap
                .services_for_host("web.shop.svc.cluster.local")
                .next()
                .expect("the service");
            let names = |ws: Vec<&Workload>| -> Vec<String> {
                let mut n: Vec<String> = ws.iter().map(|w| w.name.clone()).collect();
                n.sort();
                n
            };
            let indexed = names(snap.service_workloads(web));
            assert_eq!(indexed, ["both", "both-extra"], "{extra} extra pods");
            let scanned = names(crate::translate::endpoints::service_workloads(
                web,
                snap.workloads(),
            ));
            assert_eq!(indexed, scanned);
            // Worked out with the snapshot for its own services; the same computed for a copy.
            let ids = snap.service_identities(web);
            assert!(matches!(ids, Cow::Borrowed(_)));
            assert_eq!(
                *ids,
                [
                    "spiffe://cluster.local/ns/shop/sa/both",
                    "spiffe://cluster.local/ns/shop/sa/both-extra"
                ]
            );
            let copy = web.clone();
            let computed = snap.service_identities(&copy);
            assert!(matches!(computed, Cow::Owned(_)));
            assert_eq!(computed, ids);
        }
    }

    #[test]
    fn addresses_are_stable_when_other_objects_change() {
        let mut store = Store::new(MeshOptions::default());
        store.apply_all(objects(MESH));
        let before = store.snapshot();
        let mut more = String::new();
        for i in 0..50 {
            more.push_str(&format!(
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: shop}}\nspec: {{ports: [{{port: 80}}]}}\n"
            ));
        }
        store.apply_all(objects(&more));
        let after = store.snapshot();
        let vip = |s: &Snapshot| {
            s.services_for_host("reviews.shop.svc.cluster.local")
                .next()
                .map(|s| s.address.clone())
        };
        assert_eq!(vip(&before), vip(&after));
        assert_eq!(
            before.workloads()[0].addresses,
            after.workloads()[0].addresses
        );
        let vips: HashSet<&str> = after
            .services()
            .iter()
            .map(|s| s.address.as_str())
            .collect();
        assert_eq!(vips.len(), after.services().len(), "VIPs are unique");
        // The old snapshot is untouched.
        assert_eq!(before.len(), 3);
        assert_eq!(after.len(), 53);
    }

    #[test]
    fn change_sets() {
        let mut store = Store::new(MeshOptions::default());
        let objs = objects(MESH);
        store.apply_all(objs.clone());
        assert!(
            store.apply(objs[0].clone()).is_empty(),
            "same object: no change"
        );
        let mut changed = objs[2].clone();
        changed.metadata_mut().labels.insert("x".into(), "y".into());
        let c = store.apply(changed);
        assert_eq!(
            c.objects.values().collect::<Vec<_>>(),
            [&ChangeKind::Updated]
        );
        assert!(c.touches("ServiceEntry") && !c.touches("Service"));
        let key = ObjectKey::of(&objs[1]);
        assert_eq!(key.to_string(), "Deployment shop/reviews-v1");
        let d = store.delete(&key);
        assert_eq!(d.objects.get(&key), Some(&ChangeKind::Deleted));
        assert!(
            store.delete(&key).is_empty(),
            "deleting twice changes nothing"
        );
        assert!(store.snapshot().workloads().is_empty());

        let mut set = ChangeSet::default();
        set.record(key.clone(), ChangeKind::Added);
        set.record(key.clone(), ChangeKind::Updated);
        assert_eq!(set.objects[&key], ChangeKind::Added);
        set.record(key.clone(), ChangeKind::Deleted);
        assert!(set.is_empty(), "added then deleted is nothing");
        set.record(key.clone(), ChangeKind::Deleted);
        set.record(key.clone(), ChangeKind::Added);
        assert_eq!(set.objects[&key], ChangeKind::Updated);
    }

    #[test]
    fn outbound_endpoints_follow_destination_rules() {
        let rules = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: none, labels: {version: v9}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: all, namespace: istio-system}
spec:
  host: "*.svc.cluster.local"
  subsets: [{name: v1, labels: {version: nope}}, {name: any, labels: {app: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: front, namespace: front}
spec:
  host: reviews.shop.svc.cluster.local
  exportTo: ["."]
  subsets: [{name: v1, labels: {version: v0}}]
"#;
        let mut store = Store::new(MeshOptions::default());
        store.apply_all(objects(MESH));
        store.apply_all(objects(rules));
        let snap = store.snapshot();
        let count = |cluster: &str, ns: &str| {
            snap.outbound_endpoints(cluster, ns).map(|c| {
                c.endpoints
                    .iter()
                    .map(|l| l.lb_endpoints.len())
                    .sum::<usize>()
            })
        };
        let host = "reviews.shop.svc.cluster.local";
        assert_eq!(count(&format!("outbound|9080||{host}"), "shop"), Some(2));
        assert_eq!(
            count(&format!("outbound|9080|v1|{host}"), "shop"),
            Some(2),
            "both pods are v1"
        );
        assert_eq!(
            count(&format!("outbound|9080|none|{host}"), "shop"),
            Some(0)
        );
        assert_eq!(
            count(&format!("outbound|9080|unknown|{host}"), "shop"),
            Some(0)
        );
        // From `front`, its own rule (exported to itself) wins: v1 means version v0 there.
        assert_eq!(count(&format!("outbound|9080|v1|{host}"), "front"), Some(0));
        // From elsewhere, the service's namespace rule applies before the root one.
        assert_eq!(count(&format!("outbound|9080|v1|{host}"), "other"), Some(2));
        // A subset only the root rule has is not looked up there: the shop rule applies.
        assert_eq!(
            count(&format!("outbound|9080|any|{host}"), "other"),
            Some(0)
        );
        assert_eq!(
            count(&format!("outbound|9999||{host}"), "shop"),
            None,
            "no such port"
        );
        assert_eq!(count("inbound|9080||", "shop"), None);
        let rule = snap.destination_rule_for("ratings.shop.svc.cluster.local", "shop", "shop");
        assert_eq!(
            rule.map(|r| r.metadata.name.as_str()),
            Some("all"),
            "root wildcard"
        );
    }

    #[test]
    fn snapshots_are_shared_across_threads() {
        let mut store = Store::new(MeshOptions::default());
        store.apply_all(objects(MESH));
        let snap = store.snapshot();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = snap.clone();
                std::thread::spawn(move || s.services().len())
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().expect("thread"), 2);
        }
    }
}
