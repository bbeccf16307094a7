/**
 * fal's retry rules on the queue: a runner killed mid-request has the request
 * retried on another runner; 503 retries elsewhere and replaces the runner;
 * 500 and 4xx are not retried; X-Fal-No-Retry turns retries off;
 * X-Fal-Request-Timeout bounds the wait until processing starts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker } from "../helpers/deploy";
import { readLedger, result, status, submit, until, waitDone, type QueueTarget } from "../helpers/queue";

let platform: TestPlatform;
let t: QueueTarget;
let ledgerDir: string;
const ledgerFile = () => join(ledgerDir, "ledger.txt");
const ledger = () => readLedger(existsSync(ledgerFile()) ? readFileSync(ledgerFile(), "utf8") : "");

beforeAll(async () => {
  ledgerDir = mkdtempSync(join(tmpdir(), "falplane-ledger-"));
  process.env.WORKER_LEDGER = ledgerFile();
  // The sandbox lets runners write only their own folder, and what the operator shares.
  platform = await startTestPlatform({ runnerSharedDirs: [ledgerDir] });
  await deployWorker(platform.client, { scaling: { max_concurrency: 3, min_concurrency: 2, keep_alive: 300 } });
  t = { url: platform.url, key: platform.key, endpoint: "local/worker" };
  // Two warm runners, so "another runner" exists at once.
  await until(async () => (await platform.client.listRunners("worker")).filter((r) => r.state === "IDLE").length === 2, 30_000, "two warm runners");
}, 120_000);

afterAll(async () => {
  delete process.env.WORKER_LEDGER;
  await platform?.stop();
  rmSync(ledgerDir, { recursive: true, force: true });
});

describe("queue retries", () => {
  it("a runner SIGKILLed mid-request: the request is retried on another runner and answered", async () => {
    const id = await submit(t, { sleep: 2, value: "survives" });
    await expect.poll(async () => (await status(t, id)).status, { timeout: 20_000 }).toBe("IN_PROGRESS");
    await expect.poll(() => ledger().get(id)?.length ?? 0, { timeout: 10_000 }).toBe(1);
    const victim = ledger().get(id)![0];
    // Kill the runner's whole process group, as a crash of its machine would.
    const pid = (await platform.client.listRunners("worker")).find((r) => r.runner_id === victim)!.pid!;
    process.kill(-pid, "SIGKILL");

    await waitDone(t, id);
    const r = await result(t, id);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ value: "survives" });
    const runners = ledger().get(id)!;
    expect(runners).toHaveLength(2);
    expect(runners[1]).not.toBe(runners[0]);
    expect((r.body as { runner: string }).runner).not.toBe(victim);
  }, 60_000);

  it("503 is retried on another runner, which answers", async () => {
    const id = await submit(t, { fail_first: 503, value: "second try" });
    await waitDone(t, id);
    const r = await result(t, id);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ value: "second try" });
    const runners = ledger().get(id)!;
    expect(runners).toHaveLength(2);
    expect(runners[1]).not.toBe(runners[0]);
  }, 60_000);

  it("500 is not retried; the caller gets the runner's error", async () => {
    const id = await submit(t, { fail_first: 500 });
    await waitDone(t, id);
    const r = await result(t, id);
    expect(r.status).toBe(500);
    expect(ledger().get(id)).toHaveLength(1);
    expect((await status(t, id)).error).toBe("failing the first attempt on purpose");
  }, 60_000);

  it("4xx is never retried", async () => {
    const id = await submit(t, { fail_first: 422 });
    await waitDone(t, id);
    const r = await result(t, id);
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ detail: "failing the first attempt on purpose" });
    expect(ledger().get(id)).toHaveLength(1);
  }, 60_000);

  it("X-Fal-No-Retry turns retries off: a 503 reaches the caller after one attempt", async () => {
    const id = await submit(t, { fail_first: 503 }, { "x-fal-no-retry": "1" });
    await waitDone(t, id);
    const r = await result(t, id);
    expect(r.status).toBe(503);
    expect(ledger().get(id)).toHaveLength(1);
  }, 60_000);

  it("X-Fal-Request-Timeout: a request still waiting when it passes gets 504 with X-Fal-Request-Timeout-Type: user", async () => {
    // Occupy every slot (3 runners at most, 1 request each) for a while.
    const busy = await Promise.all([1, 2, 3].map(() => submit(t, { sleep: 3 })));
    const id = await submit(t, { value: "too late" }, { "x-fal-request-timeout": "1" });
    await waitDone(t, id, 30_000);
    const r = await result(t, id);
    expect(r.status).toBe(504);
    expect(r.headers.get("x-fal-request-timeout-type")).toBe("user");
    expect(ledger().get(id)).toBeUndefined();
    for (const b of busy) await waitDone(t, b);
  }, 60_000);
});
