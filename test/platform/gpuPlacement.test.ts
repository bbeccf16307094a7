/**
 * GPU placement on a full pool (one configured GPU; the runners need no real
 * one): a recreate's outage is the new runner's setup, not a crash backoff;
 * a runner that cannot be placed waits as PENDING with the reason; idle
 * runners above their app's min_concurrency are preempted for it, those
 * min_concurrency keeps never are; a rolling deploy on a full pool preempts
 * idle capacity, and fails with the fix and the numbers when there is none.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker } from "../helpers/deploy";
import { ApiError } from "../../src/client/client";
import { TempDirs } from "../helpers/support";
import { cpSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURE_APPS } from "../helpers/deploy";

const SETUP_S = 1;
const GPU = { machine_types: ["GPU-H100"] };
const dirs = new TempDirs();
let platform: TestPlatform;

beforeAll(async () => {
  process.env.WORKER_SETUP_SECONDS = String(SETUP_S);
  platform = await startTestPlatform({ database: "pglite", gpus: ["0"] });
}, 60_000);

afterAll(async () => {
  delete process.env.WORKER_SETUP_SECONDS;
  await platform?.stop();
  dirs.removeAll();
});

/** A copy of the worker that differs by a comment: a new revision. */
function variant(n: number): string {
  const d = dirs.make("gpu-worker-");
  cpSync(join(FIXTURE_APPS, "worker"), d, { recursive: true });
  appendFileSync(join(d, "app.py"), `\n# variant ${n}\n`);
  return d;
}

const call = async (alias: string) => {
  const started = Date.now();
  const res = await fetch(`${platform.url}/run/local/${alias}`, {
    method: "POST",
    headers: { authorization: `Key ${platform.key}`, "content-type": "application/json" },
    body: JSON.stringify({ value: alias }),
  });
  await res.text();
  return { status: res.status, ms: Date.now() - started };
};
const runners = async (name: string) => (await platform.client.listRunners(name)).filter((r) => r.runner_id);
const stopApp = (name: string) => platform.client.deleteApp(name);

describe("GPU placement on a full pool", () => {
  it("recreate: the outage is the new runner's setup, not a crash backoff", async () => {
    await deployWorker(platform.client, { dir: variant(1), name: "recreated", codeSettings: GPU, scaling: { min_concurrency: 1 } });
    expect((await call("recreated")).status).toBe(200);
    const calls: Promise<{ status: number; ms: number }>[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const c = call("recreated");
        calls.push(c);
        await c;
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    await deployWorker(platform.client, { dir: variant(2), name: "recreated", strategy: "recreate", codeSettings: GPU, scaling: { min_concurrency: 1 } });
    await new Promise((r) => setTimeout(r, 4000));
    running = false;
    await loop;
    const done = await Promise.all(calls);
    const worst = Math.max(...done.map((c) => c.ms));
    process.stdout.write(`recreate on a full GPU pool: worst wait ${worst} ms (setup ${SETUP_S * 1000} ms)\n`);
    expect(done.every((c) => c.status === 200)).toBe(true);
    expect(worst).toBeLessThan(SETUP_S * 1000 + 2000);
    await stopApp("recreated");
  }, 90_000);

  it("a runner that cannot be placed waits as PENDING with the reason; min_concurrency runners are not preempted", async () => {
    await deployWorker(platform.client, { dir: variant(3), name: "holder", codeSettings: GPU, scaling: { min_concurrency: 1, keep_alive: 300 } });
    await expect.poll(async () => (await runners("holder")).map((r) => r.state), { timeout: 20_000 }).toEqual(["IDLE"]);
    await deployWorker(platform.client, { dir: variant(4), name: "waiter", codeSettings: { ...GPU, startup_timeout: 60 } });
    const waiting = call("waiter");
    await expect
      .poll(async () => (await runners("waiter")).map((r) => [r.state, r.reason]), { timeout: 20_000 })
      .toEqual([["PENDING", "waiting for 1 GPU of GPU-H100; 0 of 1 free"]]);
    // The holder's runner is what min_concurrency keeps: it stays.
    await new Promise((r) => setTimeout(r, 2000));
    expect((await runners("holder")).map((r) => r.state)).toEqual(["IDLE"]);

    // Lower the holder's min_concurrency: its idle runner is preempted, and the waiting call is served.
    await platform.client.updateApp("holder", "main", { scaling: { min_concurrency: 0 } });
    const answer = await waiting;
    expect(answer.status).toBe(200);
    expect((await runners("holder")).length).toBe(0);
    // No crash backoff anywhere: waiting for capacity is not a crash.
    expect((await platform.client.listRunners("waiter")).some((r) => r.state === "CRASH_BACKOFF")).toBe(false);
    await stopApp("waiter");
    await stopApp("holder");
  }, 90_000);

  it("a rolling deploy on a full pool preempts an idle runner of another app", async () => {
    await deployWorker(platform.client, { dir: variant(5), name: "idler", codeSettings: GPU, scaling: { keep_alive: 300 } });
    expect((await call("idler")).status).toBe(200);
    expect((await runners("idler")).map((r) => r.state)).toEqual(["IDLE"]);
    await deployWorker(platform.client, { dir: variant(6), name: "rolled", strategy: "rolling", codeSettings: GPU });
    expect((await call("rolled")).status).toBe(200);
    await expect.poll(async () => (await runners("idler")).length, { timeout: 20_000 }).toBe(0);
    await stopApp("rolled");
    await stopApp("idler");
  }, 90_000);

  it("a rolling deploy that cannot be placed fails after startup_timeout naming the fix and the numbers; the alias stays", async () => {
    const first = await deployWorker(platform.client, { dir: variant(7), name: "pinned", codeSettings: GPU, scaling: { min_concurrency: 1 } });
    await expect.poll(async () => (await runners("pinned")).map((r) => r.state), { timeout: 20_000 }).toEqual(["IDLE"]);
    const err = await deployWorker(platform.client, {
      dir: variant(8),
      name: "pinned",
      strategy: "rolling",
      codeSettings: { ...GPU, startup_timeout: 3 },
      scaling: { min_concurrency: 1 },
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    const message = (err as ApiError).message;
    expect(message).toContain("could not be placed within startup_timeout (3 s)");
    expect(message).toContain("waiting for 1 GPU of GPU-H100; 0 of 1 free");
    expect(message).toContain("strategy: recreate");
    expect((await platform.client.findApp("pinned"))!.revision).toBe(first.revision.id);
    expect((await call("pinned")).status).toBe(200);
    await stopApp("pinned");
  }, 90_000);
});
