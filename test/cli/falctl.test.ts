/**
 * Every falctl command against a platform the test starts, as a user runs
 * them (a child process), with --env and --json, and the documented exit
 * codes: 0 ok, 1 refused/failed, 2 bad usage or input, 3 unreachable.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker, FIXTURE_APPS } from "../helpers/deploy";

const FALCTL = resolve(__dirname, "../../bin/falctl.cjs");
let platform: TestPlatform;

/**
 * Runs falctl as a child process. Asynchronously: the platform under test
 * lives in this process, so a synchronous spawn would block it and deadlock.
 */
function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [FALCTL, ...argv], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const t = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("close", (code) => {
      clearTimeout(t);
      resolvePromise({ code: code ?? -1, out, err });
    });
  });
}
const falctl = (...args: string[]) => run(["--url", platform.url, "--key", platform.key, ...args]);
const json = async <T>(...args: string[]): Promise<T> => {
  const r = await falctl(...args, "--json");
  if (r.code !== 0) throw new Error(`falctl ${args.join(" ")} exited ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as T;
};

beforeAll(async () => {
  platform = await startTestPlatform();
  await deployWorker(platform.client, { env: "main", scaling: { min_concurrency: 1, keep_alive: 300 } });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

describe("falctl", () => {
  it("environments create, list (table and JSON) and delete", async () => {
    expect((await falctl("environments", "create", "staging")).code).toBe(0);
    const table = await falctl("environments", "list");
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/│ staging\s+│ 0\s+│/);
    expect((await json<{ name: string }[]>("environments", "list")).map((e) => e.name)).toEqual(["main", "staging"]);
    expect((await falctl("envs", "delete", "staging")).code).toBe(0);
    const refused = await falctl("envs", "delete", "main");
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("cannot be deleted");
  });

  it("apps list, list-rev, runners", async () => {
    const apps = await json<{ name: string; revision: string }[]>("apps", "list");
    expect(apps.map((a) => a.name)).toEqual(["worker"]);
    const revs = await json<{ id: string; active: boolean }[]>("apps", "list-rev", "worker");
    expect(revs).toHaveLength(1);
    expect(revs[0].active).toBe(true);
    expect((await falctl("apps", "list-rev", "worker")).out).toContain(revs[0].id);
    const runners = await json<{ state: string }[]>("apps", "runners", "worker");
    expect(runners.length).toBeGreaterThanOrEqual(1);
  });

  it("apps scale changes runtime values without a deploy; bad values are usage errors", async () => {
    const app = await json<{ scaling: { max_concurrency: number; keep_alive: number } }>("apps", "scale", "worker", "--max-concurrency", "4", "--keep-alive", "200");
    expect(app.scaling).toMatchObject({ max_concurrency: 4, keep_alive: 200 });
    const bad = await falctl("apps", "scale", "worker", "--max-concurrency", "-1");
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("-1");
    expect((await falctl("apps", "scale", "worker")).code).toBe(2);
  });

  it("secrets set, list (names only) and unset; a rollout gives runners the new value", async () => {
    expect((await falctl("secrets", "set", "HF_TOKEN=s3cr3t-value-1")).code).toBe(0);
    const list = await falctl("secrets", "list");
    expect(list.out).toContain("HF_TOKEN");
    expect(list.out).not.toContain("s3cr3t-value-1");
    // Runners started before the secret existed do not have it; a rollout restarts them.
    expect((await falctl("apps", "rollout", "worker")).code).toBe(0);
    await expect
      .poll(async () => (await platform.client.run("local/worker", { name: "HF_TOKEN" }, "env")).body, { timeout: 30_000 })
      .toMatchObject({ value: "s3cr3t-value-1" });
    expect((await falctl("secrets", "set", "bad-name=x")).code).toBe(2);
    expect((await falctl("secrets", "unset", "HF_TOKEN")).code).toBe(0);
    expect(await json<unknown[]>("secrets", "list")).toEqual([]);
    expect((await falctl("secrets", "unset", "HF_TOKEN")).code).toBe(1);
  }, 60_000);

  it("apps rollout --force restarts runners at once; apps usage counts calls per key", async () => {
    const before = (await json<{ runner_id: string }[]>("apps", "runners", "worker")).map((r) => r.runner_id);
    expect((await json<{ restarted: number }>("apps", "rollout", "worker", "--force")).restarted).toBeGreaterThanOrEqual(1);
    await platform.client.run("local/worker", { value: 1 });
    const after = (await json<{ runner_id: string; state: string }[]>("apps", "runners", "worker")).map((r) => r.runner_id);
    expect(after.some((id) => before.includes(id))).toBe(false);
    const usage = await json<{ caller: string; calls: number }[]>("apps", "usage", "worker");
    expect(usage.find((u) => u.caller === platform.key.split(":")[0])?.calls).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it("apps set-rev rolls back (rolling and recreate); delete-rev refuses the active revision", async () => {
    const first = (await json<{ id: string }[]>("apps", "list-rev", "worker"))[0].id;
    // A second revision with different content (the echo fixture's directory differs).
    const { revision } = await deployWorker(platform.client, { codeSettings: { max_multiplexing: 2 } });
    expect(revision.id).not.toBe(first);
    const back = await json<{ revision: string }>("apps", "set-rev", "worker", first, "--strategy", "rolling");
    expect(back.revision).toBe(first);
    expect((await json<{ revision: string }>("apps", "set-rev", "worker", revision.id, "--strategy", "recreate")).revision).toBe(revision.id);
    const refused = await falctl("apps", "delete-rev", revision.id);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("active revision");
    expect((await falctl("apps", "delete-rev", first)).code).toBe(0);
    expect((await json<{ id: string }[]>("apps", "list-rev", "worker")).map((r) => r.id)).toEqual([revision.id]);
    expect((await falctl("apps", "set-rev", "worker", "bad", "--strategy", "sideways")).code).toBe(2);
  }, 90_000);

  it("keys create (shown once), list (never secrets) and revoke", async () => {
    const k = await json<{ key_id: string; key_secret: string; scope: string }>("keys", "create", "--scope", "API", "--alias", "ci");
    expect(k.scope).toBe("API");
    const list = await falctl("keys", "list");
    expect(list.out).toContain(k.key_id);
    expect(list.out).not.toContain(k.key_secret);
    expect((await falctl("keys", "revoke", k.key_id)).code).toBe(0);
    expect((await json<{ key_id: string }[]>("keys", "list")).map((x) => x.key_id)).not.toContain(k.key_id);
  });

  it("apps delete removes an app; a missing key, a wrong one and an unreachable platform have their own exit codes", async () => {
    expect((await falctl("apps", "delete", "worker")).code).toBe(0);
    expect(await json<unknown[]>("apps", "list")).toEqual([]);
    const noKey = await run(["--url", platform.url, "apps", "list"], { ...process.env, FAL_KEY: "" });
    expect(noKey.code).toBe(1);
    expect(noKey.err).toContain("401");
    const down = await run(["--url", "http://127.0.0.1:9", "--key", platform.key, "apps", "list"]);
    expect(down.code).toBe(3);
    expect(down.err).toContain("cannot reach the platform");
    expect(down.err).not.toContain(platform.key.split(":")[1]);
  });

  it("run deploys a temporary public app and removes it on Ctrl-C", async () => {
    const child = spawn(process.execPath, [FALCTL, "--url", platform.url, "--key", platform.key, "run", join(FIXTURE_APPS, "worker", "app.py::Worker"), "--name", "tmp-worker"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    try {
      await expect.poll(() => out, { timeout: 60_000 }).toContain("ready: local/tmp-worker");
      // Public: callable with no key.
      const res = await fetch(`${platform.url}/run/local/tmp-worker`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ value: "eph" }) });
      expect(res.status).toBe(200);
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(out).toContain("removed tmp-worker");
      expect((await platform.client.listApps()).map((a) => a.name)).not.toContain("tmp-worker");
    } finally {
      child.kill("SIGKILL");
    }
  }, 90_000);
});
