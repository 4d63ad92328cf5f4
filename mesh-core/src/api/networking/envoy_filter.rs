//! EnvoyFilter (`networking/v1alpha3/envoy_filter.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::EntryWorkloadSelector;
use crate::api::{PolicyTargetReference, is_default};

/// Patches applied to the Envoy configuration istiod generates (listeners, filter chains,
/// HTTP filters, routes, clusters, bootstrap). Powerful and fragile: it depends on Istio's
/// internal configuration layout.
///
/// ```
/// use mesh_core::api::networking::{ApplyTo, EnvoyFilterSpec, PatchOperation};
/// let ef: EnvoyFilterSpec = serde_json::from_str(
///     r#"{"configPatches": [{"applyTo": "CLUSTER",
///         "patch": {"operation": "MERGE", "value": {"connect_timeout": "1s"}}}]}"#)?;
/// assert_eq!(ef.config_patches[0].apply_to, ApplyTo::Cluster);
/// assert_eq!(ef.config_patches[0].patch.as_ref().map(|p| p.operation), Some(PatchOperation::Merge));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyFilterSpec {
    /// Workloads whose proxies get the patches; unset means every proxy in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<EntryWorkloadSelector>,
    /// Gateways or services the patches attach to (instead of `workloadSelector`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// The patches, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_patches: Vec<EnvoyConfigObjectPatch>,
    /// Order among EnvoyFilters of the same context: lower first; negative before the defaults.
    #[serde(default, skip_serializing_if = "is_default")]
    pub priority: i32,
}

/// One patch: what kind of object, which ones, and the change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvoyConfigObjectPatch {
    /// The kind of Envoy object patched.
    #[serde(default, skip_serializing_if = "is_default")]
    pub apply_to: ApplyTo,
    /// Which objects are patched.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_: Option<EnvoyConfigObjectMatch>,
    /// The change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Patch>,
}

/// `EnvoyFilter.ApplyTo`: the kind of Envoy object a patch applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplyTo {
    /// Unset (rejected).
    #[default]
    Invalid,
    /// A listener.
    Listener,
    /// A filter chain of a listener.
    FilterChain,
    /// A network filter of a filter chain.
    NetworkFilter,
    /// An HTTP filter of the HTTP connection manager.
    HttpFilter,
    /// An RDS route configuration.
    RouteConfiguration,
    /// A virtual host of a route configuration.
    VirtualHost,
    /// A route of a virtual host.
    HttpRoute,
    /// A cluster.
    Cluster,
    /// An ECDS extension configuration.
    ExtensionConfig,
    /// The bootstrap configuration.
    Bootstrap,
    /// A listener filter.
    ListenerFilter,
}

/// `EnvoyFilter.PatchContext`: which generated configuration a patch targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatchContext {
    /// Every context.
    #[default]
    Any,
    /// Sidecars' inbound listeners and clusters.
    SidecarInbound,
    /// Sidecars' outbound listeners, routes and clusters.
    SidecarOutbound,
    /// Gateways.
    Gateway,
    /// Waypoint proxies.
    Waypoint,
}

/// Selects the Envoy objects a patch applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "EnvoyConfigObjectMatchWire",
    into = "EnvoyConfigObjectMatchWire"
)]
pub struct EnvoyConfigObjectMatch {
    /// The generation context (sidecar inbound/outbound, gateway, waypoint, any).
    pub context: PatchContext,
    /// Restricts the patch to proxies of some version or metadata.
    pub proxy: Option<ProxyMatch>,
    /// The object to match: a listener, route configuration, cluster or waypoint part.
    pub object_types: Option<ObjectTypes>,
}

/// The `object_types` oneof of [`EnvoyConfigObjectMatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectTypes {
    /// Match listeners and their parts.
    Listener(ListenerMatch),
    /// Match route configurations and their parts.
    RouteConfiguration(RouteConfigurationMatch),
    /// Match clusters.
    Cluster(ClusterMatch),
    /// Match waypoint parts (context `WAYPOINT` only).
    Waypoint(WaypointMatch),
}

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvoyConfigObjectMatchWire {
    #[serde(default, skip_serializing_if = "is_default")]
    context: PatchContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proxy: Option<ProxyMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listener: Option<ListenerMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    route_configuration: Option<RouteConfigurationMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    waypoint: Option<WaypointMatch>,
}

impl TryFrom<EnvoyConfigObjectMatchWire> for EnvoyConfigObjectMatch {
    type Error = String;

    fn try_from(w: EnvoyConfigObjectMatchWire) -> Result<Self, String> {
        let mut set = Vec::new();
        if let Some(l) = w.listener {
            set.push(ObjectTypes::Listener(l));
        }
        if let Some(r) = w.route_configuration {
            set.push(ObjectTypes::RouteConfiguration(r));
        }
        if let Some(c) = w.cluster {
            set.push(ObjectTypes::Cluster(c));
        }
        if let Some(wp) = w.waypoint {
            set.push(ObjectTypes::Waypoint(wp));
        }
        if set.len() > 1 {
            return Err(
                "only one of listener, routeConfiguration, cluster, waypoint may be set".into(),
            );
        }
        Ok(Self {
            context: w.context,
            proxy: w.proxy,
            object_types: set.pop(),
        })
    }
}

impl From<EnvoyConfigObjectMatch> for EnvoyConfigObjectMatchWire {
    fn from(m: EnvoyConfigObjectMatch) -> Self {
        let mut w = Self {
            context: m.context,
            proxy: m.proxy,
            ..Self::default()
        };
        match m.object_types {
            Some(ObjectTypes::Listener(l)) => w.listener = Some(l),
            Some(ObjectTypes::RouteConfiguration(r)) => w.route_configuration = Some(r),
            Some(ObjectTypes::Cluster(c)) => w.cluster = Some(c),
            Some(ObjectTypes::Waypoint(wp)) => w.waypoint = Some(wp),
            None => {}
        }
        w
    }
}

impl EnvoyConfigObjectMatch {
    /// The listener match, when the patch matches a listener.
    pub fn listener(&self) -> Option<&ListenerMatch> {
        match &self.object_types {
            Some(ObjectTypes::Listener(l)) => Some(l),
            _ => None,
        }
    }
}

/// Matches proxies by version and node metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyMatch {
    /// Regular expression (RE2) on the proxy's Istio version (`^1\.2.*`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub proxy_version: String,
    /// Node metadata the proxy must carry (exact values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Matches listeners, and optionally a filter chain and filter inside them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListenerMatch {
    /// Port the listener serves (service port outbound, workload port inbound).
    #[serde(default, skip_serializing_if = "is_default")]
    pub port_number: u32,
    /// Not implemented by Istio; kept for compatibility.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub port_name: String,
    /// A filter chain of the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_chain: Option<FilterChainMatch>,
    /// A listener filter by name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub listener_filter: String,
    /// Listener name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Matches a filter chain of a listener.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterChainMatch {
    /// Filter chain name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Server name the chain matches.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sni: String,
    /// Transport protocol of the chain (`tls`, `raw_buffer`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transport_protocol: String,
    /// Comma-separated ALPN protocols of the chain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub application_protocols: String,
    /// A network filter in the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterMatch>,
    /// Destination port of the chain's match.
    #[serde(default, skip_serializing_if = "is_default")]
    pub destination_port: u32,
    /// Transport socket of the chain (`tls`, `raw_buffer`...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub transport_socket: String,
}

/// Matches a network filter by name, and optionally an HTTP filter inside it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterMatch {
    /// The filter name (`envoy.filters.network.http_connection_manager`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// An HTTP filter of the HTTP connection manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_filter: Option<SubFilterMatch>,
}

/// Matches an HTTP filter by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubFilterMatch {
    /// The filter name (`envoy.filters.http.router`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Matches route configurations, and optionally a virtual host and route in them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteConfigurationMatch {
    /// Service port (outbound) or gateway server port the route configuration was built for.
    #[serde(default, skip_serializing_if = "is_default")]
    pub port_number: u32,
    /// Gateway server port name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub port_name: String,
    /// Gateway (`namespace/name`) the route configuration was built for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// A virtual host of the route configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vhost: Option<VirtualHostMatch>,
    /// Route configuration name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Matches a virtual host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualHostMatch {
    /// Virtual host name (`host:port`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A route of the virtual host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteMatch>,
    /// A domain the virtual host serves.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain_name: String,
}

/// Matches a route of a virtual host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    /// Route name (the VirtualService route's name, or `default`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The route's action type.
    #[serde(default, skip_serializing_if = "is_default")]
    pub action: RouteMatchAction,
}

/// `RouteMatch.Action`: the kind of route action matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RouteMatchAction {
    /// Any action.
    #[default]
    Any,
    /// Routes to a cluster.
    Route,
    /// Redirects.
    Redirect,
    /// Responds directly.
    DirectResponse,
}

/// Matches clusters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterMatch {
    /// Service port the cluster was built for.
    #[serde(default, skip_serializing_if = "is_default")]
    pub port_number: u32,
    /// Fully qualified service name the cluster was built for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service: String,
    /// DestinationRule subset the cluster was built for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subset: String,
    /// Cluster name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Matches parts of a waypoint's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaypointMatch {
    /// A filter of the waypoint, and optionally a sub-filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FilterMatch>,
    /// A route of the waypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<WaypointRouteMatch>,
    /// Service port the waypoint serves.
    #[serde(default, skip_serializing_if = "is_default")]
    pub port_number: u32,
}

/// Matches a waypoint route by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaypointRouteMatch {
    /// Route name (`default` for generated routes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// The change a patch makes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    /// How the value is applied.
    #[serde(default, skip_serializing_if = "is_default")]
    pub operation: PatchOperation,
    /// The Envoy configuration to merge, add or insert, in Envoy's JSON form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where an added HTTP filter goes relative to Istio's own filters.
    #[serde(default, skip_serializing_if = "is_default")]
    pub filter_class: FilterClass,
}

/// `Patch.Operation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PatchOperation {
    /// Unset (rejected).
    #[default]
    Invalid,
    /// Merge the value into the matched object (lists appended).
    Merge,
    /// Add the value (a new listener, cluster, filter chain...).
    Add,
    /// Remove the matched object.
    Remove,
    /// Insert before the matched filter.
    InsertBefore,
    /// Insert after the matched filter.
    InsertAfter,
    /// Insert first in the list.
    InsertFirst,
    /// Replace the matched object.
    Replace,
    /// Merge, replacing lists instead of appending to them.
    MergeAndReplaceList,
}

/// `Patch.FilterClass`: insertion order of an added HTTP filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FilterClass {
    /// As given by the operation.
    #[default]
    Unspecified,
    /// After the mTLS authentication filter.
    Authn,
    /// After the authorization filter.
    Authz,
    /// Before the stats filter.
    Stats,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Object;
    use crate::load;

    const FULL: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef, namespace: ns}
spec:
  workloadSelector:
    labels: {app: reviews}
  priority: -5
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: SIDECAR_INBOUND
      proxy: {proxyVersion: '^1\.2.*', metadata: {a: b}}
      listener:
        portNumber: 8080
        portName: http
        listenerFilter: envoy.filters.listener.tls_inspector
        name: l
        filterChain:
          name: fc
          sni: a.com
          transportProtocol: tls
          applicationProtocols: h2
          destinationPort: 80
          transportSocket: tls
          filter:
            name: envoy.filters.network.http_connection_manager
            subFilter: {name: envoy.filters.http.router}
    patch:
      operation: INSERT_BEFORE
      filterClass: AUTHZ
      value:
        name: envoy.lua
        typed_config: {"@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua"}
  - applyTo: HTTP_ROUTE
    match:
      routeConfiguration:
        portNumber: 80
        portName: http
        gateway: ns/gw
        name: rc
        vhost: {name: "a:80", domainName: a, route: {name: r, action: DIRECT_RESPONSE}}
    patch: {operation: MERGE, value: {decorator: {operation: x}}}
  - applyTo: CLUSTER
    match: {cluster: {portNumber: 80, service: a.ns.svc.cluster.local, subset: v1, name: c}}
    patch: {operation: REMOVE}
  - applyTo: HTTP_FILTER
    match:
      context: WAYPOINT
      waypoint: {portNumber: 80, route: {name: default}, filter: {name: f, subFilter: {name: s}}}
    patch: {operation: MERGE_AND_REPLACE_LIST, value: {}}
"#;

    #[test]
    fn full_object_round_trips() {
        let objs = load::from_str(FULL, "ef.yaml").unwrap();
        let Object::EnvoyFilter(ef) = &objs[0].object else {
            panic!("not an EnvoyFilter")
        };
        let cp = &ef.spec.config_patches;
        assert_eq!(cp.len(), 4);
        assert_eq!(ef.spec.priority, -5);
        let m = cp[0].match_.as_ref().unwrap();
        assert_eq!(m.context, PatchContext::SidecarInbound);
        let l = m.listener().unwrap();
        assert_eq!(
            l.filter_chain
                .as_ref()
                .unwrap()
                .filter
                .as_ref()
                .unwrap()
                .sub_filter,
            Some(SubFilterMatch {
                name: "envoy.filters.http.router".into()
            })
        );
        assert!(matches!(
            cp[3].match_.as_ref().unwrap().object_types,
            Some(ObjectTypes::Waypoint(_))
        ));
        assert_eq!(
            cp[0].patch.as_ref().unwrap().filter_class,
            FilterClass::Authz
        );
        let json = serde_json::to_value(ef).unwrap();
        assert_eq!(
            json["spec"]["configPatches"][2]["match"]["cluster"]["subset"],
            "v1"
        );
        let back: crate::api::EnvoyFilter = serde_json::from_value(json).unwrap();
        assert_eq!(&back, ef);
    }

    #[test]
    fn oneof_conflict_fails_with_path() {
        let bad = FULL.replace(
            "    match: {cluster:",
            "    match: {listener: {name: x}, cluster:",
        );
        let err = load::from_str(&bad, "ef.yaml").unwrap_err().to_string();
        assert!(err.contains("only one of listener"), "{err}");
        assert!(err.contains("configPatches[2].match"), "{err}");
    }

    #[test]
    fn unknown_match_field_is_reported() {
        let bad = FULL.replace("sni: a.com", "snii: a.com");
        assert!(load::from_str(&bad, "ef.yaml").is_err());
    }
}
