/**
 * Log lines are batched per turn of the event loop; none may be lost when
 * the process ends, however it ends short of SIGKILL.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { batchedLines, createLogger } from "./log";

const LOG_MODULE = resolve(__dirname, "log.ts");

/** Runs `body` in a fresh Node process with `log` = createLogger("info") on stderr; returns its exit code and stderr lines. */
function child(body: string): { status: number | null; lines: string[] } {
  const code = `const { createLogger } = require(${JSON.stringify(LOG_MODULE)}); const log = createLogger("info"); ${body}`;
  const r = spawnSync(process.execPath, ["--import", "tsx", "-e", code], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, lines: r.stderr.split("\n").filter((l) => l.startsWith("{")) };
}

describe("log lines", () => {
  it("are the JSON of one object: the line keys first, then bound fields, then the line's, a repeated name replaced in place", () => {
    const lines: string[] = [];
    const log = createLogger("info", { app: "a", n: 1 }, (l) => lines.push(l));
    log.info({ app: "b", extra: 'quote " and \\ backslash' }, "repeats a bound name");
    log.info({ msg: "field named msg" }, "repeats a line key");
    log.child({ level: "bound named level" }).info({}, "a bound line key");
    log.info({}, "no fields");
    log.child({}).info({ skipped: undefined, kept: null }, "undefined is left out");
    const parsed = lines.map((l) => JSON.parse(l));
    for (const [i, p] of parsed.entries()) expect(lines[i]).toBe(JSON.stringify(p));
    expect(parsed[0]).toEqual({ time: parsed[0].time, level: "info", msg: "repeats a bound name", app: "b", n: 1, extra: 'quote " and \\ backslash' });
    expect(parsed[1]).toEqual({ time: parsed[1].time, level: "info", msg: "field named msg", app: "a", n: 1 });
    expect(parsed[2]).toEqual({ time: parsed[2].time, level: "bound named level", msg: "a bound line key", app: "a", n: 1 });
    expect(parsed[3]).toEqual({ time: parsed[3].time, level: "info", msg: "no fields", app: "a", n: 1 });
    expect(parsed[4]).toEqual({ time: parsed[4].time, level: "info", msg: "undefined is left out", app: "a", n: 1, kept: null });
  });

  it("are stamped with the time in ISO 8601 to the millisecond, across second boundaries", () => {
    const lines: string[] = [];
    const log = createLogger("info", {}, (l) => lines.push(l));
    const at = [Date.UTC(2026, 11, 2, 16, 25, 38, 5), Date.UTC(2026, 11, 2, 16, 25, 38, 50), Date.UTC(2026, 11, 2, 16, 25, 38, 999), Date.UTC(2026, 11, 2, 16, 25, 39, 0), Date.UTC(2027, 0, 1, 0, 0, 0, 123)];
    const now = vi.spyOn(Date, "now");
    try {
      for (const t of at) {
        now.mockReturnValue(t);
        log.info({}, "tick");
      }
    } finally {
      now.mockRestore();
    }
    expect(lines.map((l) => JSON.parse(l).time)).toEqual(at.map((t) => new Date(t).toISOString()));
  });

  it("carry the fields of every logger above them, the nearest one winning", () => {
    const lines: string[] = [];
    const root = createLogger("info", { app: "a", env: "main" }, (l) => lines.push(l));
    const runner = root.child({ runner_id: "r1", env: "dev" });
    runner.child({ request_id: "q1" }).info({ status: 200 }, "sync request");
    runner.warn({ runner_id: "r2" }, "replacing runner");
    root.info({}, "plain");
    const [call, warn, plain] = lines.map((l) => JSON.parse(l));
    expect(Object.keys(call)).toEqual(["time", "level", "msg", "app", "env", "runner_id", "request_id", "status"]);
    expect(call).toMatchObject({ app: "a", env: "dev", runner_id: "r1", request_id: "q1", status: 200 });
    expect(warn).toMatchObject({ app: "a", env: "dev", runner_id: "r2" });
    expect(plain).toEqual({ time: plain.time, level: "info", msg: "plain", app: "a", env: "main" });
  });

  it("are written together once per turn of the event loop, in order", async () => {
    const writes: string[] = [];
    const log = createLogger("info", { app: "a" }, batchedLines((chunk) => writes.push(chunk)));
    log.info({ n: 1 }, "one");
    log.debug({ n: 2 }, "below the level");
    log.child({ request_id: "r" }).warn({ n: 3 }, "three");
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(writes).toHaveLength(1);
    const lines = writes[0].trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines).toMatchObject([
      { level: "info", msg: "one", app: "a", n: 1 },
      { level: "warn", msg: "three", app: "a", request_id: "r", n: 3 },
    ]);
    expect(new Date(lines[0].time).toISOString()).toBe(lines[0].time);
  });

  it("still buffered when the process exits are written: process.exit right after logging", () => {
    const r = child(`log.info({ n: 1 }, "first"); log.error({ n: 2 }, "last words"); process.exit(3);`);
    expect(r.status).toBe(3);
    expect(r.lines.map((l) => JSON.parse(l).msg)).toEqual(["first", "last words"]);
  });

  it("still buffered when the process dies of an uncaught exception are written", () => {
    const r = child(`log.info({}, "before the crash"); throw new Error("boom");`);
    expect(r.status).not.toBe(0);
    expect(r.lines.map((l) => JSON.parse(l).msg)).toEqual(["before the crash"]);
  });
});
