/**
 * Streaming through the gateway, as fal does it: a generator endpoint's
 * server-sent events reach the caller as the app yields them (plain fetch and
 * the official client's fal.stream), a caller leaving mid-stream frees the
 * runner, and subscribe with mode "streaming" follows the queue's status
 * stream to the result. Fixture: test/fixtures/apps/streamer.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFalClient } from "@fal-ai/client";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployDir, FIXTURE_APPS } from "../helpers/deploy";
import { raw } from "../helpers/support";
import { PROXY_PATH } from "../../src/platform/gateway/routes";

interface Partial {
  step: number;
  of: number;
  final: boolean;
  /** When the app yielded it (Unix seconds). */
  at: number;
}
interface SseEvent {
  event?: string;
  data: unknown;
  /** Milliseconds from the request's start to this event's arrival. */
  ms: number;
}

let platform: TestPlatform;
let fal: ReturnType<typeof createFalClient>;

beforeAll(async () => {
  platform = await startTestPlatform();
  // One runner with one slot: a stream that did not give its lease back would block the next call.
  await deployDir(platform.client, {
    dir: join(FIXTURE_APPS, "streamer"),
    sourceObject: "app.py::Streamer",
    name: "streamer",
    scaling: { max_concurrency: 1, keep_alive: 120 },
    codeSettings: { max_multiplexing: 1 },
  });
  fal = createFalClient({ credentials: platform.key, proxyUrl: { url: `${platform.url}${PROXY_PATH}`, when: "always" } });
  // A warm runner, so the timings below measure streaming, not a cold start.
  expect((await raw(platform.url, "POST", "/run/local/streamer", { key: platform.key, body: {} })).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

function postStream(input: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${platform.url}/run/local/streamer/stream`, {
    method: "POST",
    headers: { authorization: `Key ${platform.key}`, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(input),
    signal,
  });
}

/** Reads server-sent events off the body as they arrive; stops after `limit` events when given. */
async function readEvents(res: Response, started: number, limit = Infinity): Promise<SseEvent[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return events;
    buffered += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const fields = Object.fromEntries(block.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]));
      if (fields.data === undefined) continue; // a comment (keep-alive)
      events.push({ event: fields.event, data: JSON.parse(fields.data), ms: Date.now() - started });
      if (events.length >= limit) return events;
    }
  }
}

async function runners() {
  return platform.client.listRunners("streamer");
}

describe("streaming through the gateway", () => {
  it("sends each partial result as the app yields it, in order, unbuffered", async () => {
    const started = Date.now();
    const res = await postStream({ n: 5, delay: 0.2 });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("x-accel-buffering")).toBe("no");
    expect(res.headers.get("x-fal-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const events = await readEvents(res, started);
    const total = Date.now() - started;
    expect(events.map((e) => (e.data as Partial).step)).toEqual([0, 1, 2, 3, 4]);
    expect(events.every((e) => e.event === undefined)).toBe(true);
    expect((events.at(-1)!.data as Partial).final).toBe(true);
    // The first event arrived while the generator still had ~800 ms of work ahead.
    console.log(`stream: first event ${events[0].ms} ms, last ${events.at(-1)!.ms} ms, total ${total} ms`);
    expect(events[0].ms).toBeLessThan(600);
    expect(total).toBeGreaterThanOrEqual(800);
    // Each event came about when the app yielded it (its `at`), not in a burst at the end.
    const latencies = events.map((e) => started + e.ms - (e.data as Partial).at * 1000);
    console.log(`stream: yield-to-arrival latencies ${latencies.map((l) => Math.round(l)).join(", ")} ms`);
    expect(Math.max(...latencies)).toBeLessThan(400);
    expect(events.at(-1)!.ms - events[0].ms).toBeGreaterThanOrEqual(400);
  });

  it("a caller leaving mid-stream frees the runner: the generator stops and the next call is served", async () => {
    const before = (await raw(platform.url, "POST", "/run/local/streamer/stats", { key: platform.key, body: {} })).body as { abandoned: number };
    const abort = new AbortController();
    const started = Date.now();
    const res = await postStream({ n: 50, delay: 0.2 }, abort.signal);
    expect((await readEvents(res, started, 2)).length).toBe(2);
    abort.abort();
    // The lease is back at once: no in-flight request on the runner.
    let inFlight = -1;
    for (let i = 0; i < 40; i++) {
      inFlight = (await runners()).reduce((n, r) => n + r.in_flight_requests, 0);
      if (inFlight === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(inFlight).toBe(0);
    // The only slot serves another stream, start to end, long before the abandoned one would have ended (~10 s).
    const again = Date.now();
    const next = await readEvents(await postStream({ n: 3, delay: 0.05 }), again);
    expect(next.map((e) => (e.data as Partial).step)).toEqual([0, 1, 2]);
    expect(Date.now() - started).toBeLessThan(5000);
    // The runner stopped the abandoned generator (at its next yield), seeing the caller gone.
    let abandoned = before.abandoned;
    for (let i = 0; i < 40 && abandoned === before.abandoned; i++) {
      await new Promise((r) => setTimeout(r, 50));
      abandoned = ((await raw(platform.url, "POST", "/run/local/streamer/stats", { key: platform.key, body: {} })).body as { abandoned: number }).abandoned;
    }
    expect(abandoned).toBe(before.abandoned + 1);
  });

  it("the queue's status stream of an unknown request is a 404, not a stream", async () => {
    const res = await raw(platform.url, "GET", "/queue/local/streamer/requests/00000000-0000-0000-0000-000000000000/status/stream", { key: platform.key });
    expect(res.status).toBe(404);
  });
});

describe("@fal-ai/client streaming", () => {
  it("fal.stream yields the partial results and done() returns the final one", async () => {
    const stream = await fal.stream("local/streamer", { input: { n: 4, delay: 0.1 } });
    const seen: number[] = [];
    for await (const partial of stream) seen.push((partial as Partial).step);
    const final = (await stream.done()) as Partial;
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(final).toMatchObject({ step: 3, of: 4, final: true });
    expect(stream.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('subscribe with mode "streaming" follows the status stream to the result', async () => {
    const updates: { status: string; logs?: { message: string }[] }[] = [];
    const res = await fal.subscribe("local/streamer", {
      input: { value: "streamed", sleep: 0.5 },
      mode: "streaming",
      logs: true,
      onQueueUpdate: (u) => updates.push(u as (typeof updates)[number]),
    });
    expect(res.data).toMatchObject({ value: "streamed", request_id: res.requestId });
    const statuses = updates.map((u) => u.status);
    expect(statuses.at(-1)).toBe("COMPLETED");
    expect(statuses).toContain("IN_PROGRESS");
    // Each event carried only new log lines, so the client's accumulated logs hold the app's line once.
    const messages = (updates.at(-1)!.logs ?? []).map((l) => l.message);
    expect(messages.filter((m) => m === `ran ${res.requestId}`)).toHaveLength(1);
  });
});
