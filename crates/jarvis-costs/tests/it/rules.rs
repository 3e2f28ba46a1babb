//! ccusage's rules, each reproduced by a log this test writes: copies of a streamed response,
//! a replay in a resumed session, a side-conversation copy under a new request id, a line
//! Claude Code wrote itself, refused nulls and versions, an unknown model, a field beyond the
//! 200k-token tier, provider ids (Bedrock, Vertex), a sub-agent log, an offset timestamp near
//! midnight, and a half-written last line.

use std::path::Path;

use jarvis_costs::{CostMode, PriceTable, price, read_all, summarize};
use jarvis_testkit::write_file;

fn assistant(
    message: &str,
    request: Option<&str>,
    model: &str,
    usage: &str,
    extra: &str,
) -> String {
    let request = request.map_or(String::new(), |r| format!(r#","requestId":"{r}""#));
    format!(
        r#"{{"type":"assistant","timestamp":"2025-11-03T10:00:00.000Z","sessionId":"s","version":"2.0.37","cwd":"/home/me/app"{request}{extra},"message":{{"id":"{message}","model":"{model}","usage":{{{usage}}}}}}}"#
    )
}

fn write_logs(root: &Path) {
    let sonnet = "claude-sonnet-4-20250514";
    let a = [
        r#"{"type":"user","timestamp":"2025-11-03T09:59:00.000Z","message":{"role":"user","content":"hi"}}"#.to_owned(),
        // One response streamed as three lines: the largest copy counts.
        assistant("msg_a", Some("req_a"), sonnet, r#""input_tokens":100,"output_tokens":10,"cache_read_input_tokens":1000"#, ""),
        assistant("msg_a", Some("req_a"), sonnet, r#""input_tokens":100,"output_tokens":50,"cache_read_input_tokens":1000"#, ""),
        assistant("msg_a", Some("req_a"), sonnet, r#""input_tokens":100,"output_tokens":30,"cache_read_input_tokens":1000"#, ""),
        // Written by Claude Code itself: no cost, no model in the report.
        assistant("msg_syn", None, "<synthetic>", r#""input_tokens":0,"output_tokens":0"#, r#","isApiErrorMessage":true"#),
        // Refused: a null ccusage does not accept; a version that is not semantic.
        assistant("msg_null", Some("req_n"), sonnet, r#""input_tokens":5,"output_tokens":5"#, r#","costUSD":null"#),
        assistant("msg_ver", Some("req_v"), sonnet, r#""input_tokens":5,"output_tokens":5"#, "").replace("2.0.37", "dev"),
        // A model without a price: counted, marked unpriced.
        assistant("msg_unknown", Some("req_u"), "gpt-9", r#""input_tokens":7,"output_tokens":3"#, ""),
        // Beyond 200k input tokens, the higher price.
        assistant("msg_tier", Some("req_t"), "claude-sonnet-4-5-20250929", r#""input_tokens":250000,"output_tokens":0"#, ""),
        // A Bedrock id.
        assistant("msg_bedrock", Some("req_b"), "us.anthropic.claude-haiku-4-5-20251001-v1:0", r#""input_tokens":1000,"output_tokens":1000"#, ""),
    ];
    let mut first = a.join("\n");
    // The last line is still being written.
    first.push_str("\n{\"type\":\"assistant\",\"message\":{\"usage\":{\"input_tok");
    write_file(&root.join("-home-me-app/sess-a.jsonl"), first);
    let b = [
        // The resumed session replays an earlier response.
        assistant(
            "msg_a",
            Some("req_a"),
            sonnet,
            r#""input_tokens":100,"output_tokens":50,"cache_read_input_tokens":1000"#,
            "",
        ),
        // A side conversation copies a message under a new request id.
        assistant(
            "msg_tier",
            Some("req_side"),
            "claude-sonnet-4-5-20250929",
            r#""input_tokens":250000,"output_tokens":0"#,
            r#","isSidechain":true"#,
        ),
    ];
    write_file(&root.join("-home-me-app/sess-b.jsonl"), b.join("\n") + "\n");
    // A sub-agent of session b, on Vertex, its clock two hours ahead of UTC.
    let agent = assistant(
        "msg_agent",
        Some("req_g"),
        "claude-opus-4-1@20250805",
        r#""input_tokens":10,"output_tokens":10"#,
        r#","isSidechain":true,"agentId":"a1""#,
    )
    .replace("2025-11-03T10:00:00.000Z", "2025-11-04T00:30:00+02:00");
    write_file(
        &root.join("-home-me-app/sess-b/subagents/agent-a1.jsonl"),
        agent + "\n",
    );
}

#[test]
fn every_rule_on_logs_written_by_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("projects");
    write_logs(&root);
    let (entries, stats) = read_all(std::slice::from_ref(&root));
    assert_eq!(stats.files, 3);
    assert_eq!(stats.usage_lines, 13, "{stats:?}");
    assert_eq!(
        (
            stats.null_fields,
            stats.invalid,
            stats.unparseable,
            stats.duplicates
        ),
        (1, 1, 1, 4),
        "{stats:?}"
    );
    assert_eq!(entries.len(), 6);
    let streamed = entries
        .iter()
        .find(|e| e.usage.message_id.as_deref() == Some("msg_a"))
        .unwrap();
    assert_eq!(streamed.usage.tokens.output, 50);
    assert_eq!(streamed.session, "sess-a");
    let agent = entries.iter().find(|e| e.usage.agent_id.is_some()).unwrap();
    assert_eq!(agent.session, "sess-b");

    let table = PriceTable::built_in();
    let summary = summarize(&entries, CostMode::Calculate, &table);
    // sonnet 4: 100×3000 + 50×15000 + 1000×300; sonnet 4.5 beyond the tier:
    // 200000×3000 + 50000×6000; haiku 4.5: 1000×1000 + 1000×5000; opus 4.1: 10×15000 + 10×75000.
    let expected = 1_350_000 + 900_000_000 + 6_000_000 + 900_000;
    assert_eq!(summary.totals.total_cost.nanos(), expected);
    assert_eq!(summary.totals.entries, 6);
    assert_eq!(summary.totals.total_tokens, 1150 + 250_000 + 2000 + 20 + 10);
    assert!(!summary.by_model.contains_key("<synthetic>"));
    assert_eq!(summary.by_model["gpt-9"].total_cost.nanos(), 0);
    // The sub-agent's 00:30 at +02:00 is the 3rd in UTC.
    assert_eq!(summary.by_day.len(), 1);
    assert_eq!(summary.by_session["-home-me-app/sess-a"].entries, 5);
    assert_eq!(summary.by_session["-home-me-app/sess-b"].entries, 1);
    let unknown = entries
        .iter()
        .find(|e| e.usage.model.as_deref() == Some("gpt-9"))
        .unwrap();
    assert!(price(&unknown.usage, CostMode::Calculate, &table).unpriced);
}
