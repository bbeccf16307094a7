/**
 * What a runner can see (docs/operations.md, Security): only its own
 * environment and its own working directory. A runner of an app in an
 * environment without secrets looks for another environment's secret in
 * every process's /proc/<pid>/environ, for the platform's own settings, and
 * for the data directory (PGlite's files hold every secret), and finds none.
 */
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployDir, FIXTURE_APPS } from "../helpers/deploy";

const SECRET = "team-a-secret-7f3c9d";
const PLATFORM_ONLY = "platform-only-value-51be02";

interface Snooped {
  pid: number;
  runner_id: string;
  cwd: string;
  env_names: string[];
  environs: Record<string, string>;
  paths: Record<string, { dir?: string[]; bytes?: string; error?: string }>;
}

let platform: TestPlatform;

beforeAll(async () => {
  // A value in the platform's own environment, as DATABASE_URL or cloud credentials would be.
  process.env.FALPLANE_TEST_PLATFORM_ONLY = PLATFORM_ONLY;
  process.env.OPERATOR_SETTING = PLATFORM_ONLY;
  platform = await startTestPlatform({ sandbox: "bwrap" });
  await platform.client.createEnvironment("team-a");
  await platform.client.setSecret("TEAM_A_TOKEN", SECRET, "team-a");
  const snoop = { dir: join(FIXTURE_APPS, "snoop"), sourceObject: "app.py::Snoop", name: "snoop" };
  // A warm runner that holds the secret in its environment, and the snooping app elsewhere.
  await deployDir(platform.client, { ...snoop, env: "team-a", scaling: { min_concurrency: 1, keep_alive: 300 } });
  await deployDir(platform.client, snoop);
}, 120_000);

afterAll(async () => {
  delete process.env.FALPLANE_TEST_PLATFORM_ONLY;
  delete process.env.OPERATOR_SETTING;
  await platform?.stop();
});

async function snoop(paths: string[], alias = "snoop"): Promise<Snooped> {
  const res = await fetch(`${platform.url}/run/local/${alias}`, {
    method: "POST",
    headers: { authorization: `Key ${platform.key}`, "content-type": "application/json" },
    body: JSON.stringify({ paths }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Snooped;
}

describe("runner isolation (bubblewrap)", () => {
  it("the runner of the team-a app has its secret; the other runner does not see it anywhere", async () => {
    const own = await snoop([], "snoop--team-a");
    expect(own.env_names).toContain("TEAM_A_TOKEN");

    const seen = await snoop(["/proc/1/environ"]);
    expect(seen.env_names).not.toContain("TEAM_A_TOKEN");
    expect(JSON.stringify(seen)).not.toContain(SECRET);
    // Its own PID namespace: the only environments it can read are its own sandbox's.
    const others = Object.values(seen.environs).filter((e) => !e.includes(`FAL_RUNNER_ID=${seen.runner_id}`));
    expect(others).toEqual([]);
  });

  it("does not get the platform's environment, and cannot read it", async () => {
    const seen = await snoop([`/proc/${process.pid}/environ`]);
    expect(seen.env_names.filter((n) => n.startsWith("FALPLANE_") || n === "OPERATOR_SETTING" || n === "DATABASE_URL")).toEqual([]);
    expect(JSON.stringify(seen)).not.toContain(PLATFORM_ONLY);
  });

  it("runs in its own working directory outside the data directory, and cannot reach the data directory", async () => {
    const seen = await snoop([
      platform.dataDir,
      join(platform.dataDir, "pglite"),
      join(platform.dataDir, "pglite", "base"),
      "../../pglite",
      "../../../pglite",
    ]);
    expect(relative(platform.dataDir, seen.cwd).startsWith("..")).toBe(true);
    // Of the data directory only the read-only Python environment it runs on is mounted.
    const { [platform.dataDir]: top, ...rest } = seen.paths;
    expect(top.error ?? top.dir).toSatisfy((v: unknown) => typeof v === "string" || JSON.stringify(v) === '["envs"]');
    for (const [path, got] of Object.entries(rest)) {
      expect({ path, readable: got.error === undefined }).toEqual({ path, readable: false });
    }
    expect(JSON.stringify(seen)).not.toContain(SECRET);
  });

  it("a graceful stop reaches the app inside the sandbox: it runs its teardown and stops on its own", async () => {
    const [runner] = (await platform.client.listRunners("snoop", "team-a")).filter((r) => r.state === "IDLE");
    await platform.client.rollout("snoop", "team-a", false);
    const lines = () => platform.logs.filter((l) => l.msg === "runner output" && l.runner_id === runner.runner_id).map((l) => String(l.line));
    await expect.poll(() => lines().some((l) => l.includes("stopped")), { timeout: 20_000 }).toBe(true);
    expect(lines().some((l) => l.includes("received SIGTERM"))).toBe(true);
    expect(lines().some((l) => l.includes("running teardown()"))).toBe(true);
  });

  it("says which sandbox runs the runners: in its start-up log and in GET /v1/platform (falctl platform info)", async () => {
    const listening = platform.logs.find((l) => l.msg === "platform listening");
    expect(listening?.sandbox).toBe("bwrap");
    expect((await platform.client.platformInfo()).sandbox).toBe("bwrap");
  });
});
