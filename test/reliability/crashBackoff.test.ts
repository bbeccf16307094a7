/**
 * Runner lifecycle: a revision whose setup keeps crashing goes into
 * CRASH_BACKOFF (30 s per consecutive failure), visible in the API and in
 * `falctl apps runners`; the request that triggered the start stays queued,
 * it is not failed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployDir, FIXTURE_APPS } from "../helpers/deploy";
import { status, submit } from "../helpers/queue";

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform();
  // recreate: the alias moves without a runner started ahead, as a deploy with that strategy does.
  await deployDir(platform.client, { dir: join(FIXTURE_APPS, "crashing"), sourceObject: "app.py::Crashing", name: "crashing", strategy: "recreate" });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

describe("crash backoff", () => {
  it("shows CRASH_BACKOFF with the failure count, and keeps the request queued", async () => {
    const id = await submit({ url: platform.url, key: platform.key, endpoint: "local/crashing" }, {});
    await expect
      .poll(async () => (await platform.client.listRunners("crashing")).find((r) => r.state === "CRASH_BACKOFF"), { timeout: 30_000 })
      .toBeTruthy();
    const backoff = (await platform.client.listRunners("crashing")).find((r) => r.state === "CRASH_BACKOFF")!;
    expect(backoff.error).toMatch(/^1 consecutive setup failure\(s\); next start in ([1-2][0-9]|30) s$/);
    expect((await status({ url: platform.url, key: platform.key, endpoint: "local/crashing" }, id)).status).toBe("IN_QUEUE");
    // The failed runner is recorded as DEAD with the app's traceback.
    const dead = await platform.db.query<{ state: string; error: string }>("SELECT state, error FROM runners WHERE state = 'DEAD'");
    expect(dead.length).toBe(1);
    expect(dead[0].error).toContain("model weights not found");
  }, 60_000);
});
