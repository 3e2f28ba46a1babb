//! Authentication, scopes, rate limits, CORS, limits and safe defaults.

use std::time::Duration;

use jarvis_api::{ApiConfig, Application, KeyStore, Scope};
use reqwest::header::{AUTHORIZATION, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{Spawn, TestApp};

struct Keys {
    read: String,
    execute: String,
    admin: String,
}

async fn app_with_keys(config: ApiConfig) -> (TestApp, Keys) {
    app_with_keys_on(Spawn::new().config(config)).await
}

async fn app_with_keys_on(spawn: Spawn<'_>) -> (TestApp, Keys) {
    let mut keys = None;
    let app = spawn
        .prepare(|store: &KeyStore| {
            let make = |name: &str, scope: Scope| store.create(name, &[scope]).unwrap().secret;
            keys = Some(Keys {
                read: make("reader", Scope::Read),
                execute: make("runner", Scope::Execute),
                admin: make("operator", Scope::Admin),
            });
        })
        .start()
        .await;
    (app, keys.unwrap())
}

async fn send(app: &TestApp, method: Method, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .request(method.clone(), format!("{}{path}", app.base));
    if let Some(key) = key {
        req = req.header(AUTHORIZATION, format!("Bearer {key}"));
    }
    if method == Method::POST {
        req = req.json(&serde_json::json!({ "q": "x", "name": "probe", "scopes": ["read"] }));
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn every_protected_route_needs_a_key_with_its_scope() {
    let (app, keys) = app_with_keys(ApiConfig::default()).await;
    let mut protected = 0;
    for route in jarvis_api::route_table() {
        let method = Method::from_bytes(route.method.to_ascii_uppercase().as_bytes()).unwrap();
        let path = route.path.replace("{id}", "0123456789ab");
        let path = if path.ends_with("/search") && method == Method::GET {
            format!("{path}?q=x")
        } else {
            path
        };
        let anonymous = send(&app, method.clone(), &path, None).await;
        match route.scope {
            None => {
                assert_ne!(
                    anonymous.status(),
                    StatusCode::UNAUTHORIZED,
                    "{} {path} is public",
                    route.method
                );
            }
            Some(scope) => {
                protected += 1;
                assert_eq!(
                    anonymous.status(),
                    StatusCode::UNAUTHORIZED,
                    "{} {path}",
                    route.method
                );
                assert_eq!(
                    anonymous.headers()["www-authenticate"],
                    "Bearer realm=\"jarvis\""
                );
                let body: Value = anonymous.json().await.unwrap();
                assert_eq!(body["error"]["code"], "UNAUTHORIZED");
                let lacking = match scope {
                    Scope::Read => &keys.execute,
                    Scope::Execute | Scope::Admin => &keys.read,
                };
                let res = send(&app, method.clone(), &path, Some(lacking)).await;
                assert_eq!(
                    res.status(),
                    StatusCode::FORBIDDEN,
                    "{} {path}",
                    route.method
                );
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "FORBIDDEN");
                assert_eq!(body["error"]["details"]["needed_scope"], scope.as_str());
                let right = match scope {
                    Scope::Read => &keys.read,
                    Scope::Execute => &keys.execute,
                    Scope::Admin => &keys.admin,
                };
                let res = send(&app, method.clone(), &path, Some(right)).await;
                assert!(
                    res.status() != StatusCode::UNAUTHORIZED
                        && res.status() != StatusCode::FORBIDDEN,
                    "{} {path} with the right key: {}",
                    route.method,
                    res.status()
                );
            }
        }
    }
    assert!(protected >= 30, "{protected} protected routes");
    // A malformed or unknown key is a 401 even on a public route.
    let res = send(&app, Method::GET, "/health", Some("jv_000000000000_nope")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn keys_are_managed_over_the_api_and_revocation_is_immediate() {
    let (app, keys) = app_with_keys(ApiConfig::default()).await;
    let res = app
        .client
        .post(format!("{}/api/v2/keys", app.base))
        .header(AUTHORIZATION, format!("Bearer {}", keys.admin))
        .json(&serde_json::json!({ "name": "dashboard", "scopes": ["read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created: Value = res.json().await.unwrap();
    let secret = created["data"]["key"].as_str().unwrap().to_owned();
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&app, Method::GET, "/api/v2/agents", Some(&secret))
            .await
            .status(),
        StatusCode::OK
    );

    let (_, _, listed) = {
        let res = send(&app, Method::GET, "/api/v2/keys", Some(&keys.admin)).await;
        let text = res.text().await.unwrap();
        assert!(
            !text.contains(&secret) && !text.contains("sha256"),
            "{text}"
        );
        ((), (), serde_json::from_str::<Value>(&text).unwrap())
    };
    assert_eq!(listed["data"].as_array().unwrap().len(), 4);

    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v2/keys/{id}"),
        Some(&keys.admin),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        send(&app, Method::GET, "/api/v2/agents", Some(&secret))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v2/keys/{id}"),
        Some(&keys.admin),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Revoked by another process (the CLI): the server follows within about a second.
    let other = KeyStore::open(app.keys.path().unwrap()).unwrap();
    let reader = app.keys.verify(&keys.read).unwrap().key_id;
    assert!(other.revoke(&reader).unwrap());
    jarvis_testkit::eventually("the revocation", Duration::from_secs(5), || async {
        let status = send(&app, Method::GET, "/api/v2/agents", Some(&keys.read))
            .await
            .status();
        (status == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;

    // Bad bodies are envelopes too.
    let res = app
        .client
        .post(format!("{}/api/v2/keys", app.base))
        .header(AUTHORIZATION, format!("Bearer {}", keys.admin))
        .json(&serde_json::json!({ "name": "bad\nname", "scopes": ["read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .client
        .post(format!("{}/api/v2/keys", app.base))
        .header(AUTHORIZATION, format!("Bearer {}", keys.admin))
        .json(&serde_json::json!({ "name": "x", "scopes": ["root"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "MALFORMED_BODY");
}

#[tokio::test]
async fn public_reads_open_get_routes_only() {
    let mut config = ApiConfig::default();
    config.auth.public_reads = true;
    let (app, _keys) = app_with_keys(config).await;
    assert_eq!(
        send(&app, Method::GET, "/api/v2/agents", None)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&app, Method::GET, "/api/v2/keys", None).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn tickets_need_a_key_and_are_issued_once() {
    let (app, keys) = app_with_keys(ApiConfig::default()).await;
    assert_eq!(
        send(&app, Method::POST, "/api/v2/ws-ticket", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let res = send(&app, Method::POST, "/api/v2/ws-ticket", Some(&keys.read)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["ticket"].as_str().unwrap().len(), 48);
    assert_eq!(body["data"]["expires_in_secs"], 30);
}

#[tokio::test]
async fn rate_limits_trip_and_recover() {
    let mut config = ApiConfig::default();
    config.rate_limit.read_per_minute = 600;
    config.rate_limit.read_burst = 3;
    let (app, keys) = app_with_keys_on(Spawn::new().config(config).manual_clock()).await;
    let clock = app.clock.clone().unwrap();
    for remaining in ["2", "1", "0"] {
        let res = send(&app, Method::GET, "/api/v2/agents", Some(&keys.read)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["ratelimit-remaining"], remaining);
        assert_eq!(res.headers()["ratelimit-limit"], "3");
    }
    let res = send(&app, Method::GET, "/api/v2/agents", Some(&keys.read)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    // Another key has its own budget; unauthenticated callers are limited by address.
    assert_eq!(
        send(&app, Method::GET, "/api/v2/agents", Some(&keys.admin))
            .await
            .status(),
        StatusCode::OK
    );
    // 600 a minute refills a token every 100 ms: not before, and one at a time.
    clock.advance(Duration::from_millis(90));
    assert_eq!(
        send(&app, Method::GET, "/api/v2/agents", Some(&keys.read))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    clock.advance(Duration::from_millis(20));
    for expected in [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS] {
        assert_eq!(
            send(&app, Method::GET, "/api/v2/agents", Some(&keys.read))
                .await
                .status(),
            expected
        );
    }
}

#[tokio::test]
async fn cors_allows_listed_origins_only() {
    let mut config = ApiConfig::default();
    config.cors.allowed_origins = vec!["https://good.example".to_owned()];
    let (app, keys) = app_with_keys(config).await;
    let get = |origin: &'static str| {
        app.client
            .get(format!("{}/api/v2/agents", app.base))
            .header(ORIGIN, origin)
            .header(AUTHORIZATION, format!("Bearer {}", keys.read))
            .send()
    };
    let res = get("https://good.example").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://good.example"
    );
    let res = get("https://evil.example").await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "FORBIDDEN");

    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}/api/v2/agents", app.base))
            .header(ORIGIN, origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let res = preflight("https://good.example").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://good.example"
    );
    assert!(
        res.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    let res = preflight("https://evil.example").await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn limits_and_security_headers() {
    let (app, keys) = app_with_keys(ApiConfig::default()).await;
    let long = format!("/api/v2/search?q={}", "a".repeat(9000));
    let res = send(&app, Method::GET, &long, Some(&keys.read)).await;
    assert_eq!(res.status(), StatusCode::URI_TOO_LONG);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "URI_TOO_LONG");
    let res = app
        .client
        .get(format!("{}/health", app.base))
        .header("x-padding", "p".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 431);
    let res = send(&app, Method::GET, "/api/v2/agents", Some(&keys.read)).await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = send(&app, Method::GET, "/docs", None).await;
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
}

#[tokio::test]
async fn non_loopback_without_keys_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let env = jarvis_discovery::Environment {
        home: Some(dir.path().to_path_buf()),
        vars: Default::default(),
    };
    let roots = jarvis_discovery::DiscoveryConfig::default()
        .resolve(&env)
        .unwrap();
    let catalog = tokio::task::spawn_blocking(move || jarvis_discovery::LiveCatalog::load(roots))
        .await
        .unwrap();
    let keys = std::sync::Arc::new(KeyStore::open(dir.path().join("keys.json")).unwrap());
    let store: std::sync::Arc<dyn jarvis_store::Store> =
        std::sync::Arc::new(jarvis_store::SqliteStore::open(dir.path().join("jarvis.db")).unwrap());
    let follower = jarvis_api::ExecutionFollower::new(
        std::sync::Arc::clone(&store),
        Duration::from_millis(50),
        Duration::from_millis(200),
        Duration::from_secs(10),
    );
    let tasks = jarvis_tasks::TaskEngine::start(store, jarvis_tasks::TaskConfig::default())
        .await
        .unwrap();
    let config = ApiConfig {
        host: "0.0.0.0".into(),
        port: 0,
        ..ApiConfig::default()
    };
    let parts = || jarvis_api::Parts {
        catalog: catalog.clone(),
        keys: keys.clone(),
        tasks: tasks.clone(),
        services: Default::default(),
        executions: follower.clone(),
        monitor: None,
        clock: jarvis_core::system_clock(),
        costs: None,
        analysis: None,
        knowledge: None,
        mcp: Default::default(),
    };
    let err = Application::build(&config, parts()).unwrap_err();
    assert!(
        err.to_string().contains("refusing to serve on 0.0.0.0"),
        "{err}"
    );
    // The explicit override starts (and logs loudly); so does a server with a key.
    let mut open = config.clone();
    open.auth.allow_unauthenticated_public = true;
    assert!(Application::build(&open, parts()).is_ok());
    keys.create("ops", &[Scope::Admin]).unwrap();
    assert!(Application::build(&config, parts()).is_ok());
}

#[tokio::test]
async fn jwt_bearer_tokens_carry_scopes_and_expire() {
    use jsonwebtoken::{EncodingKey, Header, encode};

    const SECRET: &str = "an-hs256-secret-for-tests-only-0123456789";
    let mut config = ApiConfig::default();
    config.auth.jwt = Some(jarvis_auth::JwtConfig {
        algorithm: "HS256".into(),
        secret: Some(jarvis_core::Secret::new(SECRET)),
        public_key_file: None,
        issuer: None,
        audience: Some("jarvis".into()),
        scopes_claim: "scope".into(),
        leeway_secs: 0,
    });
    // No keys at all: JWT alone turns authentication on.
    let app = Spawn::new().config(config).start().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |scope: &str, exp: u64, aud: &str| {
        encode(
            &Header::default(),
            &serde_json::json!({ "sub": "dashboard", "aud": aud, "exp": exp, "scope": scope }),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    assert_eq!(
        send(&app, Method::GET, "/api/v2/agents", None)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let read = token("read", now + 60, "jarvis");
    assert_eq!(
        send(&app, Method::GET, "/api/v2/agents", Some(&read))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send(&app, Method::GET, "/api/v2/keys", Some(&read))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let expired = token("read", now - 5, "jarvis");
    assert_eq!(
        send(&app, Method::GET, "/api/v2/agents", Some(&expired))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let other_audience = token("read", now + 60, "someone-else");
    assert_eq!(
        send(&app, Method::GET, "/api/v2/agents", Some(&other_audience))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}
