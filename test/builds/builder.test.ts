/**
 * Environment builds, for real: uv (installed by the set-up) builds a virtual
 * environment from PyPI, once per build key, on PGlite and on PostgreSQL.
 * pyfiglet is small, pure Python and absent from the platform's own Python.
 */
import { afterAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Db } from "../../src/platform/store/db";
import { migrate } from "../../src/platform/store/migrations";
import { BuildFailedError, EnvironmentBuilder } from "../../src/platform/builds/builder";
import { createLogger } from "../../src/platform/log";
import { DATABASES, beforeAllOrFailEach, openTestDb } from "../helpers/support";

const FIGLET = ["pyfiglet==1.0.4"];

describe.each(DATABASES)("environment builds on %s", (database) => {
  let db: Db;
  let dir: string;
  let cleanup: () => Promise<void>;
  const builder = (owner = "test:1") =>
    new EnvironmentBuilder({ db, envsDir: join(dir, "envs"), owner, log: createLogger("silent") });

  beforeAllOrFailEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "falplane-builds-"));
    ({ db, close: cleanup } = await openTestDb(database));
    await migrate(db);
  });
  afterAll(async () => {
    await cleanup?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it("builds an environment with the app's package, isolated from the host's site-packages", async () => {
    const b = builder();
    const started = await b.ensure({ requirements: FIGLET });
    expect(started.status).toBe("BUILDING");
    const ready = await b.waitReady(started.id);
    const py = b.pythonOf(ready);
    const out = execFileSync(py, ["-c", "import pyfiglet, sys; print(pyfiglet.figlet_format('ok')); print(sys.prefix != sys.base_prefix)"], { encoding: "utf8" });
    expect(out).toContain("| |/ /"); // the letter k in figlet's standard font
    expect(out.trim().endsWith("True")).toBe(true);
    // The host's own site-packages are not on the environment's path.
    const hostSite = execFileSync("python3", ["-c", "import site; print(site.getsitepackages()[0])"], { encoding: "utf8" }).trim();
    const envPath = execFileSync(py, ["-c", "import sys; print('\\n'.join(sys.path))"], { encoding: "utf8" });
    expect(envPath.split("\n")).not.toContain(hostSite);
    expect(ready.log).toContain("pyfiglet==1.0.4");
    expect(ready.size_bytes).toBeGreaterThan(100_000);
  });

  it("a second deploy of the same requirements (in another spelling) is a cache hit and builds nothing", async () => {
    const b = builder();
    const plan = await b.plan({ requirements: ["  pyfiglet==1.0.4 ", "pyfiglet==1.0.4"] });
    expect(plan.ready?.status).toBe("READY");
    const again = await b.ensure({ requirements: ["pyfiglet==1.0.4"] });
    expect(again.id).toBe(plan.ready!.id);
    expect(again.status).toBe("READY");
  });

  it("concurrent deploys of one new key, from two platform processes, wait for one build", async () => {
    const [a, c] = [builder("host:100"), builder("host:200")];
    const spec = { requirements: ["pyfiglet==1.0.3"] };
    const [x, y] = await Promise.all([a.ensure(spec), c.ensure(spec)]);
    expect(x.id).toBe(y.id);
    const [rx, ry] = await Promise.all([a.waitReady(x.id), c.waitReady(y.id)]);
    expect(rx.status).toBe("READY");
    expect(ry.id).toBe(rx.id);
    const n = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM builds WHERE requirements @> '[\"pyfiglet==1.0.3\"]'");
    expect(n[0].n).toBe(1);
  });

  it("noCache really rebuilds: a new build of the same key in its own directory", async () => {
    const b = builder();
    const before = (await b.plan({ requirements: FIGLET })).ready!;
    const fresh = await b.ensure({ requirements: FIGLET }, true);
    expect(fresh.id).not.toBe(before.id);
    expect(fresh.build_key).toBe(before.build_key);
    const ready = await b.waitReady(fresh.id);
    expect(ready.dir).not.toBe(before.dir);
    expect(existsSync(before.dir)).toBe(true); // runners of the old build keep their files
  });

  it("an unsatisfiable requirement fails with the resolver's words, and leaves nothing half-built", async () => {
    const b = builder();
    const started = await b.ensure({ requirements: ["pyfiglet==999.0.0"] });
    const err = await b.waitReady(started.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildFailedError);
    expect((err as BuildFailedError).summary).toMatch(/pyfiglet==999\.0\.0/);
    expect((err as BuildFailedError).summary.split("\n").length).toBeLessThanOrEqual(25);
    expect(existsSync(started.dir)).toBe(false);
    // The next deploy of that key tries again instead of reusing the failure.
    const retry = await b.ensure({ requirements: ["pyfiglet==999.0.0"] });
    expect(retry.id).not.toBe(started.id);
    await b.waitReady(retry.id).catch(() => undefined);
  });

  it("the garbage collector removes environments no revision uses, after the grace period", async () => {
    const b = builder();
    const ready = (await b.plan({ requirements: FIGLET })).ready!;
    expect((await b.collectGarbage(3_600_000)).removed).toBe(0);
    const { removed } = await b.collectGarbage(0);
    expect(removed).toBeGreaterThanOrEqual(2);
    expect(existsSync(ready.dir)).toBe(false);
    expect((await b.plan({ requirements: FIGLET })).ready).toBeUndefined();
  });
});
