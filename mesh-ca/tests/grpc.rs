//! The Istio CA API over real gRPC on 127.0.0.1: certificates for callers whose bearer token
//! (ES256, checked against a JWKS) names their service account; every bad request refused with
//! its gRPC status and nothing issued.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use mesh_ca::grpc::{CertificateService, JwtAuthenticator, create_certificate};
use mesh_ca::{Ca, CaOptions, SpiffeId, TrustDomain, workload_csr};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use tonic::Code;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

struct Issuer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Issuer {
    fn new() -> Issuer {
        let rng = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("key");
        Issuer { key, rng }
    }

    fn jwks(&self) -> String {
        let pk = self.key.public_key().as_ref();
        serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": b64(&pk[1..33]), "y": b64(&pk[33..65])}]})
        .to_string()
    }

    fn token(&self, claims: serde_json::Value) -> String {
        let head = b64(br#"{"alg":"ES256","kid":"k1"}"#);
        let body = b64(claims.to_string().as_bytes());
        let sig = self
            .key
            .sign(&self.rng, format!("{head}.{body}").as_bytes())
            .expect("signs");
        format!("{head}.{body}.{}", b64(sig.as_ref()))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn claims(sub: &str, exp: u64) -> serde_json::Value {
    serde_json::json!({"iss": "https://kubernetes.default.svc", "aud": ["istio-ca"], "sub": sub, "exp": exp})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_certificate_over_grpc() {
    let td = TrustDomain::new("cluster.local").expect("td");
    let mut options = CaOptions::new(td.clone());
    options.max_ttl = Duration::from_secs(3600);
    let ca = Arc::new(Mutex::new(Ca::generate(options).expect("ca")));
    let issuer = Issuer::new();
    let auth = JwtAuthenticator::new(
        td.clone(),
        "https://kubernetes.default.svc",
        "istio-ca",
        &issuer.jwks(),
    )
    .expect("jwks");
    let service = CertificateService::new(ca.clone(), vec![Box::new(auth)]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .connect()
        .await
        .expect("connects");

    let web = SpiffeId::istio(&td, "shop", "web").expect("id");
    let (_key, csr) = workload_csr(&web).expect("csr");
    let good = issuer.token(claims("system:serviceaccount:shop:web", now() + 600));
    let chain = create_certificate(channel.clone(), &good, &csr, Duration::from_secs(600))
        .await
        .expect("issued");
    assert_eq!(chain.len(), 2);
    let id = ca
        .lock()
        .expect("ca")
        .bundle()
        .verify(&chain[..1], time::OffsetDateTime::now_utc())
        .expect("verifies");
    assert_eq!(id, web);

    let other = Issuer::new();
    let cases: Vec<(&str, String, String, Duration, Code)> = vec![
        (
            "no token",
            String::new(),
            csr.clone(),
            Duration::ZERO,
            Code::Unauthenticated,
        ),
        (
            "foreign signer",
            other.token(claims("system:serviceaccount:shop:web", now() + 600)),
            csr.clone(),
            Duration::ZERO,
            Code::Unauthenticated,
        ),
        (
            "expired token",
            issuer.token(claims("system:serviceaccount:shop:web", now() - 1)),
            csr.clone(),
            Duration::ZERO,
            Code::Unauthenticated,
        ),
        (
            "not a service account",
            issuer.token(claims("alice", now() + 600)),
            csr.clone(),
            Duration::ZERO,
            Code::Unauthenticated,
        ),
        (
            "another identity",
            issuer.token(claims("system:serviceaccount:shop:admin", now() + 600)),
            csr.clone(),
            Duration::ZERO,
            Code::PermissionDenied,
        ),
        (
            "malformed CSR",
            good.clone(),
            "not a csr".into(),
            Duration::ZERO,
            Code::InvalidArgument,
        ),
        (
            "TTL over the cap",
            good.clone(),
            csr.clone(),
            Duration::from_secs(7200),
            Code::InvalidArgument,
        ),
    ];
    for (what, token, csr, ttl, code) in cases {
        let token = if token.is_empty() {
            "x".to_string()
        } else {
            token
        };
        match create_certificate(channel.clone(), &token, &csr, ttl).await {
            Ok(_) => panic!("{what}: issued"),
            Err(s) => assert_eq!(s.code(), code, "{what}: {s:?}"),
        }
    }
    let metrics = ca.lock().expect("ca").metrics();
    assert!(
        metrics.contains("citadel_server_success_cert_issuance_count 1"),
        "{metrics}"
    );
}

async fn serve_on(port: u16, service: CertificateService) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    })
}

async fn until<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Some(v) = f() {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The workload certificate manager: waits out a CA that is not there yet (backoff), renews at
/// half-life, and keeps its last good certificate when the CA goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_manager_renews_and_survives_the_ca_going_away() {
    let td = TrustDomain::new("cluster.local").expect("td");
    let ca = Arc::new(Mutex::new(
        Ca::generate(CaOptions::new(td.clone())).expect("ca"),
    ));
    let issuer = Arc::new(Issuer::new());
    let auth = JwtAuthenticator::new(
        td.clone(),
        "https://kubernetes.default.svc",
        "istio-ca",
        &issuer.jwks(),
    )
    .expect("jwks");
    let service = CertificateService::new(ca.clone(), vec![Box::new(auth)]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();

    let web = SpiffeId::istio(&td, "shop", "web").expect("id");
    let mut options = mesh_ca::ManagerOptions::default();
    options.ttl = Duration::from_secs(2);
    options.initial_backoff = Duration::from_millis(50);
    options.max_backoff = Duration::from_millis(400);
    let token = {
        let issuer = issuer.clone();
        Arc::new(move || issuer.token(claims("system:serviceaccount:shop:web", now() + 600)))
    };
    let manager = mesh_ca::CertManager::spawn(
        format!("http://127.0.0.1:{port}"),
        token,
        web.clone(),
        options,
    );

    // No CA yet: nothing, and the manager keeps trying.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(manager.current().is_none());
    let server = serve_on(port, service).await;
    let first = until(10, || manager.current())
        .await
        .expect("a certificate once the CA is up");
    let bundle = ca.lock().expect("ca").bundle().clone();
    assert_eq!(
        bundle.verify(&first.chain[..1], time::OffsetDateTime::now_utc()),
        Ok(web.clone())
    );
    // Renewed around half-life (1 s).
    let second = until(5, || manager.current().filter(|c| c.chain != first.chain))
        .await
        .expect("renewed");
    assert!(second.received > first.received);
    // The CA goes away: the last good certificate stays.
    server.abort();
    let _ = server.await;
    // A request already under way when the CA stopped may still land; then nothing more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let latest = manager.current().expect("a certificate");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let kept = manager.current().expect("kept");
    assert_eq!(
        kept.chain, latest.chain,
        "no new certificate without a CA, the last good one kept"
    );
    let at = time::OffsetDateTime::from(kept.received);
    assert_eq!(bundle.verify(&kept.chain[..1], at), Ok(web));
}

/// Over TLS a client certificate from the CA is the credential (istiod's renewals on 15012):
/// its identity is the caller's. Absent, foreign and expired certificates are refused with
/// `UNAUTHENTICATED` naming why; another identity than the certificate's with
/// `PERMISSION_DENIED`; nothing is issued on any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_certificate_over_mtls() {
    use mesh_ca::grpc::MtlsAuthenticator;
    use mesh_ca::tls::{ClientIdentity, channel, incoming, server_config};

    let td = TrustDomain::new("cluster.local").expect("td");
    let mut options = CaOptions::new(td.clone());
    options.max_ttl = Duration::from_secs(3600);
    let ca = Arc::new(Mutex::new(Ca::generate(options.clone()).expect("ca")));
    // The CA server's own serving certificate, as istiod's.
    const SERVER: &str = "istiod.istio-system.svc";
    let serving = rcgen::generate_simple_self_signed(vec![SERVER.to_string()]).expect("cert");
    let serving_pem = serving.cert.pem();
    let config = server_config(&serving_pem, &serving.signing_key.serialize_pem()).expect("tls");
    let service = CertificateService::new(
        ca.clone(),
        vec![Box::new(MtlsAuthenticator::new(ca.clone()))],
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming(listener, Arc::new(config))),
    );

    // A workload's certificate (its first, from a token), then a renewal authenticated by it.
    let web = SpiffeId::istio(&td, "shop", "web").expect("id");
    let certificate = |ca: &Mutex<Ca>, ttl: u64| {
        let (key, csr) = workload_csr(&web).expect("csr");
        let issued = ca
            .lock()
            .expect("ca")
            .sign_csr(&csr, &web, Duration::from_secs(ttl))
            .expect("signed");
        (issued.chain.concat(), key.serialize_pem())
    };
    let (chain, key) = certificate(&ca, 600);
    let identity = ClientIdentity {
        chain_pem: &chain,
        key_pem: &key,
    };
    let mtls = channel(addr, SERVER, &serving_pem, Some(identity))
        .await
        .expect("connects");
    let (_, csr) = workload_csr(&web).expect("csr");
    let renewed = create_certificate(mtls.clone(), "", &csr, Duration::from_secs(600))
        .await
        .expect("renewed over mTLS");
    let bundle = ca.lock().expect("ca").bundle().clone();
    assert_eq!(
        bundle.verify(&renewed[..1], time::OffsetDateTime::now_utc()),
        Ok(web.clone())
    );

    // Someone else's identity with this certificate.
    let admin = SpiffeId::istio(&td, "shop", "admin").expect("id");
    let (_, admin_csr) = workload_csr(&admin).expect("csr");
    let denied = create_certificate(mtls, "", &admin_csr, Duration::from_secs(600))
        .await
        .expect_err("not the caller's identity");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

    // No certificate, a foreign CA's, an expired one.
    let foreign_ca = Mutex::new(Ca::generate(options).expect("ca"));
    let (foreign_chain, foreign_key) = certificate(&foreign_ca, 600);
    let (short_chain, short_key) = certificate(&ca, 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let cases = [
        ("no certificate", None, "no client certificate"),
        (
            "foreign CA",
            Some(ClientIdentity {
                chain_pem: &foreign_chain,
                key_pem: &foreign_key,
            }),
            "trusted root",
        ),
        (
            "expired",
            Some(ClientIdentity {
                chain_pem: &short_chain,
                key_pem: &short_key,
            }),
            "expired",
        ),
    ];
    for (what, identity, why) in cases {
        let ch = channel(addr, SERVER, &serving_pem, identity)
            .await
            .unwrap_or_else(|e| panic!("{what}: the handshake completes: {e}"));
        let status = create_certificate(ch, "", &csr, Duration::from_secs(600))
            .await
            .expect_err(what);
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
        assert!(status.message().contains(why), "{what}: {status:?}");
    }
    // Issued: the two certificates signed directly above and the renewal; nothing else.
    let metrics = ca.lock().expect("ca").metrics();
    assert!(
        metrics.contains("citadel_server_success_cert_issuance_count 3"),
        "{metrics}"
    );
}
