//! JWT verification with each supported algorithm, against keys generated for these tests only.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use jarvis_auth::{JwtConfig, JwtVerifier, Scope};
use jarvis_core::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn config(algorithm: &str) -> JwtConfig {
    JwtConfig {
        algorithm: algorithm.into(),
        secret: (algorithm == "HS256").then(|| Secret::new("a-test-secret-of-at-least-32-bytes!!")),
        public_key_file: match algorithm {
            "RS256" => Some(fixture("test-only-rs256-public.pem")),
            "ES256" => Some(fixture("test-only-es256-public.pem")),
            _ => None,
        },
        issuer: Some("https://issuer.example".into()),
        audience: None,
        scopes_claim: "scope".into(),
        leeway_secs: 0,
    }
}

fn key(algorithm: &str) -> (Algorithm, EncodingKey) {
    match algorithm {
        "HS256" => (
            Algorithm::HS256,
            EncodingKey::from_secret(b"a-test-secret-of-at-least-32-bytes!!"),
        ),
        "RS256" => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(
                &std::fs::read(fixture("test-only-rs256-private.pem")).unwrap(),
            )
            .unwrap(),
        ),
        _ => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(
                &std::fs::read(fixture("test-only-es256-private.pem")).unwrap(),
            )
            .unwrap(),
        ),
    }
}

fn token(algorithm: &str, claims: serde_json::Value) -> String {
    let (alg, key) = key(algorithm);
    encode(&Header::new(alg), &claims, &key).unwrap()
}

#[test]
fn every_algorithm_verifies_scopes_issuer_and_expiry() {
    for algorithm in ["HS256", "RS256", "ES256"] {
        let verifier = JwtVerifier::new(&config(algorithm)).unwrap();
        let good = token(
            algorithm,
            json!({ "sub": "ci", "iss": "https://issuer.example", "exp": now() + 60, "scope": "read execute" }),
        );
        let who = verifier.verify(&good).unwrap();
        assert_eq!(who.name, "ci", "{algorithm}");
        assert_eq!(who.key_id, "jwt:ci");
        assert!(who.allows(Scope::Read) && who.allows(Scope::Execute) && !who.allows(Scope::Admin));
        let list = token(
            algorithm,
            json!({ "sub": "ops", "iss": "https://issuer.example", "exp": now() + 60, "scope": ["admin"] }),
        );
        assert!(verifier.verify(&list).unwrap().allows(Scope::Admin));
        let expired = token(
            algorithm,
            json!({ "sub": "ci", "iss": "https://issuer.example", "exp": now() - 10, "scope": "read" }),
        );
        assert!(verifier.verify(&expired).is_none(), "{algorithm}: expired");
        let no_exp = token(
            algorithm,
            json!({ "sub": "ci", "iss": "https://issuer.example", "scope": "read" }),
        );
        assert!(
            verifier.verify(&no_exp).is_none(),
            "{algorithm}: exp is required"
        );
        let wrong_issuer = token(
            algorithm,
            json!({ "sub": "ci", "iss": "https://other.example", "exp": now() + 60 }),
        );
        assert!(
            verifier.verify(&wrong_issuer).is_none(),
            "{algorithm}: issuer"
        );
        let mut tampered = good.clone();
        tampered.pop();
        assert!(
            verifier.verify(&tampered).is_none(),
            "{algorithm}: signature"
        );
    }
    // A token signed with another algorithm's key is refused.
    let hs = JwtVerifier::new(&config("HS256")).unwrap();
    let rs = token(
        "RS256",
        json!({ "sub": "x", "iss": "https://issuer.example", "exp": now() + 60 }),
    );
    assert!(hs.verify(&rs).is_none());
}

#[test]
fn unusable_configurations_are_refused() {
    let mut short = config("HS256");
    short.secret = Some(Secret::new("short"));
    assert!(JwtVerifier::new(&short).is_err());
    let mut missing = config("RS256");
    missing.public_key_file = Some(fixture("missing.pem"));
    assert!(JwtVerifier::new(&missing).is_err());
    assert!(
        JwtVerifier::new(&JwtConfig {
            algorithm: "none".into(),
            ..config("HS256")
        })
        .is_err()
    );
}
