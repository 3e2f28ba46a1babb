// `cargo xtask bench --instances`: submits tasks to instance A and times until a WebSocket
// client of A and one of B hear each succeed (submit → `task` event with status `succeeded`).
// Node's own WebSocket client (`node --experimental-websocket` on Node 20).
const [a, b, key, runs] = [process.argv[2], process.argv[3], process.argv[4], Number(process.argv[5] || 50)];
async function ticket(base) {
  const r = await fetch(`${base}/api/v2/ws-ticket`, { method: "POST", headers: { authorization: `Bearer ${key}` } });
  return (await r.json()).data.ticket;
}
async function open(base) {
  const ws = new WebSocket(`${base.replace("http", "ws")}/api/v2/ws?ticket=${await ticket(base)}`);
  const waiting = new Map();
  const seen = new Map();
  ws.onmessage = (m) => {
    const e = JSON.parse(m.data);
    if (e.event !== "task" || e.data.status !== "succeeded") return;
    const now = performance.now();
    if (waiting.has(e.data.id)) {
      waiting.get(e.data.id)(now);
      waiting.delete(e.data.id);
    } else {
      seen.set(e.data.id, now); // heard before the submit's answer arrived
    }
  };
  await new Promise((ok) => (ws.onopen = ok));
  ws.send(JSON.stringify({ type: "subscribe", topics: ["tasks"] }));
  await new Promise((ok) => setTimeout(ok, 300));
  const until = (id) => new Promise((ok) => (seen.has(id) ? ok(seen.get(id)) : waiting.set(id, ok)));
  return { ws, until };
}
const [onA, onB] = [await open(a), await open(b)];
const local = [], remote = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const r = await fetch(`${a}/command`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ command: `/tools:lint run-${i}` }),
  });
  const id = (await r.json()).data.id;
  const seenA = onA.until(id);
  const seenB = onB.until(id);
  const [ta, tb] = await Promise.all([seenA, seenB]);
  local.push(ta - t0); remote.push(tb - t0);
}
const q = (xs, p) => { const s = [...xs].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1); };
const gap = remote.map((r, i) => r - local[i]);
console.log(`runs ${runs}: submit on A → succeeded seen on A: p50 ${q(local, 0.5)} ms, p99 ${q(local, 0.99)} ms; on B: p50 ${q(remote, 0.5)} ms, p99 ${q(remote, 0.99)} ms; B after A: p50 ${q(gap, 0.5)} ms, p99 ${q(gap, 0.99)} ms`);
onA.ws.close(); onB.ws.close();
