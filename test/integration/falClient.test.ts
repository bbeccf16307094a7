/**
 * The official @fal-ai/client from npm, pointed at the gateway through its
 * public configuration only (proxyUrl with when: "always"), round-trips
 * subscribe, submit/status/result, run and cancel.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFalClient, ApiError } from "@fal-ai/client";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker } from "../helpers/deploy";
import { PROXY_PATH } from "../../src/platform/gateway/routes";

let platform: TestPlatform;
let fal: ReturnType<typeof createFalClient>;
const endpoint = "local/worker";

beforeAll(async () => {
  platform = await startTestPlatform();
  await deployWorker(platform.client, { scaling: { max_concurrency: 2, keep_alive: 60 }, codeSettings: { max_multiplexing: 2 } });
  fal = createFalClient({
    credentials: platform.key,
    proxyUrl: { url: `${platform.url}${PROXY_PATH}`, when: "always" },
  });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

describe("@fal-ai/client through the gateway", () => {
  it("subscribe waits in the queue and returns the app's answer with its request id", async () => {
    const updates: string[] = [];
    const res = await fal.subscribe(endpoint, {
      input: { value: "hello" },
      logs: true,
      pollInterval: 50,
      onQueueUpdate: (u) => updates.push(u.status),
    });
    expect(res.data).toMatchObject({ value: "hello" });
    expect(res.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect((res.data as { request_id: string }).request_id).toBe(res.requestId);
    expect(updates.at(-1)).toBe("COMPLETED");
  });

  it("queue.submit, queue.status (with logs) and queue.result", async () => {
    const { request_id } = await fal.queue.submit(endpoint, { input: { value: 42, sleep: 0.3 } });
    const first = await fal.queue.status(endpoint, { requestId: request_id, logs: true });
    expect(["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]).toContain(first.status);
    let status = first;
    for (let i = 0; i < 200 && status.status !== "COMPLETED"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await fal.queue.status(endpoint, { requestId: request_id, logs: true });
    }
    expect(status.status).toBe("COMPLETED");
    // The runner's print() reached the request's logs.
    expect((status as { logs: { message: string }[] }).logs.map((l) => l.message)).toContain(`worked on ${request_id}`);
    const result = await fal.queue.result(endpoint, { requestId: request_id });
    expect(result.data).toMatchObject({ value: 42, request_id });
    expect(result.requestId).toBe(request_id);
  });

  it("run (synchronous) goes through the proxy too", async () => {
    const res = await fal.run(endpoint, { input: { value: "sync" } });
    expect(res.data).toMatchObject({ value: "sync" });
  });

  it("queue.cancel drops a queued request, and its result reports the cancellation", async () => {
    // Fill both runners' slots (2 runners x 2) with long requests so the next one waits.
    const busy = await Promise.all([1, 2, 3, 4].map(() => fal.queue.submit(endpoint, { input: { sleep: 2 } })));
    const queued = await fal.queue.submit(endpoint, { input: { value: "never" } });
    await fal.queue.cancel(endpoint, { requestId: queued.request_id });
    const status = await fal.queue.status(endpoint, { requestId: queued.request_id });
    expect(status.status).toBe("COMPLETED");
    const err = await fal.queue.result(endpoint, { requestId: queued.request_id }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError<unknown>).status).toBe(499);
    // The busy ones still complete.
    for (const b of busy) {
      let s = await fal.queue.status(endpoint, { requestId: b.request_id });
      for (let i = 0; i < 200 && s.status !== "COMPLETED"; i++) {
        await new Promise((r) => setTimeout(r, 50));
        s = await fal.queue.status(endpoint, { requestId: b.request_id });
      }
      expect(s.status).toBe("COMPLETED");
    }
  }, 60_000);

  it("queue.cancel of a running request reaches the runner", async () => {
    const { request_id } = await fal.queue.submit(endpoint, { input: { sleep: 20 } });
    for (let i = 0; i < 200; i++) {
      const s = await fal.queue.status(endpoint, { requestId: request_id });
      if (s.status === "IN_PROGRESS") break;
      await new Promise((r) => setTimeout(r, 25));
    }
    const started = Date.now();
    await fal.queue.cancel(endpoint, { requestId: request_id });
    let s = await fal.queue.status(endpoint, { requestId: request_id });
    for (let i = 0; i < 400 && s.status !== "COMPLETED"; i++) {
      await new Promise((r) => setTimeout(r, 25));
      s = await fal.queue.status(endpoint, { requestId: request_id });
    }
    expect(s.status).toBe("COMPLETED");
    // The app saw the cancel and stopped early (it would have run 20 s).
    expect(Date.now() - started).toBeLessThan(15_000);
    const err = await fal.queue.result(endpoint, { requestId: request_id }).then(() => undefined, (e: unknown) => e);
    expect((err as ApiError<unknown>).status).toBe(499);
  }, 60_000);

  it("a wrong key is refused with 401", async () => {
    const bad = createFalClient({ credentials: "nope:wrong", proxyUrl: { url: `${platform.url}${PROXY_PATH}`, when: "always" } });
    const err = await bad.queue.submit(endpoint, { input: {} }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError<unknown>).status).toBe(401);
  });
});

describe("@fal-ai/client errors", () => {
  it("reads the gateway's errors in fal's shape: err.body.detail says what went wrong", async () => {
    const err = await fal.run("local/no-such-app", { input: {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError<{ detail: string }>).status).toBe(404);
    expect((err as ApiError<{ detail: string }>).body.detail).toContain("no deployed app 'local/no-such-app'");
  });
});
