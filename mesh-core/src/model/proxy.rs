//! Who is asking: a proxy's identity from its Envoy node, as istiod reads it.
//!
//! An Istio proxy connects with the node id `TYPE~IP~ID~DNS_DOMAIN`, for example
//! `sidecar~10.8.0.11~reviews-v1-7d9f.default~default.svc.cluster.local`, and node metadata
//! (a `google.protobuf.Struct`) carrying `NAMESPACE`, `LABELS`, `SERVICE_ACCOUNT`,
//! `INSTANCE_IPS`, `ISTIO_VERSION` and more. [`Proxy::from_node`] reads both with istiod's
//! rules; [`Proxy::sidecar`] and [`Proxy::router`] build one directly, for tests and tools.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What kind of proxy this is (the first part of the node id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyType {
    /// A sidecar next to an application workload.
    Sidecar,
    /// A gateway (ingress or egress): listeners come from Gateway servers.
    Router,
    /// An ambient waypoint proxy.
    Waypoint,
    /// An ambient node proxy.
    Ztunnel,
}

impl ProxyType {
    /// The name used in node ids.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyType::Sidecar => "sidecar",
            ProxyType::Router => "router",
            ProxyType::Waypoint => "waypoint",
            ProxyType::Ztunnel => "ztunnel",
        }
    }

    fn parse(s: &str) -> Option<ProxyType> {
        [
            ProxyType::Sidecar,
            ProxyType::Router,
            ProxyType::Waypoint,
            ProxyType::Ztunnel,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

impl fmt::Display for ProxyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Istio version a proxy reports (`ISTIO_VERSION`), compared to gate features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IstioVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version (0 when not given, as in `1.24-dev`).
    pub patch: u32,
}

impl IstioVersion {
    /// Parses `1.24.2`, `1.24`, `1.25-alpha.0`, `v1.22.0`: the leading numbers count, the
    /// rest is ignored. `None` when there is no `MAJOR.MINOR` at the start.
    pub fn parse(s: &str) -> Option<IstioVersion> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let mut numbers = s.split('.').map(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            (digits.parse::<u32>().ok(), digits.len() == part.len())
        });
        let (major, whole) = numbers.next()?;
        let major = major.filter(|_| whole)?;
        let (minor, whole) = numbers.next()?;
        let minor = minor?;
        let patch = if whole {
            numbers.next().and_then(|(p, _)| p).unwrap_or(0)
        } else {
            0
        };
        Some(IstioVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for IstioVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The node metadata istiod reads. Keys it does not model are kept in `other`, so nothing
/// the proxy sent is lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeMetadata {
    /// `ISTIO_VERSION`.
    #[serde(
        rename = "ISTIO_VERSION",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub istio_version: Option<String>,
    /// `NAMESPACE`: the namespace whose configuration applies.
    #[serde(rename = "NAMESPACE", default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `LABELS`: the workload's labels, matched by workload selectors.
    #[serde(rename = "LABELS", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `SERVICE_ACCOUNT`.
    #[serde(
        rename = "SERVICE_ACCOUNT",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_account: Option<String>,
    /// `INSTANCE_IPS`: comma-separated workload addresses.
    #[serde(
        rename = "INSTANCE_IPS",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_ips: Option<String>,
    /// `CLUSTER_ID`.
    #[serde(
        rename = "CLUSTER_ID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cluster_id: Option<String>,
    /// `MESH_ID`: the trust domain's mesh.
    #[serde(rename = "MESH_ID", default, skip_serializing_if = "Option::is_none")]
    pub mesh_id: Option<String>,
    /// `NETWORK`.
    #[serde(rename = "NETWORK", default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `NAME`: the pod name.
    #[serde(rename = "NAME", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `WORKLOAD_NAME`: the owning workload (Deployment) name.
    #[serde(
        rename = "WORKLOAD_NAME",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub workload_name: Option<String>,
    /// `INTERCEPTION_MODE`: `REDIRECT`, `TPROXY` or `NONE`.
    #[serde(
        rename = "INTERCEPTION_MODE",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub interception_mode: Option<String>,
    /// `GENERATOR`: which xDS generator serves the node; `grpc` for proxyless gRPC clients
    /// (istiod's `grpcgen`), unset for Envoy.
    #[serde(rename = "GENERATOR", default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// Every other key, as sent.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A proxy, as translation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    /// Sidecar, router, ...
    pub proxy_type: ProxyType,
    /// Workload addresses: `INSTANCE_IPS` when all valid, otherwise the node id's IP.
    pub ip_addresses: Vec<IpAddr>,
    /// The node id's third part, `POD.NAMESPACE` for Kubernetes workloads.
    pub id: String,
    /// The node id's fourth part, `NAMESPACE.svc.cluster.local`.
    pub dns_domain: String,
    /// The namespace whose configuration applies (`NAMESPACE`, else the DNS domain's first
    /// label).
    pub config_namespace: String,
    /// The workload's labels.
    pub labels: BTreeMap<String, String>,
    /// The reported Istio version; `None` when absent or unreadable (istiod then assumes the
    /// newest behaviour).
    pub istio_version: Option<IstioVersion>,
    /// The raw node metadata.
    pub metadata: NodeMetadata,
    /// Where the proxy runs, `region/zone/subzone` (the node's `locality`, or the workload's
    /// `istio-locality` / topology labels); empty when unknown. Locality load balancing
    /// orders and weighs endpoints from here.
    pub locality: String,
}

/// Why a node could not be read as a proxy. Each names the node id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The id is not four `~`-separated parts.
    #[error("node id {id:?}: expected TYPE~IP~ID~DOMAIN, found {parts} part(s)")]
    Parts {
        /// The node id.
        id: String,
        /// How many parts it has.
        parts: usize,
    },
    /// The first part is not a proxy type.
    #[error(
        "node id {id:?}: invalid proxy type {found:?} (valid: sidecar, router, waypoint, ztunnel)"
    )]
    Type {
        /// The node id.
        id: String,
        /// The type found.
        found: String,
    },
    /// Neither `INSTANCE_IPS` nor the id holds a valid IP address.
    #[error("node id {id:?}: no valid IP address in the node id or INSTANCE_IPS metadata")]
    NoAddress {
        /// The node id.
        id: String,
    },
    /// The metadata is not the shape Istio sends.
    #[error("node id {id:?}: node metadata: {message}")]
    Metadata {
        /// The node id.
        id: String,
        /// What is wrong, with the field.
        message: String,
    },
}

impl Proxy {
    /// Reads a proxy from its Envoy node id and node metadata (the JSON of the node's
    /// `metadata` Struct; `Value::Null` when there is none).
    ///
    /// ```
    /// use mesh_core::model::{Proxy, ProxyType};
    ///
    /// let meta = serde_json::json!({
    ///     "NAMESPACE": "default",
    ///     "LABELS": {"app": "reviews", "version": "v1"},
    ///     "ISTIO_VERSION": "1.24.2",
    /// });
    /// let p = Proxy::from_node("sidecar~10.8.0.11~reviews-v1.default~default.svc.cluster.local", &meta)?;
    /// assert_eq!(p.proxy_type, ProxyType::Sidecar);
    /// assert_eq!(p.config_namespace, "default");
    /// assert_eq!(p.labels["app"], "reviews");
    /// assert_eq!(p.istio_version.map(|v| v.minor), Some(24));
    /// # Ok::<(), mesh_core::model::NodeError>(())
    /// ```
    pub fn from_node(node_id: &str, metadata: &serde_json::Value) -> Result<Proxy, NodeError> {
        let metadata: NodeMetadata = if metadata.is_null() {
            NodeMetadata::default()
        } else {
            serde_path_to_error::deserialize(metadata).map_err(|e| NodeError::Metadata {
                id: node_id.to_string(),
                message: format!("{}: {}", e.path(), e.inner()),
            })?
        };
        Proxy::from_node_metadata(node_id, metadata)
    }

    /// As [`Proxy::from_node`], with metadata already parsed.
    pub fn from_node_metadata(node_id: &str, metadata: NodeMetadata) -> Result<Proxy, NodeError> {
        let parts: Vec<&str> = node_id.split('~').collect();
        let [kind, ip, id, domain] = parts[..] else {
            return Err(NodeError::Parts {
                id: node_id.to_string(),
                parts: parts.len(),
            });
        };
        let proxy_type = ProxyType::parse(kind).ok_or_else(|| NodeError::Type {
            id: node_id.to_string(),
            found: kind.to_string(),
        })?;
        // INSTANCE_IPS wins when every entry is an address; the id's IP is the fallback.
        let from_metadata: Option<Vec<IpAddr>> = metadata
            .instance_ips
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|s| s.split(',').map(|ip| ip.trim().parse().ok()).collect());
        let ip_addresses = match from_metadata {
            Some(ips) => ips,
            None => ip.parse().map(|ip| vec![ip]).unwrap_or_default(),
        };
        if ip_addresses.is_empty() {
            return Err(NodeError::NoAddress {
                id: node_id.to_string(),
            });
        }
        let config_namespace = match metadata.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => ns.to_string(),
            _ => match domain.split_once('.') {
                Some((ns, _)) => ns.to_string(),
                None => String::new(),
            },
        };
        Ok(Proxy {
            proxy_type,
            ip_addresses,
            id: id.to_string(),
            dns_domain: domain.to_string(),
            config_namespace,
            labels: metadata.labels.clone(),
            istio_version: metadata
                .istio_version
                .as_deref()
                .and_then(IstioVersion::parse),
            locality: super::workload::locality_label(&metadata.labels),
            metadata,
        })
    }

    /// A sidecar for pod `pod` in `namespace` at `ip`, in a mesh whose DNS suffix is
    /// `domain_suffix` (`cluster.local`).
    pub fn sidecar(
        pod: &str,
        namespace: &str,
        ip: IpAddr,
        labels: BTreeMap<String, String>,
        domain_suffix: &str,
    ) -> Proxy {
        Proxy::direct(
            ProxyType::Sidecar,
            pod,
            namespace,
            ip,
            labels,
            domain_suffix,
        )
    }

    /// The proxy of a workload from the snapshot (a pod, or a WorkloadEntry's VM), as
    /// `proxy_type`: its name, namespace, first address, labels and service account.
    pub fn for_workload(
        workload: &super::Workload,
        proxy_type: ProxyType,
        domain_suffix: &str,
    ) -> Proxy {
        let ip = workload
            .addresses
            .iter()
            .find_map(|a| a.parse().ok())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mut p = Proxy::direct(
            proxy_type,
            &workload.name,
            &workload.namespace,
            ip,
            workload.labels.clone(),
            domain_suffix,
        );
        if !workload.service_account.is_empty() {
            p.metadata.service_account = Some(workload.service_account.clone());
        }
        p.locality.clone_from(&workload.locality);
        p
    }

    /// A gateway (`router`) proxy, as [`Proxy::sidecar`].
    pub fn router(
        pod: &str,
        namespace: &str,
        ip: IpAddr,
        labels: BTreeMap<String, String>,
        domain_suffix: &str,
    ) -> Proxy {
        Proxy::direct(ProxyType::Router, pod, namespace, ip, labels, domain_suffix)
    }

    fn direct(
        proxy_type: ProxyType,
        pod: &str,
        namespace: &str,
        ip: IpAddr,
        labels: BTreeMap<String, String>,
        domain_suffix: &str,
    ) -> Proxy {
        Proxy {
            proxy_type,
            ip_addresses: vec![ip],
            id: format!("{pod}.{namespace}"),
            dns_domain: format!("{namespace}.svc.{domain_suffix}"),
            config_namespace: namespace.to_string(),
            labels: labels.clone(),
            istio_version: None,
            metadata: NodeMetadata {
                namespace: Some(namespace.to_string()),
                labels,
                instance_ips: Some(ip.to_string()),
                name: Some(pod.to_string()),
                ..NodeMetadata::default()
            },
            locality: String::new(),
        }
    }

    /// Whether the node is a proxyless gRPC client (metadata `GENERATOR: grpc`, as Istio's
    /// gRPC bootstrap writes it): it reads `ApiListener`s named `host:port`, not sidecar
    /// listeners.
    pub fn is_proxyless_grpc(&self) -> bool {
        self.metadata.generator.as_deref() == Some("grpc")
    }

    /// The node id this proxy would connect with.
    pub fn node_id(&self) -> String {
        let ip = self
            .ip_addresses
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        format!("{}~{ip}~{}~{}", self.proxy_type, self.id, self.dns_domain)
    }

    /// Whether the proxy reports at least Istio `major.minor` (an unknown version counts as
    /// the newest, as in istiod).
    pub fn version_at_least(&self, major: u32, minor: u32) -> bool {
        self.istio_version
            .is_none_or(|v| (v.major, v.minor) >= (major, minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "sidecar~10.8.0.11~reviews-v1-7d9f.default~default.svc.cluster.local";

    #[test]
    fn reads_istio_node_ids() {
        let p = Proxy::from_node(ID, &serde_json::Value::Null).expect("valid id");
        assert_eq!(p.proxy_type, ProxyType::Sidecar);
        assert_eq!(p.ip_addresses, vec!["10.8.0.11".parse::<IpAddr>().unwrap()]);
        assert_eq!(p.id, "reviews-v1-7d9f.default");
        assert_eq!(p.dns_domain, "default.svc.cluster.local");
        // No NAMESPACE metadata: the DNS domain's first label.
        assert_eq!(p.config_namespace, "default");
        assert_eq!(p.node_id(), ID);

        let gw = Proxy::from_node(
            "router~fd00::7~istio-ingressgateway-5c.istio-system~istio-system.svc.cluster.local",
            &json!({"NAMESPACE": "istio-system", "LABELS": {"istio": "ingressgateway"}}),
        )
        .expect("gateway id");
        assert_eq!(gw.proxy_type, ProxyType::Router);
        assert!(gw.ip_addresses[0].is_ipv6());
        assert_eq!(gw.labels["istio"], "ingressgateway");
    }

    #[test]
    fn instance_ips_win_when_all_valid() {
        let p = Proxy::from_node(ID, &json!({"INSTANCE_IPS": "10.8.0.11,fd00::11"})).unwrap();
        assert_eq!(p.ip_addresses.len(), 2);
        // One bad entry: istiod falls back to the node id's address.
        let p = Proxy::from_node(ID, &json!({"INSTANCE_IPS": "10.8.0.12,nope"})).unwrap();
        assert_eq!(p.ip_addresses, vec!["10.8.0.11".parse::<IpAddr>().unwrap()]);
        let p = Proxy::from_node(
            "sidecar~~pod.ns~ns.svc.cluster.local",
            &json!({"INSTANCE_IPS": "10.1.2.3"}),
        )
        .unwrap();
        assert_eq!(p.ip_addresses, vec!["10.1.2.3".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn metadata_namespace_wins_and_nothing_is_lost() {
        let meta = json!({
            "NAMESPACE": "prod",
            "SERVICE_ACCOUNT": "reviews",
            "ISTIO_VERSION": "1.25-alpha.abc",
            "PROXY_CONFIG": {"concurrency": 2},
            "POD_PORTS": "[{\"containerPort\":9080}]",
        });
        let p = Proxy::from_node(ID, &meta).unwrap();
        assert_eq!(p.config_namespace, "prod");
        assert_eq!(p.metadata.service_account.as_deref(), Some("reviews"));
        assert_eq!(
            p.istio_version,
            Some(IstioVersion {
                major: 1,
                minor: 25,
                patch: 0
            })
        );
        assert_eq!(p.metadata.other["PROXY_CONFIG"], json!({"concurrency": 2}));
        assert!(p.metadata.other.contains_key("POD_PORTS"));
        let back = serde_json::to_value(&p.metadata).unwrap();
        assert_eq!(back, meta);
    }

    #[test]
    fn bad_nodes_say_what_is_wrong() {
        let cases = [
            (
                "sidecar~10.0.0.1~pod.ns",
                "expected TYPE~IP~ID~DOMAIN, found 3 part(s)",
            ),
            (
                "gateway~10.0.0.1~pod.ns~ns.svc.cluster.local",
                "invalid proxy type \"gateway\"",
            ),
            (
                "sidecar~not-an-ip~pod.ns~ns.svc.cluster.local",
                "no valid IP address",
            ),
        ];
        for (id, want) in cases {
            let err = Proxy::from_node(id, &serde_json::Value::Null)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want) && err.contains(id), "{id}: {err}");
        }
        let err = Proxy::from_node(ID, &json!({"LABELS": {"app": 7}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("LABELS.app"), "{err}");
    }

    #[test]
    fn versions() {
        let v = |s| IstioVersion::parse(s);
        assert_eq!(
            v("1.24.2"),
            Some(IstioVersion {
                major: 1,
                minor: 24,
                patch: 2
            })
        );
        assert_eq!(
            v("v1.22.0"),
            Some(IstioVersion {
                major: 1,
                minor: 22,
                patch: 0
            })
        );
        assert_eq!(
            v("1.26"),
            Some(IstioVersion {
                major: 1,
                minor: 26,
                patch: 0
            })
        );
        assert_eq!(v("1.24.2-distroless").map(|v| v.patch), Some(2));
        assert_eq!(v("latest"), None);
        assert_eq!(v("1"), None);
        let mut p = Proxy::sidecar(
            "a",
            "ns",
            "10.0.0.1".parse().unwrap(),
            BTreeMap::new(),
            "cluster.local",
        );
        assert!(p.version_at_least(1, 99), "unknown counts as newest");
        p.istio_version = v("1.23.1");
        assert!(p.version_at_least(1, 23) && !p.version_at_least(1, 24));
        assert_eq!(p.node_id(), "sidecar~10.0.0.1~a.ns~ns.svc.cluster.local");
    }
}
