//! Gateways (`router` proxies, istiod's `gateway.go`): listeners per Gateway server port, TLS
//! termination with `credentialName` secrets, SNI passthrough, TCP, `httpsRedirect`, and routes
//! from the VirtualServices bound to the gateway.
//!
//! - Listeners `0.0.0.0_<port>` (bound), one per port across every Gateway selecting the proxy.
//!   Plain HTTP servers share one chain with routes `http.<port>`; each HTTPS server gets a chain
//!   matching its hosts as SNI, terminating TLS (`credentialName` as the SDS secrets
//!   `kubernetes://<name>` and `kubernetes://<name>-cacert` over ADS, `ISTIO_MUTUAL` with the
//!   workload certificate), with routes `https.<port>.<port name>.<gateway>.<namespace>`; TLS
//!   `PASSTHROUGH` servers get a chain per VirtualService `tls` match (its SNI hosts) proxying
//!   to the destination; TCP servers proxy per the VirtualService `tcp` routes.
//! - Routes: a virtual host per host a server and a bound VirtualService share (`host:port`,
//!   domain the host), routes of several VirtualServices on one host merged with catch-alls
//!   last, `require_tls: ALL` for `httpsRedirect` servers, and `blackhole:<port>` (404) when
//!   nothing is bound.
//! - Clusters and endpoints: every service the gateway's namespace sees, as for a sidecar.
//!
//! Not translated yet: `AUTO_PASSTHROUGH`, `bind`, HTTP/3, certificates from files
//! (`serverCertificate`), Gateway API resources.
//!
//! ```
//! use mesh_core::model::{MeshOptions, Proxy, ProxyType, Store};
//! use mesh_core::translate::gateway::translate_gateway;
//! use mesh_core::translate::sidecar::SidecarOptions;
//!
//! let objects = mesh_core::load::from_str(r#"
//! apiVersion: v1
//! kind: Service
//! metadata: {name: web, namespace: shop}
//! spec: {ports: [{name: http, port: 8080}], selector: {app: web}}
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: Gateway
//! metadata: {name: public, namespace: shop}
//! spec:
//!   selector: {istio: ingressgateway}
//!   servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["shop.example.com"]}]
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: web, namespace: shop}
//! spec:
//!   hosts: [shop.example.com]
//!   gateways: [public]
//!   http: [{route: [{destination: {host: web}}]}]
//! "#, "inline.yaml")?;
//! let mut store = Store::new(MeshOptions::default());
//! store.apply_all(objects.into_iter().map(|l| l.object));
//! let snapshot = store.snapshot();
//! let gw = Proxy::router("ingress-0", "istio-system", "10.244.0.3".parse()?,
//!     [("istio".to_string(), "ingressgateway".to_string())].into(), "cluster.local");
//! let config = translate_gateway(&snapshot, &gw, &SidecarOptions::default());
//! assert_eq!(config.listeners[0].name, "0.0.0.0_80");
//! assert_eq!(config.routes[0].name, "http.80");
//! assert_eq!(config.routes[0].virtual_hosts[0].name, "shop.example.com:80");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, TrafficDirection, TransportSocket,
    config_source, transport_socket,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::config::route::v3::{
    RouteConfiguration, VirtualHost, route_match, virtual_host,
};
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::{
    ForwardClientCertDetails, SetCurrentClientCertDetails,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    common_tls_context,
};
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};

use super::cluster::outbound_cluster_name;
use super::listener::{outbound_http_connection_manager, socket};
use super::route::{RouteContext, build_http_routes};
use super::scope::{ScopedVirtualService, exported_to, host_matches};
use super::sidecar::{ProxyResources, SidecarOptions, SidecarTranslator, config_metadata};
use super::tls::{SDS_DEFAULT, SDS_ROOT, TLS_TRANSPORT_SOCKET, sds_secret_config};
use super::vhost::{MAX_DIRECT_RESPONSE_BODY_BYTES, virtual_host_name};
use crate::api::networking::{Destination, GatewaySpec, RouteDestination, Server, ServerTlsMode};
use crate::api::{Kind, Object, Resource};
use crate::dump::to_any;
use crate::model::{Protocol, Proxy, Snapshot};

/// One server of a Gateway selecting the proxy.
#[derive(Clone, Debug)]
pub struct GatewayServer<'a> {
    /// The Gateway, `namespace/name`.
    pub gateway: String,
    /// The Gateway's namespace.
    pub namespace: String,
    /// The Gateway's name.
    pub name: String,
    /// The server.
    pub server: &'a Server,
}

impl GatewayServer<'_> {
    fn port(&self) -> u32 {
        self.server.port.as_ref().map_or(0, |p| p.number)
    }

    fn protocol(&self) -> Protocol {
        Protocol::parse(
            self.server
                .port
                .as_ref()
                .map_or("", |p| p.protocol.as_str()),
        )
    }

    fn tls_mode(&self) -> Option<ServerTlsMode> {
        self.server.tls.as_ref().map(|t| t.mode)
    }

    /// Terminates HTTP (plain HTTP, or HTTPS that is not passthrough).
    fn is_http(&self) -> bool {
        let p = self.protocol();
        p.is_http()
            || (p == Protocol::Https
                && !matches!(
                    self.tls_mode(),
                    Some(ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough) | None
                ))
    }

    fn is_passthrough(&self) -> bool {
        matches!(self.tls_mode(), Some(ServerTlsMode::Passthrough))
            && matches!(self.protocol(), Protocol::Https | Protocol::Tls)
    }

    /// `gatewayRDSRouteName`.
    pub fn route_name(&self) -> String {
        let port = self.port();
        if self.protocol().is_http() {
            format!("http.{port}")
        } else {
            let pname = self.server.port.as_ref().map_or("", |p| p.name.as_str());
            format!("https.{port}.{pname}.{}.{}", self.name, self.namespace)
        }
    }

    /// The server's hosts as `(namespace or "*", host)`; `./host` is the Gateway's namespace.
    fn hosts(&self) -> Vec<(String, String)> {
        self.server
            .hosts
            .iter()
            .map(|h| match h.split_once('/') {
                Some((".", host)) => (self.namespace.clone(), host.to_string()),
                Some((ns, host)) => (ns.to_string(), host.to_string()),
                None => ("*".to_string(), h.clone()),
            })
            .collect()
    }

    /// The hosts a VirtualService in `namespace` with `vs_hosts` shares with this server (the
    /// more specific of each matching pair, istiod's host intersection).
    fn shared_hosts(&self, vs_namespace: &str, vs_hosts: &[String]) -> Vec<String> {
        let mut out = BTreeSet::new();
        for (ns, sh) in self.hosts() {
            if ns != "*" && ns != vs_namespace {
                continue;
            }
            for vh in vs_hosts {
                if host_matches(&sh, vh) {
                    out.insert(vh.clone());
                } else if host_matches(vh, &sh) {
                    out.insert(sh.clone());
                }
            }
        }
        out.into_iter().collect()
    }

    /// The SNI names a TLS-terminating chain matches (none for `*`).
    fn sni_hosts(&self) -> Vec<String> {
        sni_names(self.hosts().into_iter().map(|(_, h)| h).collect())
    }
}

/// The servers of every Gateway whose selector matches the proxy, in Gateway key order.
pub fn gateway_servers<'a>(snapshot: &'a Snapshot, proxy: &Proxy) -> Vec<GatewayServer<'a>> {
    snapshot
        .objects_of(Kind::Gateway)
        .filter_map(|o| match o {
            Object::Gateway(g) => Some(g),
            _ => None,
        })
        .filter(|g| {
            g.spec
                .selector
                .iter()
                .all(|(k, v)| proxy.labels.get(k) == Some(v))
        })
        .flat_map(|g: &'a Resource<GatewaySpec>| {
            let ns = if g.metadata.namespace.is_empty() {
                crate::model::DEFAULT_NAMESPACE.to_string()
            } else {
                g.metadata.namespace.clone()
            };
            g.spec.servers.iter().map(move |s| GatewayServer {
                gateway: format!("{ns}/{}", g.metadata.name),
                namespace: ns.clone(),
                name: g.metadata.name.clone(),
                server: s,
            })
        })
        .collect()
}

/// The gateways (`ns/name`) a VirtualService in `namespace` binds to.
fn bound_gateways<'g>(
    namespace: &'g str,
    gateways: &'g [String],
) -> impl Iterator<Item = String> + 'g {
    gateways
        .iter()
        .filter(|g| g.as_str() != "mesh")
        .map(move |g| qualified(g, namespace))
}

/// The VirtualServices bound to any of `gateways` (`ns/name`), exported to the proxy's
/// namespace: hosts and destinations qualified, delegates merged, oldest first.
fn virtual_services_for_gateways(
    snapshot: &Snapshot,
    gateways: &BTreeSet<String>,
    proxy_namespace: &str,
) -> Vec<ScopedVirtualService> {
    super::scope::scoped_virtual_services(snapshot, |vs_namespace, bound| {
        bound_gateways(vs_namespace, bound).any(|g| gateways.contains(&g))
    })
    .into_iter()
    .filter(|v| exported_to(&v.spec.export_to, &v.namespace, proxy_namespace))
    .collect()
}

/// Translates everything for a gateway proxy.
pub fn translate_gateway(
    snapshot: &Snapshot,
    proxy: &Proxy,
    options: &SidecarOptions,
) -> ProxyResources {
    let servers = gateway_servers(snapshot, proxy);
    let mut warnings = Vec::new();
    let mut by_port: BTreeMap<u32, Vec<&GatewayServer<'_>>> = BTreeMap::new();
    for s in &servers {
        by_port.entry(s.port()).or_default().push(s);
    }
    let gateway_names: BTreeSet<String> = servers.iter().map(|s| s.gateway.clone()).collect();
    let mut vs_cache: BTreeMap<String, Vec<ScopedVirtualService>> = BTreeMap::new();
    for vs in virtual_services_for_gateways(snapshot, &gateway_names, &proxy.config_namespace) {
        for g in bound_gateways(&vs.namespace, &vs.spec.gateways) {
            if gateway_names.contains(&g) {
                vs_cache.entry(g).or_default().push(vs.clone());
            }
        }
    }
    let sidecar = SidecarTranslator::new(snapshot, proxy, options);
    let cluster_for = |d: &Destination, port: u32| {
        let p = match &d.port {
            Some(p) if p.number > 0 => p.number,
            _ => match sidecar.scope().service(&d.host).map(|s| s.ports.as_slice()) {
                Some([only]) => only.number,
                _ => port,
            },
        };
        outbound_cluster_name(p, &d.subset, &d.host)
    };

    let mut listeners = Vec::new();
    let mut routes: BTreeMap<String, Vec<&GatewayServer<'_>>> = BTreeMap::new();
    let clusters: Vec<_> = sidecar
        .clusters()
        .into_iter()
        .filter(|c| {
            !c.name.starts_with("inbound|") && c.name != super::inbound::INBOUND_PASSTHROUGH_CLUSTER
        })
        .collect();
    // AUTO_PASSTHROUGH: (SNI-DNAT cluster, the outbound cluster it copies).
    let mut sni_dnat: Vec<(String, String)> = Vec::new();
    for (port, servers) in &by_port {
        let mut chains = Vec::new();
        let mut needs_tls_inspector = false;
        let http_plain: Vec<&&GatewayServer<'_>> =
            servers.iter().filter(|s| s.protocol().is_http()).collect();
        if !http_plain.is_empty() {
            let name = format!("http.{port}");
            chains.push(hcm_chain(
                &format!("outbound_0.0.0.0_{port}"),
                &name,
                None,
                Vec::new(),
            ));
            routes
                .entry(name)
                .or_default()
                .extend(http_plain.iter().map(|s| **s));
        }
        // `CheckDuplicates`: a TLS host already served on the port skips the later server.
        let mut tls_hosts: BTreeSet<String> = BTreeSet::new();
        let mut claim = |hosts: &[String], what: &str, warnings: &mut Vec<String>| {
            let keys: Vec<String> = if hosts.is_empty() {
                vec!["*".to_string()]
            } else {
                hosts.to_vec()
            };
            let dup: Vec<&String> = keys.iter().filter(|h| tls_hosts.contains(*h)).collect();
            if !dup.is_empty() {
                warnings.push(format!(
                    "skipping {what} on port {port}: duplicate host names {dup:?}"
                ));
                return false;
            }
            tls_hosts.extend(keys);
            true
        };
        for s in servers
            .iter()
            .filter(|s| s.is_http() && !s.protocol().is_http())
        {
            if !claim(
                &s.sni_hosts(),
                &format!("server of gateway {}", s.gateway),
                &mut warnings,
            ) {
                continue;
            }
            let name = s.route_name();
            let tls = s.server.tls.as_ref().map(downstream_tls);
            let stat = if s.server.name.is_empty() {
                format!("outbound_0.0.0.0_{port}")
            } else {
                s.server.name.clone()
            };
            chains.push(hcm_chain(&stat, &name, tls, s.sni_hosts()));
            needs_tls_inspector = true;
            routes.entry(name).or_default().push(s);
        }
        for s in servers.iter().filter(|s| s.is_passthrough()) {
            for vs in vs_cache.get(&s.gateway).into_iter().flatten() {
                for rule in &vs.spec.tls {
                    let snis: Vec<String> = rule
                        .r#match
                        .iter()
                        .filter(|m| m.port == 0 || m.port == *port)
                        .filter(|m| {
                            m.gateways.is_empty()
                                || m.gateways
                                    .iter()
                                    .any(|g| qualified(g, &vs.namespace) == s.gateway)
                        })
                        .flat_map(|m| m.sni_hosts.iter().cloned())
                        .filter(|h| {
                            !s.shared_hosts(&vs.namespace, std::slice::from_ref(h))
                                .is_empty()
                        })
                        .collect();
                    if snis.is_empty() {
                        continue;
                    }
                    let snis = sni_names(snis);
                    if !claim(
                        &snis,
                        &format!("VirtualService {}/{}", vs.namespace, vs.name),
                        &mut warnings,
                    ) {
                        continue;
                    }
                    chains.push(FilterChain {
                        filter_chain_match: Some(FilterChainMatch {
                            server_names: snis,
                            ..Default::default()
                        }),
                        filters: vec![tcp_proxy(&rule.route, *port, &cluster_for)],
                        ..Default::default()
                    });
                    needs_tls_inspector = true;
                }
            }
        }
        for s in servers.iter().filter(|s| {
            !s.is_http()
                && !s.is_passthrough()
                && s.tls_mode() != Some(ServerTlsMode::AutoPassthrough)
        }) {
            let tcp = vs_cache
                .get(&s.gateway)
                .into_iter()
                .flatten()
                .find_map(|vs| {
                    if s.shared_hosts(&vs.namespace, &vs.spec.hosts).is_empty() {
                        return None;
                    }
                    vs.spec.tcp.iter().find(|r| {
                        r.r#match.is_empty()
                            || r.r#match.iter().any(|m| {
                                (m.port == 0 || m.port == *port)
                                    && (m.gateways.is_empty()
                                        || m.gateways
                                            .iter()
                                            .any(|g| qualified(g, &vs.namespace) == s.gateway))
                            })
                    })
                });
            match tcp {
                Some(r) => {
                    let terminate = s.server.tls.as_ref().map(downstream_tls);
                    needs_tls_inspector |= terminate.is_some();
                    chains.push(FilterChain {
                        filter_chain_match: terminate.is_some().then(|| FilterChainMatch {
                            server_names: s.sni_hosts(),
                            ..Default::default()
                        }),
                        filters: vec![tcp_proxy(&r.route, *port, &cluster_for)],
                        transport_socket: terminate.map(|t| tls_socket(&t)),
                        ..Default::default()
                    });
                }
                None => warnings.push(format!(
                    "gateway {} port {port}: no VirtualService tcp route for the server",
                    s.gateway
                )),
            }
        }
        // AUTO_PASSTHROUGH (istiod's `builtAutoPassthroughFilterChains`): a chain per cluster
        // of every mesh service the server's hosts cover, matched on the SNI an Istio mTLS
        // client sends for it (`outbound_.<port>_.<subset>_.<host>`) and Istio's mTLS ALPNs,
        // passing the client's TLS through to that cluster.
        for s in servers
            .iter()
            .filter(|s| s.tls_mode() == Some(ServerTlsMode::AutoPassthrough))
        {
            let hosts: Vec<String> = s.hosts().into_iter().map(|(_, h)| h).collect();
            for svc in sidecar.scope().services() {
                if svc.mesh_external || !hosts.iter().any(|h| host_matches(h, &svc.hostname)) {
                    continue;
                }
                for p in svc.ports.iter().filter(|p| p.protocol != Protocol::Udp) {
                    let mut subsets = vec![String::new()];
                    let prefix = format!("outbound|{}|", p.number);
                    let suffix = format!("|{}", svc.hostname);
                    subsets.extend(clusters.iter().filter_map(|c| {
                        c.name
                            .strip_prefix(&prefix)?
                            .strip_suffix(&suffix)
                            .filter(|sub| !sub.is_empty() && !sub.contains('|'))
                            .map(String::from)
                    }));
                    for subset in subsets {
                        let dnat = format!("outbound_.{}_.{subset}_.{}", p.number, svc.hostname);
                        if !claim(
                            std::slice::from_ref(&dnat),
                            &format!("AUTO_PASSTHROUGH server of gateway {}", s.gateway),
                            &mut warnings,
                        ) {
                            continue;
                        }
                        chains.push(FilterChain {
                            filter_chain_match: Some(FilterChainMatch {
                                server_names: vec![dnat.clone()],
                                application_protocols: super::inbound::ALL_ISTIO_MTLS_ALPNS
                                    .iter()
                                    .map(|a| (*a).to_string())
                                    .collect(),
                                ..Default::default()
                            }),
                            filters: vec![super::listener::tcp_proxy_filter(&dnat, &dnat)],
                            ..Default::default()
                        });
                        needs_tls_inspector = true;
                        sni_dnat.push((
                            dnat,
                            outbound_cluster_name(p.number, &subset, &svc.hostname),
                        ));
                    }
                }
            }
        }
        if chains.is_empty() {
            warnings.push(format!("port {port}: no filter chains; listener left out"));
            continue;
        }
        listeners.push(Listener {
            name: format!("0.0.0.0_{port}"),
            address: Some(socket("0.0.0.0", *port)),
            filter_chains: chains,
            listener_filters: if needs_tls_inspector {
                vec![ListenerFilter {
                    name: "envoy.filters.listener.tls_inspector".into(),
                    config_type: Some(listener_filter::ConfigType::TypedConfig(to_any(
                        &TlsInspector::default(),
                    ))),
                    ..Default::default()
                }]
            } else {
                Vec::new()
            },
            traffic_direction: TrafficDirection::Outbound as i32,
            ..Default::default()
        });
    }

    let mut route_configs = Vec::new();
    for (name, servers) in &routes {
        route_configs.push(gateway_route(name, servers, &vs_cache, proxy, &cluster_for));
    }

    let mut endpoints: Vec<_> = clusters
        .iter()
        .filter(|c| c.eds_cluster_config.is_some())
        .filter_map(|c| sidecar.endpoints(&c.name))
        .collect();
    // The SNI-DNAT clusters of AUTO_PASSTHROUGH chains (istiod's `sni-dnat` router mode):
    // copies of the outbound clusters, without TLS origination (the client's mTLS passes
    // through), with the same endpoints.
    let mut clusters = clusters;
    sni_dnat.sort();
    sni_dnat.dedup();
    for (dnat, base) in &sni_dnat {
        let Some(mut c) = clusters.iter().find(|c| c.name == *base).cloned() else {
            continue;
        };
        c.name.clone_from(dnat);
        c.alt_stat_name = format!("{dnat};");
        c.transport_socket = None;
        c.transport_socket_matches.clear();
        if let Some(eds) = c.eds_cluster_config.as_mut() {
            eds.service_name.clone_from(dnat);
            if let Some(mut cla) = sidecar.endpoints(base) {
                cla.cluster_name.clone_from(dnat);
                endpoints.push(cla);
            }
        }
        clusters.push(c);
    }
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    endpoints.sort_by(|a, b| a.cluster_name.cmp(&b.cluster_name));
    ProxyResources {
        listeners,
        routes: route_configs,
        clusters,
        endpoints,
        warnings,
    }
}

/// Server names as Envoy takes them: `*` means no SNI match at all.
fn sni_names(hosts: Vec<String>) -> Vec<String> {
    if hosts.iter().any(|h| h == "*") {
        Vec::new()
    } else {
        let mut hosts = hosts;
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

fn qualified(gateway: &str, namespace: &str) -> String {
    if gateway.contains('/') {
        gateway.to_string()
    } else {
        format!("{namespace}/{gateway}")
    }
}

/// The gateway flavour of the HTTP connection manager: the client address from the
/// connection (`use_remote_address`), client certificate details sanitized and set.
fn hcm_chain(
    stat_prefix: &str,
    rds: &str,
    tls: Option<DownstreamTlsContext>,
    server_names: Vec<String>,
) -> FilterChain {
    let mut hcm = outbound_http_connection_manager(stat_prefix, rds);
    hcm.use_remote_address = Some(BoolValue { value: true });
    hcm.forward_client_cert_details = ForwardClientCertDetails::SanitizeSet as i32;
    hcm.set_current_client_cert_details = Some(SetCurrentClientCertDetails {
        subject: Some(BoolValue { value: true }),
        cert: true,
        dns: true,
        uri: true,
        ..Default::default()
    });
    FilterChain {
        filter_chain_match: (tls.is_some() && !server_names.is_empty()).then(|| FilterChainMatch {
            server_names,
            ..Default::default()
        }),
        filters: vec![Filter {
            name: "envoy.filters.network.http_connection_manager".into(),
            config_type: Some(filter::ConfigType::TypedConfig(to_any(&hcm))),
        }],
        transport_socket: tls.map(|t| tls_socket(&t)),
        ..Default::default()
    }
}

fn tls_socket(ctx: &DownstreamTlsContext) -> TransportSocket {
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(to_any(ctx))),
    }
}

/// `ConstructSdsSecretConfigForCredential`: a Kubernetes secret served by the control plane
/// over ADS.
fn credential_sds(name: &str) -> SdsSecretConfig {
    let resource = if name.contains("://") {
        name.to_string()
    } else {
        format!("kubernetes://{name}")
    };
    SdsSecretConfig {
        name: resource,
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
                AggregatedConfigSource {},
            )),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

/// `BuildListenerTLSContext` for a gateway server.
fn downstream_tls(t: &crate::api::networking::ServerTlsSettings) -> DownstreamTlsContext {
    let require_client = matches!(t.mode, ServerTlsMode::Mutual | ServerTlsMode::IstioMutual);
    let mut common = CommonTlsContext {
        alpn_protocols: vec!["h2".into(), "http/1.1".into()],
        ..Default::default()
    };
    match t.mode {
        ServerTlsMode::IstioMutual => {
            common.tls_certificate_sds_secret_configs = vec![sds_secret_config(SDS_DEFAULT)];
            common.validation_context_type = Some(
                common_tls_context::ValidationContextType::ValidationContextSdsSecretConfig(
                    sds_secret_config(SDS_ROOT),
                ),
            );
        }
        _ if t.credential_name.is_empty()
            && t.credential_names.is_empty()
            && !t.server_certificate.is_empty() =>
        {
            // Certificates from files, served by the agent over SDS.
            common.tls_certificate_sds_secret_configs = vec![sds_secret_config(&format!(
                "file-cert:{}~{}",
                t.server_certificate, t.private_key
            ))];
            if matches!(
                t.mode,
                ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual
            ) && !t.ca_certificates.is_empty()
            {
                common.validation_context_type = Some(
                    common_tls_context::ValidationContextType::ValidationContextSdsSecretConfig(
                        sds_secret_config(&format!("file-root:{}", t.ca_certificates)),
                    ),
                );
            }
        }
        _ => {
            let names: Vec<&str> = if t.credential_names.is_empty() {
                vec![t.credential_name.as_str()]
            } else {
                t.credential_names.iter().map(String::as_str).collect()
            };
            common.tls_certificate_sds_secret_configs = names
                .iter()
                .filter(|n| !n.is_empty())
                .map(|n| credential_sds(n))
                .collect();
            let ca = if !t.ca_cert_credential_name.is_empty() {
                t.ca_cert_credential_name.clone()
            } else {
                format!("{}-cacert", names.first().copied().unwrap_or_default())
            };
            if matches!(
                t.mode,
                ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual
            ) {
                common.validation_context_type = Some(
                    common_tls_context::ValidationContextType::CombinedValidationContext(
                        common_tls_context::CombinedCertificateValidationContext {
                            default_validation_context: Some(CertificateValidationContext {
                                verify_certificate_spki: t.verify_certificate_spki.clone(),
                                verify_certificate_hash: t.verify_certificate_hash.clone(),
                                ..Default::default()
                            }),
                            validation_context_sds_secret_config: Some(credential_sds(&ca)),
                            ..Default::default()
                        },
                    ),
                );
            }
        }
    }
    DownstreamTlsContext {
        common_tls_context: Some(common),
        require_client_certificate: Some(BoolValue {
            value: require_client,
        }),
        ..Default::default()
    }
}

fn tcp_proxy(
    route: &[RouteDestination],
    port: u32,
    cluster_for: &dyn Fn(&Destination, u32) -> String,
) -> Filter {
    let named: Vec<(String, u32)> = route
        .iter()
        .filter_map(|r| {
            let d = r.destination.as_ref()?;
            Some((cluster_for(d, port), u32::try_from(r.weight).unwrap_or(0)))
        })
        .collect();
    let default = named
        .first()
        .map_or(super::cluster::BLACKHOLE_CLUSTER, |(n, _)| n.as_str())
        .to_string();
    super::listener::weighted_tcp_proxy_filter(&named, &default)
}

/// `buildGatewayHTTPRouteConfig`.
fn gateway_route(
    name: &str,
    servers: &[&GatewayServer<'_>],
    vs_cache: &BTreeMap<String, Vec<ScopedVirtualService>>,
    proxy: &Proxy,
    cluster_for: &dyn Fn(&Destination, u32) -> String,
) -> RouteConfiguration {
    let mut vhosts: BTreeMap<String, VirtualHost> = BTreeMap::new();
    let mut port = 0;
    for s in servers {
        port = s.port();
        let redirect = s.server.tls.as_ref().is_some_and(|t| t.https_redirect);
        for vs in vs_cache.get(&s.gateway).into_iter().flatten() {
            let shared = s.shared_hosts(&vs.namespace, &vs.spec.hosts);
            if shared.is_empty() {
                continue;
            }
            let cluster_name = |d: &Destination| cluster_for(d, port);
            let mut ctx = RouteContext::new(port, &cluster_name);
            ctx.is_tls = s.server.tls.is_some();
            ctx.gateways = vec![s.gateway.clone()];
            ctx.proxy_labels = proxy.labels.clone();
            ctx.proxy_namespace = proxy.config_namespace.clone();
            let mut routes = build_http_routes(&vs.spec.http, &ctx);
            let meta = config_metadata("virtual-service", &vs.namespace, &vs.name);
            for r in &mut routes {
                r.metadata = Some(meta.clone());
            }
            for host in shared {
                let host = host.to_lowercase();
                let vh = vhosts.entry(host.clone()).or_insert_with(|| VirtualHost {
                    name: virtual_host_name(&host, port),
                    domains: vec![host.clone()],
                    ..Default::default()
                });
                vh.routes.extend(routes.iter().cloned());
                if redirect {
                    vh.require_tls = virtual_host::TlsRequirementType::All as i32;
                }
            }
        }
        if redirect {
            for (_, host) in s.hosts() {
                let host = host.to_lowercase();
                let vh = vhosts.entry(host.clone()).or_insert_with(|| VirtualHost {
                    name: virtual_host_name(&host, port),
                    domains: vec![host.clone()],
                    ..Default::default()
                });
                vh.require_tls = virtual_host::TlsRequirementType::All as i32;
            }
        }
    }
    let mut virtual_hosts: Vec<VirtualHost> = if vhosts.is_empty() {
        vec![VirtualHost {
            name: virtual_host_name("blackhole", port),
            domains: vec!["*".into()],
            ..Default::default()
        }]
    } else {
        collapse_duplicate_routes(vhosts)
    };
    for vh in &mut virtual_hosts {
        // `SortVHostRoutes`: catch-all routes go last, the others keep their order.
        let (catch_all, specific): (Vec<_>, Vec<_>) = std::mem::take(&mut vh.routes)
            .into_iter()
            .partition(is_catch_all);
        vh.routes = specific.into_iter().chain(catch_all).collect();
    }
    virtual_hosts.sort_by(|a, b| a.name.cmp(&b.name));
    RouteConfiguration {
        name: name.to_string(),
        virtual_hosts,
        validate_clusters: Some(BoolValue { value: false }),
        ignore_port_in_host_matching: true,
        max_direct_response_body_size_bytes: Some(UInt32Value {
            value: MAX_DIRECT_RESPONSE_BODY_BYTES,
        }),
        ..Default::default()
    }
}

/// `collapseDuplicateRoutes`: hosts (in name order) whose routes and TLS requirement are the
/// same share one virtual host, the first host's, with every host as a domain.
fn collapse_duplicate_routes(vhosts: BTreeMap<String, VirtualHost>) -> Vec<VirtualHost> {
    let mut out: Vec<VirtualHost> = Vec::new();
    // Candidates by a cheap key (TLS requirement; each route's name, source and cluster);
    // equality decides.
    let mut known: std::collections::HashMap<u64, Vec<usize>> = std::collections::HashMap::new();
    for (_, vh) in vhosts {
        let mut f = super::cache::Fingerprint::default();
        f.u64(u64::try_from(vh.require_tls).unwrap_or(0));
        for r in &vh.routes {
            f.str(&r.name);
            f.str(&super::sidecar::config_of(r.metadata.as_ref()).unwrap_or_default());
            if let Some(envoy_types::pb::envoy::config::route::v3::route::Action::Route(a)) =
                &r.action
                && let Some(
                    envoy_types::pb::envoy::config::route::v3::route_action::ClusterSpecifier::Cluster(c),
                ) = &a.cluster_specifier
            {
                f.str(c);
            }
        }
        let key = f.value();
        let same = known
            .get(&key)
            .and_then(|idx| idx.iter().copied().find(|i| out[*i].routes == vh.routes));
        match same {
            Some(i) => out[i].domains.extend(vh.domains),
            None => {
                known.entry(key).or_default().push(out.len());
                out.push(vh);
            }
        }
    }
    out
}

fn is_catch_all(r: &envoy_types::pb::envoy::config::route::v3::Route) -> bool {
    let Some(m) = &r.r#match else { return false };
    let all = match &m.path_specifier {
        Some(route_match::PathSpecifier::Prefix(p)) => p == "/",
        Some(route_match::PathSpecifier::SafeRegex(r)) => r.regex == ".*",
        _ => false,
    };
    all && m.headers.is_empty() && m.query_parameters.is_empty()
}
