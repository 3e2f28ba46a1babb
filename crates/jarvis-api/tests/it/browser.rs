//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, which `cargo xtask
//! ci` installs when missing) driven through the DevTools protocol, against the real server on
//! a loopback port with the fake runner. Screenshots go to `target/tmp/ui-screenshots` (or
//! `$JARVIS_ARTIFACTS`).

use jarvis_api::{KeyStore, Scope};
use jarvis_testkit::browser::{Browser, type_into};

use jarvis_integrations::BreakerConfig;

use crate::support::Spawn;
use crate::workflows::{
    mount_executions, mount_running_once, n8n_expecting_webhooks, n8n_services,
};

fn screenshots() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots")
}

/// Opens the `tools:lint` command and runs it with `arguments` from its form.
async fn run_lint(browser: &mut Browser, base: &str, arguments: &str) {
    browser
        .visit(
            &format!("{base}/ui/#/resources/commands/tools:lint"),
            "the command's run form",
            "document.getElementById('detail')?.textContent.includes('Lint the code') && document.getElementById('run-form')",
        )
        .await;
    browser
        .eval(&format!(
            "{}; document.getElementById('run-form').requestSubmit(); true",
            type_into("run-args", arguments)
        ))
        .await;
}

#[tokio::test]
async fn the_dashboard_signs_in_streams_searches_runs_and_cancels_in_a_real_browser() {
    // n8n: the PR-digest webhook is called once; its execution runs, then succeeds.
    let (n8n, corr) = n8n_expecting_webhooks(1).await;
    mount_executions(&n8n, &corr).await;
    mount_running_once(&n8n).await;
    let mut key = String::new();
    let app = Spawn::new()
        .services(n8n_services(&n8n, BreakerConfig::default()))
        .prepare(|store: &KeyStore| {
            key = store
                .create("browser", &[Scope::Read, Scope::Execute])
                .unwrap()
                .secret;
        })
        .start()
        .await;
    let mut browser = Browser::launch(&screenshots()).await;
    // Keys exist: the page asks for one.
    browser
        .visit(
            &format!("{}/ui/", app.base),
            "the sign-in form",
            "document.getElementById('signin').open",
        )
        .await;
    browser.screenshot("01-sign-in").await;
    browser
        .eval(&format!(
            "document.getElementById('key').value = {key:?}; document.getElementById('signin-form').requestSubmit(); true"
        ))
        .await;
    browser
        .until(
            "the overview",
            "!document.getElementById('signin').open && document.querySelector('main h1')?.textContent === 'Overview' && document.querySelectorAll('.card').length > 3",
        )
        .await;

    // A live metric update arrives over the WebSocket (through a ticket).
    browser
        .until(
            "a metrics update",
            "Number(document.body.dataset.metrics || 0) >= 2",
        )
        .await;
    browser
        .until(
            "services and today's cost",
            "document.getElementById('services')?.textContent.includes('analyzer') && document.getElementById('cost-today')?.textContent.startsWith('$')",
        )
        .await;
    browser.screenshot("02-overview").await;

    // Search and open an agent.
    browser
        .visit(
            &format!("{}/ui/#/resources", app.base),
            "the search box",
            "document.getElementById('search')",
        )
        .await;
    browser.eval(&type_into("search", "reviewr")).await;
    browser
        .until(
            "a hit with a highlight",
            "[...document.querySelectorAll('.list .row')].some(r => r.textContent.includes('reviewer') && r.querySelector('mark'))",
        )
        .await;
    browser
        .eval("[...document.querySelectorAll('.list .row')].find(r => r.textContent.includes('reviewer')).click(); true")
        .await;
    browser
        .until(
            "the agent's details",
            "document.getElementById('detail')?.textContent.includes('Reviews code for security problems')",
        )
        .await;
    let shown = browser
        .eval("document.getElementById('detail').textContent")
        .await;
    assert!(
        !shown.as_str().unwrap().contains("[object"),
        "every field renders as text: {shown}"
    );
    assert!(
        shown.as_str().unwrap().contains("Focus on correctness"),
        "the body is shown: {shown}"
    );
    assert_eq!(
        browser
            .eval("document.getElementById('search').value")
            .await,
        "reviewr",
        "the search stays while a result is open"
    );
    browser.screenshot("03-agent").await;

    // Run a command and watch its output stream to success.
    run_lint(&mut browser, &app.base, "src/main.rs").await;
    browser
        .until(
            "the task to succeed",
            "document.getElementById('task-status')?.dataset.status === 'succeeded'",
        )
        .await;
    let output = browser
        .eval("document.getElementById('output').textContent")
        .await;
    assert!(output.as_str().unwrap().contains("src/main.rs"), "{output}");
    browser.screenshot("04-task-succeeded").await;

    // Run a slow one and cancel it.
    run_lint(&mut browser, &app.base, "slow").await;
    browser
        .until(
            "the slow task to run",
            "document.getElementById('task-status')?.dataset.status === 'running'",
        )
        .await;
    browser
        .eval("document.getElementById('cancel').click(); true")
        .await;
    browser
        .until(
            "the task to be canceled",
            "document.getElementById('task-status')?.dataset.status === 'canceled'",
        )
        .await;
    browser.screenshot("05-task-canceled").await;

    // Metrics history, with a range chosen.
    browser
        .visit(
            &format!("{}/ui/#/metrics", app.base),
            "an hour of history",
            "document.getElementById('history-summary')?.textContent.includes('points')",
        )
        .await;
    browser
        .eval("[...document.querySelectorAll('.chips button')].find(b => b.textContent === '1 day').click(); true")
        .await;
    browser
        .until(
            "a day of history",
            "location.hash.includes('range=24h') && document.querySelector('.chips button[aria-pressed=\"true\"]')?.textContent === '1 day' && document.getElementById('history-summary')?.textContent.includes('points')",
        )
        .await;
    browser.screenshot("06-metrics").await;

    // Costs and workflows.
    browser
        .visit(
            &format!("{}/ui/#/costs", app.base),
            "the cost breakdowns",
            "document.getElementById('cost-chart') && document.querySelector('main').textContent.includes('By model')",
        )
        .await;
    browser.screenshot("07-costs").await;
    browser
        .visit(
            &format!("{}/ui/#/workflows", app.base),
            "the workflows",
            "document.getElementById('executions') && document.querySelector('main').textContent.includes('PR digest')",
        )
        .await;
    // Trigger one: its execution appears and changes as n8n reports it.
    browser
        .eval("window.seen = []; new MutationObserver(() => document.querySelectorAll('#executions tr .status').forEach(s => seen.includes(s.textContent) || seen.push(s.textContent))).observe(document.getElementById('executions'), {childList: true, subtree: true}); [...document.querySelectorAll('tr')].find(r => r.textContent.includes('PR digest')).querySelector('button[data-workflow]').click(); true")
        .await;
    browser
        .until(
            "the execution to succeed",
            "[...document.querySelectorAll('#executions tr')].some(r => r.textContent.includes('PR digest') && r.textContent.includes('success'))",
        )
        .await;
    let seen = browser.eval("seen").await;
    assert!(
        seen.as_array().unwrap().len() >= 2
            && seen.as_array().unwrap().last().unwrap() == "success",
        "the execution's status changed on the page as it went: {seen}"
    );
    browser.screenshot("08-workflows").await;

    // Diagnostics, grouped by code.
    browser
        .visit(
            &format!("{}/ui/#/diagnostics", app.base),
            "the diagnostics",
            "document.querySelector('#diagnostics summary code')?.textContent",
        )
        .await;
    browser.screenshot("09-diagnostics").await;

    // Nothing outside the server's own origin was asked for.
    let host = app.base.trim_start_matches("http://").to_owned();
    let outside: Vec<&String> = browser
        .requests
        .iter()
        .filter(|u| {
            !(u.starts_with(&format!("http://{host}/"))
                || u.starts_with(&format!("ws://{host}/"))
                || u.starts_with("about:")
                || u.starts_with("data:"))
        })
        .collect();
    assert!(
        outside.is_empty(),
        "requests outside the origin: {outside:?}"
    );
    assert!(
        browser
            .requests
            .iter()
            .any(|u| u.contains("/api/v2/ws?ticket=")),
        "the WebSocket went through a ticket: {:?}",
        browser.requests
    );
}
