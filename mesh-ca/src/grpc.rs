//! The Istio CA API on tonic: `istio.v1.auth.IstioCertificateService/CreateCertificate`
//! (messages of istio/api `security/v1alpha1/ca.proto`, written here with prost), with
//! pluggable [`Authenticator`]s deciding who the caller is: [`JwtAuthenticator`] checks a
//! bearer token (ES256) against a JWKS, as istiod checks Kubernetes service account tokens;
//! [`MtlsAuthenticator`] takes the identity of the client certificate presented on a TLS
//! connection (served with [`crate::tls`]), as istiod does for renewals over mTLS.
//!
//! Statuses: no or bad credentials `UNAUTHENTICATED`; an identity that is not the caller's
//! `PERMISSION_DENIED`; a malformed CSR, a bad CSR signature, several SANs, an unsupported key or a
//! TTL over the cap `INVALID_ARGUMENT`. Nothing is issued on any of them.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use tonic::codegen::{BoxFuture, StdError, http};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::ca::{Ca, SignError};
use crate::spiffe::{SpiffeId, TrustDomain};
use crate::tls::PeerCertificates;

/// `IstioCertificateRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IstioCertificateRequest {
    /// The PEM CSR.
    #[prost(string, tag = "1")]
    pub csr: String,
    /// The requested lifetime, seconds.
    #[prost(int64, tag = "3")]
    pub validity_duration: i64,
    /// Options (Istio's `ImpersonatedIdentity` etc.; ignored here).
    #[prost(message, optional, tag = "4")]
    pub metadata: Option<prost_types::Struct>,
}

/// `IstioCertificateResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IstioCertificateResponse {
    /// Leaf, intermediates, root (PEM each).
    #[prost(string, repeated, tag = "1")]
    pub cert_chain: Vec<String>,
}

/// The gRPC path of `CreateCertificate`.
pub const CREATE_CERTIFICATE: &str = "/istio.v1.auth.IstioCertificateService/CreateCertificate";

/// What is known of a caller: the request's metadata, and the certificates it presented when
/// the connection is TLS ([`crate::tls`]).
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// The gRPC metadata (headers).
    pub metadata: &'a MetadataMap,
    /// The TLS peer's certificates, when served over [`crate::tls::incoming`].
    pub peer: Option<&'a PeerCertificates>,
}

/// Decides who is calling.
pub trait Authenticator: Send + Sync + 'static {
    /// The caller's identity, or `UNAUTHENTICATED` with why not.
    fn authenticate(&self, caller: &Caller<'_>) -> Result<SpiffeId, Status>;
}

/// The identity of the client certificate: a chain that verifies against the CA's current
/// trust bundle (every root during a rotation), unexpired, with a SPIFFE URI SAN. A
/// certificate that is expired, foreign or without an identity is refused with
/// `UNAUTHENTICATED` naming why.
#[derive(Clone)]
pub struct MtlsAuthenticator {
    ca: Arc<Mutex<Ca>>,
}

impl std::fmt::Debug for MtlsAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtlsAuthenticator").finish_non_exhaustive()
    }
}

impl MtlsAuthenticator {
    /// Client certificates are checked against `ca`'s bundle at each request.
    pub fn new(ca: Arc<Mutex<Ca>>) -> MtlsAuthenticator {
        MtlsAuthenticator { ca }
    }
}

impl Authenticator for MtlsAuthenticator {
    fn authenticate(&self, caller: &Caller<'_>) -> Result<SpiffeId, Status> {
        let chain = caller
            .peer
            .map(|p| p.chain.as_slice())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
        let bundle = self
            .ca
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .bundle()
            .clone();
        bundle
            .verify_der(chain, time::OffsetDateTime::now_utc())
            .map_err(|e| Status::unauthenticated(format!("client certificate: {e}")))
    }
}

/// Bearer JWTs signed with ES256 by a key of a JWKS, for an issuer and audience; the subject
/// `system:serviceaccount:<namespace>:<name>` (a Kubernetes token) is the identity
/// `spiffe://<td>/ns/<namespace>/sa/<name>`.
#[derive(Clone, Debug)]
pub struct JwtAuthenticator {
    trust_domain: TrustDomain,
    issuer: String,
    audience: String,
    /// `kid` -> uncompressed P-256 point.
    keys: Vec<(String, Vec<u8>)>,
}

fn b64(s: &str) -> Result<Vec<u8>, Status> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| Status::unauthenticated("token: bad base64"))
}

impl JwtAuthenticator {
    /// From a JWKS document (its EC P-256 keys are used).
    pub fn new(
        trust_domain: TrustDomain,
        issuer: &str,
        audience: &str,
        jwks: &str,
    ) -> Result<JwtAuthenticator, String> {
        let doc: serde_json::Value =
            serde_json::from_str(jwks).map_err(|e| format!("JWKS: {e}"))?;
        let mut keys = Vec::new();
        for k in doc["keys"].as_array().into_iter().flatten() {
            if k["kty"] != "EC" || k["crv"] != "P-256" {
                continue;
            }
            let coord = |c: &str| {
                k[c].as_str()
                    .and_then(|v| {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .decode(v)
                            .ok()
                    })
                    .filter(|v| v.len() == 32)
            };
            let (Some(x), Some(y)) = (coord("x"), coord("y")) else {
                return Err("JWKS: an EC key without 32-byte x and y".into());
            };
            let mut point = vec![4u8];
            point.extend(x);
            point.extend(y);
            keys.push((k["kid"].as_str().unwrap_or_default().to_string(), point));
        }
        if keys.is_empty() {
            return Err("JWKS: no EC P-256 key".into());
        }
        Ok(JwtAuthenticator {
            trust_domain,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            keys,
        })
    }
}

impl Authenticator for JwtAuthenticator {
    fn authenticate(&self, caller: &Caller<'_>) -> Result<SpiffeId, Status> {
        let header = caller
            .metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::unauthenticated("no authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| Status::unauthenticated("authorization is not a bearer token"))?;
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, sig] = parts.as_slice() else {
            return Err(Status::unauthenticated("token: not a JWT"));
        };
        let head: serde_json::Value = serde_json::from_slice(&b64(h)?)
            .map_err(|_| Status::unauthenticated("token: bad header"))?;
        if head["alg"] != "ES256" {
            return Err(Status::unauthenticated("token: only ES256 is accepted"));
        }
        let kid = head["kid"].as_str().unwrap_or_default();
        let signed = format!("{h}.{p}");
        let signature = b64(sig)?;
        let verified = self
            .keys
            .iter()
            .filter(|(k, _)| kid.is_empty() || k == kid)
            .any(|(_, key)| {
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    key,
                )
                .verify(signed.as_bytes(), &signature)
                .is_ok()
            });
        if !verified {
            return Err(Status::unauthenticated("token: signature does not verify"));
        }
        let claims: serde_json::Value = serde_json::from_slice(&b64(p)?)
            .map_err(|_| Status::unauthenticated("token: bad claims"))?;
        if claims["iss"] != self.issuer.as_str() {
            return Err(Status::unauthenticated("token: wrong issuer"));
        }
        let aud_ok = match &claims["aud"] {
            serde_json::Value::String(a) => *a == self.audience,
            serde_json::Value::Array(a) => a.iter().any(|v| *v == self.audience.as_str()),
            _ => false,
        };
        if !aud_ok {
            return Err(Status::unauthenticated("token: wrong audience"));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if claims["exp"].as_u64().is_none_or(|exp| exp <= now) {
            return Err(Status::unauthenticated("token: expired"));
        }
        let sub = claims["sub"].as_str().unwrap_or_default();
        let Some(rest) = sub.strip_prefix("system:serviceaccount:") else {
            return Err(Status::unauthenticated(
                "token: the subject is not a service account",
            ));
        };
        let (ns, sa) = rest
            .split_once(':')
            .ok_or_else(|| Status::unauthenticated("token: bad service account subject"))?;
        SpiffeId::istio(&self.trust_domain, ns, sa)
            .map_err(|e| Status::unauthenticated(format!("token: {e}")))
    }
}

/// The CA as a tonic service.
#[derive(Clone)]
pub struct CertificateService {
    ca: Arc<Mutex<Ca>>,
    authenticators: Arc<Vec<Box<dyn Authenticator>>>,
}

impl std::fmt::Debug for CertificateService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateService").finish_non_exhaustive()
    }
}

impl CertificateService {
    /// The service over `ca`; a caller is whoever the first authenticator that accepts says.
    pub fn new(
        ca: Arc<Mutex<Ca>>,
        authenticators: Vec<Box<dyn Authenticator>>,
    ) -> CertificateService {
        CertificateService {
            ca,
            authenticators: Arc::new(authenticators),
        }
    }

    /// `CreateCertificate`.
    pub fn create_certificate(
        &self,
        request: Request<IstioCertificateRequest>,
    ) -> Result<Response<IstioCertificateResponse>, Status> {
        let mut why = Vec::new();
        let who = Caller {
            metadata: request.metadata(),
            peer: request.extensions().get::<PeerCertificates>(),
        };
        let caller = self
            .authenticators
            .iter()
            .find_map(|a| match a.authenticate(&who) {
                Ok(id) => Some(id),
                Err(e) => {
                    why.push(e.message().to_string());
                    None
                }
            })
            .ok_or_else(|| {
                Status::unauthenticated(format!("not authenticated: {}", why.join("; ")))
            })?;
        let req = request.into_inner();
        let ttl = Duration::from_secs(u64::try_from(req.validity_duration.max(0)).unwrap_or(0));
        let ca = self
            .ca
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match ca.sign_csr(&req.csr, &caller, ttl) {
            Ok(issued) => Ok(Response::new(IstioCertificateResponse {
                cert_chain: with_bundle(issued.chain, ca.bundle()),
            })),
            Err(e @ SignError::NotCaller { .. }) => Err(Status::permission_denied(e.to_string())),
            Err(e @ SignError::Signing(_)) => Err(Status::internal(e.to_string())),
            Err(e) => Err(Status::invalid_argument(e.to_string())),
        }
    }
}

/// The chain as istiod answers it: the leaf, the intermediates, and last the whole trust
/// bundle (every root during a rotation, in one element, as `root-cert.pem` holds them), which
/// the workload serves as `ROOTCA`.
fn with_bundle(mut chain: Vec<String>, bundle: &crate::ca::TrustBundle) -> Vec<String> {
    while chain.len() > 1
        && chain
            .last()
            .is_some_and(|c| bundle.roots().iter().any(|r| r.trim() == c.trim()))
    {
        chain.pop();
    }
    chain.push(bundle.pem());
    chain
}

impl tonic::server::NamedService for CertificateService {
    const NAME: &'static str = "istio.v1.auth.IstioCertificateService";
}

struct Unary(CertificateService);

impl tonic::server::UnaryService<IstioCertificateRequest> for Unary {
    type Response = IstioCertificateResponse;
    type Future = BoxFuture<Response<IstioCertificateResponse>, Status>;

    fn call(&mut self, request: Request<IstioCertificateRequest>) -> Self::Future {
        let out = self.0.create_certificate(request);
        Box::pin(async move { out })
    }
}

impl<B> tonic::codegen::Service<http::Request<B>> for CertificateService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() == CREATE_CERTIFICATE {
            let svc = Unary(self.clone());
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(svc, req).await)
            })
        } else {
            Box::pin(async move { Ok(Status::unimplemented("no such method").into_http()) })
        }
    }
}

/// Calls `CreateCertificate` on `channel` with a bearer token (none when `token` is empty:
/// a TLS channel's client certificate is the credential then): the chain, or the status.
pub async fn create_certificate(
    channel: tonic::transport::Channel,
    token: &str,
    csr: &str,
    ttl: Duration,
) -> Result<Vec<String>, Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| Status::unavailable(format!("CA not ready: {e}")))?;
    let mut request = Request::new(IstioCertificateRequest {
        csr: csr.to_string(),
        validity_duration: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        metadata: None,
    });
    if !token.is_empty() {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::invalid_argument("the token is not a valid header value"))?;
        request.metadata_mut().insert("authorization", value);
    }
    let path = http::uri::PathAndQuery::from_static(CREATE_CERTIFICATE);
    let response: Response<IstioCertificateResponse> = client
        .unary(request, path, tonic_prost::ProstCodec::default())
        .await?;
    Ok(response.into_inner().cert_chain)
}
