//! Services as istiod's registry holds them, from Kubernetes Services and ServiceEntries.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::api::Resource;
use crate::api::k8s;
use crate::api::networking::{ServiceEntryLocation, ServiceEntryResolution, ServiceEntrySpec};

use super::{Protocol, Workload};

/// The address istiod gives a service that has none (headless, ExternalName, a ServiceEntry
/// without `addresses`).
pub const UNSPECIFIED_IP: &str = "0.0.0.0";

/// The namespace of an object whose manifest names none (`kubectl apply` without `-n`).
pub const DEFAULT_NAMESPACE: &str = "default";

pub(crate) fn namespace_or_default(ns: &str) -> String {
    if ns.is_empty() { DEFAULT_NAMESPACE } else { ns }.to_string()
}

/// The annotation that sets a Kubernetes Service's `exportTo`.
pub const EXPORT_TO_ANNOTATION: &str = "networking.istio.io/exportTo";

/// How a client finds a service's endpoints (`model.Resolution` in istiod).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    /// The proxy balances over known endpoints (EDS): Kubernetes ClusterIP services and
    /// `STATIC` ServiceEntries.
    ClientSideLb,
    /// DNS, every address used (`STRICT_DNS`).
    DnsLb,
    /// DNS, one address at a time (`LOGICAL_DNS`).
    DnsRoundRobinLb,
    /// The connection's original destination (`ORIGINAL_DST`): headless services and
    /// `NONE` ServiceEntries.
    Passthrough,
    /// Resolved per request by a dynamic forward proxy (`DYNAMIC_DNS`).
    Dynamic,
}

/// Where a service came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Registry {
    /// A Kubernetes Service.
    Kubernetes,
    /// A ServiceEntry.
    External,
}

/// A port of a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Port {
    /// The port name (may be empty for a single-port Kubernetes Service).
    pub name: String,
    /// The port number clients use.
    pub number: u32,
    /// What it carries.
    pub protocol: Protocol,
    /// The port on the workload that receives the traffic.
    pub target: TargetPort,
}

/// Where a service port's traffic lands on a workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum TargetPort {
    /// The service port number itself.
    #[default]
    Same,
    /// This port number.
    Number(u32),
    /// The container port with this name (Kubernetes `targetPort: http`).
    Name(String),
}

/// A service in the mesh registry: one hostname with its ports.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// The fully qualified hostname (`reviews.default.svc.cluster.local`, or a ServiceEntry
    /// host as written).
    pub hostname: String,
    /// The namespace of the object it came from ([`DEFAULT_NAMESPACE`] when it names none).
    pub namespace: String,
    /// The name of the object it came from.
    pub object_name: String,
    /// The virtual address (an IP, or a CIDR for ServiceEntries), or [`UNSPECIFIED_IP`].
    pub address: String,
    /// More VIPs (dual-stack Kubernetes Services).
    pub extra_addresses: Vec<String>,
    /// Ports, in declaration order.
    pub ports: Vec<Port>,
    /// How endpoints are found.
    pub resolution: Resolution,
    /// Whether the service is outside the mesh (no sidecars: no auto mTLS).
    pub mesh_external: bool,
    /// Namespaces that may see it (`.`, `*`, `~` or names); empty means the mesh default.
    pub export_to: Vec<String>,
    /// Workloads with all these labels back the service.
    pub selector: BTreeMap<String, String>,
    /// Identities its workloads run as (ServiceEntry `subjectAltNames`).
    pub service_accounts: Vec<String>,
    /// The object's labels.
    pub labels: BTreeMap<String, String>,
    /// For Kubernetes `ExternalName` services, the DNS name traffic goes to.
    pub external_name: Option<String>,
    /// Where it came from.
    pub registry: Registry,
    /// A ServiceEntry's inline `endpoints`, as workloads named `<entry>-<index>`.
    pub inline_endpoints: Vec<Workload>,
}

impl Service {
    /// The service for a Kubernetes Service object, in a mesh whose DNS suffix is
    /// `domain_suffix` (`cluster.local`). `clusterIP: None` is headless (passthrough); a
    /// manifest without a `clusterIP` keeps [`UNSPECIFIED_IP`] until the caller allocates one,
    /// and one without a namespace is in [`DEFAULT_NAMESPACE`].
    ///
    /// ```
    /// use mesh_core::model::{Protocol, Resolution, Service};
    ///
    /// let svc: mesh_core::api::k8s::Service = serde_json::from_value(serde_json::json!({
    ///     "apiVersion": "v1", "kind": "Service",
    ///     "metadata": {"name": "reviews", "namespace": "default"},
    ///     "spec": {"clusterIP": "10.96.0.20", "selector": {"app": "reviews"},
    ///              "ports": [{"name": "http", "port": 9080}]}
    /// }))?;
    /// let s = Service::from_kubernetes(&svc, "cluster.local");
    /// assert_eq!(s.hostname, "reviews.default.svc.cluster.local");
    /// assert_eq!((s.address.as_str(), s.resolution), ("10.96.0.20", Resolution::ClientSideLb));
    /// assert_eq!(s.ports[0].protocol, Protocol::Http);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_kubernetes(svc: &k8s::Service, domain_suffix: &str) -> Service {
        let meta = &svc.metadata;
        let spec = &svc.spec;
        let namespace = namespace_or_default(&meta.namespace);
        let ports = spec
            .ports
            .iter()
            .map(|p| Port {
                name: p.name.clone(),
                number: u32::from(p.port),
                protocol: Protocol::from_service_port(
                    u32::from(p.port),
                    &p.name,
                    Some(p.protocol.as_str()).filter(|s| !s.is_empty()),
                    p.app_protocol.as_deref(),
                ),
                target: match &p.target_port {
                    None => TargetPort::Same,
                    Some(k8s::IntOrString::Int(n)) => {
                        u32::try_from(*n).map_or(TargetPort::Same, TargetPort::Number)
                    }
                    Some(k8s::IntOrString::String(s)) => match s.parse::<u32>() {
                        Ok(n) => TargetPort::Number(n),
                        Err(_) => TargetPort::Name(s.clone()),
                    },
                },
            })
            .collect();
        // `None` is headless. An empty clusterIP only happens in manifests that never reached an
        // API server: the service still has a VIP, just not one allocated yet.
        let headless = spec.cluster_ip == "None";
        let external = spec.r#type == "ExternalName" && !spec.external_name.is_empty();
        let (address, resolution) = if external {
            (UNSPECIFIED_IP.to_string(), Resolution::DnsLb)
        } else if headless {
            (UNSPECIFIED_IP.to_string(), Resolution::Passthrough)
        } else if spec.cluster_ip.is_empty() {
            (UNSPECIFIED_IP.to_string(), Resolution::ClientSideLb)
        } else {
            (spec.cluster_ip.clone(), Resolution::ClientSideLb)
        };
        let extra_addresses = spec
            .cluster_ips
            .iter()
            .filter(|ip| **ip != address && ip.as_str() != "None")
            .cloned()
            .collect();
        let export_to = meta
            .annotations
            .get(EXPORT_TO_ANNOTATION)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        Service {
            hostname: format!("{}.{namespace}.svc.{domain_suffix}", meta.name),
            namespace,
            object_name: meta.name.clone(),
            address,
            extra_addresses,
            ports,
            resolution,
            mesh_external: external,
            export_to,
            selector: spec.selector.clone(),
            service_accounts: Vec::new(),
            labels: meta.labels.clone(),
            external_name: external.then(|| spec.external_name.clone()),
            registry: Registry::Kubernetes,
            inline_endpoints: Vec::new(),
        }
    }

    /// The services a ServiceEntry declares: one per host and address, as istiod builds
    /// them (a `/32` or `/128` CIDR becomes a plain IP; no addresses gives
    /// [`UNSPECIFIED_IP`]; entries that are neither an IP nor a CIDR are skipped, as
    /// validation reports them).
    ///
    /// ```
    /// use mesh_core::api::{Resource, networking::ServiceEntrySpec};
    /// use mesh_core::model::{Protocol, Resolution, Service};
    ///
    /// let se: Resource<ServiceEntrySpec> = serde_json::from_value(serde_json::json!({
    ///     "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
    ///     "metadata": {"name": "google", "namespace": "default"},
    ///     "spec": {"hosts": ["www.google.com"], "resolution": "DNS", "location": "MESH_EXTERNAL",
    ///              "ports": [{"number": 443, "name": "https", "protocol": "TLS"}]}
    /// }))?;
    /// let services = Service::from_service_entry(&se);
    /// assert_eq!(services.len(), 1);
    /// assert_eq!(services[0].resolution, Resolution::DnsLb);
    /// assert_eq!(services[0].ports[0].protocol, Protocol::Tls);
    /// assert!(services[0].mesh_external);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn from_service_entry(se: &Resource<ServiceEntrySpec>) -> Vec<Service> {
        let spec = &se.spec;
        let resolution = match spec.resolution {
            ServiceEntryResolution::None => Resolution::Passthrough,
            ServiceEntryResolution::Static => Resolution::ClientSideLb,
            ServiceEntryResolution::Dns => Resolution::DnsLb,
            ServiceEntryResolution::DnsRoundRobin => Resolution::DnsRoundRobinLb,
            ServiceEntryResolution::DynamicDns => Resolution::Dynamic,
        };
        let ports: Vec<Port> = spec
            .ports
            .iter()
            .map(|p| Port {
                name: p.name.clone(),
                number: p.number,
                protocol: Protocol::parse(&p.protocol),
                target: if p.target_port > 0 {
                    TargetPort::Number(p.target_port)
                } else {
                    TargetPort::Same
                },
            })
            .collect();
        let addresses: Vec<String> = if spec.addresses.is_empty() {
            vec![UNSPECIFIED_IP.to_string()]
        } else {
            spec.addresses
                .iter()
                .filter_map(|a| normalize_address(a))
                .collect()
        };
        let selector = spec
            .workload_selector
            .as_ref()
            .map(|s| s.labels.clone())
            .unwrap_or_default();
        let namespace = namespace_or_default(&se.metadata.namespace);
        let inline_endpoints: Vec<Workload> = spec
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Workload::from_entry_spec(e, &format!("{}-{i}", se.metadata.name), &namespace)
            })
            .collect();
        let mut out = Vec::with_capacity(spec.hosts.len() * addresses.len());
        for host in &spec.hosts {
            for address in &addresses {
                out.push(Service {
                    hostname: host.clone(),
                    namespace: namespace.clone(),
                    object_name: se.metadata.name.clone(),
                    address: address.clone(),
                    extra_addresses: Vec::new(),
                    ports: ports.clone(),
                    resolution,
                    mesh_external: spec.location == ServiceEntryLocation::MeshExternal,
                    export_to: spec.export_to.clone(),
                    selector: selector.clone(),
                    service_accounts: spec.subject_alt_names.clone(),
                    labels: se.metadata.labels.clone(),
                    external_name: None,
                    registry: Registry::External,
                    inline_endpoints: inline_endpoints.clone(),
                });
            }
        }
        out
    }

    /// The port with this number.
    pub fn port(&self, number: u32) -> Option<&Port> {
        self.ports.iter().find(|p| p.number == number)
    }

    /// Whether a proxy in `namespace` may see this service (`exportTo`: empty or `*` is
    /// everyone, `.` its own namespace, `~` no one, otherwise the namespaces listed).
    pub fn visible_from(&self, namespace: &str) -> bool {
        self.export_to.is_empty()
            || self.export_to.iter().any(|e| match e.as_str() {
                "*" => true,
                "." => namespace == self.namespace,
                "~" => false,
                ns => ns == namespace,
            })
    }

    /// Whether the service has a real virtual address (not [`UNSPECIFIED_IP`]).
    pub fn has_vip(&self) -> bool {
        self.address != UNSPECIFIED_IP
    }
}

/// An IP stays; a CIDR stays, or becomes its address when it covers a single host; anything
/// else is dropped.
fn normalize_address(a: &str) -> Option<String> {
    if a.parse::<IpAddr>().is_ok() {
        return Some(a.to_string());
    }
    let (ip, bits) = a.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let full = if ip.is_ipv4() { 32 } else { 128 };
    match bits {
        b if b == full => Some(ip.to_string()),
        b if b < full => Some(a.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn k8s_service(v: serde_json::Value) -> k8s::Service {
        serde_json::from_value(v).expect("a Service")
    }

    #[test]
    fn kubernetes_services() {
        let svc = k8s_service(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "db", "namespace": "prod",
                         "annotations": {"networking.istio.io/exportTo": ". , istio-system"}},
            "spec": {"clusterIP": "10.0.0.9", "clusterIPs": ["10.0.0.9", "fd00::9"],
                     "ports": [{"name": "tcp-pg", "port": 5432},
                               {"name": "web", "port": 8080, "appProtocol": "kubernetes.io/h2c"},
                               {"name": "dns", "port": 53, "protocol": "UDP"},
                               {"port": 3306}]}
        }));
        let s = Service::from_kubernetes(&svc, "mesh.internal");
        assert_eq!(s.hostname, "db.prod.svc.mesh.internal");
        assert_eq!(s.extra_addresses, vec!["fd00::9".to_string()]);
        assert_eq!(
            s.export_to,
            vec![".".to_string(), "istio-system".to_string()]
        );
        let protocols: Vec<Protocol> = s.ports.iter().map(|p| p.protocol).collect();
        assert_eq!(
            protocols,
            [Protocol::Tcp, Protocol::Http2, Protocol::Udp, Protocol::Tcp]
        );
        assert!(s.has_vip() && !s.mesh_external);
        assert_eq!(s.port(8080).map(|p| p.name.as_str()), Some("web"));

        let headless = k8s_service(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kafka", "namespace": "prod"},
            "spec": {"clusterIP": "None", "ports": [{"name": "tcp", "port": 9092}]}
        }));
        let h = Service::from_kubernetes(&headless, "cluster.local");
        assert_eq!(
            (h.address.as_str(), h.resolution),
            (UNSPECIFIED_IP, Resolution::Passthrough)
        );

        let ext = k8s_service(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "ext", "namespace": "prod"},
            "spec": {"type": "ExternalName", "externalName": "api.example.com"}
        }));
        let e = Service::from_kubernetes(&ext, "cluster.local");
        assert_eq!(e.resolution, Resolution::DnsLb);
        assert!(e.mesh_external && !e.has_vip());
        assert_eq!(e.external_name.as_deref(), Some("api.example.com"));
    }

    #[test]
    fn service_entries_make_one_service_per_host_and_address() {
        let se: Resource<ServiceEntrySpec> = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
            "metadata": {"name": "dbs", "namespace": "data"},
            "spec": {"hosts": ["a.db.internal", "b.db.internal"],
                     "addresses": ["10.1.0.0/16", "192.168.1.7/32", "fd00::1/128"],
                     "location": "MESH_INTERNAL", "resolution": "STATIC",
                     "ports": [{"number": 5432, "name": "pg", "protocol": "TCP"},
                               {"number": 8080, "name": "admin"}],
                     "exportTo": ["."], "subjectAltNames": ["spiffe://cluster.local/ns/data/sa/db"],
                     "workloadSelector": {"labels": {"app": "db"}}}
        }))
        .expect("a ServiceEntry");
        let services = Service::from_service_entry(&se);
        let pairs: Vec<(&str, &str)> = services
            .iter()
            .map(|s| (s.hostname.as_str(), s.address.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a.db.internal", "10.1.0.0/16"),
                ("a.db.internal", "192.168.1.7"),
                ("a.db.internal", "fd00::1"),
                ("b.db.internal", "10.1.0.0/16"),
                ("b.db.internal", "192.168.1.7"),
                ("b.db.internal", "fd00::1"),
            ]
        );
        let s = &services[0];
        assert_eq!(s.resolution, Resolution::ClientSideLb);
        assert!(!s.mesh_external);
        assert_eq!(s.registry, Registry::External);
        assert_eq!(s.selector["app"], "db");
        // A ServiceEntry port without a protocol is sniffed.
        assert_eq!(s.ports[1].protocol, Protocol::Unsupported);
        assert_eq!(s.service_accounts.len(), 1);
    }

    #[test]
    fn service_entry_resolutions_and_unaddressed_hosts() {
        for (resolution, want) in [
            ("NONE", Resolution::Passthrough),
            ("STATIC", Resolution::ClientSideLb),
            ("DNS", Resolution::DnsLb),
            ("DNS_ROUND_ROBIN", Resolution::DnsRoundRobinLb),
            ("DYNAMIC_DNS", Resolution::Dynamic),
        ] {
            let se: Resource<ServiceEntrySpec> = serde_json::from_value(json!({
                "apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
                "metadata": {"name": "x", "namespace": "ns"},
                "spec": {"hosts": ["x.example.com"], "resolution": resolution,
                         "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]}
            }))
            .expect("a ServiceEntry");
            let s = Service::from_service_entry(&se);
            assert_eq!(s.len(), 1);
            assert_eq!(s[0].resolution, want, "{resolution}");
            assert_eq!(s[0].address, UNSPECIFIED_IP);
            assert!(s[0].mesh_external, "MESH_EXTERNAL is the default");
        }
    }

    #[test]
    fn addresses_normalize() {
        assert_eq!(normalize_address("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(
            normalize_address("10.0.0.0/8").as_deref(),
            Some("10.0.0.0/8")
        );
        assert_eq!(
            normalize_address("10.0.0.1/32").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(normalize_address("10.0.0.1/33"), None);
        assert_eq!(normalize_address("example.com"), None);
    }
}
