//! Istio configuration to Envoy resources, as istiod builds them (being written).
//!
//! This module will hold the pure translation engine: mesh snapshot + proxy in, listeners,
//! routes, clusters and endpoints out, named as istiod names them. It starts with the parts that
//! depend only on the Istio API: how a DestinationRule's traffic policy becomes cluster settings.

pub mod authn;
pub mod authz;
pub mod bootstrap;
pub mod cache;
pub mod cluster;
pub mod delegate;
pub mod endpoints;
pub mod inbound;
pub mod jwt;
pub mod listener;
pub mod route;
pub mod scope;
pub mod sidecar;
pub mod tls;
pub mod vhost;
