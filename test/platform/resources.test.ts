/**
 * Machine-type CPU and memory limits of local runners (cgroups;
 * docs/operations.md, Resource limits), as a user notices them:
 *  - an XS runner (512 MB) whose setup allocates ~1 GB is killed by the
 *    kernel and its revision goes into crash backoff, while the same app
 *    allocating 100 MB on XS starts and serves;
 *  - the runner's cgroup holds its processes and the machine type's quota
 *    and limit (XS: 0.5 CPU, 512 MiB; S: 1 CPU, 1 GiB);
 *  - a runner that stops leaves no cgroup behind;
 *  - `enforceResources: "off"` creates no cgroup: the 1 GB app starts on XS.
 *
 * Needs cgroup v1 hierarchies the test process may write (root, as on the
 * development machine); elsewhere the enforcing tests are skipped, and the
 * platform reports why in its start-up log (checked too).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployDir } from "../helpers/deploy";
import { TempDirs } from "../helpers/support";
import { RunnerCgroups } from "../../src/platform/runners/cgroups";

const dirs = new TempDirs();

/** This process's v1 cgroup directory of `controller`, read the way an operator would (/proc/self/cgroup). */
function ownV1Dir(controller: string): string | undefined {
  for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const [, controllers, path] = line.split(":");
    if (controllers?.split(",").includes(controller)) return join("/sys/fs/cgroup", controller, path);
  }
  return undefined;
}

/** Where a runner of a platform in this process has its cpu and memory cgroups. */
function runnerDirs(runnerId: string): { cpu: string; memory: string } {
  const name = `falplane-${process.pid}`;
  return { cpu: join(ownV1Dir("cpu")!, name, runnerId), memory: join(ownV1Dir("memory")!, name, runnerId) };
}

function read(file: string): string {
  return readFileSync(file, "utf8").trim();
}

/** An app whose setup holds `mb` MiB (written, so every page is really in use). */
function hogSource(mb: number): string {
  return [
    "import falplane",
    "",
    "",
    "class Hog(falplane.App):",
    "    def setup(self) -> None:",
    `        self.block = b"\\x01" * (${mb} << 20)`,
    "",
    '    @falplane.endpoint("/")',
    "    def run(self, input: dict) -> dict:",
    '        return {"mb": len(self.block) >> 20}',
    "",
  ].join("\n");
}

async function deployHog(platform: TestPlatform, name: string, mb: number, machineType: string) {
  await deployDir(platform.client, {
    dir: dirs.app(hogSource(mb)),
    sourceObject: "app.py::Hog",
    name,
    codeSettings: { machine_types: [machineType] },
    // One runner started at once, without a request.
    scaling: { min_concurrency: 1, keep_alive: 600 },
  });
}

async function idleRunner(platform: TestPlatform, app: string): Promise<string> {
  let id: string | undefined;
  await expect
    .poll(
      async () => {
        id = (await platform.client.listRunners(app)).find((r) => r.state === "IDLE")?.runner_id;
        return id;
      },
      { timeout: 60_000, interval: 250 },
    )
    .toBeTruthy();
  return id!;
}

function listeningLine(platform: TestPlatform): Record<string, unknown> | undefined {
  return platform.logs.find((l) => l.msg === "platform listening");
}

// Whether this host lets this process write cgroups; the platform's own `auto` decides the same way.
const probe = RunnerCgroups.detect("auto");
const v1 = probe.enforced && probe.version === "v1";
afterAll(async () => {
  await probe.releaseAll();
  dirs.removeAll();
});

describe.runIf(v1)("resource limits enforced (cgroup v1)", () => {
  let platform: TestPlatform;

  beforeAll(async () => {
    platform = await startTestPlatform({ machineTypes: ["XS", "S"], enforceResources: "on" });
    await deployHog(platform, "small", 100, "XS");
    await deployHog(platform, "big", 1024, "XS");
    await deployHog(platform, "roomy", 100, "S");
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
  });

  it("says so in the start-up log", () => {
    expect(listeningLine(platform)?.resources).toBe("cgroup v1");
  });

  it("kills an XS runner whose setup allocates 1 GB, while 100 MB on XS starts and serves", async () => {
    await idleRunner(platform, "small");
    // The kernel's OOM killer ends the big one during setup: a failed start, then crash backoff.
    await expect
      .poll(async () => (await platform.client.listRunners("big")).find((r) => r.state === "CRASH_BACKOFF"), { timeout: 60_000, interval: 250 })
      .toBeTruthy();
    const dead = await platform.db.query<{ error: string }>(
      "SELECT r.error FROM runners r JOIN apps a ON a.id = r.app_id WHERE a.name = 'big' AND r.state = 'DEAD'",
    );
    expect(dead.length).toBeGreaterThanOrEqual(1);
    expect(dead[0].error).toMatch(/exited during setup \((signal SIGKILL|exit code 137)\)/);
    // And nothing of that kind happened to the small one.
    const small = await platform.client.listRunners("small");
    expect(small.filter((r) => r.state === "IDLE").length).toBe(1);
  }, 90_000);

  it("puts the runner's processes in a cgroup with the machine type's CPU quota and memory limit", async () => {
    const xs = runnerDirs(await idleRunner(platform, "small"));
    expect(read(join(xs.cpu, "cpu.cfs_period_us"))).toBe("100000");
    expect(read(join(xs.cpu, "cpu.cfs_quota_us"))).toBe("50000");
    expect(read(join(xs.memory, "memory.limit_in_bytes"))).toBe(String(512 * 1024 * 1024));
    // The Python process bwrap forked is in it: its 100 MB are charged here.
    expect(Number(read(join(xs.memory, "memory.usage_in_bytes")))).toBeGreaterThan(100 * 1024 * 1024);
    expect(read(join(xs.cpu, "cgroup.procs")).split("\n").length).toBeGreaterThanOrEqual(2);

    const s = runnerDirs(await idleRunner(platform, "roomy"));
    expect(read(join(s.cpu, "cpu.cfs_quota_us"))).toBe("100000");
    expect(read(join(s.memory, "memory.limit_in_bytes"))).toBe(String(1024 * 1024 * 1024));
  }, 90_000);

  it("removes the runner's cgroups when it stops", async () => {
    const id = await idleRunner(platform, "small");
    const { cpu, memory } = runnerDirs(id);
    expect(existsSync(cpu) && existsSync(memory)).toBe(true);
    await platform.client.deleteApp("small");
    await expect.poll(() => existsSync(cpu) || existsSync(memory), { timeout: 30_000, interval: 100 }).toBe(false);
  }, 60_000);
});

describe("resource limits off", () => {
  let platform: TestPlatform;

  beforeAll(async () => {
    platform = await startTestPlatform({ machineTypes: ["XS"], enforceResources: "off" });
    await deployHog(platform, "unlimited", 1024, "XS");
  }, 120_000);

  afterAll(async () => {
    await platform?.stop();
  });

  it("creates no cgroup for a runner, so 1 GB on XS starts, and says so in the start-up log", async () => {
    expect(listeningLine(platform)?.resources).toBe("off (--enforce-resources off)");
    const id = await idleRunner(platform, "unlimited");
    if (ownV1Dir("cpu") && ownV1Dir("memory")) {
      const { cpu, memory } = runnerDirs(id);
      expect(existsSync(cpu)).toBe(false);
      expect(existsSync(memory)).toBe(false);
    }
  }, 90_000);
});

describe("detecting what this host allows", () => {
  it("auto turns limits off with the reason where no cgroup hierarchy is mounted; on refuses to start", () => {
    const procSelf = dirs.make("falplane-proc-");
    writeFileSync(join(procSelf, "mountinfo"), "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n");
    writeFileSync(join(procSelf, "cgroup"), "0::/\n");
    const auto = RunnerCgroups.detect("auto", { procSelf });
    expect(auto.enforced).toBe(false);
    expect(auto.reason).toBe("no cgroup hierarchy with the cpu and memory controllers is mounted (/proc/self/mountinfo)");
    expect(() => RunnerCgroups.detect("on", { procSelf })).toThrow(
      "resource limits were asked for (--enforce-resources on) but no cgroup hierarchy with the cpu and memory controllers is mounted",
    );
  });

  it.runIf(v1)("removes the cgroup folders a platform killed with SIGKILL left behind", async () => {
    // A pid that is surely gone: a process that has exited.
    const dead = spawnSync("true").pid!;
    const stale = [join(ownV1Dir("cpu")!, `falplane-${dead}`), join(ownV1Dir("memory")!, `falplane-${dead}`)];
    for (const dir of stale) mkdirSync(join(dir, "some-runner"), { recursive: true });
    const cgroups = RunnerCgroups.detect("on");
    for (const dir of stale) expect(existsSync(dir)).toBe(false);
    await cgroups.releaseAll();
  });
});
