//! Envoy resources as JSON, the way Envoy's admin `/config_dump` and `istioctl proxy-config
//! -o json` print them: proto3 JSON with the proto field names (`snake_case`), `@type` on every
//! `Any`, default values left out.
//!
//! The JSON is produced from the protobuf descriptors of the Envoy API that `envoy-types`
//! ships (compiled at build time), so every type an `Any` can carry is printed in full.
//! Output is deterministic: object keys are sorted, so the same resources always give the same
//! bytes (golden files and caches rely on it).
//!
//! ```
//! use envoy_types::pb::envoy::config::cluster::v3::Cluster;
//! use mesh_core::dump::{self, ConfigDump};
//!
//! let cluster = Cluster { name: "outbound|9080||reviews.default.svc.cluster.local".into(), ..Default::default() };
//! let json = dump::message_to_json(&cluster)?;
//! assert_eq!(json["name"], "outbound|9080||reviews.default.svc.cluster.local");
//!
//! let mut config = ConfigDump::default();
//! config.clusters.push(dump::to_any(&cluster));
//! let json = config.to_json()?;
//! assert_eq!(json["configs"][0]["@type"], "type.googleapis.com/envoy.admin.v3.ClustersConfigDump");
//! assert_eq!(json["configs"][0]["dynamic_active_clusters"][0]["cluster"]["@type"],
//!            "type.googleapis.com/envoy.config.cluster.v3.Cluster");
//! # Ok::<(), mesh_core::dump::DumpError>(())
//! ```

use std::sync::OnceLock;

use envoy_types::pb::envoy::admin::v3::{
    ClustersConfigDump, ConfigDump as EnvoyConfigDump, EndpointsConfigDump, ListenersConfigDump,
    RoutesConfigDump, SecretsConfigDump, clusters_config_dump, endpoints_config_dump,
    listeners_config_dump, routes_config_dump, secrets_config_dump,
};
use envoy_types::pb::google::protobuf::Any;
use prost::{Message, Name};
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::{Map, Value};

static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/envoy_descriptors.bin"));

/// Why a resource could not be printed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    /// The `Any` names a type the Envoy API descriptors do not have.
    #[error("unknown type {type_url:?}: not in the Envoy API")]
    UnknownType {
        /// The type URL.
        type_url: String,
    },
    /// The bytes do not decode as the named type.
    #[error("cannot decode {type_url}: {reason}")]
    Decode {
        /// The type URL.
        type_url: String,
        /// What the decoder said.
        reason: String,
    },
    /// The message could not be written as JSON (for example an `Any` inside it names an
    /// unknown type).
    #[error("cannot print {type_url} as JSON: {reason}")]
    Json {
        /// The type URL.
        type_url: String,
        /// What the serializer said.
        reason: String,
    },
}

/// The descriptor pool of the Envoy API (built once, shared).
pub fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| match DescriptorPool::decode(DESCRIPTORS) {
        Ok(pool) => pool,
        // The descriptors are compiled by build.rs from the same sources as the types; a
        // failure here is a build defect, not bad input.
        Err(e) => panic!("the Envoy descriptor set built into mesh-core is corrupt: {e}"),
    })
}

/// Packs a message into an `Any` with its `type.googleapis.com/...` URL.
pub fn to_any<M: Message + Name>(message: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: message.encode_to_vec(),
    }
}

/// A message as proto3 JSON (no `@type` at the top; nested `Any`s carry theirs).
pub fn message_to_json<M: Message + Name>(message: &M) -> Result<Value, DumpError> {
    let mut value = any_to_json(&to_any(message))?;
    if let Value::Object(map) = &mut value {
        map.remove("@type");
    }
    Ok(value)
}

/// The field names JSON is written with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldNames {
    /// Proto names (`typed_config`), as Envoy's `/config_dump` prints them.
    #[default]
    Proto,
    /// JSON names (`typedConfig`), as protobuf's canonical JSON (and istiod's test goldens) does.
    Json,
}

/// A message as proto3 JSON with the given field names.
pub fn message_to_json_with<M: Message + Name>(
    message: &M,
    names: FieldNames,
) -> Result<Value, DumpError> {
    let mut value = any_to_json_with(&to_any(message), names)?;
    if let Value::Object(map) = &mut value {
        map.remove("@type");
    }
    Ok(value)
}

/// An `Any` as proto3 JSON with its `@type`.
pub fn any_to_json(any: &Any) -> Result<Value, DumpError> {
    any_to_json_with(any, FieldNames::Proto)
}

/// [`any_to_json`] with the given field names.
pub fn any_to_json_with(any: &Any, names: FieldNames) -> Result<Value, DumpError> {
    let type_url = any.type_url.clone();
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    let descriptor =
        descriptor_pool()
            .get_message_by_name(name)
            .ok_or_else(|| DumpError::UnknownType {
                type_url: type_url.clone(),
            })?;
    let message = DynamicMessage::decode(descriptor, any.value.as_slice()).map_err(|e| {
        DumpError::Decode {
            type_url: type_url.clone(),
            reason: e.to_string(),
        }
    })?;
    let options = SerializeOptions::new()
        .use_proto_field_name(names == FieldNames::Proto)
        .skip_default_fields(true);
    let body = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| DumpError::Json {
            type_url: type_url.clone(),
            reason: e.to_string(),
        })?;
    let mut out = Map::new();
    out.insert("@type".into(), Value::String(type_url));
    if let Value::Object(fields) = body {
        out.extend(fields);
    }
    Ok(canonical(Value::Object(out)))
}

/// Sorts object keys at every level, so the output never depends on hash-map order.
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// The resources one proxy has, printed as Envoy's admin `ConfigDump`.
///
/// Each list holds `Any`-packed resources of one type (`Cluster`, `ClusterLoadAssignment`,
/// `Listener`, `RouteConfiguration`, `Secret`), in the order given. `version_info` is written
/// on every resource, as Envoy shows the version it accepted; no `last_updated` is written, so
/// the dump stays a pure function of its input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigDump {
    /// The xDS version of these resources.
    pub version_info: String,
    /// `envoy.config.cluster.v3.Cluster`s.
    pub clusters: Vec<Any>,
    /// `envoy.config.listener.v3.Listener`s.
    pub listeners: Vec<Any>,
    /// `envoy.config.route.v3.RouteConfiguration`s.
    pub routes: Vec<Any>,
    /// `envoy.extensions.transport_sockets.tls.v3.Secret`s.
    pub secrets: Vec<Any>,
    /// `envoy.config.endpoint.v3.ClusterLoadAssignment`s.
    pub endpoints: Vec<Any>,
}

impl ConfigDump {
    /// The dump as an Envoy `envoy.admin.v3.ConfigDump` message, in Envoy's section order
    /// (clusters, listeners, routes, secrets, endpoints).
    pub fn to_message(&self) -> EnvoyConfigDump {
        let v = || self.version_info.clone();
        let clusters = ClustersConfigDump {
            version_info: v(),
            dynamic_active_clusters: self
                .clusters
                .iter()
                .map(|c| clusters_config_dump::DynamicCluster {
                    version_info: v(),
                    cluster: Some(c.clone()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let listeners = ListenersConfigDump {
            version_info: v(),
            dynamic_listeners: self
                .listeners
                .iter()
                .map(|l| listeners_config_dump::DynamicListener {
                    name: resource_name(l),
                    active_state: Some(listeners_config_dump::DynamicListenerState {
                        version_info: v(),
                        listener: Some(l.clone()),
                        last_updated: None,
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let routes = RoutesConfigDump {
            dynamic_route_configs: self
                .routes
                .iter()
                .map(|r| routes_config_dump::DynamicRouteConfig {
                    version_info: v(),
                    route_config: Some(r.clone()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let secrets = SecretsConfigDump {
            dynamic_active_secrets: self
                .secrets
                .iter()
                .map(|s| secrets_config_dump::DynamicSecret {
                    name: resource_name(s),
                    version_info: v(),
                    secret: Some(s.clone()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let endpoints = EndpointsConfigDump {
            dynamic_endpoint_configs: self
                .endpoints
                .iter()
                .map(|e| endpoints_config_dump::DynamicEndpointConfig {
                    version_info: v(),
                    endpoint_config: Some(e.clone()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        EnvoyConfigDump {
            configs: vec![
                to_any(&clusters),
                to_any(&listeners),
                to_any(&routes),
                to_any(&secrets),
                to_any(&endpoints),
            ],
        }
    }

    /// The dump as JSON, as `curl localhost:15000/config_dump` prints it (without the
    /// bootstrap section).
    pub fn to_json(&self) -> Result<Value, DumpError> {
        message_to_json(&self.to_message())
    }
}

/// The `name` field (field 1 in every named xDS resource) of an `Any`-packed resource.
fn resource_name(any: &Any) -> String {
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    descriptor_pool()
        .get_message_by_name(name)
        .and_then(|d| DynamicMessage::decode(d, any.value.as_slice()).ok())
        .and_then(|m| {
            m.get_field_by_name("name")
                .and_then(|v| v.as_str().map(str::to_string))
        })
        .unwrap_or_default()
}

/// The hasher every protobuf map made by [`proto_map`] shares.
fn proto_map_state() -> std::collections::hash_map::RandomState {
    static STATE: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    STATE
        .get_or_init(std::collections::hash_map::RandomState::new)
        .clone()
}

/// An empty map for a protobuf `map<string, _>` field. prost encodes a map in its iteration
/// order, and `HashMap::new()` seeds every map's hasher afresh, so two maps holding the same
/// entries could encode differently and one resource get two versions (resent to Envoy though
/// unchanged). Maps made here share one hasher: the same entries inserted in the same order
/// encode the same way, within this process.
pub fn proto_map<V>() -> std::collections::HashMap<String, V> {
    std::collections::HashMap::with_hasher(proto_map_state())
}

/// Inserts into a protobuf map field, first giving a still empty map (one from `Default`) the
/// shared hasher of [`proto_map`].
pub fn proto_insert<V>(map: &mut std::collections::HashMap<String, V>, key: String, value: V) {
    if map.capacity() == 0 {
        *map = proto_map();
    }
    map.insert(key, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
    use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, socket_address};
    use envoy_types::pb::envoy::config::endpoint::v3::{
        ClusterLoadAssignment, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
    };
    use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
    use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{
        TcpProxy, tcp_proxy,
    };
    use envoy_types::pb::google::protobuf::Duration;

    fn cluster() -> Cluster {
        Cluster {
            name: "outbound|9080|v1|reviews.default.svc.cluster.local".into(),
            connect_timeout: Some(Duration {
                seconds: 10,
                nanos: 0,
            }),
            cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
                cluster::DiscoveryType::Eds as i32,
            )),
            ..Default::default()
        }
    }

    fn listener() -> Listener {
        let tcp = TcpProxy {
            stat_prefix: "outbound|9080||reviews".into(),
            cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(
                "outbound|9080||reviews".into(),
            )),
            ..Default::default()
        };
        Listener {
            name: "0.0.0.0_9080".into(),
            address: Some(Address {
                address: Some(
                    envoy_types::pb::envoy::config::core::v3::address::Address::SocketAddress(
                        SocketAddress {
                            address: "0.0.0.0".into(),
                            port_specifier: Some(socket_address::PortSpecifier::PortValue(9080)),
                            ..Default::default()
                        },
                    ),
                ),
            }),
            filter_chains: vec![FilterChain {
                filters: vec![Filter {
                    name: "envoy.filters.network.tcp_proxy".into(),
                    config_type: Some(filter::ConfigType::TypedConfig(to_any(&tcp))),
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn proto3_json_with_proto_names_enums_and_durations() {
        let json = message_to_json(&cluster()).unwrap();
        assert_eq!(
            json["name"],
            "outbound|9080|v1|reviews.default.svc.cluster.local"
        );
        assert_eq!(json["connect_timeout"], "10s");
        assert_eq!(json["type"], "EDS");
        // Defaults are left out, like Envoy does.
        assert!(json.get("lb_policy").is_none());
    }

    #[test]
    fn nested_any_is_expanded_with_its_type() {
        let json = message_to_json(&listener()).unwrap();
        let tc = &json["filter_chains"][0]["filters"][0]["typed_config"];
        assert_eq!(
            tc["@type"],
            "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
        );
        assert_eq!(tc["cluster"], "outbound|9080||reviews");
        assert_eq!(json["address"]["socket_address"]["port_value"], 9080);
    }

    #[test]
    fn config_dump_has_envoys_sections_and_is_deterministic() {
        let cla = ClusterLoadAssignment {
            cluster_name: "outbound|9080|v1|reviews.default.svc.cluster.local".into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(
                        lb_endpoint::HostIdentifier::Endpoint(Default::default()),
                    ),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let dump = ConfigDump {
            version_info: "v1".into(),
            clusters: vec![to_any(&cluster())],
            listeners: vec![to_any(&listener())],
            endpoints: vec![to_any(&cla)],
            ..Default::default()
        };
        let json = dump.to_json().unwrap();
        let types: Vec<&str> = json["configs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["@type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
                "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
                "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
            ]
        );
        assert_eq!(
            json["configs"][1]["dynamic_listeners"][0]["name"],
            "0.0.0.0_9080"
        );
        assert_eq!(
            json["configs"][1]["dynamic_listeners"][0]["active_state"]["version_info"],
            "v1"
        );
        let a = serde_json::to_string(&json).unwrap();
        let b = serde_json::to_string(&dump.to_json().unwrap()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn unknown_and_corrupt_resources_are_errors() {
        let unknown = Any {
            type_url: "type.googleapis.com/not.a.Type".into(),
            value: vec![],
        };
        assert!(matches!(
            any_to_json(&unknown),
            Err(DumpError::UnknownType { .. })
        ));
        let corrupt = Any {
            type_url: Cluster::type_url(),
            value: vec![0xff, 0xff, 0xff],
        };
        assert!(matches!(
            any_to_json(&corrupt),
            Err(DumpError::Decode { .. })
        ));
    }
}
