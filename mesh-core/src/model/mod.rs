//! The mesh as translation sees it.
//!
//! So far: [`Protocol`], how istiod decides what a service port carries; [`Proxy`], the
//! identity of the proxy a translation is for, read from its Envoy node; and [`Service`], the
//! registry's services from Kubernetes Services and ServiceEntries; and [`Workload`], the pods
//! and WorkloadEntries behind them. Endpoints and the indexed snapshot come next (see
//! `docs/mesh-core.md`).

mod protocol;
mod proxy;
mod service;
mod workload;

pub use protocol::Protocol;
pub use proxy::{IstioVersion, NodeError, NodeMetadata, Proxy, ProxyType};
pub use service::{
    DEFAULT_NAMESPACE, EXPORT_TO_ANNOTATION, Port, Registry, Resolution, Service, TargetPort,
    UNSPECIFIED_IP,
};
pub use workload::{
    LOCALITY_LABEL, NETWORK_LABEL, TLS_MODE_LABEL, TlsMode, Workload, WorkloadKind,
};
