/**
 * What a careless operator or a hostile caller must not be able to do
 * (docs/operations.md, Security), each reproduced against the platform:
 *  - start a second platform on a PGlite data directory in use;
 *  - lock the platform for good by revoking its last ADMIN key;
 *  - keep using a revoked ADMIN key on another process of the same database;
 *  - make the platform POST webhooks to loopback, link-local or private addresses;
 *  - hang sync calls on a revision whose setup crashes, also across a rollback.
 */
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, testPostgresServer, TEST_ADMIN_KEY, type TestPlatform } from "../helpers/testPlatform";
import { deployDir, deployWorker, FIXTURE_APPS } from "../helpers/deploy";
import { createTestDatabase, dropTestDatabase } from "../helpers/postgres";
import { crashingAppSource, raw, TempDirs } from "../helpers/support";
import { startPlatform } from "../../src/platform/startPlatform";
import { checkWebhookUrl, WebhookPolicy } from "../../src/platform/queue/webhookTarget";

const run = promisify(execFile);
const REPO = resolve(__dirname, "../..");
const dirs = new TempDirs();
let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ database: "pglite" });
}, 60_000);

afterAll(async () => {
  await platform?.stop();
  dirs.removeAll();
});

describe("one platform per PGlite data directory", () => {
  it("refuses a second platform in this process, naming the directory and the holder", async () => {
    const err = await startPlatform({ dataDir: platform.dataDir, port: 0, databaseUrl: "", logLevel: "error" }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toContain(`the data directory ${platform.dataDir} is in use by another platform process (pid ${process.pid}`);
  });

  it("refuses a second platform process: exit code 1 and the reason, and the first keeps its data", async () => {
    const before = await raw(platform.url, "POST", "/v1/environments", { key: platform.key, body: { name: "kept" } });
    expect(before.status).toBe(201);
    const second = await run(process.execPath, [join(REPO, "bin", "falctl.cjs"), "platform", "start", "--data-dir", platform.dataDir, "--port", "0"], {
      env: { ...process.env, DATABASE_URL: "" },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("is in use by another platform process");
    const envs = (await platform.client.listEnvironments()).map((e) => e.name);
    expect(envs).toContain("kept");
  }, 90_000);
});

describe("ADMIN keys", () => {
  it("the last ADMIN key cannot be revoked; once another exists it can", async () => {
    const [keyId] = TEST_ADMIN_KEY.split(":");
    const refused = await raw(platform.url, "DELETE", `/v1/keys/${keyId}`, { key: platform.key });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain("last ADMIN key");
    expect((await raw(platform.url, "GET", "/v1/keys", { key: platform.key })).status).toBe(200);

    const second = await raw(platform.url, "POST", "/v1/keys", { key: platform.key, body: { scope: "ADMIN", alias: "second" } });
    const secondKey = `${second.body.key_id}:${second.body.key_secret}`;
    // An API key may go at any time.
    const api = await raw(platform.url, "POST", "/v1/keys", { key: platform.key, body: { scope: "API" } });
    expect((await raw(platform.url, "DELETE", `/v1/keys/${api.body.key_id}`, { key: platform.key })).status).toBe(204);
    expect((await raw(platform.url, "DELETE", `/v1/keys/${second.body.key_id}`, { key: platform.key })).status).toBe(204);
    // And the first is the last one again.
    expect((await raw(platform.url, "DELETE", `/v1/keys/${keyId}`, { key: platform.key })).status).toBe(409);
    expect((await raw(platform.url, "GET", "/v1/keys", { key: secondKey })).status).toBe(401);
  });

  it("a key revoked by one process cannot manage anything on another process at once", async () => {
    const server = testPostgresServer();
    const url = await createTestDatabase(server);
    const a = await startTestPlatform({ databaseUrl: url });
    const b = await startTestPlatform({ databaseUrl: url });
    try {
      const made = await raw(a.url, "POST", "/v1/keys", { key: a.key, body: { scope: "ADMIN", alias: "to revoke" } });
      const victim = `${made.body.key_id}:${made.body.key_secret}`;
      // B has it in its cache now.
      expect((await raw(b.url, "GET", "/v1/keys", { key: victim })).status).toBe(200);
      expect((await raw(a.url, "DELETE", `/v1/keys/${made.body.key_id}`, { key: a.key })).status).toBe(204);
      const minted = await raw(b.url, "POST", "/v1/keys", { key: victim, body: { scope: "ADMIN" } });
      expect(minted.status).toBe(401);
    } finally {
      await a.stop();
      await b.stop();
      await dropTestDatabase(server, url);
    }
  }, 90_000);
});

describe("webhook targets", () => {
  const refusedTargets = [
    "http://127.0.0.1:9/internal",
    "http://localhost:9/",
    "http://0x7f000001/",
    "http://[::1]:9/",
    "http://[::ffff:127.0.0.1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.1.2.3/",
    "http://192.168.0.10/",
    "http://0.0.0.0:9/",
    "file:///etc/passwd",
    "http://user:pw@example.com/",
  ];

  it("a public app's caller cannot point the platform at loopback, link-local or private addresses", async () => {
    await deployWorker(platform.client, { authMode: "public" });
    for (const target of refusedTargets) {
      const res = await fetch(`${platform.url}/queue/local/worker?fal_webhook=${encodeURIComponent(target)}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect({ target, status: res.status }).toEqual({ target, status: 422 });
      expect(((await res.json()) as { detail: string }).detail).toContain("fal_webhook");
    }
    // Nothing was queued by any of them.
    const [{ n }] = await platform.db.query<{ n: string }>("SELECT count(*)::text AS n FROM requests WHERE webhook_url IS NOT NULL");
    expect(n).toBe("0");
  }, 60_000);

  it("the operator's allow-list opens a host or a range, and nothing else", async () => {
    const policy = new WebhookPolicy(["127.0.0.1", "10.0.0.0/8", "hooks.internal"]);
    await expect(checkWebhookUrl("http://127.0.0.1:9/x", policy)).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl("http://10.9.9.9/x", policy)).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl("https://hooks.internal/x", policy)).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl("http://192.168.1.1/x", policy)).rejects.toThrow(/not a public address/);
    await expect(checkWebhookUrl("http://[::1]/x", policy)).rejects.toThrow(/not a public address/);
    expect(() => new WebhookPolicy(["not a host!"])).toThrow(/not a host name, an IP address or a CIDR range/);
  });
});

describe("sync calls to a revision whose setup crashes", () => {
  it("fail fast with 503 and the reason instead of hanging until request_timeout", async () => {
    await deployDir(platform.client, { dir: join(FIXTURE_APPS, "crashing"), sourceObject: "app.py::Crashing", name: "crashing", scaling: { request_timeout: 600 } });
    const started = Date.now();
    const first = await raw(platform.url, "POST", "/run/local/crashing", { key: platform.key, body: {} });
    expect(first.status).toBe(503);
    // fal's error shape, which the official clients show: {detail}, plus a machine-readable code.
    expect(first.body.code).toBe("revision_unavailable");
    expect(first.body.detail).toContain("crash backoff");
    expect(first.body.detail).toContain("model weights not found");
    expect(Date.now() - started).toBeLessThan(60_000);
    // While the backoff lasts, a call is turned away at once, with when to come back.
    const res = await fetch(`${platform.url}/run/local/crashing`, { method: "POST", headers: { authorization: `Key ${platform.key}`, "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(503);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  }, 90_000);

  it("a call waiting for a crashing revision follows a rollback to the good one", async () => {
    const good = await deployDir(platform.client, {
      dir: join(FIXTURE_APPS, "worker"),
      sourceObject: "app.py::Worker",
      name: "flaky",
      scaling: { request_timeout: 600 },
    });
    const brokenDir = dirs.app(crashingAppSource("broken on purpose", 6));
    await deployDir(platform.client, { dir: brokenDir, sourceObject: "app.py::Broken", name: "flaky", scaling: { request_timeout: 600 } });
    const call = raw(platform.url, "POST", "/run/local/flaky", { key: platform.key, body: { value: "served" } });
    // The call waits for the broken revision's runner; the operator rolls back meanwhile.
    await new Promise((r) => setTimeout(r, 1500));
    await platform.client.updateApp("flaky", "main", { revision_id: good.revision.id });
    const answer = await call;
    expect(answer.status).toBe(200);
    expect(answer.body.value).toBe("served");
  }, 120_000);
});
