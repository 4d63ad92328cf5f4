//! # mesh-proxy
//!
//! The data plane as tower layers (not yet written): routing, retries, timeouts, fault
//! injection, header mutation, RBAC, JWT, CORS, mirroring, stats and access logs, load balancing
//! and outlier detection, rustls mTLS with SPIFFE verification, and an xDS-driven proxy runtime on
//! hyper.
