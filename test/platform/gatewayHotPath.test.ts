/**
 * The gateway's hot path (docs/performance.md): the fast path for plain sync
 * calls answers exactly what the Fastify route answers, each call writes one
 * info log line, and the memo of verified keys never outlives a revocation.
 * Behaviour only; the benchmark (npm run bench) reports the speed.
 */
import { afterAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { beforeAllOrFailEach, TempDirs, deploy } from "../helpers/support";

describe("gateway hot path", () => {
  let p: TestPlatform;
  const dirs = new TempDirs();
  let callerKey: string;

  beforeAllOrFailEach(async () => {
    p = await startTestPlatform({ database: "pglite" });
    const k = await p.client.createKey("API", "hot path caller");
    callerKey = `${k.key_id}:${k.key_secret}`;
    await deploy(p.client, "hot", "main", dirs.example());
  });
  afterAll(async () => {
    await p?.stop();
    dirs.removeAll();
  });

  /** A call with the given content type: `application/json` takes the fast path, anything else Fastify's route. */
  const call = async (path: string, contentType: string, o: { key?: string; body?: string } = {}) => {
    const headers: Record<string, string> = { "content-type": contentType };
    if (o.key) headers.authorization = `Key ${o.key}`;
    const res = await fetch(p.url + path, { method: "POST", headers, body: o.body ?? JSON.stringify({ prompt: "HI" }) });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };

  it("answers a plain sync call the same on the fast path and through Fastify: success and each error", async () => {
    const cases: [string, string, { key?: string; body?: string }][] = [
      ["ok", "/run/local/hot", { key: p.key }],
      ["app's own 422", "/run/local/hot", { key: p.key, body: JSON.stringify({}) }],
      ["no key", "/run/local/hot", {}],
      ["wrong secret", "/run/local/hot", { key: `${callerKey.split(":")[0]}:wrong` }],
      ["unknown app", "/run/local/nope", { key: p.key }],
      ["reserved path", "/run/local/hot/health", { key: p.key }],
      ["reserved prefix", "/run/local/hot/_fal/cancel", { key: p.key }],
      ["no such endpoint", "/run/local/hot/healthy", { key: p.key }],
    ];
    for (const [what, path, o] of cases) {
      const fast = await call(path, "application/json", o);
      const slow = await call(path, "text/plain", o);
      expect(fast.status, what).toBe(slow.status);
      expect(fast.headers.get("content-type"), what).toBe(slow.headers.get("content-type"));
      expect(fast.headers.get("retry-after"), what).toBe(slow.headers.get("retry-after"));
      if (fast.status === 200) {
        expect(fast.headers.get("x-fal-request-id"), what).toMatch(/^[0-9a-f-]{36}$/);
        expect(slow.headers.get("x-fal-request-id"), what).toMatch(/^[0-9a-f-]{36}$/);
        expect(JSON.parse(fast.text), what).toEqual(JSON.parse(slow.text));
      } else {
        expect(fast.text, what).toBe(slow.text);
      }
      // The gateway's own refusals in fal's shape (the app's answers pass through as the app wrote them).
      if (fast.status >= 400 && !["app's own 422", "no such endpoint"].includes(what)) expect(Object.keys(JSON.parse(fast.text)), what).toEqual(["detail", "code"]);
    }
  });

  it("writes one info line per sync call: `sync request` with the call's ids, and no `http request` beside it", async () => {
    for (const contentType of ["application/json", "text/plain"]) {
      const from = p.logs.length;
      const res = await call("/run/local/hot", contentType, { key: p.key });
      expect(res.status).toBe(200);
      // The access line is written before the answer; give the server's onResponse a moment all the same.
      await new Promise((r) => setTimeout(r, 50));
      const lines = p.logs.slice(from).filter((l) => l.level === "info" && l.msg !== "runner output");
      expect(lines.map((l) => l.msg), contentType).toEqual(["sync request"]);
      expect(lines[0]).toMatchObject({ request_id: res.headers.get("x-fal-request-id"), app: "hot", env: "main", status: 200, method: "POST", endpoint: "local/hot" });
      expect(typeof lines[0].runner_id).toBe("string");
      expect(JSON.stringify(lines[0])).not.toContain(p.key.split(":")[1]);
    }
    // An error is still one line: the server's own.
    const from = p.logs.length;
    expect((await call("/run/local/nope", "application/json", { key: p.key })).status).toBe(404);
    await new Promise((r) => setTimeout(r, 50));
    expect(p.logs.slice(from).filter((l) => l.level === "info").map((l) => [l.msg, l.status, l.path])).toEqual([["http request", 404, "/run/local/nope"]]);
  });

  it("a key revoked on this process stops working on its next call, though its secret was verified just before", async () => {
    const k = await p.client.createKey("ADMIN", "revoked soon");
    const key = `${k.key_id}:${k.key_secret}`;
    for (let i = 0; i < 3; i++) expect((await call("/run/local/hot", "application/json", { key })).status).toBe(200);
    await p.client.revokeKey(k.key_id);
    expect((await call("/run/local/hot", "application/json", { key })).status).toBe(401);
    expect((await call("/run/local/hot", "text/plain", { key })).status).toBe(401);
  });
});
