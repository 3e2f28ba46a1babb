//! Analyses through the real server: a note and a clip in the media folder, and a page served
//! on loopback, analysed as tasks with progress on the task's topic, results and thumbnails;
//! paths outside the media folder, internal addresses and unknown types refused at once; a
//! long analysis streams its progress in order, shows in `/api/v2/services`, and a cancel
//! through the task route stops its ffmpeg.

use std::process::Command;
use std::time::Duration;

use jarvis_testkit::eventually;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{TestApp, post, spawn_app};
use crate::ws::{next_json, open, send, until};

async fn finished(app: &TestApp, id: &str) -> Value {
    eventually(
        &format!("analysis {id}"),
        Duration::from_secs(30),
        || async {
            let (status, _, body) = app.get_json(&format!("/api/v2/analyses/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let state = body["data"]["status"].as_str().unwrap().to_owned();
            (!["queued", "running"].contains(&state.as_str())).then(|| body["data"].clone())
        },
    )
    .await
}

#[tokio::test]
async fn notes_clips_and_pages_are_analysed_as_tasks() {
    let app = spawn_app().await;
    let media = app.home.join("media");
    std::fs::write(
        media.join("notes.md"),
        "# Plan\n\nThe parser reads the logs. The parser keeps its cursor.\n",
    )
    .unwrap();
    let (status, headers, body) = post(
        &app,
        "/api/v2/analyses",
        json!({ "path": media.join("notes.md") }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["data"]["kind"], "analysis");
    assert_eq!(
        headers["location"],
        format!("/api/v2/analyses/{id}").as_str()
    );
    let done = finished(&app, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["kind"], "text");
    assert_eq!(done["result"]["text"]["headings"][0]["text"], "Plan");
    assert_eq!(done["result"]["text"]["keywords"][0]["word"], "parser");

    // A clip with a cut at 2 s, followed live on its topic.
    let clip = media.join("cut.mkv");
    let made = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "color=c=red:s=320x240:d=2:r=25"])
        .args(["-f", "lavfi", "-i", "color=c=blue:s=320x240:d=2:r=25"])
        .args([
            "-filter_complex",
            "[0][1]concat=n=2:v=1:a=0[v]",
            "-map",
            "[v]",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:v", "libx264"])
        .arg(&clip)
        .status()
        .expect("ffmpeg is installed by cargo xtask ci");
    assert!(made.success());
    let mut ws = open(&app, None).await;
    let (status, _, body) = post(
        &app,
        "/analyze",
        json!({ "path": clip, "analysis_type": ["metadata", "scenes", "thumbnails"] }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    send(
        &mut ws,
        json!({ "type": "subscribe", "topics": [format!("task:{id}")] }),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    let last = until(&mut ws, |e| {
        e["event"] == "task"
            && !["queued", "running"].contains(&e["data"]["status"].as_str().unwrap_or("running"))
    })
    .await;
    assert_eq!(last["data"]["status"], "succeeded", "{last}");
    let done = finished(&app, &id).await;
    let scenes = done["result"]["media"]["scene_changes"].as_array().unwrap();
    assert_eq!(scenes.len(), 1, "{done}");
    assert!((scenes[0].as_f64().unwrap() - 2.0).abs() <= 0.04);
    assert_eq!(done["result"]["media"]["thumbnails"], 3);
    let thumb = app
        .get(&format!("/api/v2/analyses/{id}/thumbnails/0"))
        .await;
    assert_eq!(thumb.status(), StatusCode::OK);
    assert_eq!(thumb.headers()["content-type"], "image/jpeg");
    assert_eq!(&thumb.bytes().await.unwrap()[..2], &[0xFF, 0xD8]);
    let missing = app
        .get(&format!("/api/v2/analyses/{id}/thumbnails/9"))
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // A page from a server (on loopback, which these tests allow).
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "<html><body><h1>Titre</h1><p>Le chat est sur la table et le chien est dans le jardin.</p></body></html>",
            "text/html",
        ))
        .mount(&server)
        .await;
    let (status, _, body) = post(
        &app,
        "/api/v2/analyses",
        json!({ "url": format!("{}/page", server.uri()) }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let done = finished(&app, body["data"]["id"].as_str().unwrap()).await;
    assert_eq!(done["result"]["text"]["language"]["code"], "fr", "{done}");

    let (_, _, list) = app.get_json("/api/v2/analyses?status=succeeded").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3, "{list}");
}

#[tokio::test]
async fn bad_sources_are_refused_before_anything_is_queued() {
    let app = spawn_app().await;
    let outside = app.home.join("secret.txt");
    std::fs::write(&outside, "x").unwrap();
    for (body, status, parameter) in [
        (json!({ "path": outside }), StatusCode::FORBIDDEN, "path"),
        (
            json!({ "path": format!("{}/media/../secret.txt", app.home.display()) }),
            StatusCode::FORBIDDEN,
            "path",
        ),
        (
            json!({ "path": app.home.join("media/none.mp4") }),
            StatusCode::NOT_FOUND,
            "path",
        ),
        (
            json!({ "path": "media/relative.mp4" }),
            StatusCode::FORBIDDEN,
            "path",
        ),
        (
            json!({ "url": "http://10.1.2.3/x" }),
            StatusCode::FORBIDDEN,
            "url",
        ),
        (
            json!({ "url": "http://169.254.169.254/latest/meta-data/" }),
            StatusCode::FORBIDDEN,
            "url",
        ),
        (
            json!({ "url": "ftp://example.com/a.mp4" }),
            StatusCode::BAD_REQUEST,
            "url",
        ),
        (
            json!({ "path": "/a", "url": "https://example.com" }),
            StatusCode::BAD_REQUEST,
            "path",
        ),
        (json!({}), StatusCode::BAD_REQUEST, "path"),
        (
            json!({ "url": "https://example.com", "analysis_type": ["mood"] }),
            StatusCode::BAD_REQUEST,
            "analysis_type",
        ),
    ] {
        let (got, _, answer) = post(&app, "/api/v2/analyses", body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(
            answer["error"]["details"]["parameter"], parameter,
            "{body}: {answer}"
        );
    }
    let (_, _, list) = app.get_json("/api/v2/analyses").await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn progress_streams_in_order_and_a_cancel_stops_ffmpeg() {
    let app = spawn_app().await;
    let (status, _, services) = app.get_json("/api/v2/services").await;
    assert_eq!(status, StatusCode::OK, "{services}");
    let analyzer = services["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "analyzer")
        .unwrap_or_else(|| panic!("no analyzer in {services}"))
        .clone();
    assert_eq!(analyzer["enabled"], true, "{analyzer}");
    assert_eq!(analyzer["required"], false);
    assert_eq!(analyzer["health"]["healthy"], true, "{analyzer}");
    let tools: Vec<&str> = analyzer["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tool"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["ffprobe", "ffmpeg"]);
    assert!(analyzer["tools"][1]["version"].is_string(), "{analyzer}");
    assert_eq!(analyzer["running"], 0);

    // An hour of tone: seconds of loudness analysis, long enough to watch and cancel.
    let tone = app.home.join("media/hour-of-tone.wav");
    jarvis_testkit::media::long_tone(&tone, 3600);
    let needle = tone.to_string_lossy().into_owned();
    let mut ws = open(&app, None).await;
    let (status, _, body) = post(
        &app,
        "/api/v2/analyses",
        json!({ "path": tone, "analysis_type": ["loudness", "silence"] }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    send(
        &mut ws,
        json!({ "type": "subscribe", "topics": [format!("task:{id}")] }),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    // Stages move forward only, and within a stage the percentage never falls.
    let order = ["fetching", "probing", "analyzing", "thumbnails"];
    let mut seen: Vec<(usize, f64)> = Vec::new();
    while seen
        .last()
        .is_none_or(|&(stage, percent)| stage != 2 || percent <= 0.0)
    {
        let event = until(&mut ws, |e| e["event"] == "progress").await;
        assert_eq!(event["data"]["id"], id.as_str());
        let stage = event["data"]["stage"].as_str().unwrap();
        let stage = order.iter().position(|s| *s == stage).unwrap();
        let percent = event["data"]["percent"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&percent), "{event}");
        if let Some(&(last_stage, last_percent)) = seen.last() {
            assert!(
                (stage, percent) >= (last_stage, last_percent),
                "progress went back: {seen:?} then {event}"
            );
        }
        seen.push((stage, percent));
    }
    assert!(
        !jarvis_testkit::media::processes_naming(&needle).is_empty(),
        "ffmpeg runs while the analysis does"
    );
    let (_, _, services) = app.get_json("/api/v2/services").await;
    let analyzer = services["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "analyzer")
        .unwrap()
        .clone();
    assert_eq!(analyzer["running"], 1, "{analyzer}");

    let (status, _, body) = post(&app, &format!("/api/v2/tasks/{id}/cancel"), json!({})).await;
    assert!(status.is_success(), "{status} {body}");
    let last = until(&mut ws, |e| {
        e["event"] == "task"
            && !["queued", "running"].contains(&e["data"]["status"].as_str().unwrap_or("running"))
    })
    .await;
    assert_eq!(last["data"]["status"], "canceled", "{last}");
    eventually(
        "ffmpeg gone after the cancel",
        Duration::from_secs(2),
        || async {
            jarvis_testkit::media::processes_naming(&needle)
                .is_empty()
                .then_some(())
        },
    )
    .await;
    let done = finished(&app, &id).await;
    assert_eq!(done["status"], "canceled", "{done}");
    assert!(done["result"].is_null(), "{done}");
}

#[tokio::test]
async fn media_without_ffmpeg_is_refused_naming_the_tool() {
    let app = crate::support::Spawn::new()
        .media(jarvis_integrations::analyzer::MediaConfig {
            ffprobe: "/nonexistent/ffprobe".into(),
            ..jarvis_integrations::analyzer::MediaConfig::default()
        })
        .start()
        .await;
    let clip = app.home.join("media/clip.mp4");
    std::fs::write(&clip, "not really a clip").unwrap();
    let (status, headers, body) = post(&app, "/api/v2/analyses", json!({ "path": clip })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "ANALYZER_UNAVAILABLE");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ffprobe"),
        "{body}"
    );
    assert!(headers.contains_key("retry-after"));
    // Text needs no ffmpeg.
    std::fs::write(app.home.join("media/notes.txt"), "Some words here.").unwrap();
    let (status, _, body) = post(
        &app,
        "/api/v2/analyses",
        json!({ "path": app.home.join("media/notes.txt") }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}
