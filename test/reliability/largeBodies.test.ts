/**
 * Big bodies must not hurt anyone else: a 30 MB queued body does not stall
 * another app's /run calls (PGlite runs one statement at a time, so the body
 * must not go through it), status polls do not read payloads, bodies over
 * the limit are refused with 413 and nothing stored, per-owner quotas answer
 * 429, and completed requests and their stored bodies go after retention.
 */
import { afterAll, describe, expect, it } from "vitest";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { beforeAllOrFailEach, DATABASES } from "../helpers/support";
import { deployWorker } from "../helpers/deploy";
import { result, status, submit, waitDone, type QueueTarget } from "../helpers/queue";
import * as qs from "../../src/platform/store/queueStore";
import { openPayloadStore } from "../../src/platform/store/payloadStore";
import { runRetentionOnce } from "../../src/platform/queue/retention";

const MB = 1024 * 1024;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
}

async function run(p: TestPlatform, endpoint: string, input: unknown): Promise<number> {
  const res = await fetch(`${p.url}/run/${endpoint}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Key ${p.key}` },
    body: JSON.stringify(input),
  });
  await res.arrayBuffer();
  return res.status;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Whether the platform still stores a body of this request outside its row. */
async function hasStoredBodies(p: TestPlatform, id: string): Promise<boolean> {
  if (p.db.kind === "pglite") {
    const root = join(p.dataDir, "payloads");
    return existsSync(root) && readdirSync(root).some((shard) => existsSync(join(root, shard, id)));
  }
  const [row] = await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM request_payloads WHERE request_id = $1", [id]);
  return row.n > 0;
}

describe("large bodies on PGlite", () => {
  let p: TestPlatform;
  let slow: QueueTarget;
  beforeAllOrFailEach(async () => {
    p = await startTestPlatform({ database: "pglite" });
    await deployWorker(p.client, { name: "slow", scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 300 } });
    await deployWorker(p.client, { name: "fast", scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 300 } });
    slow = { url: p.url, key: p.key, endpoint: "local/slow" };
    // Both runners up before anything is measured.
    expect(await run(p, "local/fast", { value: "warm" })).toBe(200);
    await waitDone(slow, await submit(slow, { value: "warm" }));
  });
  afterAll(async () => {
    await p?.stop();
  });

  it("a 30 MB queued body does not stall another app's /run, and completes with its result", async () => {
    const baseline: number[] = [];
    for (let i = 0; i < 10; i++) baseline.push((await timed(() => run(p, "local/fast", { value: i })))[1]);

    const big = "x".repeat(30_000_000);
    let done = false;
    const bigRequest = (async () => {
      const id = await submit(slow, { value: big, sleep: 0.5 });
      await waitDone(slow, id, 120_000);
      done = true;
      return id;
    })();
    bigRequest.catch(() => (done = true));
    const during: number[] = [];
    while (!done) {
      const [st, ms] = await timed(() => run(p, "local/fast", { value: "during" }));
      expect(st).toBe(200);
      during.push(ms);
      await new Promise((r) => setTimeout(r, 20));
    }
    const id = await bigRequest;
    const worst = Math.max(...during);
    console.log(
      `/run of another app: baseline median ${median(baseline).toFixed(1)} ms; while a 30 MB body was queued and processed: ` +
        `${during.length} calls, median ${median(during).toFixed(1)} ms, max ${worst.toFixed(1)} ms`,
    );
    // Before: one 30 MB body froze PGlite, and every /run with it, for ~20 s.
    expect(worst).toBeLessThan(3000);

    const r = await result(slow, id);
    expect(r.status).toBe(200);
    expect((r.body as { value: string }).value.length).toBe(big.length);
    expect((r.body as { value: string }).value).toBe(big);
    // Neither the payload nor the result is in the row.
    const row = (await qs.getRequest(p.db, id))!;
    expect(row.payload.length).toBe(0);
    expect(row.payload_ref).toBeTruthy();
    expect(row.result_ref).toBeTruthy();
    expect(Number(row.payload_size)).toBeGreaterThan(30_000_000);
    expect(await hasStoredBodies(p, id)).toBe(true);
  }, 180_000);

  it("a status poll does not read the payload", async () => {
    const bigId = await submit(slow, { value: "y".repeat(5 * MB), sleep: 0.2 });
    const tinyId = await submit(slow, { value: "tiny" });
    const st = (await qs.getRequestStatus(p.db, bigId))!;
    expect(st).not.toHaveProperty("payload");
    expect(st).not.toHaveProperty("result_body");
    expect(Number(st.payload_size)).toBeGreaterThan(5 * MB);

    const bigPolls: number[] = [];
    const tinyPolls: number[] = [];
    for (let i = 0; i < 10; i++) {
      bigPolls.push((await timed(() => status(slow, bigId)))[1]);
      tinyPolls.push((await timed(() => status(slow, tinyId)))[1]);
    }
    console.log(`status poll median: 5 MB request ${median(bigPolls).toFixed(1)} ms, tiny request ${median(tinyPolls).toFixed(1)} ms`);
    // Before: 0.5–0.9 s per poll of a 5 MB request, against a few ms for a tiny one.
    expect(median(bigPolls)).toBeLessThan(median(tinyPolls) * 5 + 50);
    await waitDone(slow, bigId, 60_000);
    await waitDone(slow, tinyId, 60_000);
  }, 120_000);
});

describe.each(DATABASES)("body limit, quotas and retention (%s)", (database) => {
  let p: TestPlatform;
  let hold: QueueTarget;
  let echo: QueueTarget;
  const RETENTION_MS = 1500;
  beforeAllOrFailEach(async () => {
    p = await startTestPlatform({
      database,
      maxBodyBytes: 1 * MB,
      ownerStorageQuotaBytes: 3 * MB,
      ownerQueueLimit: 4,
      requestRetentionMs: RETENTION_MS,
    });
    await deployWorker(p.client, { name: "hold", scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 300 } });
    await deployWorker(p.client, { name: "echo", scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 300 } });
    hold = { url: p.url, key: p.key, endpoint: "local/hold" };
    echo = { url: p.url, key: p.key, endpoint: "local/echo" };
    expect(await run(p, "local/echo", { value: "warm" })).toBe(200);
    expect(await run(p, "local/hold", { value: "warm" })).toBe(200);
  });
  afterAll(async () => {
    await p?.stop();
  });

  const countRequests = async () => (await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM requests"))[0].n;
  const post = (path: string, body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
    fetch(`${p.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Key ${p.key}`, ...headers },
      body,
      duplex: "half",
    } as RequestInit);

  it("a body over maxBodyBytes gets 413 naming the limit, and nothing is stored", async () => {
    const before = await countRequests();
    const body = JSON.stringify({ value: "z".repeat(2 * MB) });
    for (const path of ["/queue/local/echo", "/run/local/echo"]) {
      const res = await post(path, body);
      expect(res.status).toBe(413);
      const err = (await res.json()) as { code: string; detail: string };
      expect(err.code).toBe("payload_too_large");
      expect(err.detail).toContain("1 MiB");
    }
    // A chunked body (no content-length) that grows past the limit.
    const chunk = new TextEncoder().encode("a".repeat(256 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 8) c.enqueue(chunk);
        else c.close();
      },
    });
    const chunked = await post("/queue/local/echo", stream);
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as { detail: string }).detail).toContain("1 MiB");
    expect(await countRequests()).toBe(before);
    if (database === "pglite") {
      const root = join(p.dataDir, "payloads");
      expect(existsSync(root) ? readdirSync(root) : []).toEqual([]);
    } else {
      expect((await p.db.query<{ n: number }>("SELECT count(*)::int AS n FROM request_payloads"))[0].n).toBe(0);
    }
  });

  it("an owner over its storage quota or its queue limit gets 429", async () => {
    const ids: string[] = [];
    const pad = "p".repeat(900 * 1024);
    // Three ~0.9 MB requests fit in 3 MiB; they wait behind each other (one runner, long sleeps).
    for (let i = 0; i < 3; i++) ids.push(await submit(hold, { value: pad, sleep: 60 }));
    const over = await post("/queue/local/hold", JSON.stringify({ value: pad, sleep: 60 }));
    expect(over.status).toBe(429);
    const e1 = (await over.json()) as { code: string; detail: string };
    expect(e1.code).toBe("storage_quota");
    expect(e1.detail).toContain(String(3 * MB));

    // Queue limit 4: at most two more tiny ones wait (two or three of the above are waiting).
    let refused: { code: string; detail: string } | undefined;
    for (let i = 0; i < 4 && !refused; i++) {
      const res = await post("/queue/local/hold", JSON.stringify({ value: "t", sleep: 60 }));
      if (res.status === 200) ids.push(((await res.json()) as { request_id: string }).request_id);
      else {
        expect(res.status).toBe(429);
        refused = (await res.json()) as { code: string; detail: string };
      }
    }
    expect(refused?.code).toBe("queue_limit");
    expect(refused?.detail).toContain("the limit is 4");
    expect(ids.length).toBeLessThanOrEqual(5);
    for (const id of ids) await fetch(`${p.url}/queue/local/hold/requests/${id}/cancel`, { method: "PUT", headers: { authorization: `Key ${p.key}` } });
    // None may stay waiting (the queue limit is per owner). Watched in the store: with a 1.5 s
    // retention a status poll may already answer 404. The one in progress may finish its sleep.
    for (const id of ids) {
      await expect.poll(async () => (await qs.getRequestStatus(p.db, id))?.status ?? "GONE", { timeout: 30_000 }).not.toBe("IN_QUEUE");
    }
  }, 120_000);

  it("retention deletes completed requests and their stored bodies", async () => {
    const payloads = openPayloadStore(p.db, p.dataDir);
    const value = "r".repeat(200 * 1024);
    const id = await submit(echo, { value });
    await waitDone(echo, id, 30_000);
    expect(await hasStoredBodies(p, id)).toBe(true);
    // Fetchable until retention has passed.
    expect((await result(echo, id)).status).toBe(200);
    await runRetentionOnce({ db: p.db, payloads, retentionMs: RETENTION_MS });
    expect(await qs.getRequest(p.db, id)).toBeDefined();

    await new Promise((r) => setTimeout(r, RETENTION_MS + 200));
    // Past retention it is gone for callers even before the clean-up runs.
    expect((await result(echo, id)).status).toBe(404);
    const st = await fetch(`${p.url}/queue/local/echo/requests/${id}/status`, { headers: { authorization: `Key ${p.key}` } });
    expect(st.status).toBe(404);

    const cleaned = await runRetentionOnce({ db: p.db, payloads, retentionMs: RETENTION_MS, batch: 2 });
    expect(cleaned.requests).toBeGreaterThanOrEqual(1);
    expect(await qs.getRequest(p.db, id)).toBeUndefined();
    expect(await hasStoredBodies(p, id)).toBe(false);

    // A body whose row never came (a submit that failed after storing it) is swept as an orphan.
    const orphan = "00000000-0000-4000-8000-000000000001";
    await payloads.put(orphan, "payload", Buffer.alloc(100 * 1024));
    expect(await hasStoredBodies(p, orphan)).toBe(true);
    await runRetentionOnce({ db: p.db, payloads, retentionMs: RETENTION_MS, orphanGraceMs: 0 });
    expect(await hasStoredBodies(p, orphan)).toBe(false);
  }, 60_000);
});
