// A webhook receiver for the integration tests, verifying with the
// standardwebhooks package (not with anything Tollgate wrote).
//
// Usage: node tests/webhooks/receiver.mjs DIR
//
// Listens on 127.0.0.1 on a free port and writes the port to DIR/port.
// Every path but /_admin/* is an endpoint. The test drives it over HTTP:
//   PUT  /_admin/secrets?path=/h1   {"secrets": ["whsec_...", ...]}
//   PUT  /_admin/plan?path=/h1      {"answers": [{"status": 500, "delay_ms": 0,
//                                     "retry_after": "1"}, ...]}   (then 200s)
//   GET  /_admin/received?path=/h1  [{"id", "timestamp", "signature", "body",
//                                     "verified", "verified_by": [bool per secret],
//                                     "status"}, ...]
// A delivery is recorded when it arrives (before any delay), so a test can
// see a request that never got its answer.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

let Webhook;
try {
  ({ Webhook } = await import("standardwebhooks"));
} catch (e) {
  console.error(
    "receiver: cannot load the npm package standardwebhooks (" + e.message + "); run `npm ci`",
  );
  process.exit(3);
}

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node receiver.mjs DIR");
  process.exit(2);
}

const secrets = new Map(); // path -> [secret]
const plans = new Map(); // path -> [answer]
const received = new Map(); // path -> [record]

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function verifyWith(secret, body, headers) {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  }
}

function reply(res, status, obj, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(obj === undefined ? "" : JSON.stringify(obj));
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const body = await readBody(req);
  if (url.pathname.startsWith("/_admin/")) {
    const p = url.searchParams.get("path") || "/";
    if (req.method === "PUT" && url.pathname === "/_admin/secrets") {
      secrets.set(p, JSON.parse(body).secrets);
      return reply(res, 204);
    }
    if (req.method === "PUT" && url.pathname === "/_admin/plan") {
      plans.set(p, JSON.parse(body).answers);
      return reply(res, 204);
    }
    if (req.method === "GET" && url.pathname === "/_admin/received")
      return reply(res, 200, received.get(p) || []);
    return reply(res, 404, { error: "no such admin route" });
  }
  const headers = {
    "webhook-id": req.headers["webhook-id"] || "",
    "webhook-timestamp": req.headers["webhook-timestamp"] || "",
    "webhook-signature": req.headers["webhook-signature"] || "",
  };
  const keys = secrets.get(url.pathname) || [];
  const verifiedBy = keys.map((s) => verifyWith(s, body, headers));
  const answer = (plans.get(url.pathname) || []).shift() || { status: 200 };
  const rec = {
    id: headers["webhook-id"],
    timestamp: headers["webhook-timestamp"],
    signature: headers["webhook-signature"],
    content_type: req.headers["content-type"] || "",
    method: req.method,
    body,
    verified: verifiedBy.some(Boolean),
    verified_by: verifiedBy,
    status: answer.status,
  };
  if (!received.has(url.pathname)) received.set(url.pathname, []);
  received.get(url.pathname).push(rec);
  if (answer.delay_ms) await new Promise((r) => setTimeout(r, answer.delay_ms));
  const extra = answer.retry_after ? { "retry-after": answer.retry_after } : {};
  reply(res, answer.status, { ok: answer.status < 300 }, extra);
});

server.listen(0, "127.0.0.1", () => {
  const tmp = path.join(dir, "port.tmp");
  fs.writeFileSync(tmp, String(server.address().port));
  fs.renameSync(tmp, path.join(dir, "port"));
});
