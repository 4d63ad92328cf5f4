//! AuthorizationPolicy (`security/v1beta1/authorization_policy.proto`).

use serde::{Deserialize, Serialize};

use crate::api::{PolicyTargetReference, WorkloadSelector, is_default};

/// Access control for workloads: which requests are allowed, denied, audited or delegated.
///
/// ```
/// use mesh_core::api::security::{AuthorizationPolicySpec, AuthorizationAction};
/// let spec: AuthorizationPolicySpec = serde_json::from_str(
///     r#"{"action": "DENY", "rules": [{"from": [{"source": {"namespaces": ["dev"]}}]}]}"#)?;
/// assert_eq!(spec.action, AuthorizationAction::Deny);
/// assert_eq!(spec.rules[0].from[0].source.as_ref().map(|s| s.namespaces.len()), Some(1));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicySpec {
    /// Workloads the policy applies to; unset means every workload in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// A single resource (Gateway, Service, ServiceEntry) the policy attaches to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<PolicyTargetReference>,
    /// Resources the policy attaches to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetReference>,
    /// Rules matched against a request; the action applies when any rule matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// What happens to a matching request; `ALLOW` by default.
    #[serde(default, skip_serializing_if = "is_default")]
    pub action: AuthorizationAction,
    /// The external authorizer for the `CUSTOM` action (the `action_detail` oneof).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ExtensionProvider>,
}

/// `AuthorizationPolicy.Action`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationAction {
    /// Allow a request only if it matches a rule.
    #[default]
    Allow,
    /// Deny a request if it matches a rule.
    Deny,
    /// Audit a request if it matches a rule (needs an audit plugin).
    Audit,
    /// Delegate the decision to an external authorizer (`provider`).
    Custom,
}

impl std::fmt::Display for AuthorizationAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Allow => "ALLOW",
            Self::Deny => "DENY",
            Self::Audit => "AUDIT",
            Self::Custom => "CUSTOM",
        })
    }
}

/// An extension provider declared in mesh config, used by the `CUSTOM` action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionProvider {
    /// Name of the provider in `meshConfig.extensionProviders`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// A match on a request: every set field must match (sources, operations, conditions).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Sources of a request; any may match. Unset matches any source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<RuleFrom>,
    /// Operations of a request; any may match. Unset matches any operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<RuleTo>,
    /// Extra conditions; all must match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<Condition>,
}

/// `Rule.From`: one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleFrom {
    /// The source's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

/// `Rule.To`: one operation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleTo {
    /// The operation's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
}

/// The identity and address of the peer or request originator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Peer identities (`cluster.local/ns/default/sa/productpage`), from mutual TLS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Peer identities that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_principals: Vec<String>,
    /// Request identities (`iss/sub` of a validated JWT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_principals: Vec<String>,
    /// Request identities that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_request_principals: Vec<String>,
    /// Namespaces of the peer, from mutual TLS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Peer namespaces that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_namespaces: Vec<String>,
    /// Peer service accounts (`sa` or `namespace/sa`), from mutual TLS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// Peer service accounts that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_service_accounts: Vec<String>,
    /// Peer IP addresses or CIDR ranges (the direct connection's source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_blocks: Vec<String>,
    /// Peer IPs or ranges that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ip_blocks: Vec<String>,
    /// Original client IPs or ranges (from `X-Forwarded-For` or the proxy protocol).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_ip_blocks: Vec<String>,
    /// Original client IPs or ranges that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_remote_ip_blocks: Vec<String>,
    /// Trust domains of the peer identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_domains: Vec<String>,
    /// Peer trust domains that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_trust_domains: Vec<String>,
}

/// What the request does: host, port, method and path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// Hosts (`Host`/`:authority`), with prefix or suffix `*`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Hosts that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_hosts: Vec<String>,
    /// Destination ports, as strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// Destination ports that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ports: Vec<String>,
    /// HTTP methods (or gRPC `POST`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// HTTP methods that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_methods: Vec<String>,
    /// Request paths, with prefix or suffix `*` or `{*}`/`{**}` templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Paths that must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_paths: Vec<String>,
}

/// An extra condition on a request attribute (`source.ip`, `request.auth.claims[iss]`, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The attribute name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// Values of which the attribute must match one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Values the attribute must not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_values: Vec<String>,
}

#[cfg(test)]
mod tests {
    use crate::api::Object;
    use crate::load;

    #[test]
    fn full_policy_loads_and_round_trips() {
        let yaml = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: httpbin, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: CUSTOM
  provider: {name: ext-authz}
  rules:
  - from:
    - source:
        principals: [a]
        notPrincipals: [b]
        requestPrincipals: [c]
        notRequestPrincipals: [d]
        ipBlocks: [1.2.3.4]
        notIpBlocks: [5.6.7.0/24]
        remoteIpBlocks: [1.1.1.1]
        notRemoteIpBlocks: [2.2.2.2]
        trustDomains: [td]
        notTrustDomains: [td2]
    - source: {namespaces: [ns], notNamespaces: [ns2]}
    - source: {serviceAccounts: [ns/sa], notServiceAccounts: [sa2]}
    to:
    - operation:
        hosts: [a.com]
        notHosts: [b.com]
        ports: ["80"]
        notPorts: ["81"]
        methods: [GET]
        notMethods: [POST]
        paths: [/a]
        notPaths: [/b]
    when:
    - key: request.headers[x]
      values: [v]
      notValues: [w]
"#;
        let objs = load::from_str(yaml, "t.yaml").unwrap();
        let Object::AuthorizationPolicy(ap) = &objs[0].object else {
            panic!("wrong kind")
        };
        assert_eq!(ap.spec.rules[0].from.len(), 3);
        assert_eq!(
            ap.spec.rules[0].to[0].operation.as_ref().unwrap().not_paths,
            ["/b"]
        );
        let json = serde_json::to_value(ap).unwrap();
        let back: crate::api::AuthorizationPolicy = serde_json::from_value(json).unwrap();
        assert_eq!(&back, ap);
    }

    #[test]
    fn unknown_action_is_a_load_error() {
        let yaml = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a}\nspec: {action: MAYBE}\n";
        assert!(load::from_str(yaml, "t.yaml").is_err());
    }
}
