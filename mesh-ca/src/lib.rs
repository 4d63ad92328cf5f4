//! # mesh-ca
//!
//! Citadel's job as a library (not yet written): SPIFFE identities and trust bundles, a CA
//! (self-signed root or a plugged-in intermediate from Istio's `cacerts` files), CSR signing that
//! checks the caller's identity, root rotation without downtime, the Istio CA gRPC API
//! (`istio.v1.auth.IstioCertificateService`), and a workload certificate manager that renews
//! certificates and serves them as SDS secrets `default` and `ROOTCA`.
