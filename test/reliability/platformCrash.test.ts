/**
 * Nothing accepted is lost: requests accepted into the queue before the
 * platform process is SIGKILLed (one in progress, others waiting) are
 * answered after it restarts on the same data directory. The runners the dead
 * process left behind are killed on restart.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlatformClient } from "../../src/client/client";
import { startPlatformProcess, type PlatformProcess } from "../helpers/platformProcess";
import { deployWorker } from "../helpers/deploy";
import { result, status, submit, waitDone } from "../helpers/queue";
import { TEST_ADMIN_KEY } from "../helpers/testPlatform";

const dataDir = mkdtempSync(join(tmpdir(), "falplane-crash-"));
const running: PlatformProcess[] = [];

afterAll(async () => {
  for (const p of running) await p.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("platform SIGKILL", () => {
  it("requests accepted before the kill are answered after a restart", async () => {
    const first = await startPlatformProcess({ dataDir, key: TEST_ADMIN_KEY });
    running.push(first);
    const client = new PlatformClient({ url: first.url, key: TEST_ADMIN_KEY });
    await deployWorker(client, { scaling: { max_concurrency: 1 } });
    const t1 = { url: first.url, key: TEST_ADMIN_KEY, endpoint: "local/worker" };

    const inProgress = await submit(t1, { sleep: 1.5, value: "was running" });
    await expect.poll(async () => (await status(t1, inProgress)).status, { timeout: 30_000 }).toBe("IN_PROGRESS");
    const waiting = [await submit(t1, { value: "was queued 1" }), await submit(t1, { value: "was queued 2" })];
    const runnerPids = (await client.listRunners("worker")).map((r) => r.pid!).filter(Boolean);
    expect(runnerPids.length).toBeGreaterThan(0);

    await first.kill("SIGKILL");
    // The runner outlives its SIGKILLed parent until the next start reaps it.

    const second = await startPlatformProcess({ dataDir, key: TEST_ADMIN_KEY });
    running.push(second);
    const t2 = { url: second.url, key: TEST_ADMIN_KEY, endpoint: "local/worker" };
    for (const id of [inProgress, ...waiting]) await waitDone(t2, id, 60_000);
    expect((await result(t2, inProgress)).body).toMatchObject({ value: "was running" });
    expect((await result(t2, waiting[0])).body).toMatchObject({ value: "was queued 1" });
    expect((await result(t2, waiting[1])).body).toMatchObject({ value: "was queued 2" });
    // Orphaned runners of the dead process were killed.
    for (const pid of runnerPids) await expect.poll(() => pidAlive(pid), { timeout: 10_000 }).toBe(false);
  }, 180_000);
});
