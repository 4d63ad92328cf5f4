//! The whole configuration of one sidecar (istiod's `BuildListeners`, `BuildHTTPRoutes`,
//! `BuildClusters` and EDS for a `sidecar` proxy): a pure function of a [`Snapshot`] and a
//! [`Proxy`].
//!
//! - Listeners: `virtualOutbound` (15001), `virtualInbound` (15006), one `0.0.0.0_<port>`
//!   listener per outbound HTTP port (routes over RDS named by the port), `<vip>_<port>` (or
//!   `0.0.0.0_<port>` without a VIP) per TCP service port, with VirtualService `tcp` and `tls`
//!   routes, and for ports of unknown protocol a sniffing listener with an HTTP chain (RDS
//!   `<host>:<port>`) and a TCP chain.
//! - Routes: per port, a virtual host per service with the domains the proxy may use, the
//!   VirtualService routes (oldest VirtualService first claims a host; delegates merged), the
//!   default route otherwise, then `allow_any` or `block_all`.
//! - Clusters: `outbound|port|subset|host` per visible service port and DestinationRule subset
//!   (EDS, STRICT_DNS, LOGICAL_DNS or ORIGINAL_DST by resolution) with the DestinationRule's
//!   traffic policy and TLS or auto mTLS; `inbound|port||` per workload port;
//!   `BlackHoleCluster`, `PassthroughCluster`, `InboundPassthroughCluster`.
//! - Endpoints for every EDS cluster.
//! - Inbound chains carry the workload's policies: PeerAuthentication modes, JWT
//!   authentication from RequestAuthentications, RBAC from AuthorizationPolicies.
//!
//! ```
//! use mesh_core::model::{MeshOptions, Proxy, Store};
//! use mesh_core::translate::sidecar::{SidecarOptions, translate_sidecar};
//!
//! let objects = mesh_core::load::from_str(r#"
//! apiVersion: v1
//! kind: Service
//! metadata: {name: reviews, namespace: default}
//! spec: {ports: [{name: http, port: 9080}], selector: {app: reviews}}
//! ---
//! apiVersion: v1
//! kind: Pod
//! metadata: {name: reviews-v1, namespace: default, labels: {app: reviews, version: v1}}
//! status: {podIP: 10.244.0.7}
//! "#, "inline.yaml")?;
//! let mut store = Store::new(MeshOptions::default());
//! store.apply_all(objects.into_iter().map(|l| l.object));
//! let snapshot = store.snapshot();
//! let proxy = Proxy::sidecar("productpage-0", "default", "10.244.0.9".parse()?, Default::default(), "cluster.local");
//! let config = translate_sidecar(&snapshot, &proxy, &SidecarOptions::default());
//! let listeners: Vec<&str> = config.listeners.iter().map(|l| l.name.as_str()).collect();
//! assert_eq!(listeners, ["0.0.0.0_9080", "virtualInbound", "virtualOutbound"]);
//! assert_eq!(config.routes[0].name, "9080");
//! assert!(config.clusters.iter().any(|c| c.name == "outbound|9080||reviews.default.svc.cluster.local"));
//! assert_eq!(config.endpoints[0].endpoints[0].lb_endpoints.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster as envoy_cluster};
use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::config::route::v3::{Route, RouteConfiguration, VirtualHost, route};
use envoy_types::pb::envoy::extensions::filters::listener::http_inspector::v3::HttpInspector;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::google::protobuf::{BoolValue, Duration as PbDuration, Struct, Value, value};
use prost::Message;

use super::authz::{TrustDomains, build_http, build_tcp};
use super::cache::{
    EncodedCluster, FastSet, Fingerprint, RouteCache, TranslationCache, VhostHead, VhostPlan,
};
use super::cluster::{
    ClusterDefaults, apply_traffic_policy, base_cluster, blackhole_cluster,
    effective_traffic_policy, outbound_cluster_name, passthrough_cluster,
};
use super::endpoints::{EndpointOptions, selected_cluster_load_assignment};
use super::ext_authz::{ExtAuthzProviders, build_custom_http, build_custom_tcp, custom_errors};
use super::inbound::{
    InboundPort, PortProtocol, inbound_cluster, inbound_passthrough_cluster,
    virtual_inbound_listener_with,
};
use super::jwt::jwt_authn_filter;
use super::listener::{outbound_http_connection_manager, socket, virtual_outbound_listener};
use super::route::{RouteContext, build_http_routes, default_outbound_route};
use super::scope::{ProxyScope, host_matches};
use super::tls::{MutualTlsMemo, UpstreamTls, apply_upstream_tls_with};
use super::vhost::{
    CatchAll, DomainSink, DomainView, for_each_domain, outbound_route_configuration,
    virtual_host_name,
};
use super::wire::{put_field, put_field_parts};
use crate::api::networking::{CaptureMode, Destination, RouteDestination, TrafficPolicy};
use crate::api::{AuthorizationPolicy, Duration, Kind, Object};
use crate::dump::to_any;
use crate::model::{Port, Protocol, Proxy, Registry, Resolution, Service, Snapshot};
use std::sync::Arc;

/// Mesh-wide settings of sidecar translation (istiod's `MeshConfig` defaults).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SidecarOptions {
    /// The outbound capture port (`virtualOutbound`, 15001).
    pub outbound_capture_port: u32,
    /// The inbound capture port (`virtualInbound`, 15006).
    pub inbound_capture_port: u32,
    /// `outboundTrafficPolicy.mode: REGISTRY_ONLY` (default `ALLOW_ANY`).
    pub registry_only: bool,
    /// `enableAutoMtls` (default on).
    pub auto_mtls: bool,
    /// `connectTimeout` (10 s).
    pub connect_timeout: Duration,
    /// `h2UpgradePolicy: UPGRADE` (default off).
    pub h2_upgrade: bool,
    /// Trust domain aliases (`trustDomainAliases`).
    pub trust_domain_aliases: Vec<String>,
    /// Extension providers (`extensionProviders`): the external authorization services
    /// AuthorizationPolicy CUSTOM actions name.
    pub extension_providers: Vec<crate::api::mesh::ExtensionProvider>,
    /// `localityLbSetting` (Istio's default: enabled, no rules: failover by locality
    /// wherever outlier detection is set).
    pub locality_lb: Option<crate::api::networking::LocalityLoadBalancerSetting>,
}

impl SidecarOptions {
    /// The settings a mesh configuration gives (trust domain aliases, extension providers);
    /// the others keep their defaults.
    pub fn from_mesh_config(mesh: &crate::api::mesh::MeshConfig) -> SidecarOptions {
        SidecarOptions {
            trust_domain_aliases: mesh.trust_domain_aliases.clone(),
            extension_providers: mesh.extension_providers.clone(),
            locality_lb: mesh
                .locality_lb_setting
                .clone()
                .or_else(|| SidecarOptions::default().locality_lb),
            ..SidecarOptions::default()
        }
    }
}

impl Default for SidecarOptions {
    fn default() -> Self {
        SidecarOptions {
            outbound_capture_port: 15001,
            inbound_capture_port: 15006,
            registry_only: false,
            auto_mtls: true,
            connect_timeout: Duration::from_secs(10),
            h2_upgrade: false,
            trust_domain_aliases: Vec::new(),
            extension_providers: Vec::new(),
            locality_lb: Some(crate::api::networking::LocalityLoadBalancerSetting {
                enabled: Some(true),
                ..Default::default()
            }),
        }
    }
}

/// One proxy's resources with the clusters and endpoint assignments shared with other
/// proxies ([`SidecarTranslator::translate_shared`]); each list in name order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SharedResources {
    /// LDS.
    pub listeners: Vec<Listener>,
    /// RDS.
    pub routes: Vec<Arc<RouteConfiguration>>,
    /// RDS encoded (name, `RouteConfiguration` bytes), in name order, instead of `routes`
    /// when translated with a [`RouteCache`] ([`super::translate_proxy_shared_encoded`]).
    pub encoded_routes: Vec<(String, Arc<[u8]>)>,
    /// CDS.
    pub clusters: Vec<Arc<Cluster>>,
    /// CDS encoded (name, `Cluster` bytes), in name order, instead of `clusters` when
    /// translated with a [`RouteCache`] ([`super::translate_proxy_shared_encoded`]).
    pub encoded_clusters: Vec<(Arc<str>, Arc<[u8]>)>,
    /// EDS.
    pub endpoints: Vec<Arc<ClusterLoadAssignment>>,
    /// EDS encoded (cluster name, `ClusterLoadAssignment` bytes), in name order, instead of
    /// `endpoints` when translated with a [`RouteCache`]
    /// ([`super::translate_proxy_shared_encoded`]).
    pub encoded_endpoints: Vec<(Arc<str>, Arc<[u8]>)>,
    /// What could not be translated as written.
    pub warnings: Vec<String>,
}

impl From<ProxyResources> for SharedResources {
    fn from(r: ProxyResources) -> SharedResources {
        SharedResources {
            listeners: r.listeners,
            routes: r.routes.into_iter().map(Arc::new).collect(),
            encoded_routes: Vec::new(),
            clusters: r.clusters.into_iter().map(Arc::new).collect(),
            encoded_clusters: Vec::new(),
            endpoints: r.endpoints.into_iter().map(Arc::new).collect(),
            encoded_endpoints: Vec::new(),
            warnings: r.warnings,
        }
    }
}

/// A port's cluster without a subset, as its subsets' clusters are made from it: its EDS
/// config (and `eds_config`, that config's own encoding, when it has one); `rest`, its
/// encoding without the fields a subset sets; `policy`, the port's traffic policy.
struct Hollow {
    eds_cluster_config: Option<envoy_cluster::EdsClusterConfig>,
    eds_config: Option<Option<Vec<u8>>>,
    rest: super::wire::Indexed,
    policy: Option<TrafficPolicy>,
}

/// How many of the services a proxy sees must be missing from the cache before its
/// translation spreads over several threads: below, starting them costs more than it saves.
const PARALLEL_MISSING_SERVICES: usize = 64;

/// The clusters (typed or encoded) and the encoded assignments of some services
/// ([`SidecarTranslator::translate_shared`]); typed assignments are taken once the clusters
/// are in order.
#[derive(Default)]
struct ServicesPart {
    clusters: Vec<Arc<Cluster>>,
    encoded_clusters: Vec<(Arc<str>, Arc<[u8]>)>,
    encoded_endpoints: Vec<(Arc<str>, Arc<[u8]>)>,
}

impl ServicesPart {
    /// Each list in name order (a stable sort: on parts appended one after another, it merges
    /// their sorted runs).
    fn sort(&mut self) {
        self.clusters.sort_by(|a, b| a.name.cmp(&b.name));
        self.encoded_clusters.sort_by(|a, b| a.0.cmp(&b.0));
        self.encoded_endpoints.sort_by(|a, b| a.0.cmp(&b.0));
    }

    fn append(&mut self, mut other: ServicesPart) {
        self.clusters.append(&mut other.clusters);
        self.encoded_clusters.append(&mut other.encoded_clusters);
        self.encoded_endpoints.append(&mut other.encoded_endpoints);
    }
}

/// A proxy's route configurations and the warnings building them gave.
#[derive(Default)]
struct RoutesPart {
    routes: Vec<Arc<RouteConfiguration>>,
    encoded_routes: Vec<(String, Arc<[u8]>)>,
    warnings: Vec<String>,
}

/// One proxy's resources, each list in name order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProxyResources {
    /// LDS.
    pub listeners: Vec<Listener>,
    /// RDS.
    pub routes: Vec<RouteConfiguration>,
    /// CDS.
    pub clusters: Vec<Cluster>,
    /// EDS, one assignment per EDS cluster.
    pub endpoints: Vec<ClusterLoadAssignment>,
    /// What translation dropped and why (listener conflicts, duplicate domains).
    pub warnings: Vec<String>,
}

impl ProxyResources {
    /// The resources as Envoy's admin config dump.
    pub fn config_dump(&self, version_info: &str) -> crate::dump::ConfigDump {
        crate::dump::ConfigDump {
            version_info: version_info.to_string(),
            clusters: self.clusters.iter().map(to_any).collect(),
            listeners: self.listeners.iter().map(to_any).collect(),
            routes: self.routes.iter().map(to_any).collect(),
            secrets: Vec::new(),
            endpoints: self.endpoints.iter().map(to_any).collect(),
        }
    }
}

/// A TCP (or sniffed) outbound listener: where it listens, the service behind it, and the
/// egress listener it comes from.
#[derive(Clone, Debug)]
struct TcpListenerPlan<'a> {
    ip: String,
    port: u32,
    service: &'a Service,
    protocol: Protocol,
    bind_to_port: bool,
    listener: usize,
}

/// An HTTP outbound listener: `<ip>_<port>`, routes from RDS `<port>`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HttpListenerPlan {
    ip: String,
    port: u32,
    bind_to_port: bool,
}

/// Where the listeners of one egress listener go: its index, the address it binds (`None`:
/// the wildcard for HTTP, each service's VIP for TCP) and whether it binds it itself.
struct EgressPlan<'b> {
    listener: usize,
    bind: Option<&'b str>,
    bind_to_port: bool,
}

/// Outbound listeners being planned, by address and port, and the conflicts met.
#[derive(Default)]
struct Planned<'a> {
    http: BTreeMap<(String, u32), HttpListenerPlan>,
    tcp: BTreeMap<(String, u32), TcpListenerPlan<'a>>,
    warnings: Vec<String>,
}

impl<'a> Planned<'a> {
    /// Plans port `number` of `service`, spoken in `protocol`, for `egress`, unless its
    /// address and port are `locked` (taken by an earlier egress listener). HTTP ports share
    /// one listener per address and port; TCP ones get one per service, the first keeping a
    /// contested address.
    fn add(
        &mut self,
        service: &'a Service,
        number: u32,
        protocol: Protocol,
        egress: &EgressPlan<'_>,
        locked: &BTreeSet<(String, u32)>,
    ) {
        if protocol.is_http() {
            let ip = egress
                .bind
                .unwrap_or(crate::model::UNSPECIFIED_IP)
                .to_string();
            let key = (ip.clone(), number);
            if !locked.contains(&key) {
                self.http.entry(key).or_insert(HttpListenerPlan {
                    ip,
                    port: number,
                    bind_to_port: egress.bind_to_port,
                });
            }
        } else if protocol != Protocol::Udp {
            let ip = egress
                .bind
                .map_or_else(|| listener_ip(service), str::to_string);
            let key = (ip.clone(), number);
            if locked.contains(&key) {
                return;
            }
            match self.tcp.get(&key) {
                Some(first) => self.warnings.push(format!(
                    "listener {}_{}: {} conflicts with {}; kept the first",
                    key.0, key.1, service.hostname, first.service.hostname
                )),
                None => {
                    self.tcp.insert(
                        key,
                        TcpListenerPlan {
                            ip,
                            port: number,
                            service,
                            protocol,
                            bind_to_port: egress.bind_to_port,
                            listener: egress.listener,
                        },
                    );
                }
            }
        }
    }
}

/// The translator of one sidecar: resources can be built all at once ([`Self::translate`]) or
/// per type and name, as an xDS server asks for them.
#[derive(Debug)]
pub struct SidecarTranslator<'a> {
    scope: ProxyScope<'a>,
    options: SidecarOptions,
    http_listeners: Vec<HttpListenerPlan>,
    /// HTTP egress listeners on Unix domain sockets: the bind (also their route
    /// configuration's name) and the egress listener.
    uds_listeners: Vec<(String, usize)>,
    /// The ports of `http_listeners`: the numbered route configurations.
    http_ports: BTreeSet<u32>,
    tcp_listeners: Vec<TcpListenerPlan<'a>>,
    warnings: Vec<String>,
}

/// Translates everything for one sidecar.
pub fn translate_sidecar(
    snapshot: &Snapshot,
    proxy: &Proxy,
    options: &SidecarOptions,
) -> ProxyResources {
    SidecarTranslator::new(snapshot, proxy, options).translate()
}

fn listener_ip(service: &Service) -> String {
    if service.has_vip() {
        service.address.clone()
    } else {
        crate::model::UNSPECIFIED_IP.to_string()
    }
}

impl<'a> SidecarTranslator<'a> {
    /// Plans the proxy's listeners from what it can see, as istiod's
    /// `buildSidecarOutboundListeners` does: each egress listener with a port gets that port
    /// (HTTP: one `<bind>_<port>` listener; otherwise one per service, on the service's
    /// address), then the catch-all listener gets every port of its services not taken yet.
    /// A listener binds to its port itself when its capture mode is `NONE` (on its `bind`,
    /// else 127.0.0.1); otherwise traffic reaches it through the capture listener.
    pub fn new(snapshot: &'a Snapshot, proxy: &'a Proxy, options: &SidecarOptions) -> Self {
        let scope = ProxyScope::new(snapshot, proxy);
        let mut planned = Planned::default();
        let mut unsupported = Vec::new();
        let mut uds_listeners: Vec<(String, usize)> = Vec::new();
        for (li, l) in scope.egress_listeners().iter().enumerate() {
            let bind_to_port = l.capture_mode == CaptureMode::None;
            if l.bind.starts_with("unix://") {
                let http = l
                    .port
                    .is_some_and(|p| Protocol::parse(&p.protocol).is_http());
                if !http {
                    unsupported.push(format!(
                        "Sidecar egress listener {li}: only HTTP listeners on Unix domain sockets are supported; skipped"
                    ));
                } else if uds_listeners.iter().all(|(b, _)| b != l.bind)
                    && !scope.listener_services(li).is_empty()
                {
                    uds_listeners.push((l.bind.to_string(), li));
                }
                continue;
            }
            let egress = EgressPlan {
                listener: li,
                bind: match l.bind {
                    "" if bind_to_port => Some("127.0.0.1"),
                    "" => None,
                    b => Some(b),
                },
                bind_to_port,
            };
            let services = scope.listener_services(li);
            match l.port {
                Some(p) => {
                    let protocol = Protocol::parse(&p.protocol);
                    for service in services {
                        planned.add(service, p.number, protocol, &egress, &BTreeSet::new());
                    }
                }
                None => {
                    // What the listeners with ports took stays theirs.
                    let locked: BTreeSet<(String, u32)> = planned
                        .http
                        .keys()
                        .chain(planned.tcp.keys())
                        .cloned()
                        .collect();
                    for service in services {
                        for port in &service.ports {
                            planned.add(service, port.number, port.protocol, &egress, &locked);
                        }
                    }
                }
            }
        }
        let Planned {
            http,
            mut tcp,
            mut warnings,
        } = planned;
        warnings.extend(unsupported);
        // An HTTP listener on <ip>:<port> takes the address from a TCP one (a VIP-less
        // service's, or a shared bind).
        tcp.retain(|key, plan| {
            let clash = http.contains_key(key);
            if clash {
                warnings.push(format!(
                    "listener {}_{}: TCP service {} conflicts with HTTP services on the port; dropped",
                    key.0, key.1, plan.service.hostname
                ));
            }
            !clash
        });
        let http_ports = http.keys().map(|(_, p)| *p).collect();
        SidecarTranslator {
            scope,
            options: options.clone(),
            http_listeners: http.into_values().collect(),
            uds_listeners,
            http_ports,
            tcp_listeners: tcp.into_values().collect(),
            warnings,
        }
    }

    /// What the proxy sees.
    pub fn scope(&self) -> &ProxyScope<'a> {
        &self.scope
    }

    /// Where traffic to unknown destinations goes: nowhere (`REGISTRY_ONLY`), the Sidecar's
    /// `egressProxy` (istiod's `GetDestinationCluster` without a service: its port, subset and
    /// host as written), else the passthrough cluster.
    fn catch_all(&self) -> CatchAll {
        if self.scope.registry_only(self.options.registry_only) {
            return CatchAll::RegistryOnly;
        }
        let egress_proxy = self
            .scope
            .sidecar()
            .and_then(|s| s.spec.outbound_traffic_policy.as_ref())
            .and_then(|p| p.egress_proxy.as_ref());
        match egress_proxy {
            Some(d) => {
                let port = d.port.as_ref().map_or(0, |p| p.number);
                CatchAll::AllowAny(outbound_cluster_name(port, &d.subset, &d.host))
            }
            None => CatchAll::default(),
        }
    }

    fn cluster_defaults(&self, protocol: Protocol) -> ClusterDefaults {
        ClusterDefaults {
            connect_timeout: self.options.connect_timeout,
            h2_upgrade: self.options.h2_upgrade,
            port_is_http: protocol.is_http(),
            port_is_http2: protocol.is_http2(),
        }
    }

    /// Everything, each type in name order.
    pub fn translate(&self) -> ProxyResources {
        let clusters = self.clusters();
        let endpoints = clusters
            .iter()
            .filter(|c| is_eds(c))
            .filter_map(|c| self.endpoints(&c.name))
            .collect();
        let mut warnings = self.warnings.clone();
        warnings.extend(self.custom_authz_errors());
        let routes = self
            .route_names()
            .iter()
            .filter_map(|n| self.route_with_warnings(n, &mut warnings))
            .collect();
        ProxyResources {
            listeners: self.listeners(),
            routes,
            clusters,
            endpoints,
            warnings,
        }
    }

    // ---- listeners ----

    /// LDS: every listener, in name order.
    pub fn listeners(&self) -> Vec<Listener> {
        let mut out = vec![
            virtual_outbound_listener(self.options.outbound_capture_port, &self.catch_all()),
            self.virtual_inbound(),
        ];
        out.extend(self.http_listeners.iter().map(|h| {
            let mut l = super::listener::outbound_http_listener_on(&h.ip, h.port);
            if h.bind_to_port {
                l.bind_to_port = None;
            }
            l
        }));
        out.extend(self.tcp_listeners.iter().map(|t| self.tcp_listener(t)));
        out.extend(
            self.uds_listeners
                .iter()
                .map(|(bind, _)| super::listener::outbound_uds_http_listener(bind)),
        );
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn tcp_listener(&self, plan: &TcpListenerPlan<'_>) -> Listener {
        let service = plan.service;
        let default_cluster = outbound_cluster_name(plan.port, "", &service.hostname);
        let mut chains = Vec::new();
        let mut listener_filters = Vec::new();
        let vs = self.virtual_service_for(&service.hostname, plan.listener);
        let stat = |cluster: &str| cluster.to_string();
        if plan.protocol.is_sniffed() {
            let route_name = format!("{}:{}", service.hostname, plan.port);
            let hcm = outbound_http_connection_manager(
                &format!("outbound_{}_{}", plan.ip, plan.port),
                &route_name,
            );
            chains.push(FilterChain {
                filter_chain_match: Some(FilterChainMatch {
                    application_protocols: vec!["http/1.1".into(), "h2c".into()],
                    ..Default::default()
                }),
                filters: vec![Filter {
                    name: "envoy.filters.network.http_connection_manager".into(),
                    config_type: Some(filter::ConfigType::TypedConfig(to_any(&hcm))),
                }],
                ..Default::default()
            });
            listener_filters.push(ListenerFilter {
                name: "envoy.filters.listener.http_inspector".into(),
                config_type: Some(listener_filter::ConfigType::TypedConfig(to_any(
                    &HttpInspector::default(),
                ))),
                ..Default::default()
            });
        }
        if plan.protocol.is_tls() {
            for rule in vs.iter().flat_map(|v| v.spec.tls.iter()) {
                let snis: Vec<String> = rule
                    .r#match
                    .iter()
                    .filter(|m| m.port == 0 || m.port == plan.port)
                    .filter(|m| m.gateways.is_empty() || m.gateways.iter().any(|g| g == "mesh"))
                    .filter(|m| self.source_applies(&m.source_labels, &m.source_namespace))
                    .flat_map(|m| m.sni_hosts.iter().cloned())
                    .collect();
                if snis.is_empty() {
                    continue;
                }
                chains.push(FilterChain {
                    filter_chain_match: Some(FilterChainMatch {
                        server_names: snis,
                        ..Default::default()
                    }),
                    filters: vec![self.tcp_proxy(&rule.route, plan.port, &default_cluster)],
                    ..Default::default()
                });
            }
            if !chains.is_empty() {
                listener_filters.push(ListenerFilter {
                    name: "envoy.filters.listener.tls_inspector".into(),
                    config_type: Some(listener_filter::ConfigType::TypedConfig(to_any(
                        &TlsInspector::default(),
                    ))),
                    ..Default::default()
                });
            }
        }
        let tcp_route = vs.and_then(|v| {
            v.spec.tcp.iter().find(|r| {
                r.r#match.is_empty()
                    || r.r#match.iter().any(|m| {
                        (m.port == 0 || m.port == plan.port)
                            && (m.gateways.is_empty() || m.gateways.iter().any(|g| g == "mesh"))
                            && self.source_applies(&m.source_labels, &m.source_namespace)
                    })
            })
        });
        let tcp_filter = match tcp_route {
            Some(r) => self.tcp_proxy(&r.route, plan.port, &default_cluster),
            None => tcp_proxy(&stat(&default_cluster), &default_cluster),
        };
        chains.push(FilterChain {
            filters: vec![tcp_filter],
            ..Default::default()
        });
        Listener {
            name: format!("{}_{}", plan.ip, plan.port),
            address: Some(socket(&plan.ip, plan.port)),
            filter_chains: chains,
            listener_filters,
            listener_filters_timeout: (!plan.protocol.is_tcp()).then(PbDuration::default),
            continue_on_listener_filters_timeout: plan.protocol.is_sniffed(),
            traffic_direction: TrafficDirection::Outbound as i32,
            bind_to_port: (!plan.bind_to_port).then_some(BoolValue { value: false }),
            ..Default::default()
        }
    }

    fn source_applies(&self, labels: &BTreeMap<String, String>, namespace: &str) -> bool {
        let proxy = self.scope.proxy();
        labels.iter().all(|(k, v)| proxy.labels.get(k) == Some(v))
            && (namespace.is_empty() || namespace == proxy.config_namespace)
    }

    /// A TCP proxy to a VirtualService TCP/TLS route's destinations.
    fn tcp_proxy(&self, route: &[RouteDestination], port: u32, default: &str) -> Filter {
        let named: Vec<(String, u32)> = route
            .iter()
            .filter_map(|r| {
                let d = r.destination.as_ref()?;
                Some((
                    self.destination_cluster(d, port),
                    u32::try_from(r.weight).unwrap_or(0),
                ))
            })
            .collect();
        super::listener::weighted_tcp_proxy_filter(&named, default)
    }

    fn virtual_inbound(&self) -> Listener {
        let (ports, passthrough) = self.inbound_ports();
        virtual_inbound_listener_with(
            self.options.inbound_capture_port,
            &ports,
            &passthrough,
            &self.options.trust_domain_aliases,
        )
    }

    /// The `defaultEndpoint`s of the Sidecar's ingress listeners, by inbound port, as istiod
    /// reads them: `unix://path`, or `host:port` where `0.0.0.0` / `[::]` stand for the
    /// workload's own IPv4 / IPv6 address. Unparsable ones are skipped (validation refuses
    /// them).
    fn ingress_default_endpoints(
        &self,
    ) -> BTreeMap<u32, envoy_types::pb::envoy::config::core::v3::Address> {
        let proxy = self.scope.proxy();
        let mut out = BTreeMap::new();
        for l in self
            .scope
            .sidecar()
            .map(|s| s.spec.ingress.as_slice())
            .unwrap_or_default()
        {
            let (Some(p), endpoint) = (&l.port, l.default_endpoint.as_str()) else {
                continue;
            };
            if endpoint.is_empty() {
                continue;
            }
            let port = if p.target_port > 0 {
                p.target_port
            } else {
                p.number
            };
            let address = if endpoint.starts_with("unix://") {
                super::endpoints::endpoint_address(endpoint, 0)
            } else {
                let Some((host, target)) = endpoint.rsplit_once(':') else {
                    continue;
                };
                let Ok(target) = target.parse::<u32>() else {
                    continue;
                };
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let ip = match host {
                    "0.0.0.0" => proxy.ip_addresses.iter().find(|ip| ip.is_ipv4()),
                    "::" => proxy.ip_addresses.iter().find(|ip| ip.is_ipv6()),
                    _ => None,
                }
                .map_or_else(|| host.to_string(), ToString::to_string);
                super::endpoints::endpoint_address(&ip, target)
            };
            out.insert(port, address);
        }
        out
    }

    /// The workload's ports with their protocols, mTLS modes and policy filters, and the
    /// passthrough (number 0) with the workload-wide mode and the same filters.
    pub fn inbound_ports(&self) -> (Vec<InboundPort>, InboundPort) {
        let snapshot = self.scope.snapshot();
        let proxy = self.scope.proxy();
        let root = snapshot.options().root_namespace.as_str();
        let peer_auths: Vec<&crate::api::PeerAuthentication> = snapshot
            .objects_of(Kind::PeerAuthentication)
            .filter_map(|o| match o {
                Object::PeerAuthentication(p) => Some(p),
                _ => None,
            })
            .collect();
        let mtls = super::authn::effective_peer_authentication(
            peer_auths,
            root,
            &proxy.config_namespace,
            &proxy.labels,
        );
        let (http_filters, network_filters) = self.policy_filters();
        let mut seen = BTreeSet::new();
        let mut ports = Vec::new();
        let mut add = |number: u32, protocol: Protocol| {
            if number == 0 || !seen.insert(number) {
                return;
            }
            let mut p =
                InboundPort::new(number, inbound_protocol(protocol), mtls.port_mode(number));
            p.http_filters = http_filters.clone();
            p.network_filters = network_filters.clone();
            ports.push(p);
        };
        let ingress = self
            .scope
            .sidecar()
            .map(|s| s.spec.ingress.as_slice())
            .unwrap_or_default();
        if !ingress.is_empty() {
            for l in ingress {
                if let Some(p) = &l.port {
                    let number = if p.target_port > 0 {
                        p.target_port
                    } else {
                        p.number
                    };
                    add(number, Protocol::parse(&p.protocol));
                }
            }
        } else if let Some(w) = self.scope.workload() {
            for s in snapshot.services().iter().filter(|s| {
                s.registry == Registry::Kubernetes
                    && s.namespace == w.namespace
                    && !s.selector.is_empty()
                    && w.matches(&s.selector)
            }) {
                for port in &s.ports {
                    if let Some(target) = w.target_port(port) {
                        add(target, port.protocol);
                    }
                }
            }
        }
        ports.sort_by_key(|p| p.port);
        let mut passthrough = InboundPort::new(0, PortProtocol::Auto, mtls.mode);
        passthrough.http_filters = http_filters;
        passthrough.network_filters = network_filters;
        (ports, passthrough)
    }

    /// The AuthorizationPolicies that apply to the workload.
    fn authz_policies(&self) -> Vec<&'a AuthorizationPolicy> {
        self.scope.policies(
            Kind::AuthorizationPolicy,
            |o| match o {
                Object::AuthorizationPolicy(p) => Some(p),
                _ => None,
            },
            |s| s.selector.as_ref().map(|w| &w.match_labels),
            |s| s.target_ref.iter().chain(&s.target_refs).collect(),
        )
    }

    /// Why CUSTOM policies of the workload fail closed, if they do.
    fn custom_authz_errors(&self) -> Vec<String> {
        let authz = self.authz_policies();
        if !authz
            .iter()
            .any(|p| p.spec.action == crate::api::security::AuthorizationAction::Custom)
        {
            return Vec::new();
        }
        let providers = ExtAuthzProviders::from_snapshot(
            &self.options.extension_providers,
            self.scope.snapshot(),
        );
        custom_errors(&authz, &providers)
            .into_iter()
            .map(|e| format!("AuthorizationPolicy CUSTOM: {e}; its rules deny"))
            .collect()
    }

    /// External authorization (CUSTOM), JWT authentication and RBAC filters for HTTP chains,
    /// and external authorization and RBAC filters for TCP chains, from the
    /// RequestAuthentications and AuthorizationPolicies that apply to the workload, in
    /// istiod's order (CUSTOM before authentication).
    fn policy_filters(
        &self,
    ) -> (
        Vec<envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter>,
        Vec<Filter>,
    ){
        let request_authns = self.scope.policies(
            Kind::RequestAuthentication,
            |o| match o {
                Object::RequestAuthentication(r) => Some(r),
                _ => None,
            },
            |s| s.selector.as_ref().map(|w| &w.match_labels),
            |s| s.target_ref.iter().chain(&s.target_refs).collect(),
        );
        let mut rules: Vec<&crate::api::security::JwtRule> = request_authns
            .iter()
            .flat_map(|r| r.spec.jwt_rules.iter())
            .collect();
        rules.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        let authz = self.authz_policies();
        let snapshot = self.scope.snapshot();
        let tds = TrustDomains::with_aliases(
            &snapshot.options().trust_domain,
            &self.options.trust_domain_aliases,
        );
        let (mut http, mut tcp) = (Vec::new(), Vec::new());
        if authz
            .iter()
            .any(|p| p.spec.action == crate::api::security::AuthorizationAction::Custom)
        {
            let providers =
                ExtAuthzProviders::from_snapshot(&self.options.extension_providers, snapshot);
            http.extend(build_custom_http(&authz, &providers, &tds));
            tcp.extend(build_custom_tcp(&authz, &providers, &tds));
        }
        http.extend(jwt_authn_filter(&rules, false));
        http.extend(build_http(&authz, &tds));
        tcp.extend(build_tcp(&authz, &tds));
        (http, tcp)
    }

    // ---- routes ----

    /// RDS: the names of the route configurations the listeners refer to.
    pub fn route_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.http_ports.iter().map(u32::to_string).collect();
        out.extend(
            self.tcp_listeners
                .iter()
                .filter(|t| t.protocol.is_sniffed())
                .map(|t| format!("{}:{}", t.service.hostname, t.port)),
        );
        out.extend(self.uds_listeners.iter().map(|(bind, _)| bind.clone()));
        out.sort();
        out
    }

    /// One route configuration by name (`"9080"`, or `"<host>:<port>"` for a sniffed port).
    pub fn route(&self, name: &str) -> Option<RouteConfiguration> {
        self.route_with_warnings(name, &mut Vec::new())
    }

    /// The port and services of a route configuration name, and the egress listener whose
    /// VirtualServices apply.
    fn route_services(&self, name: &str) -> Option<(u32, Vec<&'a Service>, usize)> {
        match name.parse::<u32>() {
            Ok(port) if self.http_ports.contains(&port) => {
                let listener = self.scope.rds_listener(port)?;
                Some((
                    port,
                    http_on(self.scope.listener_services(listener), port),
                    listener,
                ))
            }
            Ok(_) => None,
            Err(_) => {
                let (host, port) = name.rsplit_once(':')?;
                let port: u32 = port.parse().ok()?;
                let plan = self.tcp_listeners.iter().find(|t| {
                    t.protocol.is_sniffed() && t.port == port && t.service.hostname == host
                })?;
                Some((port, vec![plan.service], plan.listener))
            }
        }
    }

    fn route_with_warnings(
        &self,
        name: &str,
        warnings: &mut Vec<String>,
    ) -> Option<RouteConfiguration> {
        if let Some(listener) = self.uds_listener(name) {
            let vhosts = self.uds_virtual_hosts(listener, warnings);
            return Some(outbound_route_configuration(
                name,
                vhosts,
                &self.catch_all(),
            ));
        }
        let (port, services, listener) = self.route_services(name)?;
        let vhosts = self.virtual_hosts(port, &services, listener, false, warnings);
        Some(outbound_route_configuration(
            name,
            vhosts,
            &self.catch_all(),
        ))
    }

    /// The egress listener of the Unix domain socket listener whose route configuration is
    /// `name` (its bind).
    fn uds_listener(&self, name: &str) -> Option<usize> {
        self.uds_listeners
            .iter()
            .find(|(bind, _)| bind == name)
            .map(|(_, listener)| *listener)
    }

    /// The virtual hosts of a Unix domain socket listener, which takes every port (istiod's
    /// `mergeAllVirtualHosts`): each HTTP port's in port order, those of ports other than 80
    /// keeping only their `host:port` domains.
    fn uds_virtual_hosts(&self, listener: usize, warnings: &mut Vec<String>) -> Vec<VirtualHost> {
        let services = self.scope.listener_services(listener);
        let ports: BTreeSet<u32> = services
            .iter()
            .flat_map(|s| s.ports.iter())
            .filter(|p| p.protocol.is_http())
            .map(|p| p.number)
            .collect();
        let mut out = Vec::new();
        for port in ports {
            let on_port = http_on(services, port);
            for mut vh in self.virtual_hosts(port, &on_port, listener, true, warnings) {
                if port != 80 {
                    vh.domains.retain(|d| d.contains(':'));
                }
                if !vh.domains.is_empty() {
                    out.push(vh);
                }
            }
        }
        out
    }

    /// The virtual hosts of `port` for `services` with the VirtualServices of egress listener
    /// `listener`; service domains carry the port too when `append_port` (a listener taking
    /// every port, where the port is not ignored in host matching).
    fn virtual_hosts(
        &self,
        port: u32,
        services: &[&Service],
        listener: usize,
        append_port: bool,
        warnings: &mut Vec<String>,
    ) -> Vec<VirtualHost> {
        let mut head = |h: HeadSource<'_>| self.head_names(h, port, append_port);
        let mut build = |src: &RouteSource<'_>| {
            let routes = self.source_routes(src, port);
            (!routes.is_empty()).then_some(routes)
        };
        let candidates = self.plan_virtual_hosts(port, services, listener, &mut head, &mut build);
        let plan = dedup_plan(&candidates, warnings);
        let mut candidates: Vec<Option<_>> = candidates.into_iter().map(Some).collect();
        plan.into_iter()
            .filter_map(|(i, keep)| Some((candidates[i].take()?, keep)))
            .map(|(((name, domains), routes), keep)| VirtualHost {
                name,
                domains: match keep {
                    None => domains,
                    Some(keep) => kept(domains, &keep),
                },
                routes,
                ..Default::default()
            })
            .collect()
    }

    /// istiod's virtual host assembly for one port: VirtualServices claim their hosts (oldest
    /// first), the rest get default routes; `head` names a virtual host and gives its domains,
    /// `build` makes the routes of a source (`None` when it has none for this proxy, and the
    /// host is left out). Returns the candidates in order, before [`dedup_plan`].
    fn plan_virtual_hosts<H, R: Clone>(
        &self,
        port: u32,
        services: &[&Service],
        listener: usize,
        head: &mut dyn FnMut(HeadSource<'_>) -> H,
        build: &mut dyn FnMut(&RouteSource<'_>) -> Option<R>,
    ) -> Vec<(H, R)> {
        // Services by address: they come from the scope, one per hostname.
        let key = |s: &Service| s as *const Service as usize;
        let members: FastSet<usize> = services.iter().map(|s| key(s)).collect();
        let by_host = |h: &str| self.scope.service(h).filter(|s| members.contains(&key(s)));
        let mut claimed: FastSet<usize> = FastSet::default();
        claimed.reserve(services.len());
        // Candidates in order; names and domains are de-duplicated afterwards.
        let mut out = Vec::with_capacity(services.len());
        for vs in self.scope.listener_virtual_services(listener) {
            let mut matched: Vec<&Service> = Vec::new();
            for h in &vs.spec.hosts {
                if h.starts_with('*') {
                    matched.extend(
                        services
                            .iter()
                            .copied()
                            .filter(|s| host_matches(h, &s.hostname)),
                    );
                } else if let Some(s) = by_host(h) {
                    matched.push(s);
                }
            }
            matched.retain(|s| !claimed.contains(&key(s)));
            if matched.len() > 1 {
                matched.sort_by(|a, b| a.hostname.cmp(&b.hostname));
                matched.dedup_by(|a, b| a.hostname == b.hostname);
            }
            if matched.is_empty() && port != 80 {
                continue;
            }
            for s in &matched {
                claimed.insert(key(s));
            }
            let Some(routes) = build(&RouteSource::VirtualService(vs)) else {
                continue;
            };
            let heads: Vec<HeadSource<'_>> = vs
                .spec
                .hosts
                .iter()
                .filter(|h| !h.starts_with('*') && by_host(h).is_none())
                .map(|h| HeadSource::Host(h))
                .chain(matched.into_iter().map(HeadSource::Service))
                .collect();
            // Each virtual host gets the routes; the last takes them without a copy.
            let mut routes = Some(routes);
            let last = heads.len().saturating_sub(1);
            for (i, h) in heads.into_iter().enumerate() {
                let r = if i == last {
                    routes.take()
                } else {
                    routes.clone()
                };
                if let Some(r) = r {
                    out.push((head(h), r));
                }
            }
        }
        for s in services.iter().filter(|s| !claimed.contains(&key(s))) {
            if let Some(routes) = build(&RouteSource::Default(s)) {
                out.push((head(HeadSource::Service(s)), routes));
            }
        }
        out
    }

    /// The routes of one source on `port`.
    fn source_routes(&self, src: &RouteSource<'_>, port: u32) -> Vec<Route> {
        let (mut routes, meta) = self.source_routes_apart(src, port);
        if let Some(meta) = meta {
            for r in &mut routes {
                r.metadata = Some(meta.clone());
            }
        }
        routes
    }

    /// [`Self::source_routes`] without their metadata, and the metadata each takes (a
    /// VirtualService's name).
    fn source_routes_apart(
        &self,
        src: &RouteSource<'_>,
        port: u32,
    ) -> (Vec<Route>, Option<Metadata>) {
        match src {
            RouteSource::VirtualService(vs) => {
                let proxy = self.scope.proxy();
                let cluster_name = |d: &Destination| self.destination_cluster(d, port);
                let mut ctx = RouteContext::new(port, &cluster_name);
                ctx.proxy_labels = proxy.labels.clone();
                ctx.proxy_namespace = proxy.config_namespace.clone();
                let routes = build_http_routes(&vs.spec.http, &ctx);
                let meta = config_metadata("virtual-service", &vs.namespace, &vs.name);
                (routes, Some(meta))
            }
            RouteSource::Default(s) => {
                let cluster = outbound_cluster_name(port, "", &s.hostname);
                let hash = self.consistent_hash(s, port);
                let mut route = default_outbound_route(&cluster, hash.is_some());
                if let (Some(h), Some(route::Action::Route(a))) = (hash, route.action.as_mut()) {
                    a.hash_policy = vec![h];
                }
                (vec![route], None)
            }
        }
    }

    /// A fingerprint of everything [`Self::source_routes`] reads. Of the proxy, only what
    /// the VirtualService's matches read (its namespace for `sourceNamespace`, its labels for
    /// `sourceLabels`): proxies of every namespace share the routes of the others.
    fn source_fingerprint(&self, src: &RouteSource<'_>, port: u32) -> u64 {
        let mut f = Fingerprint::default();
        f.u64(u64::from(port));
        match src {
            RouteSource::VirtualService(vs) => {
                f.str("vs").u64(vs.fingerprint);
                let matches = || vs.spec.http.iter().flat_map(|r| r.r#match.iter());
                let proxy = self.scope.proxy();
                if matches().any(|m| !m.source_namespace.is_empty()) {
                    f.str("ns").str(&proxy.config_namespace);
                }
                if matches().any(|m| !m.source_labels.is_empty()) {
                    f.str("labels");
                    for (k, v) in &proxy.labels {
                        f.str(k).str(v);
                    }
                }
                // Destination ports decide cluster names (`GetDestinationCluster`).
                let hosts = vs.spec.http.iter().flat_map(|r| {
                    r.route
                        .iter()
                        .filter_map(|d| d.destination.as_ref())
                        .chain(r.mirror.iter())
                        .chain(r.mirrors.iter().filter_map(|m| m.destination.as_ref()))
                });
                let mut last: Option<&str> = None;
                for d in hosts {
                    // Routes often split one host into subsets: each host once in a row.
                    if last == Some(d.host.as_str()) {
                        continue;
                    }
                    last = Some(&d.host);
                    f.str(&d.host);
                    if let Some(s) = self.scope.service(&d.host) {
                        for p in &s.ports {
                            f.u64(u64::from(p.number));
                        }
                    }
                }
            }
            RouteSource::Default(s) => {
                f.str("default").str(&s.hostname);
                if let Some(h) = self.consistent_hash(s, port) {
                    f.bytes(&h.encode_to_vec());
                }
            }
        }
        f.value()
    }

    /// RDS with a cache: the route configuration `name` encoded, assembled from cached virtual
    /// host routes where their inputs are unchanged. Byte for byte the encoding of
    /// [`Self::route`]'s result.
    pub fn route_encoded(&self, name: &str, cache: &RouteCache) -> Option<Vec<u8>> {
        self.route_encoded_with_warnings(name, cache, &mut Vec::new())
    }

    /// [`Self::route_encoded`], adding what could not be translated as written to `warnings`
    /// (as [`Self::translate`] reports it).
    pub fn route_encoded_with_warnings(
        &self,
        name: &str,
        cache: &RouteCache,
        warnings: &mut Vec<String>,
    ) -> Option<Vec<u8>> {
        if self.uds_listener(name).is_some() {
            // Rare: built typed, not from the cache.
            return self
                .route_with_warnings(name, warnings)
                .map(|r| r.encode_to_vec());
        }
        let (port, services, listener) = self.route_services(name)?;
        let mut build = |src: &RouteSource<'_>| {
            let key = self.source_fingerprint(src, port);
            let bytes = cache.get_or_insert(key, || {
                let mut out = Vec::new();
                let (routes, meta) = self.source_routes_apart(src, port);
                // The metadata is the same for every route: encoded once (Route.metadata, 4).
                let meta = meta.map(|m| {
                    Route {
                        metadata: Some(m),
                        ..Default::default()
                    }
                    .encode_to_vec()
                });
                for r in routes {
                    // VirtualHost.routes (3), each written in place.
                    super::wire::put_varint(&mut out, 3 << 3 | 2);
                    match &meta {
                        None => r
                            .encode_length_delimited(&mut out)
                            .expect("a Vec grows as needed"),
                        Some(meta) => put_route_with_metadata(&mut out, &r, meta),
                    }
                }
                out
            });
            (!bytes.is_empty()).then_some(bytes)
        };
        let proxy_domain = self.scope.proxy().dns_domain.as_str();
        // The heads in order decide de-duplication and order: their keys key the plan.
        let mut head_keys = Fingerprint::default();
        let mut head = |h: HeadSource<'_>| {
            let mut f = Fingerprint::default();
            f.u64(u64::from(port)).str(proxy_domain);
            match h {
                HeadSource::Service(s) => {
                    f.str("service").str(&s.hostname).str(&s.address);
                    for a in &s.extra_addresses {
                        f.str(a);
                    }
                    f.u64(u64::from(headless_kubernetes(s)));
                }
                HeadSource::Host(host) => {
                    f.str("host").str(host);
                }
            }
            let key = f.value();
            head_keys.u64(key);
            cache.head(key, || self.vhost_head(h, port))
        };
        let candidates = self.plan_virtual_hosts(port, &services, listener, &mut head, &mut build);
        let plan = cache.plan(head_keys.value(), || {
            let mut warnings = Vec::new();
            let mut order = dedup_plan(&candidates, &mut warnings);
            order.sort_by(|a, b| candidates[a.0].0.name().cmp(candidates[b.0].0.name()));
            VhostPlan { order, warnings }
        });
        warnings.extend(plan.warnings.iter().cloned());
        // RouteConfiguration: name (1), virtual hosts (2), then the remaining fields.
        let tail = outbound_route_configuration("", Vec::new(), &self.catch_all());
        let size: usize = candidates
            .iter()
            .map(|(h, r)| h.encoded().len() + r.len() + 8)
            .sum();
        let mut out = Vec::with_capacity(size + name.len() + 256);
        if !name.is_empty() {
            put_field(&mut out, 1, name.as_bytes());
        }
        for (i, keep) in plan.order.iter() {
            let (h, routes) = candidates.get(*i)?;
            match keep {
                None => put_field_parts(&mut out, 2, &[h.encoded(), routes]),
                Some(keep) => {
                    let mut vh = VirtualHost {
                        name: h.name().to_string(),
                        domains: kept((0..h.domain_count()).map(|j| h.domain(j).to_string()), keep),
                        ..Default::default()
                    }
                    .encode_to_vec();
                    vh.extend_from_slice(routes);
                    put_field(&mut out, 2, &vh);
                }
            }
        }
        // The tail's own catch-all virtual host comes first in its encoding (field 2),
        // followed by the fixed fields: both belong after ours.
        tail.encode(&mut out).ok()?;
        Some(out)
    }

    /// A virtual host's name and domains on `port` (service domains with the port appended
    /// too when `append_port`).
    fn head_names(&self, h: HeadSource<'_>, port: u32, append_port: bool) -> (String, Vec<String>) {
        match h {
            HeadSource::Service(s) => (
                virtual_host_name(&s.hostname, port),
                self.domains(s, append_port.then_some(port)),
            ),
            HeadSource::Host(host) => (virtual_host_name(host, port), vec![host.to_string()]),
        }
    }

    /// A virtual host's name and domains on `port`, written as their encoding.
    fn vhost_head(&self, h: HeadSource<'_>, port: u32) -> VhostHead {
        match h {
            HeadSource::Service(s) => {
                // Domains are a few names of about the hostname's length each.
                let mut head = VhostHead::new(
                    &virtual_host_name(&s.hostname, port),
                    8,
                    8 * s.hostname.len(),
                );
                self.for_each_domain(s, None, &mut |parts| head.push_domain(parts));
                head
            }
            HeadSource::Host(host) => {
                let mut head = VhostHead::new(&virtual_host_name(host, port), 1, host.len());
                head.push_domain(&[host]);
                head
            }
        }
    }

    fn domains(&self, s: &Service, port: Option<u32>) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_domain(s, port, &mut |parts| {
            out.push(super::text::concat(parts));
        });
        out
    }

    /// The domains a sidecar reaches `s` by (with `port` appended too when set), each given
    /// to `emit` in order.
    fn for_each_domain(&self, s: &Service, port: Option<u32>, emit: &mut DomainSink<'_>) {
        let view = DomainView {
            proxy_domain: &self.scope.proxy().dns_domain,
            port,
            absolute_fqdn: true,
            headless_kubernetes: headless_kubernetes(s),
        };
        let addresses =
            std::iter::once(s.address.as_str()).chain(s.extra_addresses.iter().map(String::as_str));
        for_each_domain(&s.hostname, &[], addresses, view, emit);
    }

    /// The DestinationRule's consistent hash for the default subset of a service port.
    fn consistent_hash(
        &self,
        s: &Service,
        port: u32,
    ) -> Option<envoy_types::pb::envoy::config::route::v3::route_action::HashPolicy> {
        let policy = self.traffic_policy(s, None, port)?;
        let lb = policy.load_balancer.as_ref()?;
        match lb.lb_policy.as_ref()? {
            crate::api::networking::LbPolicy::ConsistentHash(hash) => {
                super::route::hash_policy(hash)
            }
            _ => None,
        }
    }

    /// The first VirtualService (oldest) of egress listener `listener` that claims `host`.
    fn virtual_service_for(
        &self,
        host: &str,
        listener: usize,
    ) -> Option<&super::scope::ScopedVirtualService> {
        self.scope
            .listener_virtual_services(listener)
            .iter()
            .copied()
            .find(|v| v.spec.hosts.iter().any(|h| host_matches(h, host)))
    }

    /// `GetDestinationCluster`: the port is the destination's, else the service's only port,
    /// else the listener's.
    fn destination_cluster(&self, d: &Destination, listener_port: u32) -> String {
        let port = match &d.port {
            Some(p) if p.number > 0 => p.number,
            _ => match self.scope.service(&d.host).map(|s| s.ports.as_slice()) {
                Some([only]) => only.number,
                _ => listener_port,
            },
        };
        outbound_cluster_name(port, &d.subset, &d.host)
    }

    // ---- clusters ----

    fn traffic_policy(
        &self,
        s: &Service,
        subset: Option<&str>,
        port: u32,
    ) -> Option<TrafficPolicy> {
        let dr = self.scope.snapshot().destination_rule_for(
            &s.hostname,
            &s.namespace,
            &self.scope.proxy().config_namespace,
        )?;
        effective_traffic_policy(&dr.spec, subset, port)
    }

    /// CDS: every cluster, in name order.
    pub fn clusters(&self) -> Vec<Cluster> {
        let defaults = self.cluster_defaults(Protocol::Tcp);
        let mut out = vec![blackhole_cluster(&defaults), passthrough_cluster(&defaults)];
        for s in self.scope.services() {
            out.extend(self.service_clusters(s));
        }
        out.extend(self.inbound_clusters());
        sorted_by_name(out, |c| &c.name)
    }

    /// The outbound clusters of one service (every port, every subset). They depend on the
    /// service, the proxy's namespace (which DestinationRule applies) and locality, and the
    /// options: what [`TranslationCache`] shares between proxies.
    fn service_clusters(&self, s: &Service) -> Vec<Cluster> {
        self.service_clusters_with(s, true)
    }

    /// [`Self::service_clusters`], subsets without a traffic policy of their own copied from
    /// the port's cluster (`copy_inheriting`) or built whole.
    fn service_clusters_with(&self, s: &Service, copy_inheriting: bool) -> Vec<Cluster> {
        let service = self.service_context(s);
        let mut out = Vec::new();
        for port in s.ports.iter().filter(|p| p.protocol != Protocol::Udp) {
            // The port's cluster without a subset, which subsets without a traffic policy of
            // their own copy.
            let mut base: Option<(usize, Option<TrafficPolicy>)> = None;
            for subset in &service.subsets {
                let c = match (subset, &base) {
                    (Some(name), Some((i, policy)))
                        if copy_inheriting && service.inherits(name) =>
                    {
                        Some(self.inheriting_subset_cluster(
                            &service,
                            &out[*i],
                            port,
                            name,
                            policy.as_ref(),
                        ))
                    }
                    _ => self.outbound_cluster(&service, port, *subset),
                };
                if let Some(c) = c {
                    if subset.is_none() && is_eds(&c) {
                        base = Some((out.len(), service.port_policy(port)));
                    }
                    out.push(c);
                }
            }
        }
        out
    }

    /// [`Self::service_clusters`] encoded: (name, bytes, whether EDS), the same bytes as
    /// encoding them, but the clusters of subsets without a traffic policy of their own are
    /// never built: their encoding merges the port's cluster's fields with the few of their
    /// own (names, EDS service name, TLS), field by field in tag order.
    fn service_clusters_encoded(&self, s: &Service) -> Vec<EncodedCluster> {
        let service = self.service_context(s);
        let mut out = Vec::new();
        for port in s.ports.iter().filter(|p| p.protocol != Protocol::Udp) {
            // The port's EDS cluster without a subset: emptied of the fields a subset sets,
            // and encoded so.
            let mut hollow: Option<Hollow> = None;
            for subset in &service.subsets {
                if let (Some(name), Some(h)) = (subset, &hollow)
                    && service.inherits(name)
                {
                    // Only the subset's own fields (written directly where they can be).
                    let policy = h.policy.as_ref();
                    let cluster =
                        outbound_cluster_name(port.number, name, &service.service.hostname);
                    let own = h
                        .eds_config
                        .as_ref()
                        .and_then(|eds| {
                            let eds = eds.as_deref();
                            self.inheriting_subset_fields(
                                &service, eds, port, name, &cluster, policy,
                            )
                        })
                        .unwrap_or_else(|| {
                            // Built typed: a cluster of just the EDS config, given the
                            // subset's names and TLS.
                            let base = Cluster {
                                eds_cluster_config: h.eds_cluster_config.clone(),
                                ..Default::default()
                            };
                            self.inheriting_subset_cluster(&service, &base, port, name, policy)
                                .encode_to_vec()
                        });
                    let bytes = h.rest.merge(&own);
                    out.push((Arc::from(cluster), Arc::from(bytes), true));
                    continue;
                }
                let Some(mut c) = self.outbound_cluster(&service, port, *subset) else {
                    continue;
                };
                let eds = is_eds(&c);
                if !(subset.is_none() && eds) {
                    out.push((
                        Arc::from(c.name.as_str()),
                        Arc::from(c.encode_to_vec()),
                        eds,
                    ));
                    continue;
                }
                // The fields a subset sets apart, moved out of the cluster: the rest is
                // encoded once, for this cluster and the subsets'.
                let name = std::mem::take(&mut c.name);
                let alt_stat_name = std::mem::take(&mut c.alt_stat_name);
                let eds_cluster_config = c.eds_cluster_config.take();
                let transport_socket = c.transport_socket.take();
                let transport_socket_matches = std::mem::take(&mut c.transport_socket_matches);
                let rest = super::wire::Indexed::new(c.encode_to_vec());
                // Those fields encoded as prost writes them (in tag order), without a whole
                // `Cluster` made to hold them.
                let mut own = Vec::new();
                {
                    use prost::encoding::{message, string};
                    if !name.is_empty() {
                        string::encode(1, &name, &mut own);
                    }
                    if let Some(e) = &eds_cluster_config {
                        message::encode(3, e, &mut own);
                    }
                    if let Some(t) = &transport_socket {
                        message::encode(24, t, &mut own);
                    }
                    if !alt_stat_name.is_empty() {
                        string::encode(28, &alt_stat_name, &mut own);
                    }
                    for m in &transport_socket_matches {
                        message::encode(43, m, &mut own);
                    }
                }
                let bytes = rest.merge(&own);
                out.push((Arc::from(name.as_str()), Arc::from(bytes), true));
                let eds_config = eds_cluster_config
                    .as_ref()
                    .map(|e| e.eds_config.as_ref().map(|c| c.encode_to_vec()));
                hollow = Some(Hollow {
                    eds_cluster_config,
                    eds_config,
                    rest,
                    policy: service.port_policy(port),
                });
            }
        }
        out
    }

    /// [`Self::inheriting_subset_cluster`]'s fields (with `base`'s EDS config `eds_config`,
    /// encoded), written directly: the bytes prost writes for that cluster. `None` for the
    /// TLS modes not written so.
    fn inheriting_subset_fields(
        &self,
        sc: &ServiceClusters<'_>,
        eds_config: Option<&[u8]>,
        port: &Port,
        subset: &str,
        name: &str,
        policy: Option<&TrafficPolicy>,
    ) -> Option<Vec<u8>> {
        use super::wire;
        let s = sc.service;
        let tls = super::tls::encoded_upstream_tls(
            self.upstream_tls(s, policy),
            (port.number, subset, &s.hostname),
            &sc.sans,
            port.protocol.is_http2(),
            &sc.tls,
        )?;
        let stat = super::cluster::stat_name(name);
        let eds_len =
            eds_config.map_or(0, |c| wire::len_field(1, c.len())) + wire::str_len(2, name);
        let mut out = Vec::with_capacity(
            2 * wire::str_len(1, name)
                + eds_len
                + 8
                + wire::str_len(28, &stat)
                + tls
                    .iter()
                    .map(|(f, b)| wire::len_field(*f, b.len()))
                    .sum::<usize>(),
        );
        // Cluster: name (1), eds_cluster_config (3: eds_config 1, service_name 2), then the
        // TLS fields and alt_stat_name (28) in number order.
        wire::put_str(&mut out, 1, name);
        wire::put_len(&mut out, 3, eds_len);
        if let Some(c) = eds_config {
            wire::put_field(&mut out, 1, c);
        }
        wire::put_str(&mut out, 2, name);
        for (field, bytes) in tls.iter().filter(|(f, _)| *f < 28) {
            wire::put_field(&mut out, *field, bytes);
        }
        wire::put_str(&mut out, 28, &stat);
        for (field, bytes) in tls.iter().filter(|(f, _)| *f > 28) {
            wire::put_field(&mut out, *field, bytes);
        }
        Some(out)
    }

    /// What a service's clusters are made from.
    fn service_context<'s>(&'s self, s: &'s Service) -> ServiceClusters<'s> {
        let proxy_ns = self.scope.proxy().config_namespace.as_str();
        let dr = self
            .scope
            .snapshot()
            .destination_rule_for(&s.hostname, &s.namespace, proxy_ns);
        let subsets: Vec<Option<&str>> = std::iter::once(None)
            .chain(
                dr.iter()
                    .flat_map(|d| d.spec.subsets.iter())
                    .map(|s| Some(s.name.as_str())),
            )
            .collect();
        let metadata = dr.map(|dr| {
            let ns = if dr.metadata.namespace.is_empty() {
                crate::model::DEFAULT_NAMESPACE
            } else {
                dr.metadata.namespace.as_str()
            };
            config_metadata("destination-rule", ns, &dr.metadata.name)
        });
        ServiceClusters {
            service: s,
            dr: dr.map(|d| &d.spec),
            subsets,
            sans: self.scope.snapshot().service_identities(s),
            metadata,
            tls: MutualTlsMemo::default(),
        }
    }

    /// The cluster of a subset that sets no traffic policy, from `base`, the port's cluster
    /// without a subset (EDS; or just its EDS config), under `policy`, the port's: `base`
    /// with the subset's names, EDS service name and TLS.
    fn inheriting_subset_cluster(
        &self,
        sc: &ServiceClusters<'_>,
        base: &Cluster,
        port: &Port,
        subset: &str,
        policy: Option<&TrafficPolicy>,
    ) -> Cluster {
        let s = sc.service;
        let name = outbound_cluster_name(port.number, subset, &s.hostname);
        let mut c = base.clone();
        c.alt_stat_name = super::cluster::stat_name(&name);
        if let Some(eds) = &mut c.eds_cluster_config {
            eds.service_name.clone_from(&name);
        }
        c.name = name;
        c.transport_socket = None;
        c.transport_socket_matches.clear();
        apply_upstream_tls_with(
            &mut c,
            self.upstream_tls(s, policy),
            (port.number, subset, &s.hostname),
            &sc.sans,
            port.protocol.is_http2(),
            &sc.tls,
        );
        c
    }

    /// How a cluster of `s` under `policy` does TLS.
    fn upstream_tls<'p>(&self, s: &Service, policy: Option<&'p TrafficPolicy>) -> UpstreamTls<'p> {
        match policy.and_then(|p| p.tls.as_ref()) {
            Some(t) => UpstreamTls::Configured(t),
            None if self.options.auto_mtls && !s.mesh_external => UpstreamTls::AutoMutual,
            None => UpstreamTls::None,
        }
    }

    /// The inbound passthrough cluster and one cluster per inbound port.
    fn inbound_clusters(&self) -> Vec<Cluster> {
        let defaults = self.cluster_defaults(Protocol::Tcp);
        let (ports, _) = self.inbound_ports();
        let mut out = vec![inbound_passthrough_cluster(&defaults)];
        let endpoints = self.ingress_default_endpoints();
        for p in &ports {
            let mut d = defaults.clone();
            d.port_is_http = matches!(p.protocol, PortProtocol::Http | PortProtocol::Http2);
            out.push(match endpoints.get(&p.port) {
                Some(address) => super::inbound::inbound_cluster_to(p.port, address.clone(), &d),
                None => inbound_cluster(p.port, &d),
            });
        }
        out
    }

    /// What a route configuration depends on besides the snapshot and options: its name, the
    /// proxy's namespace and DNS domain, its Sidecar resource, and its labels when a visible
    /// VirtualService matches on `sourceLabels` (otherwise proxies of a namespace share it).
    fn route_key(&self, name: &str) -> String {
        let proxy = self.scope.proxy();
        let sidecar = self
            .scope
            .sidecar()
            .map(|s| format!("{}/{}", s.metadata.namespace, s.metadata.name))
            .unwrap_or_default();
        let mut key = format!(
            "{name}\u{0}{}\u{0}{}\u{0}{sidecar}",
            proxy.config_namespace, proxy.dns_domain
        );
        let by_labels = self.scope.virtual_services().iter().any(|vs| {
            vs.spec
                .http
                .iter()
                .any(|r| r.r#match.iter().any(|m| !m.source_labels.is_empty()))
        });
        if by_labels {
            for (k, v) in &proxy.labels {
                key.push('\u{0}');
                key.push_str(k);
                key.push('=');
                key.push_str(v);
            }
        }
        key
    }

    /// The scope under which [`TranslationCache`] shares this proxy's view of services: its
    /// namespace (`*` when the namespace changes no DestinationRule or service choice, so that
    /// proxies of all such namespaces share) and locality.
    fn cache_scope(&self) -> String {
        let proxy = self.scope.proxy();
        let ns = proxy.config_namespace.as_str();
        let ns = if self.scope.snapshot().rules_independent_of(ns) {
            "*"
        } else {
            ns
        };
        format!("{ns}\u{0}{}", proxy.locality)
    }

    /// Everything, as [`Self::translate`], with the clusters and endpoint assignments shared
    /// through `cache` by every proxy of the same namespace and locality (istiod's XDS cache):
    /// a proxy after the first builds only its listeners, routes and inbound clusters. The
    /// cache must belong to this translator's snapshot and options.
    pub fn translate_shared(&self, cache: &TranslationCache) -> SharedResources {
        self.translate_shared_with(cache, None)
    }

    /// [`Self::translate_shared`] with route configurations encoded from `routes` (a cache
    /// kept across snapshots, so that after an edit only the virtual hosts whose inputs
    /// changed are rebuilt), shared by the proxies that see them alike, in
    /// [`SharedResources::encoded_routes`]; clusters and assignments made as bytes, in
    /// [`SharedResources::encoded_clusters`] and [`SharedResources::encoded_endpoints`].
    pub fn translate_shared_encoded(
        &self,
        cache: &TranslationCache,
        routes: &RouteCache,
    ) -> SharedResources {
        self.translate_shared_with(cache, Some(routes))
    }

    fn translate_shared_with(
        &self,
        cache: &TranslationCache,
        route_cache: Option<&RouteCache>,
    ) -> SharedResources {
        let scope = self.cache_scope();
        let encoded = route_cache.is_some();
        let services = self.scope.services();
        // Many services to build (the first proxy of its scope): spread the services and the
        // route configurations over the cache's threads. Each part is what it would be on one
        // thread, and the parts are put together in order.
        let missing = services
            .len()
            .saturating_sub(cache.services_in_scope(&scope, encoded));
        let threads = cache.threads();
        let (mut part, routes) = if threads > 1 && missing >= PARALLEL_MISSING_SERVICES {
            cache.count_parallel_fill();
            let chunks: Vec<&[&Service]> = services
                .chunks(services.len().div_ceil(threads * 32).max(8))
                .collect();
            // Each thread gathers the services it takes into one part, sorted on that
            // thread: putting the parts in order is then one merge. A service's clusters all
            // land in one part and names differ across services, so the merged order does not
            // depend on which thread took what.
            let mut routes = None;
            let mut part = ServicesPart::default();
            for (r, p) in super::par::fold(
                threads,
                chunks.len() + 1,
                || (None, ServicesPart::default()),
                |(routes, part), i| match i {
                    // The route configurations first: the longest job.
                    0 => *routes = Some(self.routes_part(cache, route_cache)),
                    i => self.services_part(cache, &scope, chunks[i - 1], encoded, true, part),
                },
                |(routes, mut part)| {
                    part.sort();
                    (routes, part)
                },
            ) {
                routes = routes.or(r);
                part.append(p);
            }
            (part, routes.expect("job 0 ran"))
        } else {
            let mut part = ServicesPart::default();
            self.services_part(cache, &scope, services, encoded, false, &mut part);
            (part, self.routes_part(cache, route_cache))
        };
        let defaults = self.cluster_defaults(Protocol::Tcp);
        let mut own = vec![blackhole_cluster(&defaults), passthrough_cluster(&defaults)];
        own.extend(self.inbound_clusters());
        // The proxy's own clusters (no inbound cluster is EDS today; one that were would
        // have its assignment built alone).
        for c in own {
            if encoded {
                if is_eds(&c)
                    && let Some(e) = self.endpoints_encoded(&c.name)
                {
                    part.encoded_endpoints
                        .push((Arc::from(c.name.as_str()), Arc::from(e)));
                }
                part.encoded_clusters
                    .push((Arc::from(c.name.as_str()), Arc::from(c.encode_to_vec())));
            } else {
                part.clusters.push(Arc::new(c));
            }
        }
        part.sort();
        let endpoints = part
            .clusters
            .iter()
            .filter(|c| is_eds(c))
            .filter_map(|c| cache.endpoints(&scope, &c.name, || self.endpoints(&c.name)))
            .collect();
        let mut warnings = self.warnings.clone();
        warnings.extend(self.custom_authz_errors());
        warnings.extend(routes.warnings);
        SharedResources {
            listeners: self.listeners(),
            routes: routes.routes,
            encoded_routes: routes.encoded_routes,
            clusters: part.clusters,
            encoded_clusters: part.encoded_clusters,
            endpoints,
            encoded_endpoints: part.encoded_endpoints,
            warnings,
        }
    }

    /// The clusters and assignments of `services`, shared through `cache` by the proxies of
    /// `scope`, added to `part`: typed, or `encoded`; `spread`: one part of several, on its
    /// own thread.
    fn services_part(
        &self,
        cache: &TranslationCache,
        scope: &str,
        services: &[&Service],
        encoded: bool,
        spread: bool,
        part: &mut ServicesPart,
    ) {
        let mut item = String::new();
        for s in services {
            item.clear();
            item.push_str(&s.namespace);
            item.push('/');
            item.push_str(&s.hostname);
            if !encoded {
                let own = cache.service_clusters(scope, &item, || self.service_clusters(s));
                // Typed assignments are taken in cluster order once the clusters are sorted;
                // spread over threads, built into the cache ahead of that.
                for c in own.iter().filter(|c| spread && is_eds(c)) {
                    cache.endpoints(scope, &c.name, || self.endpoints(&c.name));
                }
                part.clusters.extend(own.iter().cloned());
                continue;
            }
            // Encoded, a service's clusters and its assignments are each made together.
            let own = cache.encoded_clusters(scope, &item, || self.service_clusters_encoded(s));
            part.encoded_endpoints.extend(
                cache
                    .encoded_endpoints(scope, &item, || self.service_endpoints_encoded(&own))
                    .iter()
                    .cloned(),
            );
            part.encoded_clusters
                .extend(own.iter().map(|(n, b, _)| (Arc::clone(n), Arc::clone(b))));
        }
    }

    /// The route configurations (typed, or encoded through `route_cache`) shared through
    /// `cache`, with the warnings building them gave.
    fn routes_part(
        &self,
        cache: &TranslationCache,
        route_cache: Option<&RouteCache>,
    ) -> RoutesPart {
        let mut part = RoutesPart::default();
        for n in self.route_names() {
            match route_cache {
                None => {
                    let (route, w) = cache.route(self.route_key(&n), || {
                        let mut w = Vec::new();
                        (self.route_with_warnings(&n, &mut w), w)
                    });
                    part.warnings.extend(w);
                    part.routes.extend(route);
                }
                Some(rc) => {
                    let (route, w) = cache.encoded_route(self.route_key(&n), || {
                        let mut w = Vec::new();
                        (self.route_encoded_with_warnings(&n, rc, &mut w), w)
                    });
                    part.warnings.extend(w);
                    part.encoded_routes.extend(route.map(|r| (n, r)));
                }
            }
        }
        part
    }

    fn outbound_cluster(
        &self,
        sc: &ServiceClusters<'_>,
        port: &Port,
        subset: Option<&str>,
    ) -> Option<Cluster> {
        use envoy_cluster::DiscoveryType;
        let s = sc.service;
        let name = outbound_cluster_name(port.number, subset.unwrap_or(""), &s.hostname);
        let discovery = match s.resolution {
            Resolution::ClientSideLb => DiscoveryType::Eds,
            Resolution::DnsLb => DiscoveryType::StrictDns,
            Resolution::DnsRoundRobinLb => DiscoveryType::LogicalDns,
            Resolution::Passthrough | Resolution::Dynamic => DiscoveryType::OriginalDst,
        };
        let mut c = base_cluster(&name, discovery);
        c.metadata.clone_from(&sc.metadata);
        let policy = sc
            .dr
            .and_then(|dr| effective_traffic_policy(dr, subset, port.number));
        let defaults = self.cluster_defaults(port.protocol);
        apply_traffic_policy(&mut c, policy.as_ref(), &defaults);
        let locality = self.locality_setting(policy.as_ref());
        let outliers = policy
            .as_ref()
            .is_some_and(|p| p.outlier_detection.is_some());
        if let Some(l) = locality
            && super::locality::needs_locality_weighted_config(l, outliers)
        {
            c.common_lb_config
                .get_or_insert_with(Default::default)
                .locality_config_specifier = Some(
                envoy_cluster::common_lb_config::LocalityConfigSpecifier::LocalityWeightedLbConfig(
                    Default::default(),
                ),
            );
        }
        if matches!(
            discovery,
            DiscoveryType::StrictDns | DiscoveryType::LogicalDns
        ) {
            use envoy_types::pb::envoy::config::cluster::v3::cluster::DnsLookupFamily;
            c.dns_lookup_family = DnsLookupFamily::V4Only as i32;
            #[allow(deprecated)] // as istiod still writes them
            {
                c.respect_dns_ttl = true;
                c.dns_refresh_rate = Some(PbDuration {
                    seconds: 60,
                    nanos: 0,
                });
            }
            let mut cla = self.assignment(&name, s, port, subset)?;
            if let Some(l) = locality
                && !self.scope.proxy().locality.is_empty()
            {
                super::locality::apply_locality_lb(
                    &mut cla,
                    &self.scope.proxy().locality,
                    l,
                    outliers,
                );
            }
            if discovery == DiscoveryType::LogicalDns {
                // LOGICAL_DNS takes exactly one endpoint.
                cla.endpoints.truncate(1);
                if let Some(l) = cla.endpoints.first_mut() {
                    l.lb_endpoints.truncate(1);
                }
                if cla
                    .endpoints
                    .first()
                    .is_none_or(|l| l.lb_endpoints.is_empty())
                {
                    return None;
                }
            }
            c.load_assignment = Some(cla);
        }
        apply_upstream_tls_with(
            &mut c,
            self.upstream_tls(s, policy.as_ref()),
            (port.number, subset.unwrap_or(""), &s.hostname),
            &sc.sans,
            port.protocol.is_http2(),
            &sc.tls,
        );
        Some(c)
    }

    /// The assignment of `cluster`: the endpoints of `s` on `port`, narrowed to `subset`'s
    /// labels (`None` when no DestinationRule defines that subset).
    fn assignment(
        &self,
        cluster: &str,
        s: &Service,
        port: &Port,
        subset: Option<&str>,
    ) -> Option<ClusterLoadAssignment> {
        let labels = match subset {
            None => BTreeMap::new(),
            Some(name) => self
                .scope
                .snapshot()
                .destination_rule_for(
                    &s.hostname,
                    &s.namespace,
                    &self.scope.proxy().config_namespace,
                )
                .and_then(|dr| dr.spec.subsets.iter().find(|x| x.name == name))
                .map(|x| x.labels.clone())?,
        };
        Some(selected_cluster_load_assignment(
            cluster,
            s,
            port,
            &labels,
            self.scope.snapshot().service_workloads(s),
            &EndpointOptions::default(),
        ))
    }

    // ---- endpoints ----

    /// EDS: the assignment of one outbound cluster.
    pub fn endpoints(&self, cluster: &str) -> Option<ClusterLoadAssignment> {
        let proxy = self.scope.proxy();
        let mut cla = self
            .scope
            .snapshot()
            .outbound_endpoints(cluster, &proxy.config_namespace)?;
        // Proxies without a locality keep the assignments as they are (istiod would still
        // apply `failoverPriority` to them).
        if !proxy.locality.is_empty() {
            self.apply_locality(cluster, &mut cla);
        }
        Some(cla)
    }

    /// EDS encoded: [`Self::endpoints`] as protobuf bytes, written directly for proxies
    /// without a locality ([`Snapshot::outbound_endpoints_encoded`]), encoded from the
    /// typed assignment for the others (whose locality settings rewrite it).
    pub fn endpoints_encoded(&self, cluster: &str) -> Option<Vec<u8>> {
        self.endpoints_encoded_many(&[cluster]).pop().flatten()
    }

    /// [`Self::endpoints_encoded`] for each of `clusters`, in order, each endpoint encoded
    /// once for all the clusters of its service
    /// ([`Snapshot::outbound_endpoints_encoded_many`]).
    pub fn endpoints_encoded_many(&self, clusters: &[&str]) -> Vec<Option<Vec<u8>>> {
        let proxy = self.scope.proxy();
        if proxy.locality.is_empty() {
            self.scope
                .snapshot()
                .outbound_endpoints_encoded_many(clusters, &proxy.config_namespace)
        } else {
            clusters
                .iter()
                .map(|c| self.endpoints(c).map(|cla| cla.encode_to_vec()))
                .collect()
        }
    }

    /// The encoded assignments of a service's EDS clusters.
    fn service_endpoints_encoded(&self, clusters: &[EncodedCluster]) -> Vec<(Arc<str>, Arc<[u8]>)> {
        let eds: Vec<&Arc<str>> = clusters.iter().filter(|c| c.2).map(|c| &c.0).collect();
        let names: Vec<&str> = eds.iter().map(|n| &***n).collect();
        let encoded = self.endpoints_encoded_many(&names);
        // Each assignment shares its cluster's name.
        eds.into_iter()
            .zip(encoded)
            .filter_map(|(n, e)| Some((Arc::clone(n), Arc::from(e?))))
            .collect()
    }

    /// The locality setting that applies under `policy`: its own, else the mesh's.
    fn locality_setting<'p>(
        &'p self,
        policy: Option<&'p TrafficPolicy>,
    ) -> Option<&'p crate::api::networking::LocalityLoadBalancerSetting> {
        super::locality::effective_setting(
            self.options.locality_lb.as_ref(),
            policy
                .and_then(|p| p.load_balancer.as_ref())
                .and_then(|l| l.locality_lb_setting.as_ref()),
        )
    }

    /// Locality load balancing for this proxy on the assignment of `cluster`
    /// (`outbound|port|subset|host`), under the cluster's traffic policy.
    fn apply_locality(&self, cluster: &str, cla: &mut ClusterLoadAssignment) {
        let mut parts = cluster.splitn(4, '|');
        let (Some("outbound"), Some(port), Some(subset), Some(host)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let Ok(port) = port.parse::<u32>() else {
            return;
        };
        let proxy = self.scope.proxy();
        let service = self.scope.service(host);
        let policy = service.and_then(|s| {
            let dr = self.scope.snapshot().destination_rule_for(
                host,
                &s.namespace,
                &proxy.config_namespace,
            )?;
            effective_traffic_policy(&dr.spec, (!subset.is_empty()).then_some(subset), port)
        });
        let outliers = policy
            .as_ref()
            .is_some_and(|p| p.outlier_detection.is_some());
        let Some(l) = self.locality_setting(policy.as_ref()) else {
            return;
        };
        // The workload labels behind each endpoint address, for `failoverPriority`.
        let by_address: BTreeMap<&str, &BTreeMap<String, String>> = service
            .filter(|_| !l.failover_priority.is_empty())
            .map(|s| {
                self.scope
                    .snapshot()
                    .service_workloads(s)
                    .into_iter()
                    .flat_map(|w| w.addresses.iter().map(move |a| (a.as_str(), &w.labels)))
                    .collect()
            })
            .unwrap_or_default();
        let endpoint_labels = |ep: &envoy_types::pb::envoy::config::endpoint::v3::LbEndpoint| {
            use envoy_types::pb::envoy::config::core::v3::address;
            use envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier;
            let Some(HostIdentifier::Endpoint(e)) = &ep.host_identifier else {
                return None;
            };
            let Some(address::Address::SocketAddress(sa)) =
                e.address.as_ref().and_then(|a| a.address.as_ref())
            else {
                return None;
            };
            by_address.get(sa.address.as_str()).map(|l| (*l).clone())
        };
        super::locality::apply_locality_lb_with_labels(
            cla,
            &proxy.locality,
            &proxy.labels,
            &endpoint_labels,
            l,
            outliers,
        );
    }
}

/// istiod's de-duplication of virtual hosts: the first of each name is kept, and a domain
/// already claimed by an earlier virtual host is dropped from a later one (which is left out
/// when none remain), with a warning for each. Returns the kept candidates' indexes in
/// order, each with the domains to keep when not all. Compares borrowed names (no copies).
fn dedup_plan<H: VhostNaming, R>(
    candidates: &[(H, R)],
    warnings: &mut Vec<String>,
) -> Vec<(usize, Option<Vec<bool>>)> {
    let total: usize = candidates.iter().map(|c| c.0.domain_count()).sum();
    let mut names: FastSet<&str> = FastSet::default();
    names.reserve(candidates.len());
    let mut domains: FastSet<&str> = FastSet::default();
    domains.reserve(total);
    let mut plan = Vec::with_capacity(candidates.len());
    for (i, (head, _)) in candidates.iter().enumerate() {
        let name = head.name();
        if !names.insert(name) {
            warnings.push(format!("duplicate virtual host {name}; dropped"));
            continue;
        }
        let count = head.domain_count();
        let mut mask: Option<Vec<bool>> = None;
        for j in 0..count {
            if !domains.insert(head.domain(j)) {
                mask.get_or_insert_with(|| vec![true; count])[j] = false;
            }
        }
        if mask.is_some() {
            warnings.push(format!(
                "duplicate domains in virtual host {name}; dropped them"
            ));
        }
        let any = match &mask {
            None => count > 0,
            Some(m) => m.iter().any(|k| *k),
        };
        if any {
            plan.push((i, mask));
        }
    }
    plan
}

/// `route` with `metadata` (its encoded `Route.metadata` field) added, length-delimited: the
/// bytes prost writes for the route holding that metadata. prost writes fields in tag order,
/// a oneof at the place of its lowest tag whichever member is set: the match (1), the action
/// (route 2, redirect 3, direct_response 7, filter_action 17, non_forwarding_action 18), then
/// the metadata (4) and the rest.
fn put_route_with_metadata(out: &mut Vec<u8>, route: &Route, metadata: &[u8]) {
    super::wire::put_varint(out, (route.encoded_len() + metadata.len()) as u64);
    let start = out.len();
    route.encode_raw(out);
    let at = super::wire::each_field(&out[start..])
        .take_while(|(number, _, _)| matches!(number, 1 | 2 | 3 | 7 | 17 | 18))
        .last()
        .map_or(start, |(_, _, end)| start + end);
    out.splice(at..at, metadata.iter().copied());
}

/// The items whose `keep` flag is set.
fn kept<T>(items: impl IntoIterator<Item = T>, keep: &[bool]) -> Vec<T> {
    items
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(item, _)| item)
        .collect()
}

/// A virtual host's name and domains as planning reads them.
trait VhostNaming {
    fn name(&self) -> &str;
    fn domain_count(&self) -> usize;
    fn domain(&self, i: usize) -> &str;
}

impl VhostNaming for (String, Vec<String>) {
    fn name(&self) -> &str {
        &self.0
    }
    fn domain_count(&self) -> usize {
        self.1.len()
    }
    fn domain(&self, i: usize) -> &str {
        &self.1[i]
    }
}

impl VhostNaming for Arc<VhostHead> {
    fn name(&self) -> &str {
        VhostHead::name(self)
    }
    fn domain_count(&self) -> usize {
        VhostHead::domain_count(self)
    }
    fn domain(&self, i: usize) -> &str {
        VhostHead::domain(self, i)
    }
}

/// What a virtual host is named after.
#[derive(Clone, Copy)]
enum HeadSource<'s> {
    /// A service: its `host:port`, with the domains this proxy reaches it by.
    Service(&'s Service),
    /// A VirtualService host that names no service: itself.
    Host(&'s str),
}

/// The services among `services` with an HTTP port `port`.
fn http_on<'a>(services: &[&'a Service], port: u32) -> Vec<&'a Service> {
    services
        .iter()
        .copied()
        .filter(|s| s.port(port).is_some_and(|p| p.protocol.is_http()))
        .collect()
}

/// A Kubernetes headless service, whose domains include every pod's name (`*.host`).
fn headless_kubernetes(s: &Service) -> bool {
    s.registry == Registry::Kubernetes && s.resolution == Resolution::Passthrough
}

/// `util.AddConfigInfoMetadata`: `filter_metadata.istio.config` naming the Istio resource a
/// route or cluster came from, which `istioctl proxy-config` shows.
pub fn config_metadata(kind: &str, namespace: &str, name: &str) -> Metadata {
    let mut fields = crate::dump::proto_map();
    fields.insert(
        "config".to_string(),
        Value {
            kind: Some(value::Kind::StringValue(super::text::concat(&[
                "/apis/networking.istio.io/v1/namespaces/",
                namespace,
                "/",
                kind,
                "/",
                name,
            ]))),
        },
    );
    let mut filter_metadata = crate::dump::proto_map();
    filter_metadata.insert("istio".to_string(), Struct { fields });
    Metadata {
        filter_metadata,
        ..Default::default()
    }
}

/// The Istio resource (`name.namespace`) recorded by [`config_metadata`], if any.
pub fn config_of(metadata: Option<&Metadata>) -> Option<String> {
    let v = metadata?
        .filter_metadata
        .get("istio")?
        .fields
        .get("config")?;
    let Some(value::Kind::StringValue(path)) = &v.kind else {
        return None;
    };
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "apis", _, _, "namespaces", ns, _, name] => Some(format!("{name}.{ns}")),
        _ => None,
    }
}

/// Where a virtual host's routes come from.
enum RouteSource<'s> {
    /// The VirtualService claiming the host.
    VirtualService(&'s super::scope::ScopedVirtualService),
    /// No VirtualService: the default route to the service.
    Default(&'s Service),
}

/// `items` in name order without duplicate names (the first kept), each moved once (clusters
/// are large: sorting them in place would copy each many times).
fn sorted_by_name<T>(items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|a, b| name(&items[*a]).cmp(name(&items[*b])).then(a.cmp(b)));
    order.dedup_by(|a, b| name(&items[*a]) == name(&items[*b]));
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// What the clusters of one service share: its DestinationRule, identities and metadata.
struct ServiceClusters<'a> {
    service: &'a Service,
    dr: Option<&'a crate::api::networking::DestinationRuleSpec>,
    /// No subset, then the DestinationRule's subsets.
    subsets: Vec<Option<&'a str>>,
    sans: std::borrow::Cow<'a, [String]>,
    metadata: Option<Metadata>,
    /// The `ISTIO_MUTUAL` contexts of the service's clusters, encoded once.
    tls: MutualTlsMemo,
}

impl ServiceClusters<'_> {
    /// The traffic policy of `port` for the service's clusters without a subset (and the
    /// subsets that set none).
    fn port_policy(&self, port: &Port) -> Option<TrafficPolicy> {
        self.dr
            .and_then(|dr| effective_traffic_policy(dr, None, port.number))
    }

    /// Whether subset `name` takes the port's traffic policy as it is (it sets none).
    fn inherits(&self, name: &str) -> bool {
        self.dr.is_some_and(|dr| {
            dr.subsets
                .iter()
                .find(|s| s.name == name)
                .is_some_and(|s| s.traffic_policy.is_none())
        })
    }
}

fn is_eds(c: &Cluster) -> bool {
    c.cluster_discovery_type
        == Some(envoy_cluster::ClusterDiscoveryType::Type(
            envoy_cluster::DiscoveryType::Eds as i32,
        ))
}

fn inbound_protocol(p: Protocol) -> PortProtocol {
    if p.is_http2() {
        PortProtocol::Http2
    } else if p.is_http() {
        PortProtocol::Http
    } else if p.is_sniffed() {
        PortProtocol::Auto
    } else {
        PortProtocol::Tcp
    }
}

fn tcp_proxy(stat_prefix: &str, cluster: &str) -> Filter {
    super::listener::tcp_proxy_filter(stat_prefix, cluster)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MeshOptions, ProxyType, Store};

    /// Subsets without a traffic policy copy the port's cluster: exactly what building them
    /// whole gives, whatever the TLS (auto, ISTIO_MUTUAL with and without SNI, SIMPLE,
    /// DISABLE), port-level settings, HTTP/2 ports, and for DNS clusters (built whole).
    #[test]
    fn copied_subset_clusters_equal_built_ones() {
        let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: a, namespace: x}
spec: {clusterIP: 10.96.1.1, selector: {app: a}, ports: [{name: http, port: 80}, {name: grpc, port: 90}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a-1, namespace: x, labels: {app: a, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: a}
status: {podIP: 10.244.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: a-2, namespace: x, labels: {app: a, version: v2}}
spec: {serviceAccountName: a2}
status: {podIP: 10.244.1.2}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: x}
spec:
  host: a
  trafficPolicy:
    connectionPool: {http: {http1MaxPendingRequests: 7}}
    portLevelSettings:
    - port: {number: 90}
      tls: {mode: ISTIO_MUTUAL, sni: custom.example, subjectAltNames: [spiffe://other/ns/x/sa/y]}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}, trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: x}
spec: {clusterIP: 10.96.1.2, selector: {app: b}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: b, namespace: x}
spec:
  host: b
  trafficPolicy: {tls: {mode: SIMPLE, sni: b.example}}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: v1
kind: Service
metadata: {name: c, namespace: x}
spec: {clusterIP: 10.96.1.3, selector: {app: c}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: c, namespace: x}
spec:
  host: c
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}, loadBalancer: {simple: ROUND_ROBIN}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: v1
kind: Service
metadata: {name: d, namespace: x}
spec: {clusterIP: 10.96.1.4, selector: {app: d}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: d, namespace: x}
spec:
  host: d
  trafficPolicy: {tls: {mode: DISABLE}}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: e, namespace: x}
spec:
  hosts: [e.example]
  resolution: DNS
  ports: [{number: 443, name: https, protocol: HTTPS}]
  endpoints: [{address: e1.example, labels: {version: v1}}, {address: e2.example, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: e, namespace: x}
spec:
  host: e.example
  subsets: [{name: v1, labels: {version: v1}}]
"#;
        let mut store = Store::new(MeshOptions::default());
        store.apply_all(
            crate::load::from_str(yaml, "test.yaml")
                .expect("loads")
                .into_iter()
                .map(|l| l.object),
        );
        let snapshot = store.snapshot();
        let proxy = Proxy::for_workload(
            &snapshot.workloads()[0],
            ProxyType::Sidecar,
            "cluster.local",
        );
        let options = SidecarOptions::default();
        let t = SidecarTranslator::new(&snapshot, &proxy, &options);
        let mut copied = 0;
        for s in t.scope.services() {
            let built = t.service_clusters_with(s, false);
            let fast = t.service_clusters_with(s, true);
            assert_eq!(fast, built, "{}", s.hostname);
            // Encoded without building the copies: the bytes of the built clusters.
            let encoded: Vec<(String, Vec<u8>, bool)> = t
                .service_clusters_encoded(s)
                .into_iter()
                .map(|(n, b, eds)| (n.to_string(), b.to_vec(), eds))
                .collect();
            let expected: Vec<(String, Vec<u8>, bool)> = built
                .iter()
                .map(|c| (c.name.clone(), c.encode_to_vec(), is_eds(c)))
                .collect();
            assert_eq!(encoded, expected, "{}", s.hostname);
            copied += fast
                .iter()
                .filter(|c| is_eds(c) && c.name.contains("|v"))
                .count();
        }
        // a: 2 ports x (v1, v3); b, c (v1, v2), d: one or two each.
        assert!(copied >= 8, "{copied} subset clusters compared");
    }
}
