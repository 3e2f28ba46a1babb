//! JWT bearer tokens, for deployments that already issue them: verified with a configured HS256
//! secret or an RS256/ES256 public key, expiry always enforced, scopes taken from a claim.

use std::path::PathBuf;

use jarvis_core::Secret;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::keys::{AuthError, Principal, Scope};

/// The `[server.auth.jwt]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// `HS256`, `RS256` or `ES256`.
    pub algorithm: String,
    /// The shared secret, for HS256.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// A PEM file with the issuer's public key, for RS256 and ES256.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
    /// The `iss` tokens must carry, if set.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The `aud` tokens must carry, if set.
    #[serde(default)]
    pub audience: Option<String>,
    /// The claim holding the scopes: a space-separated string or a list (default `scope`).
    #[serde(default = "default_claim")]
    pub scopes_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_claim() -> String {
    "scope".to_owned()
}

fn default_leeway() -> u64 {
    30
}

/// Verifies tokens against one key.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    scopes_claim: String,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .field("scopes_claim", &self.scopes_claim)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Builds a verifier; reads the public key file for RS256/ES256.
    pub fn new(config: &JwtConfig) -> Result<JwtVerifier, AuthError> {
        let invalid = |reason: String| AuthError::Jwt(reason);
        let (algorithm, key) = match config.algorithm.as_str() {
            "HS256" => {
                let secret = config
                    .secret
                    .as_ref()
                    .filter(|s| s.expose().len() >= 32)
                    .ok_or_else(|| invalid("HS256 needs `secret` of at least 32 bytes".into()))?;
                (
                    Algorithm::HS256,
                    DecodingKey::from_secret(secret.expose().as_bytes()),
                )
            }
            alg @ ("RS256" | "ES256") => {
                let path = config
                    .public_key_file
                    .as_ref()
                    .ok_or_else(|| invalid(format!("{alg} needs `public_key_file`")))?;
                let pem = std::fs::read(path).map_err(|source| AuthError::Io {
                    action: "read",
                    path: path.clone(),
                    source,
                })?;
                if alg == "RS256" {
                    let key = DecodingKey::from_rsa_pem(&pem)
                        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
                    (Algorithm::RS256, key)
                } else {
                    let key = DecodingKey::from_ec_pem(&pem)
                        .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
                    (Algorithm::ES256, key)
                }
            }
            other => {
                return Err(invalid(format!(
                    "unsupported algorithm `{other}`: use HS256, RS256 or ES256"
                )));
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = config.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &config.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(JwtVerifier {
            key,
            validation,
            scopes_claim: config.scopes_claim.clone(),
        })
    }

    /// The principal a valid, unexpired token stands for.
    pub fn verify(&self, token: &str) -> Option<Principal> {
        let data = decode::<Value>(token, &self.key, &self.validation).ok()?;
        let claims = data.claims;
        let subject = claims.get("sub")?.as_str()?.to_owned();
        let scopes: Vec<Scope> = match claims.get(&self.scopes_claim) {
            Some(Value::String(s)) => s
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|p| p.parse().ok())
                .collect(),
            _ => Vec::new(),
        };
        Some(Principal {
            key_id: format!("jwt:{subject}"),
            name: subject,
            scopes,
        })
    }
}
