//! Istio configuration to Envoy resources, as istiod builds them.
//!
//! The pure translation engine: a mesh [`Snapshot`](crate::model::Snapshot) and a
//! [`Proxy`](crate::model::Proxy) in; listeners, routes, clusters and endpoints out, named as
//! istiod names them. [`translate_proxy`] picks [`sidecar::translate_sidecar`] or
//! [`gateway::translate_gateway`] by the proxy's type (or [`grpc::translate_grpc`] for
//! proxyless gRPC clients); the other modules are the building
//! blocks, each usable on its own.

pub mod authn;
pub mod authz;
pub mod bootstrap;
pub mod cache;
pub mod cluster;
pub mod delegate;
pub mod endpoints;
pub mod ext_authz;
pub mod gateway;
pub mod grpc;
pub mod inbound;
pub mod jwt;
pub mod listener;
pub mod locality;
mod par;
pub mod route;
pub mod scope;
pub mod sidecar;
mod text;
pub mod tls;
pub mod vhost;
mod wire;

/// Everything for one proxy: a gateway's configuration for `router` proxies, a proxyless
/// gRPC client's for nodes that ask for it ([`grpc`]), a sidecar's for the others.
pub fn translate_proxy(
    snapshot: &crate::model::Snapshot,
    proxy: &crate::model::Proxy,
    options: &sidecar::SidecarOptions,
) -> sidecar::ProxyResources {
    match proxy.proxy_type {
        crate::model::ProxyType::Router => gateway::translate_gateway(snapshot, proxy, options),
        _ if proxy.is_proxyless_grpc() => grpc::translate_grpc(snapshot, proxy, options),
        _ => sidecar::translate_sidecar(snapshot, proxy, options),
    }
}

/// [`translate_proxy`] with a sidecar's clusters and endpoint assignments shared through
/// `cache` by the proxies of one snapshot ([`sidecar::SidecarTranslator::translate_shared`]);
/// gateways and proxyless gRPC clients are translated whole.
pub fn translate_proxy_shared(
    snapshot: &crate::model::Snapshot,
    proxy: &crate::model::Proxy,
    options: &sidecar::SidecarOptions,
    cache: &cache::TranslationCache,
) -> sidecar::SharedResources {
    match proxy.proxy_type {
        crate::model::ProxyType::Router => {
            gateway::translate_gateway(snapshot, proxy, options).into()
        }
        _ if proxy.is_proxyless_grpc() => grpc::translate_grpc(snapshot, proxy, options).into(),
        _ => sidecar::SidecarTranslator::new(snapshot, proxy, options).translate_shared(cache),
    }
}

/// [`translate_proxy_shared`] with a sidecar's resources as protobuf bytes: route
/// configurations encoded from `routes`, a [`cache::RouteCache`] kept across snapshots, and
/// clusters and endpoint assignments made as bytes
/// ([`sidecar::SharedResources::encoded_routes`], `encoded_clusters`, `encoded_endpoints`;
/// the typed lists left empty); gateways and proxyless gRPC clients get typed resources as
/// before.
pub fn translate_proxy_shared_encoded(
    snapshot: &crate::model::Snapshot,
    proxy: &crate::model::Proxy,
    options: &sidecar::SidecarOptions,
    cache: &cache::TranslationCache,
    routes: &cache::RouteCache,
) -> sidecar::SharedResources {
    match proxy.proxy_type {
        crate::model::ProxyType::Router => translate_proxy_shared(snapshot, proxy, options, cache),
        _ if proxy.is_proxyless_grpc() => translate_proxy_shared(snapshot, proxy, options, cache),
        _ => sidecar::SidecarTranslator::new(snapshot, proxy, options)
            .translate_shared_encoded(cache, routes),
    }
}
