//! Upstream TLS for clusters (istiod's `cluster_tls.go`): `ISTIO_MUTUAL` with the workload
//! certificate and root from SDS (`default` and `ROOTCA` on the `sds-grpc` cluster), auto mTLS
//! as transport socket matches on the endpoints' `tlsMode` label, and `SIMPLE`/`MUTUAL` with
//! files served over SDS (`file-cert:` / `file-root:`) or a gateway credential.
//!
//! ```
//! use mesh_core::translate::tls::{istio_mutual_sni, istio_mutual_upstream};
//!
//! let sni = istio_mutual_sni(9080, "v1", "reviews.default.svc.cluster.local");
//! assert_eq!(sni, "outbound_.9080_.v1_.reviews.default.svc.cluster.local");
//! let ctx = istio_mutual_upstream(&sni, &["spiffe://cluster.local/ns/default/sa/bookinfo-reviews".into()], false);
//! let json = mesh_core::dump::message_to_json(&ctx)?;
//! assert_eq!(json["common_tls_context"]["tls_certificate_sds_secret_configs"][0]["name"], "default");
//! assert_eq!(json["common_tls_context"]["alpn_protocols"], serde_json::json!(["istio-peer-exchange", "istio"]));
//! # Ok::<(), mesh_core::dump::DumpError>(())
//! ```

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster::TransportSocketMatch};
use envoy_types::pb::envoy::config::core::v3::{
    ApiConfigSource, ApiVersion, ConfigSource, DataSource, GrpcService, TransportSocket,
    api_config_source, config_source, data_source, grpc_service, transport_socket,
};
use envoy_types::pb::envoy::extensions::transport_sockets::raw_buffer::v3::RawBuffer;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, SdsSecretConfig, SubjectAltNameMatcher,
    TlsParameters, UpstreamTlsContext,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
    subject_alt_name_matcher::SanType,
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{Any, Duration as PbDuration, Struct, Value, value};
use prost::{Message, Name};

use super::wire;
use crate::api::networking::{ClientTlsMode, ClientTlsSettings};
use crate::dump::to_any;

/// The SDS cluster the sidecar agent serves secrets on.
pub const SDS_CLUSTER: &str = "sds-grpc";
/// The SDS resource holding the workload certificate and key.
pub const SDS_DEFAULT: &str = "default";
/// The SDS resource holding the root certificates.
pub const SDS_ROOT: &str = "ROOTCA";
/// The transport socket name of Envoy's TLS.
pub const TLS_TRANSPORT_SOCKET: &str = "envoy.transport_sockets.tls";

/// ALPN of in-mesh HTTP/1 and TCP clusters (with metadata exchange).
pub const ALPN_IN_MESH: &[&str] = &["istio-peer-exchange", "istio"];
/// ALPN of in-mesh HTTP/2 clusters (with metadata exchange).
pub const ALPN_IN_MESH_H2: &[&str] = &["istio-peer-exchange", "istio", "h2"];

/// `ConstructSdsSecretConfig`: a secret fetched from the agent over SDS (gRPC to
/// `sds-grpc`, node sent on the first message only, no initial fetch timeout).
pub fn sds_secret_config(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.to_string(),
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::ApiConfigSource(
                ApiConfigSource {
                    api_type: api_config_source::ApiType::Grpc as i32,
                    set_node_on_first_message_only: true,
                    transport_api_version: ApiVersion::V3 as i32,
                    grpc_services: vec![GrpcService {
                        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                            grpc_service::EnvoyGrpc {
                                cluster_name: SDS_CLUSTER.into(),
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )),
            initial_fetch_timeout: Some(PbDuration::default()),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

/// `BuildDNSSrvSubsetKey`: the SNI Istio sends for `ISTIO_MUTUAL`.
pub fn istio_mutual_sni(port: u32, subset: &str, host: &str) -> String {
    let port = super::text::Decimal::new(port);
    super::text::concat(&["outbound_.", port.as_str(), "_.", subset, "_.", host])
}

/// Exact SAN matches. istiod writes the deprecated `match_subject_alt_names`; we write the
/// typed form Envoy recommends: URI SANs for `spiffe://` identities, DNS SANs otherwise.
fn san_matchers(values: &[String]) -> Vec<SubjectAltNameMatcher> {
    values
        .iter()
        .map(|v| SubjectAltNameMatcher {
            san_type: if v.contains("://") {
                SanType::Uri
            } else {
                SanType::Dns
            } as i32,
            matcher: Some(StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::Exact(v.clone())),
                ignore_case: false,
            }),
            ..Default::default()
        })
        .collect()
}

/// `defaultUpstreamCommonTLSContext`: TLS 1.2 to 1.3.
fn default_common() -> CommonTlsContext {
    CommonTlsContext {
        tls_params: Some(TlsParameters {
            tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
            tls_maximum_protocol_version: TlsProtocol::TlSv13 as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The `ISTIO_MUTUAL` upstream context: the workload certificate, the mesh root, the peer's
/// SPIFFE identities as exact SAN matches, the Istio ALPN.
pub fn istio_mutual_upstream(
    sni: &str,
    subject_alt_names: &[String],
    h2: bool,
) -> UpstreamTlsContext {
    let mut common = default_common();
    common.tls_certificate_sds_secret_configs = vec![sds_secret_config(SDS_DEFAULT)];
    common.validation_context_type = Some(ValidationContextType::CombinedValidationContext(
        CombinedCertificateValidationContext {
            default_validation_context: Some(CertificateValidationContext {
                match_typed_subject_alt_names: san_matchers(subject_alt_names),
                ..Default::default()
            }),
            validation_context_sds_secret_config: Some(sds_secret_config(SDS_ROOT)),
            ..Default::default()
        },
    ));
    common.alpn_protocols = (if h2 { ALPN_IN_MESH_H2 } else { ALPN_IN_MESH })
        .iter()
        .map(|s| s.to_string())
        .collect();
    UpstreamTlsContext {
        common_tls_context: Some(common),
        sni: sni.to_string(),
        ..Default::default()
    }
}

/// `constructUpstreamTLS` for `SIMPLE` and `MUTUAL`: certificates from files served over SDS
/// (`file-cert:<cert>~<key>`, `file-root:<ca>`, the system roots when no CA is given), or
/// a credential (`kubernetes://<name>`); `insecureSkipVerify` drops root validation.
pub fn simple_or_mutual_upstream(tls: &ClientTlsSettings, h2: bool) -> UpstreamTlsContext {
    let mut common = default_common();
    if !tls.credential_name.is_empty() {
        common.tls_certificate_sds_secret_configs = vec![sds_secret_config(&format!(
            "kubernetes://{}",
            tls.credential_name
        ))];
        common.validation_context_type = Some(ValidationContextType::CombinedValidationContext(
            CombinedCertificateValidationContext {
                default_validation_context: Some(CertificateValidationContext {
                    match_typed_subject_alt_names: san_matchers(&tls.subject_alt_names),
                    ..Default::default()
                }),
                validation_context_sds_secret_config: Some(sds_secret_config(&format!(
                    "kubernetes://{}-cacert",
                    tls.credential_name
                ))),
                ..Default::default()
            },
        ));
    } else {
        if tls.mode == ClientTlsMode::Mutual
            && !tls.client_certificate.is_empty()
            && !tls.private_key.is_empty()
        {
            common.tls_certificate_sds_secret_configs = vec![sds_secret_config(&format!(
                "file-cert:{}~{}",
                tls.client_certificate, tls.private_key
            ))];
        }
        let ca = if tls.ca_certificates.is_empty() {
            "system"
        } else {
            tls.ca_certificates.as_str()
        };
        if tls.insecure_skip_verify == Some(true) {
            common.validation_context_type = Some(ValidationContextType::ValidationContext(
                CertificateValidationContext::default(),
            ));
        } else {
            let crl = (!tls.ca_crl.is_empty()).then(|| DataSource {
                specifier: Some(data_source::Specifier::Filename(tls.ca_crl.clone())),
                ..Default::default()
            });
            common.validation_context_type =
                Some(ValidationContextType::CombinedValidationContext(
                    CombinedCertificateValidationContext {
                        default_validation_context: Some(CertificateValidationContext {
                            match_typed_subject_alt_names: san_matchers(&tls.subject_alt_names),
                            crl,
                            ..Default::default()
                        }),
                        validation_context_sds_secret_config: Some(sds_secret_config(&format!(
                            "file-root:{ca}"
                        ))),
                        ..Default::default()
                    },
                ));
        }
    }
    if h2 {
        common.alpn_protocols = vec!["h2".into()];
    }
    UpstreamTlsContext {
        common_tls_context: Some(common),
        sni: tls.sni.clone(),
        ..Default::default()
    }
}

/// Envoy's TLS transport socket around an upstream context.
pub fn tls_transport_socket(ctx: &UpstreamTlsContext) -> TransportSocket {
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(to_any(ctx))),
    }
}

/// How the cluster's TLS was decided.
#[derive(Clone, Debug, PartialEq)]
pub enum UpstreamTls<'a> {
    /// The DestinationRule says `tls` (any mode): applied to every endpoint.
    Configured(&'a ClientTlsSettings),
    /// No DestinationRule TLS, auto mTLS on: `ISTIO_MUTUAL` to endpoints labelled
    /// `security.istio.io/tlsMode: istio`, plaintext to the others.
    AutoMutual,
    /// Plaintext.
    None,
}

/// `applyUpstreamTLSSettings`: the cluster's transport socket, or for auto mTLS the two
/// transport socket matches `tlsMode-istio` and `tlsMode-disabled`. `port`, `subset` and
/// `host` give the default SNI; `service_accounts` the SANs to verify for `ISTIO_MUTUAL`.
pub fn apply_upstream_tls(
    cluster: &mut Cluster,
    tls: UpstreamTls<'_>,
    names: (u32, &str, &str),
    service_accounts: &[String],
    h2: bool,
) {
    apply_upstream_tls_with(
        cluster,
        tls,
        names,
        service_accounts,
        h2,
        &MutualTlsMemo::default(),
    );
}

/// The encoded `CommonTlsContext`s of `ISTIO_MUTUAL` upstream contexts, by the identities
/// they verify and their ALPN: the clusters of one service differ only in their SNI, so the
/// rest of their context is built and encoded once.
#[derive(Debug, Default)]
pub(crate) struct MutualTlsMemo(std::cell::RefCell<Vec<MutualContext>>);

/// The identities, whether ALPN is `h2`, and the encoded common context.
type MutualContext = (Vec<String>, bool, std::rc::Rc<[u8]>);

impl MutualTlsMemo {
    /// The `UpstreamTlsContext` of [`istio_mutual_upstream`] as an `Any`, its encoding
    /// assembled from the remembered common context and the SNI: the same bytes as encoding
    /// the built context, since the common context (field 1) is all it holds but the SNI
    /// (field 2).
    fn istio_mutual_any(&self, sni: &str, sans: &[String], h2: bool) -> Any {
        let common = {
            let mut memo = self.0.borrow_mut();
            match memo.iter().find(|(s, h, _)| s == sans && *h == h2) {
                Some((_, _, common)) => std::rc::Rc::clone(common),
                None => {
                    let common: std::rc::Rc<[u8]> = istio_mutual_common(sans, h2).into();
                    memo.push((sans.to_vec(), h2, std::rc::Rc::clone(&common)));
                    common
                }
            }
        };
        let mut value = Vec::with_capacity(common.len() + sni.len() + 4);
        value.extend_from_slice(&common);
        wire::put_str(&mut value, 2, sni);
        Any {
            type_url: UpstreamTlsContext::type_url(),
            value,
        }
    }

    /// The encoded `TransportSocket` carrying [`Self::istio_mutual_any`].
    fn istio_mutual_socket(&self, sni: &str, sans: &[String], h2: bool) -> Vec<u8> {
        let any = self.istio_mutual_any(sni, sans, h2);
        // TransportSocket: name (1), typed_config (3: Any with type_url 1, value 2).
        let any_len = wire::str_len(1, &any.type_url) + wire::len_field(2, any.value.len());
        let mut out = Vec::with_capacity(
            wire::str_len(1, TLS_TRANSPORT_SOCKET) + wire::len_field(3, any_len),
        );
        wire::put_str(&mut out, 1, TLS_TRANSPORT_SOCKET);
        wire::put_len(&mut out, 3, any_len);
        wire::put_str(&mut out, 1, &any.type_url);
        wire::put_field(&mut out, 2, &any.value);
        out
    }
}

/// The SNI and identities of an `ISTIO_MUTUAL` cluster: the DestinationRule's, else the
/// cluster's own SNI and the service's accounts.
fn istio_mutual_names<'t>(
    t: &'t ClientTlsSettings,
    (port, subset, host): (u32, &str, &str),
    service_accounts: &'t [String],
) -> (String, &'t [String]) {
    let sni = if t.sni.is_empty() {
        istio_mutual_sni(port, subset, host)
    } else {
        t.sni.clone()
    };
    let sans = if t.subject_alt_names.is_empty() {
        service_accounts
    } else {
        &t.subject_alt_names
    };
    (sni, sans)
}

/// The cluster fields [`apply_upstream_tls_with`] sets, encoded: (field number, value) in
/// the order prost writes them, none when the cluster has no TLS. `None` for the modes not
/// written here (SIMPLE and MUTUAL: build the cluster instead).
pub(crate) fn encoded_upstream_tls(
    tls: UpstreamTls<'_>,
    (port, subset, host): (u32, &str, &str),
    service_accounts: &[String],
    h2: bool,
    memo: &MutualTlsMemo,
) -> Option<Vec<(u32, Vec<u8>)>> {
    /// `Cluster.transport_socket` and `Cluster.transport_socket_matches`.
    const SOCKET: u32 = 24;
    const SOCKET_MATCHES: u32 = 43;
    match tls {
        UpstreamTls::None => Some(Vec::new()),
        UpstreamTls::Configured(t) => match t.mode {
            ClientTlsMode::Disable => Some(Vec::new()),
            ClientTlsMode::IstioMutual => {
                let (sni, sans) = istio_mutual_names(t, (port, subset, host), service_accounts);
                Some(vec![(SOCKET, memo.istio_mutual_socket(&sni, sans, h2))])
            }
            ClientTlsMode::Simple | ClientTlsMode::Mutual => None,
        },
        UpstreamTls::AutoMutual => {
            // The two matches of auto mTLS, their fixed parts encoded once: the first without
            // its transport socket (field 3, its last), the second whole.
            static FIXED: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
            let (istio, disabled) = FIXED.get_or_init(|| {
                let mut c = Cluster::default();
                apply_upstream_tls(&mut c, UpstreamTls::AutoMutual, (0, "", ""), &[], false);
                let mut matches = c.transport_socket_matches.into_iter();
                let mut istio = matches.next().expect("the tlsMode-istio match");
                istio.transport_socket = None;
                let disabled = matches.next().expect("the tlsMode-disabled match");
                (istio.encode_to_vec(), disabled.encode_to_vec())
            });
            let socket = memo.istio_mutual_socket(
                &istio_mutual_sni(port, subset, host),
                service_accounts,
                h2,
            );
            let mut first = Vec::with_capacity(istio.len() + wire::len_field(3, socket.len()));
            first.extend_from_slice(istio);
            wire::put_field(&mut first, 3, &socket);
            Some(vec![
                (SOCKET_MATCHES, first),
                (SOCKET_MATCHES, disabled.clone()),
            ])
        }
    }
}

/// The encoded `UpstreamTlsContext` of [`istio_mutual_upstream`] without SNI (its common
/// context, field 1): a template encoded once per ALPN with the identities written in, the
/// same bytes as encoding the built context.
fn istio_mutual_common(sans: &[String], h2: bool) -> Vec<u8> {
    let t = mutual_template(h2);
    let matchers = CertificateValidationContext {
        match_typed_subject_alt_names: san_matchers(sans),
        ..Default::default()
    }
    .encode_to_vec();
    // CombinedCertificateValidationContext: the default validation context (1), the rest.
    let combined = wire::len_field(1, matchers.len()) + t.combined_rest.len();
    let common = t.before.len() + wire::len_field(t.combined_field, combined) + t.after.len();
    let mut out = Vec::with_capacity(wire::len_field(1, common));
    wire::put_len(&mut out, 1, common);
    out.extend_from_slice(&t.before);
    wire::put_len(&mut out, t.combined_field, combined);
    wire::put_field(&mut out, 1, &matchers);
    out.extend_from_slice(&t.combined_rest);
    out.extend_from_slice(&t.after);
    out
}

/// The `CommonTlsContext` of [`istio_mutual_upstream`] without identities, encoded and cut
/// around its combined validation context: the fields before it, the context's fields after
/// its (empty) default validation context, the fields after it.
struct MutualTemplate {
    before: Vec<u8>,
    combined_field: u32,
    combined_rest: Vec<u8>,
    after: Vec<u8>,
}

fn mutual_template(h2: bool) -> &'static MutualTemplate {
    static TEMPLATES: [std::sync::OnceLock<MutualTemplate>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    TEMPLATES[usize::from(h2)].get_or_init(|| {
        let common = istio_mutual_upstream("", &[], h2)
            .common_tls_context
            .unwrap_or_default()
            .encode_to_vec();
        let combined_field = 8; // CommonTlsContext.combined_validation_context
        let (start, end) = wire::fields(&common)
            .into_iter()
            .find(|f| f.0 == combined_field)
            .map(|(_, start, end)| (start, end))
            .expect("a combined validation context");
        let combined = wire::payload(&common[start..end]);
        // Its first field is the default validation context, empty here.
        let rest = match wire::fields(combined).first() {
            Some((1, _, end)) => &combined[*end..],
            _ => panic!("the default validation context comes first"),
        };
        MutualTemplate {
            before: common[..start].to_vec(),
            combined_field,
            combined_rest: rest.to_vec(),
            after: common[end..].to_vec(),
        }
    })
}

/// [`apply_upstream_tls`] with `ISTIO_MUTUAL` contexts shared through `memo` (by the clusters
/// of one service).
pub(crate) fn apply_upstream_tls_with(
    cluster: &mut Cluster,
    tls: UpstreamTls<'_>,
    (port, subset, host): (u32, &str, &str),
    service_accounts: &[String],
    h2: bool,
    memo: &MutualTlsMemo,
) {
    let socket = |typed_config: Any| TransportSocket {
        name: TLS_TRANSPORT_SOCKET.into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(typed_config)),
    };
    match tls {
        UpstreamTls::None => {}
        UpstreamTls::Configured(t) => {
            let any = match t.mode {
                ClientTlsMode::Disable => return,
                ClientTlsMode::IstioMutual => {
                    let (sni, sans) = istio_mutual_names(t, (port, subset, host), service_accounts);
                    memo.istio_mutual_any(&sni, sans, h2)
                }
                ClientTlsMode::Simple | ClientTlsMode::Mutual => {
                    to_any(&simple_or_mutual_upstream(t, h2))
                }
            };
            cluster.transport_socket = Some(socket(any));
        }
        UpstreamTls::AutoMutual => {
            let any =
                memo.istio_mutual_any(&istio_mutual_sni(port, subset, host), service_accounts, h2);
            let mut fields = crate::dump::proto_map();
            fields.insert(
                "tlsMode".to_string(),
                Value {
                    kind: Some(value::Kind::StringValue("istio".into())),
                },
            );
            cluster.transport_socket_matches = vec![
                TransportSocketMatch {
                    name: "tlsMode-istio".into(),
                    r#match: Some(Struct { fields }),
                    transport_socket: Some(socket(any)),
                },
                TransportSocketMatch {
                    name: "tlsMode-disabled".into(),
                    r#match: Some(Struct::default()),
                    transport_socket: Some(TransportSocket {
                        name: "envoy.transport_sockets.raw_buffer".into(),
                        config_type: Some(transport_socket::ConfigType::TypedConfig(to_any(
                            &RawBuffer::default(),
                        ))),
                    }),
                },
            ];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_mutual_contexts_encode_as_the_built_ones() {
        let memo = MutualTlsMemo::default();
        let a = vec!["spiffe://cluster.local/ns/a/sa/x".to_string()];
        let b = vec![
            "spiffe://cluster.local/ns/b/sa/y".to_string(),
            "spiffe://cluster.local/ns/b/sa/z".to_string(),
        ];
        // A DNS name, and identities long enough for two-byte lengths.
        let c: Vec<String> = (0..40)
            .map(|i| format!("spiffe://cluster.local/ns/c/sa/account-{i}"))
            .chain(["c.example.com".to_string()])
            .collect();
        let none = Vec::new();
        for (sni, sans, h2) in [
            ("outbound_.80_._.x.a.svc.cluster.local", &a, false),
            ("outbound_.80_.v1_.x.a.svc.cluster.local", &a, false),
            ("outbound_.81_.v1_.x.a.svc.cluster.local", &a, true),
            ("outbound_.90_._.y.b.svc.cluster.local", &b, false),
            ("", &b, true),
            ("outbound_.90_._.c.c.svc.cluster.local", &c, true),
            ("outbound_.90_._.d.d.svc.cluster.local", &none, false),
        ] {
            let any = memo.istio_mutual_any(sni, sans, h2);
            assert_eq!(any, to_any(&istio_mutual_upstream(sni, sans, h2)), "{sni}");
        }
        assert_eq!(
            memo.0.borrow().len(),
            6,
            "one common context per identities and ALPN"
        );
    }
}
