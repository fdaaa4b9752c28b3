// Replays the bad-input corpus (tests/corpus/manifest.json) against the running Worker over HTTP:
// every case gets the manifest's status (400 with the decoder's field and reason for a broken
// envelope, 200 with the bad event dropped and reported for a valid envelope holding it, 413 for
// bodies over 64 KiB, 415 for a content type the Worker does not take), with CORS headers a page
// can read, never a 5xx, and the Worker is still healthy afterwards. tests/corpus.rs replays the
// same files through Envelope::decode_partial.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync } from "node:fs";
import path from "node:path";
import { generate, DIR as CORPUS } from "../../tests/corpus/generate.mjs";
import { startWorker } from "./harness.mjs";

const cases = JSON.parse(readFileSync(path.join(CORPUS, "manifest.json"), "utf8"));

/**
 * POSTs `body` and resolves with { status, text }. Uses node:http rather than fetch so that a
 * Worker answering 413 before it has read a 10 MB body is still seen as a response (the upload
 * then fails with EPIPE / ECONNRESET, which is expected, not an error).
 */
function post(url, headers, body) {
  return new Promise((resolve, reject) => {
    let answered = false;
    // A fresh connection per case: after an early 413 the server may drop a reused one.
    const req = http.request(url, { method: "POST", agent: false, headers: { ...headers, "content-length": body.length, connection: "close" } }, (res) => {
      answered = true;
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", (e) => {
      if (!answered) reject(e);
    });
    req.end(body);
  });
}

let w;

before(async () => {
  generate(); // writes only the generated files that are missing (the large ones are not in git)
  w = await startWorker();
});

after(async () => {
  await w?.stop();
});

test("the corpus has its cases", () => {
  assert.ok(cases.length >= 34, `only ${cases.length} cases`);
});

for (const c of cases) {
  test(`${c.file}: ${c.about}`, async () => {
    const body = readFileSync(path.join(CORPUS, c.file));
    const res = await post(`${w.url}/v1/batch`, { "content-type": c.content_type, origin: "http://127.0.0.1" }, body);
    assert.ok(res.status < 500, `${c.file}: server error ${res.status}: ${res.text.slice(0, 300)}`);
    assert.equal(res.status, c.status, `${c.file}: status ${res.status}: ${res.text.slice(0, 300)}`);
    assert.equal(res.headers["access-control-allow-origin"], "http://127.0.0.1", `${c.file}: no CORS headers`);
    assert.match(res.headers["access-control-expose-headers"] ?? "", /Retry-After/i, `${c.file}: Retry-After not exposed`);
    if (c.status === 200) {
      const json = JSON.parse(res.text);
      assert.equal(json.accepted, c.accepted, `${c.file}: ${res.text}`);
      assert.ok(json.dropped >= 1, `${c.file}: ${res.text}`);
      assert.equal(json.errors[0].field, c.field, `${c.file}: ${res.text}`);
      assert.ok(json.errors[0].reason.includes(c.reason_contains), `${c.file}: reason ${JSON.stringify(json.errors[0].reason)} lacks ${JSON.stringify(c.reason_contains)}`);
    }
    if (c.status === 400) {
      let json;
      try {
        json = JSON.parse(res.text);
      } catch {
        assert.fail(`${c.file}: 400 without a JSON body: ${res.text.slice(0, 300)}`);
      }
      assert.equal(json.error, "invalid_batch", `${c.file}: ${res.text}`);
      assert.equal(json.field, c.field, `${c.file}: ${res.text}`);
      assert.equal(typeof json.reason, "string", `${c.file}: ${res.text}`);
      assert.ok(json.reason.includes(c.reason_contains), `${c.file}: reason ${JSON.stringify(json.reason)} lacks ${JSON.stringify(c.reason_contains)}`);
    }
  });
}

test("the Worker is still healthy after the whole corpus", async () => {
  const res = await fetch(`${w.url}/healthz`);
  await res.arrayBuffer();
  assert.equal(res.status, 200);
});
