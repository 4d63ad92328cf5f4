//! Gateway (`networking/v1alpha3/gateway.proto`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::is_default;

/// A load balancer at the edge of the mesh: the ports it opens, the hosts it serves on them
/// and their TLS settings.
///
/// ```
/// use mesh_core::api::networking::{GatewaySpec, ServerTlsMode};
/// let spec: GatewaySpec = serde_json::from_str(
///     r#"{"selector": {"istio": "ingressgateway"},
///         "servers": [{"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
///                      "hosts": ["*.example.com"],
///                      "tls": {"mode": "SIMPLE", "credentialName": "cert"}}]}"#)?;
/// assert_eq!(spec.servers[0].tls.as_ref().map(|t| t.mode), Some(ServerTlsMode::Simple));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// The servers (port, hosts, TLS) the gateway exposes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<Server>,
    /// Labels of the gateway pods that apply this configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
}

/// One listener of a gateway: a port, the hosts it serves, and TLS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// The port the gateway listens on, with its protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Port>,
    /// IP address or `unix://` socket the listener binds to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bind: String,
    /// Hosts exposed (`[namespace/]dnsName`, wildcards allowed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// TLS settings of the listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// Loopback address or socket traffic is forwarded to (unused by gateways).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_endpoint: String,
    /// Optional name, unique across the gateway's servers.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// A port with its protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    /// Port number.
    #[serde(default, skip_serializing_if = "is_default")]
    pub number: u32,
    /// Protocol: `HTTP`, `HTTPS`, `GRPC`, `HTTP2`, `MONGO`, `TCP` or `TLS`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// Label for the port.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Deprecated and ignored by gateways.
    #[serde(default, skip_serializing_if = "is_default")]
    pub target_port: u32,
}

/// TLS settings of a server (gateway listener or sidecar ingress listener).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTlsSettings {
    /// Redirect plain HTTP requests to HTTPS.
    #[serde(default, skip_serializing_if = "is_default")]
    pub https_redirect: bool,
    /// How TLS is handled on the listener.
    #[serde(default, skip_serializing_if = "is_default")]
    pub mode: ServerTlsMode,
    /// Server certificate file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_certificate: String,
    /// Server private key file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub private_key: String,
    /// CA bundle file used to verify client certificates.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_certificates: String,
    /// Certificate revocation list file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_crl: String,
    /// Secret holding the server certificate, key (and CA).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credential_name: String,
    /// Up to two secrets holding server certificates (e.g. RSA and ECDSA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_names: Vec<String>,
    /// Secret holding the CA bundle for client verification.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_cert_credential_name: String,
    /// Up to two inline certificate/key file pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tls_certificates: Vec<TlsCertificate>,
    /// Identities accepted in client certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
    /// Accepted SPKI hashes of client certificates (base64).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_spki: Vec<String>,
    /// Accepted hashes of client certificates (hex).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify_certificate_hash: Vec<String>,
    /// Minimum TLS version.
    #[serde(default, skip_serializing_if = "is_default")]
    pub min_protocol_version: TlsProtocol,
    /// Maximum TLS version.
    #[serde(default, skip_serializing_if = "is_default")]
    pub max_protocol_version: TlsProtocol,
    /// Cipher suites offered (OpenSSL names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    /// ECDH curves offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ecdh_curves: Vec<String>,
    /// Skip verification of client certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
}

/// An inline server certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsCertificate {
    /// Server certificate file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_certificate: String,
    /// Private key file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub private_key: String,
    /// CA bundle file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_certificates: String,
}

/// `ServerTLSSettings.TLSmode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerTlsMode {
    /// Forward the TLS connection untouched, routed by SNI.
    #[default]
    Passthrough,
    /// Terminate TLS.
    Simple,
    /// Terminate TLS and require a client certificate.
    Mutual,
    /// Passthrough using SNI-encoded routing (multi-network gateways).
    AutoPassthrough,
    /// Terminate mutual TLS with Istio's certificates.
    IstioMutual,
    /// Terminate TLS, verifying a client certificate when one is sent.
    OptionalMutual,
}

impl std::fmt::Display for ServerTlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Passthrough => "PASSTHROUGH",
            Self::Simple => "SIMPLE",
            Self::Mutual => "MUTUAL",
            Self::AutoPassthrough => "AUTO_PASSTHROUGH",
            Self::IstioMutual => "ISTIO_MUTUAL",
            Self::OptionalMutual => "OPTIONAL_MUTUAL",
        })
    }
}

/// `ServerTLSSettings.TLSProtocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TlsProtocol {
    /// Envoy's default.
    #[default]
    #[serde(rename = "TLS_AUTO")]
    TlsAuto,
    /// TLS 1.0.
    #[serde(rename = "TLSV1_0")]
    TlsV1_0,
    /// TLS 1.1.
    #[serde(rename = "TLSV1_1")]
    TlsV1_1,
    /// TLS 1.2.
    #[serde(rename = "TLSV1_2")]
    TlsV1_2,
    /// TLS 1.3.
    #[serde(rename = "TLSV1_3")]
    TlsV1_3,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Gateway, Object};

    #[test]
    fn full_object_loads_and_round_trips() {
        let yaml = r#"
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS, targetPort: 8443}
    bind: 0.0.0.0
    name: main
    defaultEndpoint: 127.0.0.1:8080
    hosts: ["ns/*.example.com"]
    tls:
      mode: OPTIONAL_MUTUAL
      httpsRedirect: false
      credentialNames: [a, b]
      caCertCredentialName: ca
      subjectAltNames: [x]
      verifyCertificateSpki: [abc]
      verifyCertificateHash: [def]
      minProtocolVersion: TLSV1_2
      maxProtocolVersion: TLSV1_3
      cipherSuites: [ECDHE-RSA-AES128-GCM-SHA256]
      ecdhCurves: [X25519]
      insecureSkipVerify: true
      caCrl: /crl.pem
  - port: {number: 8443, name: https2, protocol: HTTPS}
    hosts: ["*"]
    tls:
      mode: SIMPLE
      tlsCertificates: [{serverCertificate: /a.pem, privateKey: /a.key, caCertificates: /ca.pem}]
"#;
        let objs = crate::load::from_str(yaml, "gw.yaml").unwrap();
        let Object::Gateway(gw) = &objs[0].object else {
            panic!()
        };
        let tls = gw.spec.servers[0].tls.clone().unwrap();
        assert_eq!(tls.mode, ServerTlsMode::OptionalMutual);
        assert_eq!(tls.min_protocol_version, TlsProtocol::TlsV1_2);
        assert_eq!(tls.credential_names, ["a", "b"]);
        let json = serde_json::to_value(gw).unwrap();
        assert_eq!(
            json["spec"]["servers"][0]["tls"]["maxProtocolVersion"],
            "TLSV1_3"
        );
        let back: Gateway = serde_json::from_value(json).unwrap();
        assert_eq!(&back, gw);
    }

    #[test]
    fn unknown_enum_value_fails() {
        let r = crate::load::from_str(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: a}\nspec:\n  servers:\n  - tls: {mode: BOGUS}\n",
            "x.yaml",
        );
        assert!(r.is_err());
    }
}
