//! Small MCP servers for tests: one stdio server that speaks plain JSON-RPC and misbehaves on
//! request, run by `python3` (on every machine the suites run on).
//!
//! Modes (the first argument): `healthy` (two tools, one prompt, and a grandchild process that
//! sleeps, so tests can see the whole group go), `hang` (never answers `initialize`), `exit`
//! (says why on stderr and exits 3), `garbage` (answers with lines that are not JSON), `flood`
//! (writes megabytes to stderr, then answers), `noisy` (prints a banner on stdout, then
//! answers), `slow-tools` (answers `initialize`, never
//! `tools/list`). Every mode writes `FIXTURE_TOKEN` from its environment to stderr, so tests can
//! check that secrets are scrubbed. The second argument is a marker put on the command line of
//! every process the server starts, for [`crate::media::processes_naming`].

use std::path::{Path, PathBuf};

const SERVER: &str = r#"import json, os, subprocess, sys, time

mode = sys.argv[1]
marker = sys.argv[2] if len(sys.argv) > 2 else "mcp-fixture"
sys.stderr.write("starting; token is %s\n" % os.environ.get("FIXTURE_TOKEN", "none"))
sys.stderr.flush()

if mode == "exit":
    sys.stderr.write("fatal: no configuration found\n")
    sys.exit(3)
if mode == "healthy":
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", marker + "-child"])
if mode == "noisy":
    sys.stdout.write("fixture MCP server listening on stdio\n")
    sys.stdout.flush()
if mode == "flood":
    chunk = "x" * 65536 + "\n"
    for _ in range(200):
        sys.stderr.write(chunk)
    sys.stderr.flush()

def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    request = json.loads(line)
    method = request.get("method")
    rid = request.get("id")
    if rid is None:
        continue
    if mode == "hang":
        continue
    if mode == "garbage":
        sys.stdout.write("Server ready on stdio!\n{not json at all\n")
        sys.stdout.flush()
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": request["params"]["protocolVersion"],
            "capabilities": {"tools": {}, "prompts": {}},
            "serverInfo": {"name": "fixture", "version": "1.2.3"},
        }})
    elif method == "tools/list":
        if mode == "slow-tools":
            continue
        send({"jsonrpc": "2.0", "id": rid, "result": {"tools": [
            {"name": "search", "description": "Searches the fixture", "inputSchema": {"type": "object"}},
            {"name": "fetch", "inputSchema": {"type": "object"}},
        ]}})
    elif method == "prompts/list":
        send({"jsonrpc": "2.0", "id": rid, "result": {"prompts": [{"name": "summarize"}]}})
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": rid, "result": {}})
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no such method"}})
"#;

/// Writes the fixture server into `dir` and returns its path; run it as
/// `python3 <path> <mode> <marker>`.
pub fn stdio_server(dir: &Path) -> PathBuf {
    let path = dir.join("mcp_fixture.py");
    std::fs::write(&path, SERVER).expect("write the MCP fixture");
    path
}
