//! What one proxy can see (istiod's `SidecarScope`): the `Sidecar` resource that applies to it,
//! the services its egress hosts import (after `exportTo`), the VirtualServices bound to the
//! mesh for those hosts (short names resolved, delegates merged), and the workload it runs for.
//!
//! ```
//! use mesh_core::model::{MeshOptions, Proxy, Store};
//! use mesh_core::translate::scope::ProxyScope;
//!
//! let objects = mesh_core::load::from_str(r#"
//! apiVersion: v1
//! kind: Service
//! metadata: {name: reviews, namespace: default}
//! spec: {ports: [{name: http, port: 9080}], selector: {app: reviews}}
//! ---
//! apiVersion: v1
//! kind: Service
//! metadata: {name: db, namespace: other}
//! spec: {ports: [{name: tcp, port: 5432}]}
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: Sidecar
//! metadata: {name: default, namespace: default}
//! spec: {egress: [{hosts: ["./*"]}]}
//! "#, "inline.yaml")?;
//! let mut store = Store::new(MeshOptions::default());
//! store.apply_all(objects.into_iter().map(|l| l.object));
//! let snapshot = store.snapshot();
//! let proxy = Proxy::sidecar("productpage-0", "default", "10.244.0.9".parse()?, Default::default(), "cluster.local");
//! let scope = ProxyScope::new(&snapshot, &proxy);
//! let hosts: Vec<&str> = scope.services().iter().map(|s| s.hostname.as_str()).collect();
//! assert_eq!(hosts, ["reviews.default.svc.cluster.local"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use super::cache::FastMap;
use super::delegate::merge_delegates;
use crate::api::networking::{
    CaptureMode, OutboundTrafficPolicyMode, SidecarPort, SidecarSpec, VirtualServiceSpec,
};
use crate::api::{Kind, Object, Resource};
use crate::model::{DEFAULT_NAMESPACE, Proxy};
use crate::model::{Service, Snapshot, Workload};

/// One `ns/host` entry of a Sidecar's egress `hosts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedHost {
    /// `*` (every namespace), `.` (the proxy's), `~` (none), or a namespace.
    pub namespace: String,
    /// `*`, `*.suffix` or an exact host.
    pub host: String,
}

impl ImportedHost {
    /// Parses `ns/host`; a bare host means `*/host`.
    pub fn parse(entry: &str) -> ImportedHost {
        match entry.split_once('/') {
            Some((ns, host)) => ImportedHost {
                namespace: ns.to_string(),
                host: host.to_string(),
            },
            None => ImportedHost {
                namespace: "*".into(),
                host: entry.to_string(),
            },
        }
    }

    /// Whether this entry imports hosts declared in `namespace`, for a proxy in
    /// `proxy_namespace`.
    pub fn namespace_matches(&self, namespace: &str, proxy_namespace: &str) -> bool {
        match self.namespace.as_str() {
            "*" => true,
            "~" => false,
            "." => namespace == proxy_namespace,
            ns => ns == namespace,
        }
    }

    /// Whether this entry imports `host` declared in `namespace`.
    pub fn imports(&self, namespace: &str, host: &str, proxy_namespace: &str) -> bool {
        self.namespace_matches(namespace, proxy_namespace) && host_matches(&self.host, host)
    }
}

/// Whether a host pattern (`*`, `*.suffix`, exact) covers `host`; a wildcard `host` is covered
/// by a pattern that covers all of it.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" || pattern == host {
        return true;
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => match host.strip_prefix('*') {
            Some(hsuffix) => hsuffix.ends_with(suffix),
            None => host.ends_with(suffix),
        },
        None => false,
    }
}

/// Whether an `exportTo` list lets a proxy in `proxy_namespace` see a resource of `namespace`.
pub fn exported_to(export_to: &[String], namespace: &str, proxy_namespace: &str) -> bool {
    export_to.is_empty()
        || export_to.iter().any(|e| match e.as_str() {
            "*" => true,
            "." => namespace == proxy_namespace,
            "~" => false,
            other => other == proxy_namespace,
        })
}

/// A VirtualService as a proxy uses it: hosts and destinations fully qualified, delegates
/// merged into the root.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopedVirtualService {
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The spec, hosts qualified, `http` rules with delegates merged.
    pub spec: VirtualServiceSpec,
    /// A fingerprint of all the above (for caching what is built from it).
    pub fingerprint: u64,
}

/// One egress listener of the proxy's Sidecar (istiod's `IstioEgressListenerWrapper`), or the
/// implicit catch-all (`*/*`) of a proxy without one: its port (none for the catch-all, which
/// takes every service port no listener before it claimed), bind and capture mode, and what it
/// imports. Routes of a port come from the listener [`ProxyScope::rds_listener`] picks.
#[derive(Clone, Debug)]
pub struct EgressListener<'a> {
    /// The port; `None` for the catch-all listener.
    pub port: Option<&'a SidecarPort>,
    /// The address or `unix://` path to bind to; empty for the default.
    pub bind: &'a str,
    /// How traffic reaches the listener.
    pub capture_mode: CaptureMode,
    /// Its `hosts`.
    pub imports: Vec<ImportedHost>,
    /// Its services and VirtualServices, when they differ from the scope's (several
    /// listeners); `None` for the only listener, which sees all the scope sees.
    own: Option<(Vec<&'a Service>, Vec<&'a ScopedVirtualService>)>,
}

/// What one proxy can see.
#[derive(Clone, Debug)]
pub struct ProxyScope<'a> {
    snapshot: &'a Snapshot,
    proxy: &'a Proxy,
    sidecar: Option<&'a Resource<SidecarSpec>>,
    imports: Vec<ImportedHost>,
    egress: Vec<EgressListener<'a>>,
    services: Vec<&'a Service>,
    by_host: FastMap<&'a str, &'a Service>,
    virtual_services: Vec<&'a ScopedVirtualService>,
    workload: Option<&'a Workload>,
}

/// Oldest first, as istiod orders configuration: creation time (unset first), namespace, name.
fn age_key(m: &crate::api::ObjectMeta) -> (Option<&str>, &str, &str) {
    (
        m.creation_timestamp.as_deref(),
        m.namespace.as_str(),
        m.name.as_str(),
    )
}

fn namespace_of(m: &crate::api::ObjectMeta) -> &str {
    if m.namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        &m.namespace
    }
}

/// A host written in a resource of `namespace`: a name without dots is a service there.
pub fn qualify_host(host: &str, namespace: &str, domain_suffix: &str) -> String {
    if host.contains('.') || host == "*" || host.is_empty() {
        host.to_string()
    } else {
        format!("{host}.{namespace}.svc.{domain_suffix}")
    }
}

/// The egress hosts of `proxy` in `snapshot` (those of its Sidecar's egress listeners, `*/*`
/// without one): what [`ProxyScope::imports`] gives, without selecting services and
/// VirtualServices (for deciding cheaply whether a change concerns a proxy).
pub fn egress_imports(snapshot: &Snapshot, proxy: &Proxy) -> Vec<ImportedHost> {
    egress_listeners(sidecar_for(snapshot, proxy))
        .into_iter()
        .flat_map(|e| e.imports)
        .collect()
}

/// The Sidecar that applies to `proxy` (gateways ignore Sidecar resources).
fn sidecar_for<'a>(snapshot: &'a Snapshot, proxy: &Proxy) -> Option<&'a Resource<SidecarSpec>> {
    match proxy.proxy_type {
        crate::model::ProxyType::Sidecar => select_sidecar(snapshot, proxy),
        _ => None,
    }
}

/// The egress listeners of `sidecar`, the implicit catch-all (`*/*`) without one.
fn egress_listeners(sidecar: Option<&Resource<SidecarSpec>>) -> Vec<EgressListener<'_>> {
    match sidecar {
        Some(sc) if !sc.spec.egress.is_empty() => sc
            .spec
            .egress
            .iter()
            .map(|e| EgressListener {
                port: e.port.as_ref(),
                bind: &e.bind,
                capture_mode: e.capture_mode,
                imports: e.hosts.iter().map(|h| ImportedHost::parse(h)).collect(),
                own: None,
            })
            .collect(),
        _ => vec![EgressListener {
            port: None,
            bind: "",
            capture_mode: CaptureMode::Default,
            imports: vec![ImportedHost::parse("*/*")],
            own: None,
        }],
    }
}

impl<'a> ProxyScope<'a> {
    /// The scope of `proxy` in `snapshot`.
    pub fn new(snapshot: &'a Snapshot, proxy: &'a Proxy) -> ProxyScope<'a> {
        let ns = proxy.config_namespace.as_str();
        let sidecar = sidecar_for(snapshot, proxy);
        let mut egress = egress_listeners(sidecar);
        let imports: Vec<ImportedHost> = egress
            .iter()
            .flat_map(|e| e.imports.iter().cloned())
            .collect();
        // One service per hostname: the one in the proxy's namespace, else the first. The
        // candidates sorted by hostname rank (then by position), in one pass over services.
        let ranks = snapshot.host_ranks();
        let mut candidates: Vec<(u32, usize, &Service)> = snapshot
            .services()
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.visible_from(ns)
                    && imports
                        .iter()
                        .any(|i| i.imports(&s.namespace, &s.hostname, ns))
            })
            .map(|(i, s)| (ranks[i], i, s))
            .collect();
        candidates.sort_unstable_by_key(|(rank, i, _)| (*rank, *i));
        let mut services: Vec<&Service> = Vec::with_capacity(candidates.len());
        let mut last_rank = None;
        for (rank, _, s) in candidates {
            if last_rank == Some(rank) {
                let pick = services.last_mut().expect("a service of this rank");
                if pick.namespace != ns && s.namespace == ns {
                    *pick = s;
                }
            } else {
                services.push(s);
                last_rank = Some(rank);
            }
        }
        let mut by_host: FastMap<&str, &Service> = FastMap::default();
        by_host.reserve(services.len());
        by_host.extend(services.iter().map(|s| (s.hostname.as_str(), *s)));
        let virtual_services = select_virtual_services(snapshot, ns, &imports);
        if egress.len() > 1 {
            for e in &mut egress {
                let own: Vec<&Service> = services
                    .iter()
                    .copied()
                    .filter(|s| {
                        e.imports
                            .iter()
                            .any(|i| i.imports(&s.namespace, &s.hostname, ns))
                    })
                    .collect();
                e.own = Some((own, select_virtual_services(snapshot, ns, &e.imports)));
            }
        }
        let workload = find_workload(snapshot.workloads(), proxy);
        ProxyScope {
            snapshot,
            proxy,
            sidecar,
            imports,
            egress,
            services,
            by_host,
            virtual_services,
            workload,
        }
    }

    /// The snapshot.
    pub fn snapshot(&self) -> &'a Snapshot {
        self.snapshot
    }

    /// The proxy.
    pub fn proxy(&self) -> &'a Proxy {
        self.proxy
    }

    /// The `Sidecar` that applies: one in the proxy's namespace whose selector matches it, else
    /// its namespace's without a selector, else the root namespace's.
    pub fn sidecar(&self) -> Option<&'a Resource<SidecarSpec>> {
        self.sidecar
    }

    /// The egress host entries in effect (`*/*` without a Sidecar).
    pub fn imports(&self) -> &[ImportedHost] {
        &self.imports
    }

    /// The services the proxy sees, one per hostname, in hostname order.
    pub fn services(&self) -> &[&'a Service] {
        &self.services
    }

    /// The egress listeners, in the Sidecar's order (the implicit catch-all without one).
    pub fn egress_listeners(&self) -> &[EgressListener<'a>] {
        &self.egress
    }

    /// The services egress listener `i` imports, in hostname order.
    pub fn listener_services(&self, i: usize) -> &[&'a Service] {
        match self.egress.get(i).and_then(|e| e.own.as_ref()) {
            Some((services, _)) => services,
            None => &self.services,
        }
    }

    /// The VirtualServices egress listener `i` imports, oldest first.
    pub fn listener_virtual_services(&self, i: usize) -> &[&'a ScopedVirtualService] {
        match self.egress.get(i).and_then(|e| e.own.as_ref()) {
            Some((_, vs)) => vs,
            None => &self.virtual_services,
        }
    }

    /// The egress listener whose services and VirtualServices make the route configuration
    /// of `port` (istiod's `GetEgressListenerForRDS`): the first with that port, else the
    /// catch-all.
    pub fn rds_listener(&self, port: u32) -> Option<usize> {
        self.egress.iter().position(|e| match e.port {
            None => true,
            Some(p) => p.number == port,
        })
    }

    /// The service for a hostname, if the proxy sees it.
    pub fn service(&self, hostname: &str) -> Option<&'a Service> {
        self.by_host.get(hostname).copied()
    }

    /// The VirtualServices bound to the mesh that the proxy imports, oldest first.
    pub fn virtual_services(&self) -> &[&'a ScopedVirtualService] {
        &self.virtual_services
    }

    /// The workload the proxy runs beside (by pod name or address), if it is in the snapshot.
    pub fn workload(&self) -> Option<&'a Workload> {
        self.workload
    }

    /// The outbound traffic policy: the Sidecar's, else `default` (the mesh's).
    pub fn registry_only(&self, mesh_registry_only: bool) -> bool {
        match self
            .sidecar
            .and_then(|s| s.spec.outbound_traffic_policy.as_ref())
        {
            Some(p) => p.mode == OutboundTrafficPolicyMode::RegistryOnly,
            None => mesh_registry_only,
        }
    }

    /// Objects of `kind` that apply to the proxy's workload, as istiod's
    /// `WorkloadPolicyMatcher::ShouldAttachPolicy` decides: for an ordinary workload, those
    /// in the root namespace without a selector, in its namespace without a selector, and in
    /// its namespace with a selector matching its labels, and never those with a `targetRef`
    /// (they attach to gateways and waypoints); for a Gateway API gateway's workload (label
    /// `gateway.networking.k8s.io/gateway-name`), the policies of its namespace whose
    /// `targetRef(s)` name that Gateway, or, without targets, the selected ones. `selector`
    /// reads an object's label selector, `targets` its `targetRef` and `targetRefs`.
    pub fn policies<T>(
        &self,
        kind: Kind,
        pick: impl Fn(&'a Object) -> Option<&'a Resource<T>>,
        selector: impl Fn(&T) -> Option<&BTreeMap<String, String>>,
        targets: impl Fn(&T) -> Vec<&crate::api::PolicyTargetReference>,
    ) -> Vec<&'a Resource<T>> {
        let ns = self.proxy.config_namespace.as_str();
        let root = self.snapshot.options().root_namespace.as_str();
        let gateway = self
            .proxy
            .labels
            .get("gateway.networking.k8s.io/gateway-name");
        let mut out: Vec<&Resource<T>> = self
            .snapshot
            .objects_of(kind)
            .filter_map(pick)
            .filter(|p| {
                let pns = namespace_of(&p.metadata);
                let refs = targets(&p.spec);
                if !refs.is_empty() {
                    return gateway.is_some_and(|gw| {
                        pns == ns
                            && refs.iter().any(|r| {
                                (r.namespace.is_empty() || r.namespace == ns)
                                    && r.group == "gateway.networking.k8s.io"
                                    && r.kind == "Gateway"
                                    && r.name == *gw
                            })
                    });
                }
                match selector(&p.spec).filter(|s| !s.is_empty()) {
                    None => pns == root || pns == ns,
                    Some(labels) => {
                        pns == ns
                            && labels
                                .iter()
                                .all(|(k, v)| self.proxy.labels.get(k) == Some(v))
                    }
                }
            })
            .collect();
        out.sort_by(|a, b| age_key(&a.metadata).cmp(&age_key(&b.metadata)));
        out
    }
}

fn select_sidecar<'a>(snapshot: &'a Snapshot, proxy: &Proxy) -> Option<&'a Resource<SidecarSpec>> {
    let ns = proxy.config_namespace.as_str();
    let mut sidecars: Vec<&Resource<SidecarSpec>> = snapshot
        .objects_of(Kind::Sidecar)
        .filter_map(|o| match o {
            Object::Sidecar(s) => Some(s),
            _ => None,
        })
        .collect();
    sidecars.sort_by(|a, b| age_key(&a.metadata).cmp(&age_key(&b.metadata)));
    let selector = |s: &Resource<SidecarSpec>| {
        s.spec
            .workload_selector
            .as_ref()
            .map(|w| &w.labels)
            .filter(|l| !l.is_empty())
            .cloned()
    };
    let with_selector = sidecars.iter().find(|s| {
        namespace_of(&s.metadata) == ns
            && selector(s).is_some_and(|l| l.iter().all(|(k, v)| proxy.labels.get(k) == Some(v)))
    });
    if let Some(s) = with_selector {
        return Some(*s);
    }
    let root = snapshot.options().root_namespace.as_str();
    for namespace in [ns, root] {
        if let Some(s) = sidecars
            .iter()
            .find(|s| namespace_of(&s.metadata) == namespace && selector(s).is_none())
        {
            return Some(*s);
        }
    }
    None
}

/// Every VirtualService bound to the mesh (`gateways` empty or `mesh`), hosts and
/// destinations qualified, delegates merged, oldest first. Proxy-independent: a snapshot
/// computes it once ([`Snapshot::mesh_virtual_services`]).
pub fn mesh_virtual_services(snapshot: &Snapshot) -> Vec<ScopedVirtualService> {
    scoped_virtual_services(snapshot, |_, gateways| {
        gateways.is_empty() || gateways.iter().any(|g| g == "mesh")
    })
}

/// The VirtualServices (with hosts) that `bound(namespace, gateways)` accepts, scoped like
/// [`mesh_virtual_services`].
pub fn scoped_virtual_services(
    snapshot: &Snapshot,
    bound: impl Fn(&str, &[String]) -> bool,
) -> Vec<ScopedVirtualService> {
    let suffix = snapshot.options().domain_suffix.as_str();
    let all: Vec<&Resource<VirtualServiceSpec>> = snapshot
        .objects_of(Kind::VirtualService)
        .filter_map(|o| match o {
            Object::VirtualService(v) => Some(v),
            _ => None,
        })
        .collect();
    let delegate_specs: Vec<((String, String), VirtualServiceSpec)> = all
        .iter()
        .filter(|v| v.spec.hosts.is_empty())
        .map(|v| {
            let ns = namespace_of(&v.metadata).to_string();
            let mut spec = v.spec.clone();
            qualify_destinations(&mut spec, &ns, suffix);
            ((ns, v.metadata.name.clone()), spec)
        })
        .collect();
    let delegates: BTreeMap<(String, String), &VirtualServiceSpec> =
        delegate_specs.iter().map(|(k, v)| (k.clone(), v)).collect();
    let mut out: Vec<(&Resource<VirtualServiceSpec>, ScopedVirtualService)> = all
        .iter()
        .filter(|v| !v.spec.hosts.is_empty())
        .filter(|v| bound(namespace_of(&v.metadata), &v.spec.gateways))
        .map(|v| {
            let namespace = namespace_of(&v.metadata).to_string();
            let mut spec = v.spec.clone();
            for h in &mut spec.hosts {
                *h = qualify_host(h, &namespace, suffix);
            }
            qualify_destinations(&mut spec, &namespace, suffix);
            spec.http = merge_delegates(&spec.http, &namespace, &delegates);
            let fingerprint = super::cache::Fingerprint::default()
                .str(&v.metadata.name)
                .str(&namespace)
                .json(&spec)
                .value();
            (
                *v,
                ScopedVirtualService {
                    name: v.metadata.name.clone(),
                    namespace,
                    spec,
                    fingerprint,
                },
            )
        })
        .collect();
    out.sort_by(|a, b| age_key(&a.0.metadata).cmp(&age_key(&b.0.metadata)));
    out.into_iter().map(|(_, s)| s).collect()
}

/// The mesh VirtualServices a proxy in `proxy_namespace` sees: exported to it, and imported by
/// one of its egress hosts.
fn select_virtual_services<'a>(
    snapshot: &'a Snapshot,
    proxy_namespace: &str,
    imports: &[ImportedHost],
) -> Vec<&'a ScopedVirtualService> {
    snapshot
        .mesh_virtual_services()
        .iter()
        .filter(|v| exported_to(&v.spec.export_to, &v.namespace, proxy_namespace))
        .filter(|v| {
            v.spec.hosts.iter().any(|h| {
                imports.iter().any(|i| {
                    i.namespace_matches(&v.namespace, proxy_namespace)
                        && (host_matches(&i.host, h) || host_matches(h, &i.host))
                })
            })
        })
        .collect()
}

/// Qualifies the short destination hosts of every rule with the VirtualService's namespace.
fn qualify_destinations(spec: &mut VirtualServiceSpec, namespace: &str, suffix: &str) {
    let q = |d: &mut crate::api::networking::Destination| {
        d.host = qualify_host(&d.host, namespace, suffix);
    };
    for rule in &mut spec.http {
        rule.route
            .iter_mut()
            .filter_map(|r| r.destination.as_mut())
            .for_each(q);
        rule.mirror.iter_mut().for_each(q);
        rule.mirrors
            .iter_mut()
            .filter_map(|m| m.destination.as_mut())
            .for_each(q);
    }
    for rule in &mut spec.tcp {
        rule.route
            .iter_mut()
            .filter_map(|r| r.destination.as_mut())
            .for_each(q);
    }
    for rule in &mut spec.tls {
        rule.route
            .iter_mut()
            .filter_map(|r| r.destination.as_mut())
            .for_each(q);
    }
}

/// The proxy's workload: same namespace, and the pod name from its id or one of its addresses.
fn find_workload<'a>(workloads: &'a [Workload], proxy: &Proxy) -> Option<&'a Workload> {
    let pod = proxy
        .metadata
        .name
        .clone()
        .or_else(|| proxy.id.split('.').next().map(str::to_string))
        .unwrap_or_default();
    let ips: BTreeSet<String> = proxy.ip_addresses.iter().map(|ip| ip.to_string()).collect();
    workloads
        .iter()
        .filter(|w| w.namespace == proxy.config_namespace)
        .find(|w| w.name == pod)
        .or_else(|| {
            workloads
                .iter()
                .filter(|w| w.namespace == proxy.config_namespace)
                .find(|w| w.addresses.iter().any(|a| ips.contains(a)))
        })
}
