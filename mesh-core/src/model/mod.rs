//! The mesh as translation sees it.
//!
//! So far: [`Protocol`], how istiod decides what a service port carries, and [`Proxy`], the
//! identity of the proxy a translation is for, read from its Envoy node. Services, workloads
//! and the indexed snapshot come next (see `docs/mesh-core.md`).

mod protocol;
mod proxy;

pub use protocol::Protocol;
pub use proxy::{IstioVersion, NodeError, NodeMetadata, Proxy, ProxyType};
