//! Gateway: istiod's `ValidateGateway` (`validateServer`, `validateServerPort`,
//! `validateServerBind`, `validateTLSOptions`), plus the CRD schema's CEL rules on
//! `ServerTLSSettings`.

use std::collections::BTreeSet;

use super::{Ctx, common};
use crate::api::Gateway;
use crate::api::networking::{Port, Server, ServerTlsMode, ServerTlsSettings, TlsProtocol};

/// Prefix of a Unix domain socket address in `bind` / `defaultEndpoint`.
pub(super) const UNIX_ADDRESS_PREFIX: &str = "unix://";
const GATEWAY_SEMANTICS_ANNOTATION: &str = "internal.istio.io/gateway-semantics";

/// Cipher suites Envoy (BoringSSL) accepts in `cipherSuites`.
const VALID_CIPHER_SUITES: [&str; 15] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

pub(super) fn validate(obj: &Gateway, cx: &mut Ctx) {
    let gateway_semantics = obj
        .metadata
        .annotations
        .get(GATEWAY_SEMANTICS_ANNOTATION)
        .is_some_and(|v| v == "gateway");
    if !common::is_dns1123_label(&obj.metadata.name) && !gateway_semantics {
        cx.field("metadata", |cx| {
            cx.error_at(
                "name",
                format!("invalid gateway name: {:?}", obj.metadata.name),
            )
        });
    }
    let spec = &obj.spec;
    cx.field("spec", |cx| {
        if spec.servers.is_empty() {
            cx.error_at("servers", "gateway must have at least one server");
        }
        cx.each("servers", &spec.servers, |cx, s| {
            server(cx, s, gateway_semantics)
        });
        let mut names = BTreeSet::new();
        cx.each("servers", &spec.servers, |cx, s| {
            let Some(p) = &s.port else { return };
            if !names.insert(p.name.clone()) {
                cx.field("port", |cx| {
                    cx.error_at(
                        "name",
                        format!(
                            "port names in servers must be unique: duplicate name {}",
                            p.name
                        ),
                    )
                });
            }
            if !is_http(&p.protocol) && s.tls.as_ref().is_some_and(|t| t.https_redirect) {
                cx.field("tls", |cx| {
                    cx.warn_at(
                        "httpsRedirect",
                        "tls.httpsRedirect should only be used with http servers",
                    )
                });
            }
        });
    });
}

/// `protocol.Parse(p).IsHTTP()`.
pub(super) fn is_http(p: &str) -> bool {
    matches!(
        p.to_ascii_uppercase().as_str(),
        "HTTP" | "HTTP2" | "HTTP_PROXY" | "GRPC" | "GRPC-WEB"
    )
}

/// `protocol.Parse(p).IsTLS()`.
pub(super) fn is_tls(p: &str) -> bool {
    matches!(p.to_ascii_uppercase().as_str(), "HTTPS" | "TLS")
}

/// `validateServer`.
fn server(cx: &mut Ctx, s: &Server, gateway_semantics: bool) {
    if s.hosts.is_empty() {
        cx.error_at("hosts", "server config must contain at least one host");
    }
    cx.each("hosts", &s.hosts, |cx, h| {
        for e in common::namespace_slash_wildcard_hostname(h, true, gateway_semantics) {
            cx.error(e);
        }
    });
    let before = cx.error_count();
    server_port(cx, s.port.as_ref(), &s.bind);
    let port_ok = cx.error_count() == before;
    server_bind(cx, s.port.as_ref(), &s.bind);
    if let Some(tls) = &s.tls {
        cx.field("tls", |cx| server_tls(cx, tls));
    }
    if let (true, Some(port)) = (port_ok, &s.port) {
        let tls_port = is_tls(&port.protocol);
        match &s.tls {
            None if tls_port => cx.error("server must have TLS settings for HTTPS/TLS protocols"),
            Some(tls) if !tls_port => {
                if is_http(&port.protocol) {
                    let passthrough = matches!(
                        tls.mode,
                        ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough
                    );
                    if !passthrough
                        || !tls.ca_certificates.is_empty()
                        || !tls.private_key.is_empty()
                        || !tls.server_certificate.is_empty()
                    {
                        cx.error_at(
                            "tls",
                            "server cannot have TLS settings for plain text HTTP ports",
                        );
                    }
                } else {
                    cx.error_at(
                        "tls",
                        "server cannot have TLS settings for non HTTPS/TLS ports",
                    );
                }
            }
            _ => {}
        }
    }
}

/// `validateServerPort`.
fn server_port(cx: &mut Ctx, port: Option<&Port>, bind: &str) {
    let Some(port) = port else {
        cx.error_at("port", "port is required");
        return;
    };
    cx.field("port", |cx| {
        if !common::is_known_protocol(&port.protocol) {
            cx.error_at(
                "protocol",
                format!(
                    "invalid protocol {:?}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP",
                    port.protocol
                ),
            );
        }
        if port.number > 0 || !bind.starts_with(UNIX_ADDRESS_PREFIX) {
            cx.check_at("number", common::port(i64::from(port.number)));
        }
        if port.target_port > 0 {
            cx.error_at("targetPort", "targetPort has no impact on Gateways");
        }
        if port.name.is_empty() {
            cx.error_at(
                "name",
                format!(
                    "port name must be set: number:{} protocol:{:?}",
                    port.number, port.protocol
                ),
            );
        }
    });
}

/// `ValidateUnixAddress`.
pub(super) fn unix_address(addr: &str) -> common::Rule {
    if addr.is_empty() {
        return Err("unix address must not be empty".into());
    }
    if addr.starts_with('@') {
        return Ok(());
    }
    if !addr.starts_with('/') || addr.ends_with('/') {
        return Err(format!("{addr} is not an absolute path to a file"));
    }
    Ok(())
}

/// `validateServerBind`.
fn server_bind(cx: &mut Ctx, port: Option<&Port>, bind: &str) {
    if let Some(path) = bind.strip_prefix(UNIX_ADDRESS_PREFIX) {
        cx.check_at("bind", unix_address(path));
        if let Some(p) = port.filter(|p| p.number != 0) {
            cx.error_at(
                "bind",
                format!(
                    "port number must be 0 for unix domain socket: number:{}",
                    p.number
                ),
            );
        }
    } else if !bind.is_empty() {
        cx.check_at("bind", common::ip_address(bind));
    }
}

/// `validateTLSOptions`, plus the CRD schema's CEL rules and list bounds.
pub(super) fn server_tls(cx: &mut Ctx, tls: &ServerTlsSettings) {
    // Schema rules.
    if !tls.tls_certificates.is_empty() && !tls.credential_names.is_empty() {
        cx.error("only one of credentialNames or tlsCertificates can be set");
    }
    if !tls.credential_name.is_empty() && !tls.credential_names.is_empty() {
        cx.error("only one of credentialName or credentialNames can be set");
    }
    if tls.credential_names.len() > 2 {
        cx.error_at("credentialNames", "must have at most 2 items");
    }
    if tls.tls_certificates.len() > 2 {
        cx.error_at("tlsCertificates", "must have at most 2 items");
    }

    if matches!(
        tls.min_protocol_version,
        TlsProtocol::TlsV1_0 | TlsProtocol::TlsV1_1
    ) && tls.cipher_suites.is_empty()
    {
        cx.warn_at("minProtocolVersion", "TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.");
    }
    let mut invalid = BTreeSet::new();
    let mut valid = BTreeSet::new();
    let mut dup = BTreeSet::new();
    for cs in &tls.cipher_suites {
        if !is_valid_cipher_suite(cs) {
            invalid.insert(cs.as_str());
        } else if !valid.insert(cs.as_str()) {
            dup.insert(cs.as_str());
        }
    }
    if !invalid.is_empty() {
        let list: Vec<&str> = invalid.into_iter().collect();
        cx.warn_at(
            "cipherSuites",
            format!("ignoring invalid cipher suites: [{}]", list.join(" ")),
        );
    }
    if !dup.is_empty() {
        let list: Vec<&str> = dup.into_iter().collect();
        cx.warn_at(
            "cipherSuites",
            format!("ignoring duplicate cipher suites: [{}]", list.join(" ")),
        );
    }

    if tls.mode == ServerTlsMode::IstioMutual {
        let checks: [(bool, &str, &str); 6] = [
            (
                !tls.server_certificate.is_empty(),
                "serverCertificate",
                "server certificate",
            ),
            (!tls.private_key.is_empty(), "privateKey", "private key"),
            (
                !tls.ca_certificates.is_empty(),
                "caCertificates",
                "CA bundle",
            ),
            (
                !tls.tls_certificates.is_empty(),
                "tlsCertificates",
                "tlsCertificates",
            ),
            (
                !tls.credential_name.is_empty(),
                "credentialName",
                "credentialName",
            ),
            (
                !tls.credential_names.is_empty(),
                "credentialNames",
                "credentialNames",
            ),
        ];
        for (set, field, what) in checks {
            if set {
                cx.error_at(
                    field,
                    format!("ISTIO_MUTUAL TLS cannot have associated {what}"),
                );
            }
        }
        return;
    }

    if matches!(
        tls.mode,
        ServerTlsMode::Passthrough | ServerTlsMode::AutoPassthrough
    ) && (!tls.ca_crl.is_empty()
        || !tls.server_certificate.is_empty()
        || !tls.private_key.is_empty()
        || !tls.ca_certificates.is_empty()
        || !tls.tls_certificates.is_empty()
        || !tls.credential_name.is_empty()
        || !tls.credential_names.is_empty())
    {
        cx.warn(format!(
            "{} mode does not use certificates, they will be ignored",
            tls.mode
        ));
    }

    let sources = [
        !tls.server_certificate.is_empty() && !tls.private_key.is_empty(),
        !tls.credential_name.is_empty(),
        !tls.credential_names.is_empty(),
        !tls.tls_certificates.is_empty(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources > 1 {
        cx.error("only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified");
    }

    let terminating = matches!(
        tls.mode,
        ServerTlsMode::Simple | ServerTlsMode::Mutual | ServerTlsMode::OptionalMutual
    );
    if terminating && (!tls.credential_name.is_empty() || !tls.credential_names.is_empty()) {
        return;
    }
    if terminating {
        let prefix = if tls.mode == ServerTlsMode::Simple {
            "SIMPLE TLS"
        } else {
            if tls.ca_certificates.is_empty() {
                cx.error_at("caCertificates", "MUTUAL TLS requires a client CA bundle");
            }
            "MUTUAL TLS"
        };
        if tls.tls_certificates.is_empty() {
            if tls.server_certificate.is_empty() {
                cx.error_at(
                    "serverCertificate",
                    format!("{prefix} requires a server certificate"),
                );
            }
            if tls.private_key.is_empty() {
                cx.error_at("privateKey", format!("{prefix} requires a private key"));
            }
        } else {
            cx.each("tlsCertificates", &tls.tls_certificates, |cx, c| {
                if c.server_certificate.is_empty() {
                    cx.error_at(
                        "serverCertificate",
                        format!("{prefix} requires a server certificate"),
                    );
                }
                if c.private_key.is_empty() {
                    cx.error_at("privateKey", format!("{prefix} requires a private key"));
                }
            });
        }
    }
    if !tls.ca_crl.is_empty() {
        if !tls.credential_name.is_empty() {
            cx.error_at("caCrl", "CRL is not supported with credentialName. CRL has to be specified in the credential");
        }
        if tls.mode == ServerTlsMode::Simple {
            cx.error_at("caCrl", "CRL is not supported with SIMPLE TLS");
        }
    }
}

/// `security.IsValidCipherSuite`.
fn is_valid_cipher_suite(cs: &str) -> bool {
    if cs.is_empty() || cs == "ALL" {
        return true;
    }
    if cs.chars().next().is_some_and(|c| !c.is_alphanumeric()) {
        return true;
    }
    VALID_CIPHER_SUITES.contains(&cs)
}
