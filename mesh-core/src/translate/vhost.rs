//! Outbound virtual hosts and route configurations (istiod's `httproute.go`): the domains a
//! service answers to from a given proxy, the catch-all virtual host, and the route
//! configuration of an outbound HTTP port.
//!
//! ```
//! use mesh_core::translate::vhost::{DomainOptions, virtual_host_domains};
//!
//! let opts = DomainOptions::sidecar("default.svc.cluster.local");
//! let domains = virtual_host_domains("reviews.default.svc.cluster.local", &["10.96.0.12".into()], &opts);
//! assert_eq!(domains, [
//!     "reviews.default.svc.cluster.local", "reviews.default.svc.cluster.local.",
//!     "reviews", "reviews.default.svc", "reviews.default", "10.96.0.12",
//! ]);
//! ```

use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route,
    route_action, route_match,
};
use envoy_types::pb::google::protobuf::{BoolValue, Duration as PbDuration, UInt32Value};

use super::cluster::PASSTHROUGH_CLUSTER;
use super::text::{Decimal, concat};

/// Istio's cap on direct response bodies (1 MiB).
pub const MAX_DIRECT_RESPONSE_BODY_BYTES: u32 = 1024 * 1024;

/// How domains are generated for one proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DomainOptions {
    /// The proxy's DNS domain (`<namespace>.svc.cluster.local` for a Kubernetes pod).
    pub proxy_domain: String,
    /// The port to append (`host:port` variants); `None` for sidecars, whose route
    /// configurations ignore the port in host matching.
    pub port: Option<u32>,
    /// Add the absolute FQDN (`host.`), as `PILOT_ENABLE_ABSOLUTE_FQDN_VHOST_DOMAIN` does by default.
    pub absolute_fqdn: bool,
    /// The service is a headless Kubernetes service: every domain also gets a `*.` form.
    pub headless_kubernetes: bool,
}

impl DomainOptions {
    /// A sidecar in the namespace whose DNS domain is `proxy_domain`.
    pub fn sidecar(proxy_domain: impl Into<String>) -> Self {
        Self {
            proxy_domain: proxy_domain.into(),
            port: None,
            absolute_fqdn: true,
            headless_kubernetes: false,
        }
    }

    fn view(&self) -> DomainView<'_> {
        DomainView {
            proxy_domain: &self.proxy_domain,
            port: self.port,
            absolute_fqdn: self.absolute_fqdn,
            headless_kubernetes: self.headless_kubernetes,
        }
    }
}

/// [`DomainOptions`], borrowed.
#[derive(Clone, Copy)]
pub(crate) struct DomainView<'a> {
    pub(crate) proxy_domain: &'a str,
    pub(crate) port: Option<u32>,
    pub(crate) absolute_fqdn: bool,
    pub(crate) headless_kubernetes: bool,
}

/// Where generated domains go, each as parts to write one after another (so that none is
/// built as a string on its own unless the receiver wants one).
pub(crate) type DomainSink<'s> = dyn FnMut(&[&str]) + 's;

/// `host` + `suffix` (in brackets when it holds a `:`), then with `:port` when `port` is set;
/// each after `prefix`.
fn with_port(emit: &mut DomainSink<'_>, prefix: &str, host: &str, suffix: &str, port: Option<u32>) {
    let (open, close) = if host.contains(':') || suffix.contains(':') {
        ("[", "]")
    } else {
        ("", "")
    };
    emit(&[prefix, open, host, suffix, close]);
    if let Some(p) = port {
        emit(&[
            prefix,
            open,
            host,
            suffix,
            close,
            ":",
            Decimal::new(p).as_str(),
        ]);
    }
}

/// `generateVirtualHostDomains`: the service hostname, its alternative names as the proxy can
/// write them (absolute FQDN, short names when the namespaces allow), and its addresses.
pub fn virtual_host_domains(
    hostname: &str,
    addresses: &[String],
    opts: &DomainOptions,
) -> Vec<String> {
    virtual_host_domains_with_aliases(hostname, &[], addresses, opts)
}

/// [`virtual_host_domains`] for a service that also answers to alias hostnames.
pub fn virtual_host_domains_with_aliases(
    hostname: &str,
    aliases: &[String],
    addresses: &[String],
    opts: &DomainOptions,
) -> Vec<String> {
    let mut domains = Vec::new();
    for_each_domain(
        hostname,
        aliases,
        addresses.iter().map(String::as_str),
        opts.view(),
        &mut |parts| domains.push(concat(parts)),
    );
    domains
}

/// [`virtual_host_domains_with_aliases`], each domain given to `emit` in order.
pub(crate) fn for_each_domain<'a>(
    hostname: &str,
    aliases: &[String],
    addresses: impl Iterator<Item = &'a str>,
    opts: DomainView<'_>,
    emit: &mut DomainSink<'_>,
) {
    let hosts = || std::iter::once(hostname).chain(aliases.iter().map(String::as_str));
    for host in hosts() {
        with_port(emit, "", host, "", opts.port);
        alt_virtual_hosts(emit, "", host, opts);
    }
    if opts.headless_kubernetes {
        // Every name again as a wildcard (the pods' own names).
        for host in hosts() {
            with_port(emit, "*.", host, "", opts.port);
            alt_virtual_hosts(emit, "*.", host, opts);
        }
    }
    for addr in addresses.filter(|a| !a.is_empty() && *a != "0.0.0.0") {
        with_port(emit, "", addr, "", opts.port);
    }
}

/// `GenerateAltVirtualHosts`, each after `prefix`.
fn alt_virtual_hosts(
    emit: &mut DomainSink<'_>,
    prefix: &str,
    hostname: &str,
    opts: DomainView<'_>,
) {
    if opts.absolute_fqdn {
        if hostname.parse::<std::net::IpAddr>().is_err() {
            emit(&[prefix, hostname, "."]);
        }
        if let Some(p) = opts.port {
            emit(&[prefix, hostname, ".:", Decimal::new(p).as_str()]);
        }
    }
    let proxy_domain = opts.proxy_domain;
    if proxy_domain.contains(".svc.") {
        let suffix = proxy_domain
            .find(".svc.")
            .map_or(proxy_domain, |i| &proxy_domain[i..]);
        if hostname.ends_with(suffix) {
            alt_hosts_for_kubernetes_service(emit, prefix, hostname, opts);
        }
        return;
    }
    let host_parts: Vec<&str> = hostname.split('.').collect();
    let proxy_parts: Vec<&str> = proxy_domain.split('.').collect();
    let shared = host_parts
        .iter()
        .rev()
        .zip(proxy_parts.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    if shared == 0 {
        return;
    }
    let unique = &host_parts[..host_parts.len() - shared];
    let unique_host = unique.join(".");
    with_port(emit, prefix, &unique_host, "", opts.port);
    if unique.len() == 2 {
        let first_shared = host_parts[host_parts.len() - shared];
        with_port(
            emit,
            prefix,
            &unique_host,
            &concat(&[".", first_shared]),
            opts.port,
        );
    }
}

/// `generateAltVirtualHostsForKubernetesService`: same namespace gets `name`, `name.ns.svc`,
/// `name.ns`; another namespace gets `name.ns`, `name.ns.svc`. Each after `prefix`.
fn alt_hosts_for_kubernetes_service(
    emit: &mut DomainSink<'_>,
    prefix: &str,
    hostname: &str,
    opts: DomainView<'_>,
) {
    let proxy_ns = opts.proxy_domain.split(".svc.").next().unwrap_or_default();
    let Some(ih) = hostname.find(".svc.") else {
        return;
    };
    let Some(ns) = hostname.find('.') else {
        return;
    };
    if ns + 1 > ih {
        return;
    }
    let name = &hostname[..ns];
    let name_ns = &hostname[..ih];
    if &hostname[ns + 1..ih] == proxy_ns {
        with_port(emit, prefix, name, "", opts.port);
        with_port(emit, prefix, name_ns, ".svc", opts.port);
        with_port(emit, prefix, name_ns, "", opts.port);
    } else {
        with_port(emit, prefix, name_ns, "", opts.port);
        with_port(emit, prefix, name_ns, ".svc", opts.port);
    }
}

/// What an outbound port does with traffic to hosts it does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatchAll {
    /// `ALLOW_ANY`: forward to this cluster (`PassthroughCluster`, or the Sidecar's egress proxy).
    AllowAny(String),
    /// `REGISTRY_ONLY`: answer 502.
    RegistryOnly,
}

impl Default for CatchAll {
    fn default() -> Self {
        CatchAll::AllowAny(PASSTHROUGH_CLUSTER.to_string())
    }
}

/// `buildCatchAllVirtualHost`: `allow_any` (to the passthrough cluster, no timeout) or
/// `block_all` (502).
#[allow(deprecated)] // max_grpc_timeout, as istiod still writes it
pub fn catch_all_virtual_host(catch_all: &CatchAll) -> VirtualHost {
    let (name, action) = match catch_all {
        CatchAll::AllowAny(cluster) => (
            "allow_any",
            route::Action::Route(RouteAction {
                cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster.clone())),
                timeout: Some(PbDuration::default()),
                max_grpc_timeout: Some(PbDuration::default()),
                ..Default::default()
            }),
        ),
        CatchAll::RegistryOnly => (
            "block_all",
            route::Action::DirectResponse(DirectResponseAction {
                status: 502,
                ..Default::default()
            }),
        ),
    };
    VirtualHost {
        name: name.into(),
        domains: vec!["*".into()],
        routes: vec![Route {
            name: name.into(),
            r#match: Some(RouteMatch {
                path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
                ..Default::default()
            }),
            action: Some(action),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The route configuration of an outbound HTTP port (`buildSidecarOutboundHTTPRouteConfig`):
/// named by the port, virtual hosts sorted by name, then the catch-all; clusters not validated
/// (they arrive over CDS), port ignored in host matching, direct responses capped at 1 MiB.
pub fn outbound_route_configuration(
    name: &str,
    mut virtual_hosts: Vec<VirtualHost>,
    catch_all: &CatchAll,
) -> RouteConfiguration {
    virtual_hosts.sort_by(|a, b| a.name.cmp(&b.name));
    virtual_hosts.push(catch_all_virtual_host(catch_all));
    RouteConfiguration {
        name: name.to_string(),
        virtual_hosts,
        validate_clusters: Some(BoolValue { value: false }),
        max_direct_response_body_size_bytes: Some(UInt32Value {
            value: MAX_DIRECT_RESPONSE_BODY_BYTES,
        }),
        ignore_port_in_host_matching: true,
        ..Default::default()
    }
}

/// `util.DomainName`: the virtual host name `host:port`.
pub fn virtual_host_name(host: &str, port: u32) -> String {
    let port = Decimal::new(port);
    if host.contains(':') {
        concat(&["[", host, "]:", port.as_str()])
    } else {
        concat(&[host, ":", port.as_str()])
    }
}
