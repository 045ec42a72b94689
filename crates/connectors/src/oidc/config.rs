//! The `oidc` connector's configuration: Dex's fields (`connector/oidc/oidc.go` `Config`),
//! checked into [`Settings`].

use oxidex_core::connector::claims::{
    ClaimLookup, ClaimMapping, EmailVerified, GroupFromClaims, GroupRules,
};
use oxidex_core::secret::ClientSecret;
use serde::Deserialize;

use crate::flow::{check_http_url, is_loopback};
use crate::tls::UpstreamTls;

/// The `oidc` connector's `config` block, as Dex reads it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcConfig {
    /// The upstream issuer URL; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// Another issuer value the provider's documents may carry (Dex `issuerAlias`).
    #[serde(default)]
    pub issuer_alias: String,
    /// Our client id at the upstream.
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// Our client secret at the upstream (redacted in `Debug`).
    #[serde(default)]
    pub client_secret: ClientSecret,
    /// Our callback URL registered upstream, normally `{our issuer}/callback`.
    #[serde(rename = "redirectURI")]
    pub redirect_uri: String,
    /// Send the client secret in the form body instead of HTTP Basic.
    #[serde(default)]
    pub basic_auth_unsupported: Option<bool>,
    /// Scopes to ask for besides `openid` (default `profile`, `email`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Google-style `hd`: only users of these domains may log in.
    #[serde(default)]
    pub hosted_domains: Vec<String>,
    /// Extra roots to trust: PEM text, file paths or base64 PEM.
    #[serde(default, rename = "rootCAs")]
    pub root_cas: Vec<String>,
    /// Trust any TLS certificate. Tests only.
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Treat a missing `email_verified` as verified.
    #[serde(default)]
    pub insecure_skip_email_verified: bool,
    /// Read groups from the `groups` claim.
    #[serde(default)]
    pub insecure_enable_groups: bool,
    /// Only users in one of these groups may log in; only these are kept.
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// `acr_values` to ask for.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// Merge the user-info endpoint's claims into the ID token's.
    #[serde(default)]
    pub get_user_info: bool,
    /// Claim holding the user id instead of `sub`.
    #[serde(default, rename = "userIDKey")]
    pub user_id_key: String,
    /// Claim holding the display name instead of `name`.
    #[serde(default)]
    pub user_name_key: String,
    /// `prompt` sent with offline requests (default `consent`).
    #[serde(default)]
    pub prompt_type: Option<String>,
    /// PKCE method: `S256` (default) or `plain`.
    #[serde(default)]
    pub pkce_challenge: String,
    /// Prefer the `claimMapping` keys over the standard claims.
    #[serde(default)]
    pub override_claim_mapping: bool,
    /// Non-standard claim names.
    #[serde(default)]
    pub claim_mapping: ClaimMappingConfig,
    /// Group rewriting.
    #[serde(default)]
    pub claim_modifications: ClaimModifications,
    /// Endpoints to use instead of the discovered ones.
    #[serde(default)]
    pub provider_discovery_overrides: DiscoveryOverrides,
}

/// `claimMapping`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimMappingConfig {
    /// Claim for `preferred_username`.
    #[serde(default)]
    pub preferred_username: String,
    /// Claim for `email`.
    #[serde(default)]
    pub email: String,
    /// Claim for `groups`.
    #[serde(default)]
    pub groups: String,
}

/// `claimModifications`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimModifications {
    /// Groups built from other claims.
    #[serde(default)]
    pub new_group_from_claims: Vec<NewGroupFromClaims>,
    /// A regular expression groups must match.
    #[serde(default)]
    pub filter_group_claims: FilterGroupClaims,
    /// Prefix and suffix for group names.
    #[serde(default)]
    pub modify_group_names: ModifyGroupNames,
}

/// One `newGroupFromClaims` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewGroupFromClaims {
    /// Claims to join.
    #[serde(default)]
    pub claims: Vec<String>,
    /// Between the segments.
    #[serde(default)]
    pub delimiter: String,
    /// Remove the delimiter from the values.
    #[serde(default)]
    pub clear_delimiter: bool,
    /// First segment.
    #[serde(default)]
    pub prefix: String,
}

/// `filterGroupClaims`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterGroupClaims {
    /// Keep only groups matching this regular expression.
    #[serde(default)]
    pub groups_filter: String,
}

/// `modifyGroupNames`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModifyGroupNames {
    /// Before each group name.
    #[serde(default)]
    pub prefix: String,
    /// After each group name.
    #[serde(default)]
    pub suffix: String,
}

/// `providerDiscoveryOverrides`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryOverrides {
    /// Token endpoint.
    #[serde(default, rename = "tokenURL")]
    pub token_url: String,
    /// Authorization endpoint.
    #[serde(default, rename = "authURL")]
    pub auth_url: String,
    /// Key set.
    #[serde(default, rename = "jwksURL")]
    pub jwks_url: String,
    /// User-info endpoint.
    #[serde(default, rename = "userInfoURL")]
    pub user_info_url: String,
    /// Device authorization endpoint (accepted for compatibility; unused).
    #[serde(default, rename = "deviceAuthURL")]
    pub device_auth_url: String,
    /// End-session endpoint (accepted for compatibility; unused).
    #[serde(default, rename = "endSessionURL")]
    pub end_session_url: String,
}

/// PKCE method sent upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkceMethod {
    /// `S256`.
    S256,
    /// `plain`, only when configured.
    Plain,
}

/// A checked `oidc` configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Issuer as configured (no trailing slash added or removed).
    pub issuer: String,
    /// Also accepted as the `iss` of ID tokens and discovery.
    pub issuer_alias: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client secret (redacted in `Debug`).
    pub client_secret: ClientSecret,
    /// Redirect URI.
    pub redirect_uri: String,
    /// Client secret in the body (`Some(true)`), by HTTP Basic (`Some(false)`), or detected
    /// like Dex (`None`: Basic first, the body after `invalid_client`).
    pub secret_in_body: Option<bool>,
    /// Scopes, `openid` first.
    pub scopes: Vec<String>,
    /// Allowed `hd` domains.
    pub hosted_domains: Vec<String>,
    /// TLS trust.
    pub tls: UpstreamTls,
    /// `acr_values`.
    pub acr_values: Vec<String>,
    /// Call user-info.
    pub get_user_info: bool,
    /// `prompt` for offline requests.
    pub prompt_type: String,
    /// PKCE.
    pub pkce: PkceMethod,
    /// Claims to identity.
    pub mapping: ClaimMapping,
    /// Endpoint overrides.
    pub overrides: DiscoveryOverrides,
}

impl OidcConfig {
    /// Parses a `config` block; errors name the field.
    pub fn parse(config: serde_json::Value) -> Result<Self, String> {
        serde_json::from_value(config).map_err(|e| e.to_string())
    }

    /// Checks the configuration; the settings and the warnings for the operator.
    pub fn settings(self) -> Result<(Settings, Vec<String>), String> {
        let mut warnings = Vec::new();
        for (field, value) in [
            ("issuer", &self.issuer),
            ("clientID", &self.client_id),
            ("redirectURI", &self.redirect_uri),
        ] {
            if value.trim().is_empty() {
                return Err(format!("`{field}` is required"));
            }
        }
        let issuer_url = url::Url::parse(&self.issuer)
            .map_err(|e| format!("`issuer` {:?} is not a URL: {e}", self.issuer))?;
        check_http_url("redirectURI", &self.redirect_uri)?;
        if issuer_url.scheme() == "http" && !is_loopback(&issuer_url) {
            warnings.push(format!(
                "`issuer` {} is plain HTTP: tokens and codes cross the network unencrypted",
                self.issuer
            ));
        }
        let o = &self.provider_discovery_overrides;
        for (field, value) in [
            ("providerDiscoveryOverrides.tokenURL", &o.token_url),
            ("providerDiscoveryOverrides.authURL", &o.auth_url),
            ("providerDiscoveryOverrides.jwksURL", &o.jwks_url),
            ("providerDiscoveryOverrides.userInfoURL", &o.user_info_url),
        ] {
            if !value.is_empty() {
                check_http_url(field, value)?;
            }
        }
        if self.insecure_skip_verify {
            warnings.push(
                "`insecureSkipVerify` is set: any TLS certificate is trusted, so anyone on the \
                 network path can impersonate the provider"
                    .into(),
            );
        }
        if self.insecure_skip_email_verified {
            warnings.push(
                "`insecureSkipEmailVerified` is set: a missing `email_verified` claim counts as \
                 verified"
                    .into(),
            );
        }
        let pkce = match self.pkce_challenge.as_str() {
            "" | "S256" => PkceMethod::S256,
            "plain" => {
                warnings.push("`pkceChallenge: plain` protects codes less than S256".into());
                PkceMethod::Plain
            }
            other => {
                return Err(format!(
                    "`pkceChallenge` {other:?} is not one of S256, plain"
                ));
            }
        };
        let mut tls = UpstreamTls {
            system_roots: true,
            insecure_skip_verify: self.insecure_skip_verify,
            ..UpstreamTls::default()
        };
        for (i, root) in self.root_cas.iter().enumerate() {
            tls.add_root_reference(root, &format!("rootCAs[{i}]"))?;
        }

        let mut scopes = vec!["openid".to_owned()];
        let configured = if self.scopes.is_empty() {
            vec!["profile".to_owned(), "email".to_owned()]
        } else {
            self.scopes.clone()
        };
        for s in configured {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        let asks_email = scopes.iter().any(|s| s == "email");

        let m = &self.claim_mapping;
        let over = self.override_claim_mapping;
        let mut mapping = ClaimMapping::oidc();
        if !self.user_name_key.is_empty() {
            mapping.username = ClaimLookup::key(&self.user_name_key).required();
        }
        if !self.user_id_key.is_empty() {
            mapping.user_id = ClaimLookup::key(&self.user_id_key).required();
        }
        mapping.preferred_username =
            ClaimLookup::standard_or("preferred_username", &m.preferred_username, over);
        mapping.email = ClaimLookup::standard_or("email", &m.email, over);
        mapping.email.required = asks_email;
        mapping.email_verified = EmailVerified::Claim {
            key: "email_verified".into(),
            required: asks_email,
            assume_when_missing: self.insecure_skip_email_verified,
            // A deliberate improvement on Dex: an address the upstream says is unverified
            // refuses the login instead of reaching clients (docs/deviations-from-dex.md).
            refuse_unverified: asks_email && !self.insecure_skip_email_verified,
        };
        let mods = &self.claim_modifications;
        let filter = match mods.filter_group_claims.groups_filter.as_str() {
            "" => None,
            pattern => Some(regex::Regex::new(pattern).map_err(|e| {
                format!("`claimModifications.filterGroupClaims.groupsFilter`: {e}")
            })?),
        };
        let from_claims: Vec<GroupFromClaims> = mods
            .new_group_from_claims
            .iter()
            .map(|g| GroupFromClaims {
                claims: g.claims.clone(),
                delimiter: g.delimiter.clone(),
                clear_delimiter: g.clear_delimiter,
                prefix: g.prefix.clone(),
            })
            .collect();
        if !self.insecure_enable_groups
            && (filter.is_some() || !self.allowed_groups.is_empty() || !m.groups.is_empty())
        {
            warnings.push(
                "group settings (`allowedGroups`, `claimMapping.groups`, `groupsFilter`) have no \
                 effect without `insecureEnableGroups: true`"
                    .into(),
            );
        }
        if self.insecure_enable_groups || !from_claims.is_empty() {
            let keys = ClaimLookup::standard_or("groups", &m.groups, over).keys;
            mapping.groups = Some(GroupRules {
                keys: if self.insecure_enable_groups {
                    keys
                } else {
                    Vec::new()
                },
                strict: true,
                filter: if self.insecure_enable_groups {
                    filter
                } else {
                    None
                },
                allowed: if self.insecure_enable_groups {
                    self.allowed_groups.clone()
                } else {
                    Vec::new()
                },
                prefix: mods.modify_group_names.prefix.clone(),
                suffix: mods.modify_group_names.suffix.clone(),
                from_claims,
            });
        }

        let issuer_host = issuer_url.host_str().unwrap_or_default().to_owned();
        // Dex's rule: Okta's authorization servers want the secret in the body.
        let okta = issuer_host.ends_with("okta.com") || issuer_host.ends_with("oktapreview.com");
        let secret_in_body = self.basic_auth_unsupported.or(okta.then_some(true));
        let settings = Settings {
            issuer: self.issuer,
            issuer_alias: (!self.issuer_alias.is_empty()).then_some(self.issuer_alias),
            client_id: self.client_id,
            client_secret: self.client_secret,
            redirect_uri: self.redirect_uri,
            secret_in_body,
            scopes,
            hosted_domains: self.hosted_domains,
            tls,
            acr_values: self.acr_values,
            get_user_info: self.get_user_info,
            prompt_type: self.prompt_type.unwrap_or_else(|| "consent".into()),
            pkce,
            mapping,
            overrides: self.provider_discovery_overrides,
        };
        Ok((settings, warnings))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn settings(v: serde_json::Value) -> Result<(Settings, Vec<String>), String> {
        OidcConfig::parse(v).and_then(OidcConfig::settings)
    }

    fn minimal() -> serde_json::Value {
        json!({
            "issuer": "https://idp.example.com",
            "clientID": "oxidex",
            "clientSecret": "s",
            "redirectURI": "https://dex.example.com/callback",
        })
    }

    #[test]
    fn defaults_follow_dex() {
        let (s, warnings) = settings(minimal()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(s.scopes, ["openid", "profile", "email"]);
        assert_eq!(s.prompt_type, "consent");
        assert_eq!(s.pkce, PkceMethod::S256);
        assert_eq!(s.secret_in_body, None, "detected, as Dex does");
        assert!(s.mapping.groups.is_none());
        assert!(s.mapping.email.required);
    }

    #[test]
    fn mistakes_name_the_field() {
        let mut v = minimal();
        v["issuer"] = json!("");
        assert_eq!(settings(v).unwrap_err(), "`issuer` is required");
        let mut v = minimal();
        v["clientId"] = json!("x");
        assert!(
            settings(v)
                .unwrap_err()
                .contains("unknown field `clientId`")
        );
        let mut v = minimal();
        v["claimModifications"] = json!({"filterGroupClaims": {"groupsFilter": "("}});
        assert!(
            settings(v)
                .unwrap_err()
                .starts_with("`claimModifications.filterGroupClaims.groupsFilter`")
        );
        let mut v = minimal();
        v["pkceChallenge"] = json!("S512");
        assert!(settings(v).unwrap_err().contains("pkceChallenge"));
        let mut v = minimal();
        v["providerDiscoveryOverrides"] = json!({"tokenURL": "ftp://x"});
        assert!(settings(v).unwrap_err().contains("tokenURL"));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut v = minimal();
        v["clientSecret"] = json!("very-secret-value");
        let config = OidcConfig::parse(v).unwrap();
        assert!(!format!("{config:?}").contains("very-secret-value"));
        let (s, _) = config.settings().unwrap();
        assert!(!format!("{s:?}").contains("very-secret-value"));
        assert_eq!(s.client_secret.expose(), "very-secret-value");
    }

    #[test]
    fn okta_gets_the_secret_in_the_body_and_insecure_settings_warn() {
        let mut v = minimal();
        v["issuer"] = json!("https://corp.okta.com");
        v["insecureSkipVerify"] = json!(true);
        v["allowedGroups"] = json!(["a"]);
        let (s, warnings) = settings(v).unwrap();
        assert_eq!(s.secret_in_body, Some(true));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }
}
