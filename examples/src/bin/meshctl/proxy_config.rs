//! `meshctl proxy-config`: the Envoy configuration istiod would send one workload's sidecar,
//! computed from a directory of manifests, printed as `istioctl proxy-config` prints it.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{HealthStatus, address, socket_address};
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChainMatch, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{
    RouteConfiguration, RouteMatch, route, route_action, route_match,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use mesh_core::load::{LoadOptions, Loader};
use mesh_core::model::{MeshOptions, Proxy, ProxyType, Snapshot, Store, Workload};
use mesh_core::translate::bootstrap::{BootstrapOptions, static_bootstrap};
use mesh_core::translate::sidecar::{ProxyResources, SidecarOptions, config_of};
use mesh_core::translate::translate_proxy;
use prost::Message;

use crate::validate::collect;

/// Arguments of `meshctl proxy-config`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to print.
    #[arg(value_parser = ["listeners", "listener", "routes", "route", "clusters", "cluster", "endpoints", "endpoint", "all"])]
    what: String,
    /// Directories or files of manifests (Kubernetes and Istio YAML), searched recursively.
    #[arg(long = "config", short = 'f', required = true, num_args = 1..)]
    config: Vec<String>,
    /// The workload: `NAME.NAMESPACE` of a Pod (or of a Deployment's or StatefulSet's pod,
    /// named `<owner>-<i>`), or `deploy/NAME.NAMESPACE` for a Deployment's first pod.
    #[arg(long)]
    pod: String,
    /// `short` (istioctl's tables), `json` (config-dump JSON), or `bootstrap` (a complete
    /// Envoy bootstrap with these resources as static resources).
    #[arg(short = 'o', long = "output", default_value = "short", value_parser = ["short", "json", "bootstrap"])]
    output: String,
    /// Mesh-wide `outboundTrafficPolicy.mode: REGISTRY_ONLY`.
    #[arg(long)]
    registry_only: bool,
    /// Istio's mesh configuration (the `mesh` of the `istio` ConfigMap, YAML): its
    /// `extensionProviders` (external authorization for CUSTOM policies) and
    /// `trustDomainAliases`.
    #[arg(long)]
    mesh_config: Option<std::path::PathBuf>,
}

/// The sidecar options of a mesh configuration file, or the defaults.
pub fn mesh_options(path: Option<&std::path::Path>) -> Result<SidecarOptions> {
    let Some(path) = path else {
        return Ok(SidecarOptions::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --mesh-config {}", path.display()))?;
    let mesh = mesh_core::api::mesh::MeshConfig::from_yaml(&text, &path.display().to_string())?;
    Ok(SidecarOptions::from_mesh_config(&mesh))
}

/// Runs the command.
pub fn run(args: &Args) -> Result<std::process::ExitCode> {
    let snapshot = load(&args.config)?;
    let workload = find_workload(&snapshot, &args.pod)?;
    let domain = snapshot.options().domain_suffix.clone();
    // A workload a Gateway selects is a gateway (router) proxy, as istiod sees it.
    let proxy_type = if gateway_for(&snapshot, workload).is_some() {
        ProxyType::Router
    } else {
        ProxyType::Sidecar
    };
    let proxy = Proxy::for_workload(workload, proxy_type, &domain);
    let mut options = mesh_options(args.mesh_config.as_deref())?;
    options.registry_only = args.registry_only;
    let out = translate_proxy(&snapshot, &proxy, &options);
    for w in &out.warnings {
        eprintln!("meshctl: warning: {w}");
    }
    let mut stdout = std::io::stdout().lock();
    let text = match args.output.as_str() {
        "bootstrap" => {
            let b = static_bootstrap(&out, &proxy.node_id(), &BootstrapOptions::default());
            serde_json::to_string_pretty(&mesh_core::dump::message_to_json(&b)?)?
        }
        "json" => json(&out, &args.what)?,
        _ => short(&out, &args.what),
    };
    writeln!(stdout, "{}", text.trim_end())?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Every object in the given files, as a snapshot. Files that do not load are reported and
/// skipped object by object, as the API server would refuse them.
pub(crate) fn load(paths: &[String]) -> Result<Snapshot> {
    let loader = Loader::new(LoadOptions::lenient());
    let mut store = Store::new(MeshOptions::default());
    for p in paths {
        for path in collect(Path::new(p))? {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            let out = loader.load_str(&text, &path.display().to_string());
            for e in &out.errors {
                eprintln!("meshctl: warning: skipped: {e}");
            }
            store.apply_all(out.objects.into_iter().map(|l| l.object));
        }
    }
    Ok(store.snapshot())
}

pub(crate) fn find_workload<'a>(snapshot: &'a Snapshot, pod: &str) -> Result<&'a Workload> {
    let (deploy, rest) = match pod
        .strip_prefix("deploy/")
        .or_else(|| pod.strip_prefix("deployment/"))
    {
        Some(r) => (true, r),
        None => (false, pod),
    };
    let (name, namespace) = rest.rsplit_once('.').unwrap_or((rest, "default"));
    let wanted = if deploy {
        format!("{name}-0")
    } else {
        name.to_string()
    };
    snapshot
        .workloads()
        .iter()
        .find(|w| w.name == wanted && w.namespace == namespace)
        .with_context(|| {
            let known: Vec<String> = snapshot
                .workloads()
                .iter()
                .map(|w| format!("{}.{}", w.name, w.namespace))
                .collect();
            format!(
                "no workload {wanted}.{namespace} in the configuration (workloads: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })
}

/// The Gateway (`namespace/name`) whose selector matches the workload, if any.
fn gateway_for(snapshot: &Snapshot, w: &Workload) -> Option<String> {
    snapshot
        .objects_of(mesh_core::api::Kind::Gateway)
        .find_map(|o| match o {
            mesh_core::api::Object::Gateway(g)
                if !g.spec.selector.is_empty() && w.matches(&g.spec.selector) =>
            {
                Some(format!("{}/{}", g.metadata.namespace, g.metadata.name))
            }
            _ => None,
        })
}

fn json(out: &ProxyResources, what: &str) -> Result<String> {
    fn list<M: prost::Message + prost::Name>(items: &[M]) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Array(
            items
                .iter()
                .map(mesh_core::dump::message_to_json)
                .collect::<Result<_, _>>()?,
        ))
    }
    let value = match what.trim_end_matches('s') {
        "listener" => list(&out.listeners)?,
        "route" => list(&out.routes)?,
        "cluster" => list(&out.clusters)?,
        "endpoint" => list(&out.endpoints)?,
        _ => out.config_dump("1").to_json()?,
    };
    Ok(serde_json::to_string_pretty(&value)?)
}

/// istioctl's tables; `all` prints every table with the resource type in a NAME column.
pub fn short(out: &ProxyResources, what: &str) -> String {
    match what.trim_end_matches('s') {
        "listener" => listeners_table(&out.listeners, false),
        "route" => routes_table(&out.routes, false),
        "cluster" => clusters_table(&out.clusters, false),
        "endpoint" => endpoints_table(&out.endpoints, false),
        _ => [
            clusters_table(&out.clusters, true),
            listeners_table(&out.listeners, true),
            routes_table(&out.routes, true),
            endpoints_table(&out.endpoints, true),
        ]
        .join("\n"),
    }
}

/// Go's `text/tabwriter` as istioctl uses it: cells padded to the widest in their column
/// plus `padding`, the last cell of a line left as is.
pub(crate) fn tabulate(rows: &[Vec<String>], padding: usize) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut s = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                let _ = write!(s, "{cell:<w$}", w = widths[i] + padding);
            } else {
                s.push_str(cell);
            }
        }
        s.push('\n');
    }
    s
}

fn typed_config<M: Message + Default>(f: &Filter) -> Option<M> {
    match &f.config_type {
        Some(filter::ConfigType::TypedConfig(any)) => M::decode(any.value.as_slice()).ok(),
        _ => None,
    }
}

fn listener_address(l: &Listener) -> (String, u32) {
    match l.address.as_ref().and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(sa)) => (
            sa.address.clone(),
            match sa.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => p,
                _ => 0,
            },
        ),
        // A Unix domain socket listener shows its path, as istioctl does.
        Some(address::Address::Pipe(p)) => (p.path.clone(), 0),
        _ => (String::new(), 0),
    }
}

/// `getMatches`.
fn describe_chain_match(m: Option<&FilterChainMatch>) -> String {
    let default = FilterChainMatch::default();
    let m = m.unwrap_or(&default);
    let mut d = Vec::new();
    if !m.server_names.is_empty() {
        d.push(format!("SNI: {}", m.server_names.join(",")));
    }
    if !m.transport_protocol.is_empty() {
        d.push(format!("Trans: {}", m.transport_protocol));
    }
    if !m.application_protocols.is_empty() {
        let alpn: Vec<&str> = m.application_protocols.iter().map(String::as_str).collect();
        let named = match alpn.as_slice() {
            [
                "http/1.0",
                "http/1.1",
                "h2c",
                "istio-http/1.0",
                "istio-http/1.1",
                "istio-h2",
            ] => "App: HTTP TLS".to_string(),
            ["istio", "istio-http/1.0", "istio-http/1.1", "istio-h2"] => {
                "App: Istio HTTP Plain".to_string()
            }
            ["istio-peer-exchange", "istio"] => "App: TCP TLS".to_string(),
            ["http/1.0", "http/1.1", "h2c"] => "App: HTTP".to_string(),
            other => format!("App: {}", other.join(",")),
        };
        d.push(named);
    }
    let port = m
        .destination_port
        .as_ref()
        .map(|p| format!(":{}", p.value))
        .unwrap_or_default();
    if !m.prefix_ranges.is_empty() {
        let ranges: Vec<String> = m
            .prefix_ranges
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r.address_prefix,
                    r.prefix_len.as_ref().map_or(0, |v| v.value)
                )
            })
            .collect();
        d.push(format!("Addr: {}{port}", ranges.join(",")));
    } else if !port.is_empty() {
        d.push(format!("Addr: *{port}"));
    }
    if d.is_empty() {
        "ALL".into()
    } else {
        d.join("; ")
    }
}

/// `getFilterType`.
fn describe_destination(filters: &[Filter]) -> String {
    for f in filters {
        if f.name == "envoy.filters.network.http_connection_manager" {
            let Some(hcm) = typed_config::<HttpConnectionManager>(f) else {
                return "HTTP".into();
            };
            return match &hcm.route_specifier {
                Some(RouteSpecifier::RouteConfig(rc)) => describe_inline_routes(rc),
                Some(RouteSpecifier::Rds(rds)) if !rds.route_config_name.is_empty() => {
                    format!("Route: {}", rds.route_config_name)
                }
                _ => "HTTP".into(),
            };
        }
        if f.name == "envoy.filters.network.tcp_proxy" {
            let Some(tcp) = typed_config::<TcpProxy>(f) else {
                continue;
            };
            match &tcp.cluster_specifier {
                Some(tcp_proxy::ClusterSpecifier::Cluster(c)) if c == "BlackHoleCluster" => {}
                Some(tcp_proxy::ClusterSpecifier::Cluster(c)) if c.contains("Cluster") => {
                    return c.clone();
                }
                Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => return format!("Cluster: {c}"),
                _ => return "Cluster: ".into(),
            }
        }
    }
    "Non-HTTP/Non-TCP".into()
}

fn describe_match(m: Option<&RouteMatch>) -> String {
    let mut conds = Vec::new();
    match m.and_then(|m| m.path_specifier.as_ref()) {
        Some(route_match::PathSpecifier::Prefix(p)) if !p.is_empty() => conds.push(format!("{p}*")),
        Some(route_match::PathSpecifier::PathSeparatedPrefix(p)) if !p.is_empty() => {
            conds.push(format!("PathPrefix:{p}"))
        }
        Some(route_match::PathSpecifier::Path(p)) if !p.is_empty() => conds.push(p.clone()),
        Some(route_match::PathSpecifier::SafeRegex(r)) => conds.push(format!("regex {}", r.regex)),
        _ => {}
    }
    conds.join(" ")
}

fn describe_inline_routes(rc: &RouteConfiguration) -> String {
    if let [vh] = rc.virtual_hosts.as_slice()
        && vh.domains == ["*"]
        && let [r] = vh.routes.as_slice()
        && matches!(r.r#match.as_ref().and_then(|m| m.path_specifier.as_ref()), Some(route_match::PathSpecifier::Prefix(p)) if p == "/")
        && let Some(route::Action::Route(a)) = &r.action
        && let Some(route_action::ClusterSpecifier::Cluster(c)) = &a.cluster_specifier
    {
        return if c.contains("Cluster") {
            c.clone()
        } else {
            format!("Cluster: {c}")
        };
    }
    let vhosts: Vec<String> = rc
        .virtual_hosts
        .iter()
        .map(|vh| {
            let routes: Vec<String> = vh
                .routes
                .iter()
                .map(|r| describe_match(r.r#match.as_ref()))
                .collect();
            let routes = routes.join(", ");
            if vh.domains.len() == 1 && vh.domains[0] == "*" {
                routes
            } else {
                format!("{} {routes}", vh.domains.join("/"))
            }
        })
        .collect();
    format!("Inline Route: {}", vhosts.join("; "))
}

fn listeners_table(listeners: &[Listener], typed: bool) -> String {
    let mut sorted: Vec<&Listener> = listeners.iter().collect();
    sorted.sort_by(|a, b| {
        let (aa, ap) = listener_address(a);
        let (ba, bp) = listener_address(b);
        (ap, aa).cmp(&(bp, ba))
    });
    let mut rows = vec![header(
        typed,
        &["ADDRESSES", "PORT", "MATCH", "DESTINATION"],
    )];
    for l in sorted {
        let (addr, port) = listener_address(l);
        let mut matches: Vec<(String, String)> = l
            .filter_chains
            .iter()
            .map(|c| {
                (
                    describe_chain_match(c.filter_chain_match.as_ref()),
                    describe_destination(&c.filters),
                )
            })
            .collect();
        if let Some(d) = &l.default_filter_chain {
            matches.push((
                describe_chain_match(d.filter_chain_match.as_ref()),
                describe_destination(&d.filters),
            ));
        }
        // istioctl sorts a listener's chains by destination, descending.
        matches.sort_by(|a, b| b.1.cmp(&a.1));
        for (m, d) in matches {
            rows.push(row(
                typed,
                format!("listener/{}", l.name),
                vec![addr.clone(), port.to_string(), m, d],
            ));
        }
    }
    tabulate(&rows, 1)
}

fn header(typed: bool, cols: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if typed {
        out.push("NAME".into());
    }
    out.extend(cols.iter().map(|c| c.to_string()));
    out
}

fn row(typed: bool, name: String, cells: Vec<String>) -> Vec<String> {
    if typed {
        std::iter::once(name).chain(cells).collect()
    } else {
        cells
    }
}

/// `describeRouteDomains`: at most two port-less domains, the short forms preferred.
fn describe_domains(domains: &[String]) -> String {
    match domains {
        [] => return String::new(),
        [one] => return one.clone(),
        _ => {}
    }
    let without_port: Vec<&str> = domains
        .iter()
        .map(String::as_str)
        .filter(|d| !d.contains(':') || (d.matches(':').count() > 2 && d.ends_with(']')))
        .collect();
    let unique: std::collections::BTreeSet<&str> = without_port.iter().copied().collect();
    let kept: Vec<&str> = without_port
        .iter()
        .copied()
        .filter(|h| {
            let full = h.strip_suffix(".svc.cluster.local");
            let partial = h.strip_suffix(".svc");
            !(full.is_some_and(|f| unique.contains(f))
                || partial.is_some_and(|p| unique.contains(p)))
        })
        .collect();
    if kept.len() > 2 {
        format!("{} + {} more...", kept[..2].join(", "), kept.len() - 2)
    } else {
        kept.join(", ")
    }
}

fn routes_table(routes: &[RouteConfiguration], typed: bool) -> String {
    let mut rows = vec![header(
        typed,
        &["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"],
    )];
    if typed {
        // The NAME column holds the typed name, the route name column stays.
        rows[0].remove(0);
    }
    for rc in routes {
        let name = if typed {
            format!("route/{}", rc.name)
        } else {
            rc.name.clone()
        };
        for vh in &rc.virtual_hosts {
            for r in &vh.routes {
                let passthrough = matches!(&r.action, Some(route::Action::Route(a))
                    if matches!(&a.cluster_specifier, Some(route_action::ClusterSpecifier::Cluster(c)) if c == "PassthroughCluster"));
                if passthrough {
                    continue;
                }
                rows.push(vec![
                    name.clone(),
                    vh.name.clone(),
                    describe_domains(&vh.domains),
                    describe_match(r.r#match.as_ref()),
                    config_of(r.metadata.as_ref()).unwrap_or_default(),
                ]);
            }
            if vh.routes.is_empty() {
                rows.push(vec![
                    name.clone(),
                    vh.name.clone(),
                    describe_domains(&vh.domains),
                    "/*".into(),
                    "404".into(),
                ]);
            }
        }
    }
    tabulate(&rows, 1)
}

/// Splits `direction|port|subset|host`.
fn parse_key(name: &str) -> Option<(&str, u32, &str, &str)> {
    let mut p = name.splitn(4, '|');
    let (Some(dir), Some(port), Some(subset), Some(host)) =
        (p.next(), p.next(), p.next(), p.next())
    else {
        return None;
    };
    Some((dir, port.parse().ok()?, subset, host))
}

/// istioctl's cluster order: host, subset, port, direction.
fn cluster_key(name: &str) -> (String, String, u32, String) {
    match parse_key(name) {
        Some((dir, port, subset, host)) => (host.into(), subset.into(), port, dir.into()),
        None => (name.into(), String::new(), 0, String::new()),
    }
}

fn cluster_type(c: &Cluster) -> &'static str {
    match &c.cluster_discovery_type {
        Some(cluster::ClusterDiscoveryType::Type(t)) => {
            match cluster::DiscoveryType::try_from(*t) {
                Ok(cluster::DiscoveryType::Static) => "STATIC",
                Ok(cluster::DiscoveryType::StrictDns) => "STRICT_DNS",
                Ok(cluster::DiscoveryType::LogicalDns) => "LOGICAL_DNS",
                Ok(cluster::DiscoveryType::Eds) => "EDS",
                Ok(cluster::DiscoveryType::OriginalDst) => "ORIGINAL_DST",
                Err(_) => "STATIC",
            }
        }
        Some(cluster::ClusterDiscoveryType::ClusterType(_)) => "",
        None => "STATIC",
    }
}

fn clusters_table(clusters: &[Cluster], typed: bool) -> String {
    let mut sorted: Vec<&Cluster> = clusters.iter().collect();
    sorted.sort_by_key(|c| cluster_key(&c.name));
    let mut rows = vec![header(
        typed,
        &[
            "SERVICE FQDN",
            "PORT",
            "SUBSET",
            "DIRECTION",
            "TYPE",
            "DESTINATION RULE",
        ],
    )];
    for c in sorted {
        let dr = config_of(c.metadata.as_ref()).unwrap_or_default();
        let cells = match parse_key(&c.name) {
            Some((dir, port, subset, host)) => vec![
                host.to_string(),
                port.to_string(),
                if subset.is_empty() {
                    "-".into()
                } else {
                    subset.to_string()
                },
                dir.to_string(),
                cluster_type(c).into(),
                dr,
            ],
            None => vec![
                c.name.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                cluster_type(c).into(),
                dr,
            ],
        };
        rows.push(row(typed, format!("cluster/{}", c.name), cells));
    }
    tabulate(&rows, 1)
}

fn endpoints_table(assignments: &[ClusterLoadAssignment], typed: bool) -> String {
    let mut sorted: Vec<&ClusterLoadAssignment> = assignments.iter().collect();
    sorted.sort_by_key(|a| cluster_key(&a.cluster_name));
    let mut rows = vec![vec![
        "NAME".to_string(),
        "STATUS".into(),
        "LOCALITY".into(),
        "CLUSTER".into(),
    ]];
    for cla in sorted {
        for l in &cla.endpoints {
            let locality = l
                .locality
                .as_ref()
                .map(|l| {
                    [l.region.as_str(), l.zone.as_str(), l.sub_zone.as_str()]
                        .iter()
                        .filter(|s| !s.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default();
            for ep in &l.lb_endpoints {
                let addr = endpoint_address(ep);
                let status =
                    HealthStatus::try_from(ep.health_status).map_or("UNKNOWN", |s| s.as_str_name());
                let name = if typed {
                    format!("endpoint/{addr}")
                } else {
                    addr
                };
                rows.push(vec![
                    name,
                    status.into(),
                    locality.clone(),
                    cla.cluster_name.clone(),
                ]);
            }
        }
    }
    tabulate(&rows, 5)
}

fn endpoint_address(ep: &envoy_types::pb::envoy::config::endpoint::v3::LbEndpoint) -> String {
    use envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier;
    let Some(HostIdentifier::Endpoint(e)) = &ep.host_identifier else {
        return "unknown".into();
    };
    match e.address.as_ref().and_then(|a| a.address.as_ref()) {
        Some(address::Address::SocketAddress(sa)) => {
            let port = match sa.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => p,
                _ => 0,
            };
            format!("{}:{port}", sa.address)
        }
        Some(address::Address::Pipe(p)) => p.path.clone(),
        _ => "unknown".into(),
    }
}
