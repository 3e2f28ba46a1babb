//! The knowledge base through the real server: notes written to the notes folder are found
//! through both doors with snippets and highlights, by topic and tag; one note and the stats;
//! an edit is announced on the `knowledge` topic and then found; a rebuild on request answers
//! `503 INDEX_REBUILDING` with `Retry-After` until its `ready` event.

use std::time::Duration;

use jarvis_testkit::{eventually, write_file};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, post, spawn_app};
use crate::ws::{next_json, open, send, until};

async fn found(app: &TestApp, query: &str, want: u64) -> Value {
    eventually(
        &format!("`{query}` to find {want}"),
        Duration::from_secs(10),
        || async {
            let (status, _, body) = app
                .get_json(&format!("/api/v2/knowledge/search?q={query}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (body["metadata"]["pagination"]["total"] == want).then_some(body)
        },
    )
    .await
}

#[tokio::test]
async fn notes_are_searched_with_snippets_topics_and_live_updates() {
    let app = spawn_app().await;
    let notes = app.home.join("notes");
    write_file(
        &notes.join("rust/ownership.md"),
        "---\ntitle: Ownership in Rust\ntags: [rust]\n---\n# Moves\n\nThe borrow checker enforces the ownership rules.\n",
    );
    write_file(
        &notes.join("ops/pager.md"),
        "# On-call\n\nThe pager rotation names who has ownership of an incident.\n",
    );
    let body = found(&app, "ownership", 2).await;
    let hit = &body["data"][0];
    assert_eq!(hit["title"], "Ownership in Rust", "{body}");
    assert_eq!(hit["tags"], json!(["rust"]));
    let snippet: Vec<char> = hit["snippet"].as_str().unwrap().chars().collect();
    let [a, b] = [
        hit["highlights"][0][0].as_u64().unwrap() as usize,
        hit["highlights"][0][1].as_u64().unwrap() as usize,
    ];
    assert_eq!(snippet[a..b].iter().collect::<String>(), "ownership");
    assert_eq!(body["metadata"]["pagination"]["has_more"], false);

    // The original door, with a topic (the top-level folder); a typo; paging.
    let (status, _, body) = app
        .get_json("/knowledge/search?q=ownership&topic=ops")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["data"][0]["title"], "On-call");
    let (_, _, body) = app
        .get_json("/api/v2/knowledge/search?q=owenrship&limit=1&offset=1")
        .await;
    assert_eq!(body["metadata"]["pagination"]["total"], 2, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let (_, _, body) = app
        .get_json("/api/v2/knowledge/search?q=ownership&tag=rust")
        .await;
    assert_eq!(body["metadata"]["pagination"]["total"], 1, "{body}");
    // Nothing to look for finds nothing; a bad parameter is named.
    let (status, _, body) = app.get_json("/api/v2/knowledge/search?q=%3F%21").await;
    assert_eq!(
        (status, body["metadata"]["pagination"]["total"].clone()),
        (StatusCode::OK, json!(0))
    );
    let (status, _, body) = app
        .get_json("/api/v2/knowledge/search?q=x&limit=1000")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Topics, one note, stats.
    for path in ["/api/v2/knowledge/topics", "/knowledge/topics"] {
        let (status, _, body) = app.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let topics = body["data"].as_array().unwrap();
        assert!(
            topics
                .iter()
                .any(|t| t["topic"] == "rust" && t["notes"] == 1),
            "{body}"
        );
    }
    let (_, _, body) = app.get_json("/api/v2/knowledge/search?q=borrow").await;
    let id = body["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, body) = app.get_json(&format!("/api/v2/knowledge/notes/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["headings"], json!(["Moves"]));
    assert!(
        body["data"]["body"]
            .as_str()
            .unwrap()
            .contains("borrow checker")
    );
    let (status, _, body) = app
        .get_json("/api/v2/knowledge/notes/note_0000000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "RESOURCE_NOT_FOUND");
    // A binary note is a diagnostic, in the stats and beside the catalog's.
    write_file(&notes.join("ops/diagram.md"), b"\x89PNG\0binary".as_slice());
    eventually(
        "the binary note's diagnostic",
        Duration::from_secs(10),
        || async {
            let (_, _, body) = app.get_json("/api/v2/diagnostics?code=binary_file").await;
            (body["data"].as_array().is_some_and(|d| d.len() == 1)).then_some(())
        },
    )
    .await;
    let (_, _, body) = app.get_json("/api/v2/knowledge/stats").await;
    assert_eq!(body["data"]["state"], "ready", "{body}");
    assert!(body["data"]["notes"].as_u64().unwrap() >= 2, "{body}");
    assert!(body["data"]["index_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        body["data"]["diagnostics"][0]["code"], "binary_file",
        "{body}"
    );

    // An edit, announced and then found.
    let mut ws = open(&app, None).await;
    send(
        &mut ws,
        json!({ "type": "subscribe", "topics": ["knowledge"] }),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    std::fs::write(
        notes.join("ops/pager.md"),
        "# On-call\n\nEscalate to the zeppelin desk.\n",
    )
    .unwrap();
    let event = until(&mut ws, |e| e["event"] == "indexed").await;
    assert!(
        event["data"]["path"]
            .as_str()
            .unwrap()
            .ends_with("pager.md"),
        "{event}"
    );
    let (_, _, body) = app.get_json("/api/v2/knowledge/search?q=zeppelin").await;
    assert_eq!(body["metadata"]["pagination"]["total"], 1, "{body}");
}

#[tokio::test]
async fn a_rebuild_answers_index_rebuilding_until_it_is_ready() {
    let app = spawn_app().await;
    let notes = app.home.join("notes");
    // Enough notes that the rebuild is still running when the next search arrives.
    for i in 0..1500 {
        write_file(
            &notes.join(format!("bulk/n{i:04}.md")),
            format!("# Note {i}\n\nBulk text about lighthouses and harbours, number {i}.\n"),
        );
    }
    found(&app, "lighthouses", 1500).await;
    let mut ws = open(&app, None).await;
    send(
        &mut ws,
        json!({ "type": "subscribe", "topics": ["knowledge"] }),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    let (status, _, body) = post(&app, "/api/v2/knowledge/reindex", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let res = app.get("/api/v2/knowledge/search?q=lighthouses").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INDEX_REBUILDING", "{body}");
    until(&mut ws, |e| e["event"] == "rebuilding").await;
    let ready = until(&mut ws, |e| e["event"] == "ready").await;
    assert_eq!(ready["data"]["rebuilt"], true, "{ready}");
    assert_eq!(ready["data"]["notes"], 1500, "{ready}");
    found(&app, "lighthouses", 1500).await;
}
