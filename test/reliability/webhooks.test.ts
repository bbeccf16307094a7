/**
 * Webhooks: `?fal_webhook=<url>` gets a POST of {request_id, gateway_request_id,
 * status, payload, error?} when the request completes, retried with backoff
 * while the receiver fails.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker } from "../helpers/deploy";
import { submit, type QueueTarget } from "../helpers/queue";

let platform: TestPlatform;
let receiver: Server;
let hookUrl: string;
const received: { body: Record<string, unknown>; answered: number }[] = [];
let failuresLeft = 0;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      const answered = failuresLeft > 0 ? 500 : 200;
      if (failuresLeft > 0) failuresLeft--;
      received.push({ body: JSON.parse(data), answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  platform = await startTestPlatform({ webhookBaseDelayMs: 200, webhookAllow: ["127.0.0.1"] });
  await deployWorker(platform.client);
}, 120_000);

afterAll(async () => {
  await platform?.stop();
  await new Promise((r) => receiver?.close(r));
});

describe("webhooks", () => {
  it("delivers the result of a completed request", async () => {
    const t: QueueTarget = { url: platform.url, key: platform.key, endpoint: "local/worker" };
    const id = await submit(t, { value: "hooked" }, {}, `?fal_webhook=${encodeURIComponent(hookUrl)}`);
    await expect.poll(() => received.find((r) => r.body.request_id === id), { timeout: 20_000 }).toBeTruthy();
    const hook = received.find((r) => r.body.request_id === id)!.body;
    expect(hook).toMatchObject({ request_id: id, gateway_request_id: id, status: "OK", payload: { value: "hooked" } });
  }, 60_000);

  it("reports an app error as status ERROR, and retries while the receiver fails", async () => {
    failuresLeft = 2;
    const t: QueueTarget = { url: platform.url, key: platform.key, endpoint: "local/worker" };
    const id = await submit(t, { fail_first: 422 }, {}, `?fal_webhook=${encodeURIComponent(hookUrl)}`);
    await expect.poll(() => received.filter((r) => r.body.request_id === id).length, { timeout: 30_000 }).toBe(3);
    const attempts = received.filter((r) => r.body.request_id === id);
    expect(attempts.map((a) => a.answered)).toEqual([500, 500, 200]);
    expect(attempts[2].body).toMatchObject({ status: "ERROR", payload: { detail: "failing the first attempt on purpose" } });
    expect(attempts[2].body.error).toBe("failing the first attempt on purpose");
  }, 60_000);
});
