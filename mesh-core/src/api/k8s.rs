//! The Kubernetes kinds the mesh model reads, as light types holding only the fields it uses.
//!
//! These are not full Kubernetes types (use `k8s-openapi` for that): other fields are accepted
//! and dropped on load, never reported as unknown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ObjectMeta, is_default};

macro_rules! envelope {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// `apiVersion` as written.
            pub api_version: String,
            /// `kind` as written.
            pub kind: String,
            /// Metadata.
            #[serde(default)]
            pub metadata: ObjectMeta,
            $( $(#[$fdoc])* #[serde(default, skip_serializing_if = "is_default")] pub $field: $ty, )*
        }
    };
}

envelope!(
    /// A namespace; its labels drive injection and its name scopes config.
    Namespace {}
);
envelope!(
    /// A service account; the workload identity is `spiffe://<td>/ns/<ns>/sa/<name>`.
    ServiceAccount {}
);
envelope!(
    /// A Service: a name, a VIP and ports in front of the pods its selector picks.
    Service {
        /// The spec.
        spec: ServiceSpec,
    }
);
envelope!(
    /// The endpoints of a Service (the legacy `v1` Endpoints object).
    Endpoints {
        /// Groups of addresses sharing a set of ports.
        subsets: Vec<EndpointSubset>,
    }
);
envelope!(
    /// A slice of a Service's endpoints (`discovery.k8s.io/v1`).
    EndpointSlice {
        /// `IPv4`, `IPv6` or `FQDN`.
        address_type: String,
        /// The endpoints.
        endpoints: Vec<SliceEndpoint>,
        /// The ports every endpoint serves.
        ports: Vec<EndpointPort>,
    }
);
envelope!(
    /// A Pod: a workload with an address, labels and a service account.
    Pod {
        /// The spec.
        spec: PodSpec,
        /// The status (addresses, phase, readiness).
        status: PodStatus,
    }
);
envelope!(
    /// A Secret; gateways read TLS credentials (`tls.crt`, `tls.key`, `ca.crt`) from it.
    Secret {
        /// Secret type (`kubernetes.io/tls`, `Opaque`, ...).
        r#type: String,
        /// Base64-encoded values by key.
        data: BTreeMap<String, String>,
        /// Plain values by key (write-only in a cluster; merged into `data` by the API server).
        string_data: BTreeMap<String, String>,
    }
);

/// `Service.spec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `ClusterIP` (default), `NodePort`, `LoadBalancer` or `ExternalName`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub r#type: String,
    /// The VIP; `None` for headless services.
    #[serde(
        rename = "clusterIP",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub cluster_ip: String,
    /// Every VIP (dual stack).
    #[serde(rename = "clusterIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_ips: Vec<String>,
    /// Ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// Pods with all these labels back the service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// DNS name for `ExternalName` services.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub external_name: String,
    /// External IPs routed to the service.
    #[serde(rename = "externalIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub external_ips: Vec<String>,
    /// Whether not-ready endpoints are published.
    #[serde(default, skip_serializing_if = "is_default")]
    pub publish_not_ready_addresses: bool,
}

/// A port of a Service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePort {
    /// Port name; Istio reads its protocol prefix (`http-`, `grpc-`, `tcp-`...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Service port.
    pub port: u16,
    /// Pod port, by number or by container port name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// Application protocol; takes precedence over the name prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    /// Node port, for `NodePort` and `LoadBalancer` services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u16>,
}

/// A port given by number or by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A number.
    Int(i64),
    /// A name.
    String(String),
}

/// One subset of an Endpoints object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSubset {
    /// Ready addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<EndpointAddress>,
    /// Addresses not ready to serve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    /// Ports served by every address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<EndpointPort>,
}

/// An address in an Endpoints subset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    /// The IP.
    pub ip: String,
    /// Hostname, for headless services.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Node hosting the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// The object (usually a Pod) behind the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
}

/// A port of an endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    /// Name, matching the Service port name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `TCP`, `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Application protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

/// An endpoint of an EndpointSlice.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SliceEndpoint {
    /// Addresses (one, in practice).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<EndpointConditions>,
    /// Hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Node hosting the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Zone, for locality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The object behind the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<ObjectReference>,
}

/// Endpoint readiness conditions; unset means ready.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConditions {
    /// Ready to receive traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// Serving (may be terminating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<bool>,
    /// Terminating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminating: Option<bool>,
}

/// A reference to another object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// Kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// `Pod.spec`, the parts the mesh reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Service account (identity); `default` when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Node the pod runs on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// Whether the pod uses the node's network namespace.
    #[serde(default, skip_serializing_if = "is_default")]
    pub host_network: bool,
    /// Containers, for their named ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
}

/// A container, the parts the mesh reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Name (`istio-proxy` for the sidecar).
    #[serde(default)]
    pub name: String,
    /// Image.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Declared ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
}

/// A declared container port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Name, for `targetPort` by name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Port number.
    pub container_port: u16,
    /// `TCP` (default), `UDP` or `SCTP`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
}

/// `Pod.status`, the parts the mesh reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// Primary IP.
    #[serde(rename = "podIP", default, skip_serializing_if = "String::is_empty")]
    pub pod_ip: String,
    /// Every IP (dual stack).
    #[serde(rename = "podIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<PodIp>,
    /// Node IP.
    #[serde(rename = "hostIP", default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// One pod IP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodIp {
    /// The address.
    pub ip: String,
}
