//! The CA API over TLS, with client certificates as credentials (istiod's port 15012).
//!
//! The server side: [`server_config`] makes a rustls configuration that presents the CA
//! server's certificate and *asks* for a client certificate without requiring one (workloads
//! without a certificate yet authenticate with a token); [`incoming`] accepts TCP connections,
//! runs the handshakes concurrently and yields [`TlsConn`]s for
//! `tonic::transport::Server::serve_with_incoming`. Each request then carries the peer's
//! certificates ([`PeerCertificates`]) in its extensions, which
//! [`MtlsAuthenticator`](crate::grpc::MtlsAuthenticator) reads.
//!
//! The handshake proves the client holds the key of the certificate it presents; whether that
//! certificate is trusted, unexpired and whose identity it carries is decided per request
//! against the CA's current trust bundle, so that a refusal is a gRPC status naming the reason
//! (expired, foreign) rather than a failed handshake, and a root rotation applies at once.
//!
//! The client side: [`channel`] connects a tonic channel over TLS, with or without a client
//! certificate.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a TLS configuration or connection could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM input holds no certificate or no key, or does not parse.
    #[error("{what}: {message}")]
    Pem {
        /// Which input.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The connection failed.
    #[error("connecting: {0}")]
    Connect(String),
}

/// The certificates a client presented (DER, leaf first; empty when it presented none) and
/// its address: the connection information of every request on a [`TlsConn`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerCertificates {
    /// The client's chain, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The client's address.
    pub remote: Option<SocketAddr>,
}

/// A server-side TLS connection, as tonic serves it.
#[derive(Debug)]
pub struct TlsConn {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    remote: Option<SocketAddr>,
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = PeerCertificates;

    fn connect_info(&self) -> PeerCertificates {
        let chain = self
            .stream
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
            .unwrap_or_default();
        PeerCertificates {
            chain,
            remote: self.remote,
        }
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Asks for a client certificate, checks the handshake signature made with its key, and
/// leaves trust to the authenticator (see the module documentation).
#[derive(Debug)]
struct DeferredClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for DeferredClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = crate::ca::split_pem(pem)
        .iter()
        .map(|p| {
            crate::ca::pem_to_der(p)
                .map(CertificateDer::from)
                .map_err(|message| TlsError::Pem { what, message })
        })
        .collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what,
            message: "no certificate".into(),
        });
    }
    Ok(certs)
}

fn key(pem: &str, what: &'static str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let der = crate::ca::pem_to_der(pem).map_err(|message| TlsError::Pem { what, message })?;
    PrivateKeyDer::try_from(der).map_err(|e| TlsError::Pem {
        what,
        message: e.to_string(),
    })
}

/// A server configuration presenting `chain_pem` (leaf first) with `key_pem` (PKCS#8),
/// asking clients for a certificate without requiring one; ALPN `h2`.
pub fn server_config(chain_pem: &str, key_pem: &str) -> Result<rustls::ServerConfig, TlsError> {
    let provider = provider();
    let verifier = Arc::new(DeferredClientCert {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs(chain_pem, "server certificate chain")?,
            key(key_pem, "server key")?,
        )?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// TLS connections accepted on `listener` (handshakes run concurrently; one that fails or
/// takes over 10 s is dropped and logged), for `serve_with_incoming`. Call within a tokio
/// runtime; accepting stops when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> tokio_stream::wrappers::ReceiverStream<Result<TlsConn, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = tx.closed() => return,
            };
            let (tcp, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx
                            .send(Ok(TlsConn {
                                stream,
                                remote: Some(remote),
                            }))
                            .await;
                    }
                    Ok(Err(e)) => tracing::debug!(%remote, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// A client identity: its certificate chain (PEM, leaf first) and key (PKCS#8 PEM).
#[derive(Clone, Copy, Debug)]
pub struct ClientIdentity<'a> {
    /// Leaf first.
    pub chain_pem: &'a str,
    /// PKCS#8.
    pub key_pem: &'a str,
}

/// A tonic channel to `addr` over TLS: the server must present a certificate for
/// `server_name` chaining to `roots_pem`; `identity` is presented when the server asks.
pub async fn channel(
    addr: SocketAddr,
    server_name: &str,
    roots_pem: &str,
    identity: Option<ClientIdentity<'_>>,
) -> Result<tonic::transport::Channel, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(roots_pem, "server roots")? {
        roots.add(c)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => builder.with_client_auth_cert(
            certs(id.chain_pem, "client certificate chain")?,
            key(id.key_pem, "client key")?,
        )?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| TlsError::Pem {
        what: "server name",
        message: e.to_string(),
    })?;
    tonic::transport::Endpoint::from_static("http://ca.invalid")
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector(tower::service_fn(move |_uri| {
            let (connector, name) = (connector.clone(), name.clone());
            async move {
                let tcp = TcpStream::connect(addr).await?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
        .map_err(|e| TlsError::Connect(format!("{addr}: {e}")))
}
