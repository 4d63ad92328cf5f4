//! The xDS resource types the server speaks, and their push order.

/// `envoy.config.cluster.v3.Cluster`.
pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// `envoy.config.endpoint.v3.ClusterLoadAssignment`.
pub const ENDPOINT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/// `envoy.config.listener.v3.Listener`.
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// `envoy.config.route.v3.RouteConfiguration`.
pub const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
/// `envoy.extensions.transport_sockets.tls.v3.Secret`.
pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// Make before break: clusters, then their endpoints, then listeners, then the routes
/// listeners use; every push follows this order.
pub const PUSH_ORDER: [&str; 5] = [CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET];

/// The short name istiod and `istioctl` use for a type (`CDS`, `EDS`, `LDS`, `RDS`, `SDS`).
pub fn short_name(type_url: &str) -> &str {
    match type_url {
        CLUSTER => "CDS",
        ENDPOINT => "EDS",
        LISTENER => "LDS",
        ROUTE => "RDS",
        SECRET => "SDS",
        other => other.rsplit('.').next().unwrap_or(other),
    }
}

/// Whether an empty subscription means "everything" for this type (Envoy subscribes to
/// listeners and clusters by wildcard, to endpoints and routes by name).
pub fn wildcard_by_default(type_url: &str) -> bool {
    matches!(type_url, CLUSTER | LISTENER)
}
