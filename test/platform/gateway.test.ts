/**
 * Who may call an app through the sync gateway (POST /run/<owner>/<alias>),
 * by its auth mode: private (the owner's keys), public (anyone), shared (any
 * valid key). Runs on PGlite and on PostgreSQL.
 */
import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import * as repo from "../../src/platform/store/repo";
import { hashSecret } from "../../src/platform/keys";
import { DATABASES, beforeAllOrFailEach, TempDirs, deploy, raw } from "../helpers/support";
import { deployWorker } from "../helpers/deploy";

describe.each(DATABASES)("sync gateway auth modes on %s", (database) => {
  let p: TestPlatform;
  const dirs = new TempDirs();
  /** An API key of this platform's owner (`local`). */
  let ownKey: string;
  /** A valid API key of another owner. */
  let otherKey: string;
  const path = "/run/local/gate";
  const call = (o: { key?: string; authorization?: string } = {}) => raw(p.url, "POST", path, { ...o, body: { prompt: "GO" } });

  beforeAllOrFailEach(async () => {
    p = await startTestPlatform({ database });
    const k = await p.client.createKey("API", "own caller");
    ownKey = `${k.key_id}:${k.key_secret}`;
    const secret = randomBytes(24).toString("base64url");
    await repo.insertKey(p.db, { keyId: "otherteam01", secretHash: hashSecret(secret), scope: "API", owner: "other-team", alias: "theirs" });
    otherKey = `otherteam01:${secret}`;
    await deploy(p.client, "gate", "main", dirs.example());
  });
  afterAll(async () => {
    await p?.stop();
    dirs.removeAll();
  });

  it("private (the default): 401 without a key or with a wrong one, 403 with another owner's key, 200 with the owner's", async () => {
    expect((await p.client.getApp("gate")).auth_mode).toBe("private");
    const none = await call();
    expect(none.status).toBe(401);
    expect(none.body.detail).toContain("is private");
    expect((await call({ key: `${ownKey.split(":")[0]}:wrong-secret` })).status).toBe(401);
    const other = await call({ key: otherKey });
    expect(other.status).toBe(403);
    expect(other.body.code).toBe("forbidden");
    const own = await call({ key: ownKey });
    expect(own.status).toBe(200);
    expect(own.body.image.split("\n")).toHaveLength(7);
  });

  it("public: anyone may call without a key", async () => {
    await p.client.updateApp("gate", "main", { auth_mode: "public" });
    const none = await call();
    expect(none.status).toBe(200);
    expect(none.body.image).toContain("#");
    expect((await call({ key: otherKey })).status).toBe(200);
  });

  it("shared: any valid key, of any owner; none or a wrong one is 401", async () => {
    await p.client.updateApp("gate", "main", { auth_mode: "shared" });
    const none = await call();
    expect(none.status).toBe(401);
    expect(none.body.detail).toContain("is shared");
    expect((await call({ key: "otherteam01:not-it" })).status).toBe(401);
    expect((await call({ key: otherKey })).status).toBe(200);
    expect((await call({ key: ownKey })).status).toBe(200);
    expect((await call({ key: p.key })).status).toBe(200);
  });

  it("a revoked key no longer calls a shared app", async () => {
    const k = await p.client.createKey("API", "revoked soon");
    const key = `${k.key_id}:${k.key_secret}`;
    expect((await call({ key })).status).toBe(200);
    await p.client.revokeKey(k.key_id);
    expect((await call({ key })).status).toBe(401);
  });

  it("answers 404 for an app that does not exist, whatever the key", async () => {
    const res = await raw(p.url, "POST", "/run/local/no-such-app", { key: p.key, body: {} });
    expect(res.status).toBe(404);
    expect((await raw(p.url, "POST", "/run/other-team/gate", { key: otherKey, body: {} })).status).toBe(404);
  });

  /** A gateway call with the admin key (owner local) and extra headers. */
  const send = async (method: string, path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(p.url + path, {
      method,
      headers: { authorization: `Key ${p.key}`, "content-type": "application/json", ...headers },
      body: method === "GET" ? undefined : JSON.stringify({ prompt: "GO" }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const forwarded = () => p.logs.filter((l) => l.msg === "sync request").length;
  const queued = async () => Number((await p.db.query<{ n: string }>("SELECT count(*) AS n FROM requests"))[0].n);

  it("never forwards a runner's reserved paths (/health, /_fal/...): 404 through /run, /queue and /fal/proxy", async () => {
    expect((await send("POST", "/run/local/gate")).status).toBe(200);
    const [syncBefore, queuedBefore] = [forwarded(), await queued()];
    const calls: [string, string, Record<string, string>?][] = [
      ["POST", "/run/local/gate/health"],
      ["POST", "/run/local/gate/health/"],
      ["POST", "/run/local/gate/_fal/cancel"],
      ["POST", "/run/local/gate/_fal"],
      ["POST", "/run/local/gate//_fal/cancel"],
      ["POST", "/run/local/gate/%5Ffal/cancel"],
      ["POST", "/run/local/gate/x/%2E%2E/_fal/cancel"],
      ["POST", "/queue/local/gate/health"],
      ["POST", "/queue/local/gate/_fal/cancel"],
      ["GET", "/queue/local/gate/_fal/anything"],
      ["POST", "/fal/proxy", { "x-fal-target-url": "https://fal.run/local/gate/health" }],
      ["POST", "/fal/proxy", { "x-fal-target-url": "https://fal.run/local/gate/_fal/cancel" }],
      ["POST", "/fal/proxy", { "x-fal-target-url": "https://queue.fal.run/local/gate/_fal/cancel" }],
    ];
    for (const [method, path, headers] of calls) {
      const res = await send(method, path, headers);
      const what = `${method} ${path} ${JSON.stringify(headers ?? {})}`;
      expect(res.status, what).toBe(404);
      expect(res.body.detail, what).toContain("is reserved by the runner");
    }
    expect(forwarded()).toBe(syncBefore);
    expect(await queued()).toBe(queuedBefore);
    // A path that only looks alike still reaches the runner (which has no such endpoint).
    await send("POST", "/run/local/gate/healthy");
    expect(forwarded()).toBe(syncBefore + 1);
  });

  it("refuses an X-Fal-Request-Timeout outside (0, 86400] on a queue submit with 422 naming header, value and range", async () => {
    const before = await queued();
    for (const value of ["1e300", "86401", "0", "-5", "NaN", "Infinity", "soon", ""]) {
      const res = await send("POST", "/queue/local/gate", { "x-fal-request-timeout": value });
      expect(res.status, value).toBe(422);
      expect(res.body.code).toBe("invalid");
      expect(res.body.detail).toContain("X-Fal-Request-Timeout");
      expect(res.body.detail).toContain("at most 86400");
      expect(res.body.detail).toContain(JSON.stringify(value));
    }
    expect(await queued()).toBe(before);
  });
});

describe("sync call deadlines and callers who leave", () => {
  let p: TestPlatform;

  beforeAllOrFailEach(async () => {
    p = await startTestPlatform({ database: "pglite" });
    // One runner with one slot, and a one-second request_timeout.
    await deployWorker(p.client, { name: "slow", scaling: { min_concurrency: 1, max_concurrency: 1, request_timeout: 1 }, codeSettings: { max_multiplexing: 1 } });
    expect((await raw(p.url, "POST", "/run/local/slow", { key: p.key, body: {} })).status).toBe(200);
  });
  afterAll(async () => {
    await p?.stop();
  });

  it("a runner slower than request_timeout: 504 at the deadline, not the app's answer; a call waiting behind it gets 504 too, and the runner serves again", async () => {
    const started = Date.now();
    const [first, second] = await Promise.all([
      raw(p.url, "POST", "/run/local/slow", { key: p.key, body: { sleep: 20 } }),
      raw(p.url, "POST", "/run/local/slow", { key: p.key, body: {} }),
    ]);
    // Both ended by the deadline (the app would have taken 20 s).
    expect(Date.now() - started).toBeLessThan(15_000);
    for (const r of [first, second]) {
      expect(r.status).toBe(504);
      expect(r.body.code).toBe("timeout");
      expect(r.body.detail).toContain("request_timeout (1 s)");
    }
    const again = await raw(p.url, "POST", "/run/local/slow", { key: p.key, body: {} });
    expect(again.status).toBe(200);
  });

  it("a caller who hangs up while waiting for a runner does not take the runner when it frees up", async () => {
    await p.client.updateApp("slow", "main", { scaling: { request_timeout: 30 } });
    const busy = raw(p.url, "POST", "/run/local/slow", { key: p.key, body: { sleep: 2 } });
    await new Promise((r) => setTimeout(r, 300));
    const gone = new AbortController();
    const waiting = fetch(`${p.url}/run/local/slow`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Key ${p.key}` },
      body: JSON.stringify({ sleep: 6 }),
      signal: gone.signal,
    }).catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 300));
    gone.abort();
    expect(await waiting).toBeInstanceOf(Error);
    expect((await busy).status).toBe(200);
    // The runner is free at once for the next caller: the one that left was not served its 6 s call.
    const t0 = Date.now();
    const next = await raw(p.url, "POST", "/run/local/slow", { key: p.key, body: {} });
    expect(next.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(4000);
  });
});
