//! Configuration analysis, as `istioctl analyze` does it: analyzers over a [`Snapshot`] report
//! messages with Istio's codes, levels and wording.
//!
//! | code | level | analyzer |
//! | --- | --- | --- |
//! | IST0101 ReferencedResourceNotFound | Error | VirtualService destination and mirror hosts, gateways, subsets (host+subset in destinationrule) |
//! | IST0106 SchemaValidationError | Error | every object, with istiod's webhook rules |
//! | IST0109 ConflictingMeshGatewayVirtualServiceHosts | Error | VirtualServices bound to the mesh sharing a host |
//! | IST0118 PortNameIsNotUnderNamingConvention | Info | Service ports whose protocol cannot be told from the name or `appProtocol` |
//!
//! ```
//! use mesh_core::analyze::{analyze, Level};
//! use mesh_core::model::{MeshOptions, Store};
//!
//! let objects = mesh_core::load::from_str(r#"
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: reviews, namespace: default}
//! spec:
//!   hosts: [reviews]
//!   http: [{route: [{destination: {host: reviews2}}]}]
//! "#, "vs.yaml")?;
//! let mut store = Store::new(MeshOptions::default());
//! store.apply_all(objects.into_iter().map(|l| l.object));
//! let messages = analyze(&store.snapshot());
//! assert_eq!(messages[0].code, "IST0101");
//! assert_eq!(messages[0].level, Level::Error);
//! assert_eq!(messages[0].message, r#"Referenced host not found: "reviews2""#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use crate::api::networking::{Destination, VirtualServiceSpec};
use crate::api::{Kind, Object, Resource};
use crate::model::{ObjectKey, Protocol, Snapshot};
use crate::translate::scope::{host_matches, qualify_host};

/// A message's severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Level {
    /// Must be fixed.
    Error,
    /// Probably wrong.
    Warning,
    /// Worth knowing.
    Info,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Error => "Error",
            Level::Warning => "Warning",
            Level::Info => "Info",
        })
    }
}

/// One finding about one object.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    /// Istio's code (`IST0101`).
    pub code: &'static str,
    /// Istio's name for the message (`ReferencedResourceNotFound`).
    pub name: &'static str,
    /// Severity.
    pub level: Level,
    /// The text, in Istio's wording.
    pub message: String,
    /// The object: kind, namespace, name.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub object: String,
}

impl Message {
    /// The object key the message is about.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.object.clone(),
        }
    }
}

/// An analyzer: its name, the codes it reports and what it checks.
#[derive(Clone, Copy, Debug)]
pub struct Analyzer {
    /// Istio's analyzer name.
    pub name: &'static str,
    /// The codes it may report.
    pub codes: &'static [&'static str],
    /// What it checks.
    pub description: &'static str,
    run: fn(&Snapshot, &mut Vec<Message>),
}

/// Every analyzer, in the order they run.
pub const ANALYZERS: &[Analyzer] = &[
    Analyzer {
        name: "schema.ValidationAnalyzer",
        codes: &["IST0106"],
        description: "Every object passes istiod's validation",
        run: schema,
    },
    Analyzer {
        name: "virtualservice.DestinationHostAnalyzer",
        codes: &["IST0101"],
        description: "VirtualService destination and mirror hosts exist",
        run: destination_hosts,
    },
    Analyzer {
        name: "virtualservice.DestinationRuleAnalyzer",
        codes: &["IST0101"],
        description: "VirtualService destination subsets exist in a DestinationRule",
        run: destination_subsets,
    },
    Analyzer {
        name: "virtualservice.GatewayAnalyzer",
        codes: &["IST0101"],
        description: "VirtualService gateways exist",
        run: gateways,
    },
    Analyzer {
        name: "virtualservice.ConflictingMeshGatewayHostsAnalyzer",
        codes: &["IST0109"],
        description: "VirtualServices bound to the mesh do not share hosts",
        run: conflicting_hosts,
    },
    Analyzer {
        name: "service.PortNameAnalyzer",
        codes: &["IST0118"],
        description: "Service port names (or appProtocol) tell their protocol",
        run: port_names,
    },
];

/// Runs every analyzer; messages sorted by object, then code.
pub fn analyze(snapshot: &Snapshot) -> Vec<Message> {
    analyze_with(snapshot, ANALYZERS)
}

/// Runs the given analyzers only.
pub fn analyze_with(snapshot: &Snapshot, analyzers: &[Analyzer]) -> Vec<Message> {
    let mut out = Vec::new();
    for a in analyzers {
        (a.run)(snapshot, &mut out);
    }
    out.sort_by(|a, b| (a.key(), a.code, &a.message).cmp(&(b.key(), b.code, &b.message)));
    out.dedup();
    out
}

fn namespace_of(ns: &str) -> &str {
    if ns.is_empty() {
        crate::model::DEFAULT_NAMESPACE
    } else {
        ns
    }
}

fn message<S>(
    r: &Resource<S>,
    kind: &str,
    (code, name, level): (&'static str, &'static str, Level),
    text: String,
) -> Message {
    Message {
        code,
        name,
        level,
        message: text,
        kind: kind.to_string(),
        namespace: namespace_of(&r.metadata.namespace).to_string(),
        object: r.metadata.name.clone(),
    }
}

const NOT_FOUND: (&str, &str, Level) = ("IST0101", "ReferencedResourceNotFound", Level::Error);

fn virtual_services(snapshot: &Snapshot) -> impl Iterator<Item = &Resource<VirtualServiceSpec>> {
    snapshot
        .objects_of(Kind::VirtualService)
        .filter_map(|o| match o {
            Object::VirtualService(v) => Some(v),
            _ => None,
        })
}

fn schema(snapshot: &Snapshot, out: &mut Vec<Message>) {
    for kind in Kind::ALL {
        for o in snapshot.objects_of(*kind) {
            let report = crate::validate::validate(o);
            let meta = o.metadata();
            for e in &report.errors {
                out.push(Message {
                    code: "IST0106",
                    name: "SchemaValidationError",
                    level: Level::Error,
                    message: format!("Schema validation error: {}: {}", e.path, e.message),
                    kind: o.kind_name().to_string(),
                    namespace: namespace_of(&meta.namespace).to_string(),
                    object: meta.name.clone(),
                });
            }
        }
    }
}

/// The service a (qualified) host names for a VirtualService of `namespace` exported to
/// `export_to` (`GetDestinationHost`): a Kubernetes Service or ServiceEntry host, exactly or
/// through a ServiceEntry's wildcard, visible where the VirtualService is.
fn destination_service<'a>(
    snapshot: &'a Snapshot,
    host: &str,
    namespace: &str,
    export_to: &[String],
) -> Option<&'a crate::model::Service> {
    let visible = |s: &crate::model::Service| {
        if export_to.is_empty() {
            return s.visible_from(namespace);
        }
        export_to.iter().any(|e| match e.as_str() {
            "*" => s.export_to.is_empty() || s.export_to.iter().any(|x| x == "*"),
            "." => s.visible_from(namespace),
            other => s.visible_from(other),
        })
    };
    snapshot
        .services_for_host(host)
        .find(|s| visible(s))
        .or_else(|| {
            snapshot.services().iter().find(|s| {
                s.hostname.starts_with('*') && visible(s) && host_matches(&s.hostname, host)
            })
        })
}

/// Every destination of a VirtualService's routes (`http`, `tcp`, `tls`), and the mirror ones.
fn destinations(spec: &VirtualServiceSpec) -> (Vec<&Destination>, Vec<&Destination>) {
    static EMPTY: std::sync::OnceLock<Destination> = std::sync::OnceLock::new();
    let empty = EMPTY.get_or_init(Destination::default);
    let mut routes = Vec::new();
    let mut mirrors = Vec::new();
    for r in &spec.http {
        // A route entry without a destination names the empty host.
        routes.extend(
            r.route
                .iter()
                .map(|d| d.destination.as_ref().unwrap_or(empty)),
        );
        mirrors.extend(r.mirror.iter());
        mirrors.extend(r.mirrors.iter().filter_map(|m| m.destination.as_ref()));
    }
    for r in &spec.tcp {
        routes.extend(r.route.iter().filter_map(|d| d.destination.as_ref()));
    }
    for r in &spec.tls {
        routes.extend(r.route.iter().filter_map(|d| d.destination.as_ref()));
    }
    (routes, mirrors)
}

fn destination_hosts(snapshot: &Snapshot, out: &mut Vec<Message>) {
    let suffix = snapshot.options().domain_suffix.clone();
    for vs in virtual_services(snapshot) {
        let ns = namespace_of(&vs.metadata.namespace);
        let (routes, mirrors) = destinations(&vs.spec);
        for (what, list) in [("host", routes), ("mirror host", mirrors)] {
            for d in list {
                let host = qualify_host(&d.host, ns, &suffix);
                match destination_service(snapshot, &host, ns, &vs.spec.export_to) {
                    None => out.push(message(
                        vs,
                        "VirtualService",
                        NOT_FOUND,
                        format!("Referenced {what} not found: {:?}", d.host),
                    )),
                    // A port the service does not have (`checkServiceEntryPorts`).
                    Some(s) => {
                        if let Some(p) = d.port.as_ref().filter(|p| p.number > 0)
                            && !s.ports.is_empty()
                            && s.port(p.number).is_none()
                        {
                            out.push(message(
                                vs,
                                "VirtualService",
                                NOT_FOUND,
                                format!(
                                    "Referenced host:port not found: {:?}",
                                    format!("{}:{}", d.host, p.number)
                                ),
                            ));
                        }
                    }
                }
            }
        }
    }
}

fn destination_subsets(snapshot: &Snapshot, out: &mut Vec<Message>) {
    let suffix = snapshot.options().domain_suffix.clone();
    for vs in virtual_services(snapshot) {
        let ns = namespace_of(&vs.metadata.namespace);
        let (routes, mirrors) = destinations(&vs.spec);
        for d in routes
            .into_iter()
            .chain(mirrors)
            .filter(|d| !d.subset.is_empty())
        {
            let host = qualify_host(&d.host, ns, &suffix);
            let service_ns = snapshot
                .services_for_host(&host)
                .next()
                .map_or(ns.to_string(), |s| s.namespace.clone());
            let found = snapshot
                .destination_rule_for(&host, &service_ns, ns)
                .is_some_and(|dr| dr.spec.subsets.iter().any(|s| s.name == d.subset));
            if !found {
                out.push(message(
                    vs,
                    "VirtualService",
                    NOT_FOUND,
                    format!(
                        "Referenced host+subset in destinationrule not found: {:?}",
                        format!("{}+{}", d.host, d.subset)
                    ),
                ));
            }
        }
    }
}

fn gateways(snapshot: &Snapshot, out: &mut Vec<Message>) {
    let known: std::collections::BTreeSet<String> = snapshot
        .objects_of(Kind::Gateway)
        .filter_map(|o| match o {
            Object::Gateway(g) => Some(format!(
                "{}/{}",
                namespace_of(&g.metadata.namespace),
                g.metadata.name
            )),
            _ => None,
        })
        .collect();
    for vs in virtual_services(snapshot) {
        let ns = namespace_of(&vs.metadata.namespace);
        let mut listed: Vec<&String> = vs.spec.gateways.iter().collect();
        for r in &vs.spec.http {
            listed.extend(r.r#match.iter().flat_map(|m| m.gateways.iter()));
        }
        for g in listed.into_iter().filter(|g| g.as_str() != "mesh") {
            let full = if g.contains('/') {
                g.clone()
            } else {
                format!("{ns}/{g}")
            };
            if !known.contains(&full) {
                out.push(message(
                    vs,
                    "VirtualService",
                    NOT_FOUND,
                    format!("Referenced gateway not found: {full:?}"),
                ));
            }
        }
    }
}

/// `ConflictingMeshGatewayHostsAnalyzer`: VirtualServices bound to the mesh, keyed by the
/// namespaces they are exported to (`*` for all) and their qualified hosts; a key held by more
/// than one (a namespace-scoped key also collides with matching hosts exported everywhere)
/// reports each of them once.
fn conflicting_hosts(snapshot: &Snapshot, out: &mut Vec<Message>) {
    let suffix = snapshot.options().domain_suffix.clone();
    let mut keyed: BTreeMap<(String, String), Vec<&Resource<VirtualServiceSpec>>> = BTreeMap::new();
    for vs in virtual_services(snapshot)
        .filter(|v| v.spec.gateways.is_empty() || v.spec.gateways.iter().any(|g| g == "mesh"))
    {
        let ns = namespace_of(&vs.metadata.namespace);
        let scopes: std::collections::BTreeSet<String> =
            if vs.spec.export_to.is_empty() || vs.spec.export_to.iter().any(|e| e == "*") {
                ["*".to_string()].into()
            } else {
                vs.spec
                    .export_to
                    .iter()
                    .map(|e| if e == "." { ns.to_string() } else { e.clone() })
                    .collect()
            };
        for scope in scopes {
            for h in &vs.spec.hosts {
                keyed
                    .entry((scope.clone(), qualify_host(h, ns, &suffix)))
                    .or_default()
                    .push(vs);
            }
        }
    }
    let mut reported = std::collections::BTreeSet::new();
    for ((scope, host), list) in &keyed {
        let mut list = list.clone();
        if scope != "*" {
            for ((other_scope, other_host), others) in &keyed {
                if other_scope == "*" && host_matches(other_host, host) {
                    list.extend(others.iter().copied());
                }
            }
        }
        if list.len() < 2 {
            continue;
        }
        let mut names: Vec<String> = list
            .iter()
            .map(|v| {
                format!(
                    "{}/{}",
                    namespace_of(&v.metadata.namespace),
                    v.metadata.name
                )
            })
            .collect();
        names.sort();
        let names = names.join(",");
        for vs in list {
            let id = (
                namespace_of(&vs.metadata.namespace).to_string(),
                vs.metadata.name.clone(),
            );
            if !reported.insert(id) {
                continue;
            }
            out.push(message(
                vs,
                "VirtualService",
                ("IST0109", "ConflictingMeshGatewayVirtualServiceHosts", Level::Error),
                format!(
                    "The VirtualServices {names} associated with mesh gateway define the same host {scope}/{host} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource."
                ),
            ));
        }
    }
}

fn port_names(snapshot: &Snapshot, out: &mut Vec<Message>) {
    for o in snapshot.objects_of(Kind::Service) {
        let Object::Service(svc) = o else { continue };
        let ns = namespace_of(&svc.metadata.namespace);
        if ns == "kube-system" {
            continue;
        }
        for p in &svc.spec.ports {
            if p.protocol.eq_ignore_ascii_case("UDP") || p.app_protocol.is_some() {
                continue;
            }
            let prefix = p.name.split('-').next().unwrap_or_default();
            if Protocol::parse(prefix) != Protocol::Unsupported {
                continue;
            }
            let target = match &p.target_port {
                Some(crate::api::k8s::IntOrString::Int(n)) => n.to_string(),
                Some(crate::api::k8s::IntOrString::String(s)) => s.clone(),
                None => p.port.to_string(),
            };
            out.push(Message {
                code: "IST0118",
                name: "PortNameIsNotUnderNamingConvention",
                level: Level::Info,
                message: format!(
                    "Port name {} (port: {}, targetPort: {}) doesn't follow the naming convention of Istio port.",
                    p.name, p.port, target
                ),
                kind: "Service".into(),
                namespace: ns.to_string(),
                object: svc.metadata.name.clone(),
            });
        }
    }
}
