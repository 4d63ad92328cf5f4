//! RequestAuthentication (`security/v1beta1/request_authentication.proto`).

use serde::{Deserialize, Serialize};

use crate::api::{Duration, PolicyTargetReference, WorkloadSelector, is_default};

/// Which request credentials (JWTs) a workload accepts.
///
/// ```
/// use mesh_core::api::security::RequestAuthenticationSpec;
/// let spec: RequestAuthenticationSpec = serde_json::from_str(
///     r#"{"jwtRules": [{"issuer": "issuer-foo", "jwksUri": "https://example.com/.well-known/jwks.json"}]}"#)?;
/// assert_eq!(spec.jwt_rules[0].issuer, "issuer-foo");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestAuthenticationSpec {
    /// Workloads the policy applies to; unset means every workload in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// A single resource (Gateway, Service, ServiceEntry) the policy attaches to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<PolicyTargetReference>,
    /// Resources the policy attaches to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// How to validate JWTs; a request with a token that matches none of them is rejected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jwt_rules: Vec<JwtRule>,
}

/// How to find, validate and forward one issuer's JWTs (`JWTRule`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtRule {
    /// The token issuer (`iss` claim).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    /// Accepted audiences (`aud` claim); empty accepts the service name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// URL of the provider's public key set (`jwks_uri` is accepted too).
    #[serde(default, alias = "jwks_uri", skip_serializing_if = "String::is_empty")]
    pub jwks_uri: String,
    /// The public key set inline, as a JSON string.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jwks: String,
    /// Headers to take the token from (default `Authorization: Bearer`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_headers: Vec<JwtHeader>,
    /// Query parameters to take the token from (default `access_token`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_params: Vec<String>,
    /// Cookies to take the token from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_cookies: Vec<String>,
    /// Header to write the validated token's payload to (base64-encoded JSON).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output_payload_to_header: String,
    /// Keep the token in the request forwarded upstream.
    #[serde(default, skip_serializing_if = "is_default")]
    pub forward_original_token: bool,
    /// Claims copied into request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    /// Timeout for fetching the key set from `jwksUri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Claims whose string value holds space-separated values (besides `scope` and `permission`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub space_delimited_claims: Vec<String>,
    /// Whether a token is required or optional for this rule.
    #[serde(default, skip_serializing_if = "is_default")]
    pub presence: JwtPresence,
}

/// `JWTRule.Presence`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JwtPresence {
    /// A request without a token passes this rule (the default).
    #[default]
    Optional,
    /// A request without a token is rejected.
    Required,
}

/// A header carrying a token (`JWTHeader`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtHeader {
    /// Header name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Prefix before the token in the header value (`Bearer `).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
}

/// A claim copied into a header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimToHeader {
    /// Name of the header to set.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub header: String,
    /// Name of the claim to copy.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub claim: String,
}

#[cfg(test)]
mod tests {
    use crate::api::Object;
    use crate::load;

    #[test]
    fn full_rule_loads_and_round_trips() {
        let yaml = r#"
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]
  jwtRules:
  - issuer: issuer-foo
    audiences: [a, b]
    jwksUri: https://example.com/jwks.json
    fromHeaders: [{name: x-jwt, prefix: "Bearer "}]
    fromParams: [token]
    fromCookies: [session]
    outputPayloadToHeader: x-payload
    forwardOriginalToken: true
    outputClaimToHeaders: [{header: x-sub, claim: sub}]
    timeout: 5s
    spaceDelimitedClaims: [roles]
    presence: REQUIRED
"#;
        let objs = load::from_str(yaml, "t.yaml").unwrap();
        let Object::RequestAuthentication(ra) = &objs[0].object else {
            panic!("wrong kind")
        };
        let rule = &ra.spec.jwt_rules[0];
        assert_eq!(rule.presence, super::JwtPresence::Required);
        assert_eq!(rule.timeout, Some(crate::api::Duration::from_secs(5)));
        let json = serde_json::to_value(ra).unwrap();
        let back: crate::api::RequestAuthentication = serde_json::from_value(json).unwrap();
        assert_eq!(&back, ra);
    }

    #[test]
    fn jwks_uri_original_name_is_accepted_but_not_twice() {
        let base = "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: a}\nspec:\n  jwtRules:\n  - issuer: i\n    jwks_uri: https://a/b\n";
        let objs = load::from_str(base, "t.yaml").unwrap();
        let Object::RequestAuthentication(ra) = &objs[0].object else {
            panic!("wrong kind")
        };
        assert_eq!(ra.spec.jwt_rules[0].jwks_uri, "https://a/b");
        let both = format!("{base}    jwksUri: https://a/c\n");
        assert!(load::from_str(&both, "t.yaml").is_err());
    }
}
