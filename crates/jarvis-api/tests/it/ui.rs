//! The dashboard's assets as a browser meets them: served from `/ui/`, strict content security
//! policy, revalidated with ETags, small, and nothing from another origin; `/` sends browsers
//! there and keeps answering JSON to everyone else.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};

use crate::support::spawn_app;

#[tokio::test]
async fn the_dashboard_is_served_with_a_strict_policy_and_revalidates() {
    let app = spawn_app().await;
    for path in ["/ui/", "/ui"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            res.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
            "{csp}"
        );
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        let page = res.text().await.unwrap();
        assert!(page.contains(r#"src="/ui/app.js""#) && page.contains(r#"href="/ui/app.css""#));
    }
    let mut compressed = 0;
    for (path, kind) in [
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let res = app.get(path).await;
        assert!(
            res.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        let etag = res.headers()[ETAG].clone();
        let text = res.text().await.unwrap();
        // Nothing is loaded from elsewhere: no absolute URL but the Markdown link pattern.
        let outside: Vec<&str> = text
            .match_indices("://")
            .map(|(at, _)| &text[at.saturating_sub(12)..(at + 20).min(text.len())])
            .filter(|around| !around.contains("https?:\\/\\/"))
            .collect();
        assert!(
            outside.is_empty(),
            "{path} names another origin: {outside:?}"
        );
        let again = app
            .client
            .get(format!("{}{path}", app.base))
            .header(IF_NONE_MATCH, etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        let gzipped = app
            .client
            .get(format!("{}{path}", app.base))
            .header(ACCEPT_ENCODING, "gzip")
            .send()
            .await
            .unwrap();
        compressed += gzipped.bytes().await.unwrap().len();
    }
    assert!(
        compressed < 300 * 1024,
        "the dashboard's assets take {compressed} bytes compressed"
    );
    // The documentation page follows the same policy, its style in a file of its own.
    let docs = app.get("/docs").await.text().await.unwrap();
    assert!(docs.contains(r#"href="/docs/app.css""#) && !docs.contains("<style"));
    let css = app.get("/docs/app.css").await;
    assert!(
        css.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn the_root_sends_browsers_to_the_dashboard_and_answers_json_otherwise() {
    let app = spawn_app().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let browser = no_redirects
        .get(format!("{}/", app.base))
        .header(
            ACCEPT,
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.headers()[LOCATION], "/ui/");
    for accept in [Some("application/json"), Some("*/*"), None] {
        let mut request = app.client.get(format!("{}/", app.base));
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{accept:?}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["data"]["name"], "jarvis");
    }
}
