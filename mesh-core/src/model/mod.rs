//! The mesh as translation sees it.
//!
//! - [`Protocol`]: how istiod decides what a service port carries;
//! - [`Proxy`]: the proxy a translation is for, read from its Envoy node;
//! - [`Service`]: the registry's services, from Kubernetes Services and ServiceEntries;
//! - [`Workload`]: the pods and WorkloadEntries behind them;
//! - [`Store`] and [`Snapshot`]: every object, with change sets, and immutable indexed views.
//!
//! See `docs/mesh-core.md` for a tour.

mod protocol;
mod proxy;
mod service;
pub(crate) mod store;
mod workload;

pub use protocol::Protocol;
pub use proxy::{IstioVersion, NodeError, NodeMetadata, Proxy, ProxyType};
pub use service::{
    DEFAULT_NAMESPACE, EXPORT_TO_ANNOTATION, Port, Registry, Resolution, Service, TargetPort,
    UNSPECIFIED_IP,
};
pub use store::{ChangeKind, ChangeSet, MeshOptions, ObjectKey, Snapshot, Store};
pub use workload::{
    LOCALITY_LABEL, NETWORK_LABEL, TLS_MODE_LABEL, TlsMode, Workload, WorkloadKind,
};
