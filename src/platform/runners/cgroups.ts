/**
 * Machine-type CPU and memory limits for local runners, through the kernel's
 * control groups. A runner of machine type XS gets half a CPU of time and
 * 512 MiB of memory; past the memory limit the kernel's OOM killer ends it,
 * past the CPU quota it is throttled. Nothing else is limited here (GPU
 * memory, disk, network): docs/operations.md, Resource limits.
 *
 * The runner cgroups are made under the platform's OWN cgroup of each
 * controller (read from /proc/self/cgroup), not under the hierarchy's root:
 * a platform in a container or a systemd service may only write below its own
 * cgroup, and limits nested there still count against the platform's own.
 * Layout: `<own cgroup>/falplane-<platform pid>/<runner id>`. A platform
 * killed with SIGKILL leaves its folder behind; the next one removes the
 * folders of platform pids that are gone.
 *
 * cgroup v1 (a hierarchy per controller: cpu.cfs_quota_us,
 * memory.limit_in_bytes) and v2 (one unified hierarchy: cpu.max, memory.max)
 * are both handled; on a host with v1 cpu and memory hierarchies those are
 * used even when an empty v2 hierarchy is mounted beside them (hybrid mode).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isProcessAlive } from "../processes";

export const RESOURCE_MODES = ["auto", "on", "off"] as const;
export type ResourceMode = (typeof RESOURCE_MODES)[number];

export interface ResourceLimits {
  /** CPUs of time per period (0.5 = half a CPU). */
  readonly cpu: number;
  readonly memoryMb: number;
}

export interface CgroupOptions {
  /** Called with what went wrong where the platform goes on without a limit (a failed attach in `auto`). */
  readonly onWarning?: (message: string) => void;
  /** Files the host's cgroup state is read from; tests only. */
  readonly procSelf?: string;
}

/** The cgroup period: quotas are CPUs × this many microseconds. */
const CPU_PERIOD_US = 100_000;
/** A runner whose processes are still being reaped when it exits: its folder is retried after these delays. */
const RELEASE_RETRY_MS = [100, 500, 2000, 5000];

type Version = "v1" | "v2";

export class RunnerCgroups {
  /** Runner ids whose cgroups exist. */
  private readonly runners = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sweeps = new Set<Promise<unknown>>();
  /** Attaches that failed in `auto` mode: the runner ran without limits. */
  failedAttaches = 0;
  /** The last of those failures, for `falctl platform info`-style reporting. */
  lastError: string | undefined;

  private constructor(
    readonly enforced: boolean,
    /** Why limits are not enforced, or what enforces them. */
    readonly reason: string,
    readonly version: Version | undefined,
    private readonly mode: ResourceMode,
    /** This platform's folders, one per controller hierarchy (v1: cpu, memory; v2: one). */
    private readonly parents: readonly string[],
    private readonly onWarning?: (message: string) => void,
  ) {}

  /**
   * `auto`: enforce when the cgroups can be written here, else off with the
   * reason; `on`: throw with the reason when they cannot; `off`: never touch them.
   */
  static detect(mode: ResourceMode, opts: CgroupOptions = {}): RunnerCgroups {
    if (mode === "off") return new RunnerCgroups(false, "--enforce-resources off", undefined, mode, []);
    let found: { version: Version; parents: string[] };
    try {
      found = prepare(opts.procSelf ?? "/proc/self");
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (mode === "on") {
        throw new Error(`resource limits were asked for (--enforce-resources on) but ${reason}; start with --enforce-resources auto or off`);
      }
      return new RunnerCgroups(false, reason, undefined, mode, []);
    }
    return new RunnerCgroups(true, `cgroup ${found.version} under ${found.parents.join(", ")}`, found.version, mode, found.parents, opts.onWarning);
  }

  /**
   * Puts process `pid` (and the rest of its process group) into a new cgroup
   * per controller with the machine type's limits. Its later children inherit
   * the cgroup, so bwrap and the Python runner it forks are covered. Throws
   * in `on` mode; in `auto` the runner goes on without limits and the failure
   * is recorded (failedAttaches, lastError) and passed to onWarning.
   */
  attach(runnerId: string, pid: number, limits: ResourceLimits): void {
    if (!this.enforced) return;
    try {
      this.attachOrThrow(runnerId, pid, limits);
    } catch (err) {
      const message = `cannot limit runner ${runnerId} to ${limits.cpu} CPU / ${limits.memoryMb} MB: ${err instanceof Error ? err.message : err}`;
      this.release(runnerId);
      if (this.mode === "on") throw new Error(message);
      this.failedAttaches++;
      this.lastError = message;
      this.onWarning?.(message);
    }
  }

  /**
   * Removes the runner's cgroups. A cgroup that still holds processes cannot
   * be removed; they are gone shortly after the runner's process group is
   * killed (a PID namespace's processes are reaped after its init), so the
   * removal is retried a few times.
   */
  release(runnerId: string): void {
    if (!this.enforced || !this.runners.has(runnerId)) return;
    if (this.removeRunner(runnerId)) return;
    const retry = (i: number) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!this.removeRunner(runnerId) && i + 1 < RELEASE_RETRY_MS.length) retry(i + 1);
      }, RELEASE_RETRY_MS[i]);
      t.unref();
      this.timers.add(t);
    };
    retry(0);
  }

  /**
   * On shutdown, after the runners are stopped: removes every runner cgroup
   * left and this platform's folders. What is still busy after a couple of
   * seconds stays; the next platform start removes it.
   */
  async releaseAll(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const deadline = Date.now() + 2000;
    for (;;) {
      for (const id of [...this.runners]) this.removeRunner(id);
      if (this.runners.size === 0 || Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const parent of this.parents) removeDir(parent);
  }

  /** The runner's cgroup folders, one per hierarchy (for tests and diagnostics). */
  pathsOf(runnerId: string): string[] {
    return this.parents.map((p) => join(p, runnerId));
  }

  private attachOrThrow(runnerId: string, pid: number, limits: ResourceLimits): void {
    const quota = Math.max(1000, Math.round(limits.cpu * CPU_PERIOD_US));
    const bytes = limits.memoryMb * 1024 * 1024;
    this.runners.add(runnerId);
    if (this.version === "v1") {
      const [cpu, memory] = this.pathsOf(runnerId);
      // The parent is made again when needed: a second platform of this process may have removed it on close.
      mkdirSync(cpu, { recursive: true });
      mkdirSync(memory, { recursive: true });
      write(join(cpu, "cpu.cfs_period_us"), CPU_PERIOD_US);
      write(join(cpu, "cpu.cfs_quota_us"), quota);
      write(join(memory, "memory.limit_in_bytes"), bytes);
      // Memory + swap: without it a runner could go past its limit into swap. Set after the memory limit (it may not be lower).
      if (existsSync(join(memory, "memory.memsw.limit_in_bytes"))) write(join(memory, "memory.memsw.limit_in_bytes"), bytes);
      // What a process allocated before it was moved in counts here too (deprecated in newer kernels: best effort).
      try {
        writeFileSync(join(memory, "memory.move_charge_at_immigrate"), "3");
      } catch {
        // Not offered here.
      }
      this.joinGroup(runnerId, [cpu, memory], pid);
    } else {
      const [dir] = this.pathsOf(runnerId);
      mkdirSync(dir, { recursive: true });
      write(join(dir, "cpu.max"), `${quota} ${CPU_PERIOD_US}`);
      write(join(dir, "memory.max"), bytes);
      if (existsSync(join(dir, "memory.swap.max"))) write(join(dir, "memory.swap.max"), 0);
      this.joinGroup(runnerId, [dir], pid);
    }
  }

  /**
   * Moves `pid` into each cgroup now (synchronous, a few small writes: the
   * runner's main process is limited before it allocates anything), then
   * sweeps the rest of its process group in from the background: a scan of
   * /proc takes tens of milliseconds, which must neither block the event loop
   * nor delay the runner's start. The spawned process may already have forked
   * (bwrap forks the sandbox's init, which forks the app) before it was moved,
   * and a process moved after it forked leaves that child behind; so the
   * group is swept until every member is in (measured: without the sweep
   * about 1 in 7 Python processes stayed outside). A process moved in first
   * passes the cgroup to what it forks later. The local backend also holds
   * its runners at a gate until attach returned (localBackend.ts), so there
   * the sweep finds nothing; it stays for other callers.
   */
  private joinGroup(runnerId: string, dirs: readonly string[], pid: number): void {
    for (const dir of dirs) write(join(dir, "cgroup.procs"), pid);
    const sweep = sweepGroup(dirs, pid)
      .catch((err) => this.onWarning?.(`cannot sweep runner ${runnerId}'s processes into its cgroup: ${err instanceof Error ? err.message : err}`))
      .finally(() => this.sweeps.delete(sweep));
    this.sweeps.add(sweep);
  }

  /** Sweeps still running (tests wait for them). */
  async settled(): Promise<void> {
    while (this.sweeps.size > 0) await Promise.all([...this.sweeps]);
  }

  /** True when none of the runner's folders is left. */
  private removeRunner(runnerId: string): boolean {
    let gone = true;
    for (const dir of this.pathsOf(runnerId)) gone = removeDir(dir) && gone;
    if (gone) this.runners.delete(runnerId);
    return gone;
  }
}

/**
 * Finds the platform's own cgroups, makes its `falplane-<pid>` folders in
 * them (which proves they are writable) and removes those of dead platforms.
 * Throws the reason when limits cannot be enforced here.
 */
function prepare(procSelf: string): { version: Version; parents: string[] } {
  const mounts = cgroupMounts(join(procSelf, "mountinfo"));
  const own = ownCgroups(join(procSelf, "cgroup"));
  const name = `falplane-${process.pid}`;
  const v1cpu = mounts.v1.get("cpu");
  const v1mem = mounts.v1.get("memory");
  let version: Version;
  let roots: string[];
  if (v1cpu && v1mem) {
    version = "v1";
    roots = [ownDir(v1cpu, own.v1.get("cpu"), "cpu"), ownDir(v1mem, own.v1.get("memory"), "memory")];
  } else if (mounts.v2) {
    version = "v2";
    const root = ownDir(mounts.v2, own.v2, "unified");
    const available = readWords(join(root, "cgroup.controllers"));
    const missing = ["cpu", "memory"].filter((c) => !available.includes(c));
    if (missing.length) throw new Error(`the cgroup v2 controller(s) ${missing.join(", ")} are not available in ${root} (cgroup.controllers)`);
    roots = [root];
  } else {
    throw new Error("no cgroup hierarchy with the cpu and memory controllers is mounted (/proc/self/mountinfo)");
  }
  for (const root of roots) removeStale(root);
  const parents = roots.map((r) => join(r, name));
  for (const p of parents) {
    try {
      mkdirSync(p, { recursive: true });
    } catch (err) {
      throw new Error(`cannot create ${p} (${(err as NodeJS.ErrnoException).code ?? err}); the platform needs write access to its own cgroup`);
    }
  }
  if (version === "v2") {
    // Children get cpu and memory only when the parents pass them down. The
    // platform's own cgroup holds the platform itself, and v2 lets a cgroup
    // with processes pass controllers down only if it already does (delegation).
    const own = roots[0];
    const enabled = readWords(join(own, "cgroup.subtree_control"));
    try {
      if (!enabled.includes("cpu") || !enabled.includes("memory")) write(join(own, "cgroup.subtree_control"), "+cpu +memory");
      write(join(parents[0], "cgroup.subtree_control"), "+cpu +memory");
    } catch (err) {
      removeDir(parents[0]);
      throw new Error(`cannot enable the cpu and memory controllers below ${own} (${(err as Error).message}); run the platform in a cgroup that delegates them`);
    }
  }
  return { version, parents };
}

interface Mounts {
  /** v1 controller → mount point. */
  readonly v1: Map<string, { dir: string; root: string }>;
  readonly v2?: { dir: string; root: string };
}

/** cgroup mounts from mountinfo: `id parent dev root mountpoint opts ... - fstype source superopts`. */
function cgroupMounts(mountinfo: string): Mounts {
  const v1 = new Map<string, { dir: string; root: string }>();
  let v2: { dir: string; root: string } | undefined;
  for (const line of readFileSync(mountinfo, "utf8").split("\n")) {
    const [left, right] = line.split(" - ");
    if (!right) continue;
    const f = left.split(" ");
    const [fstype, , superOpts = ""] = right.split(" ");
    const m = { root: unescape(f[3]), dir: unescape(f[4]) };
    if (fstype === "cgroup") {
      for (const opt of superOpts.split(",")) if ((opt === "cpu" || opt === "memory") && !v1.has(opt)) v1.set(opt, m);
    } else if (fstype === "cgroup2" && !v2) {
      v2 = m;
    }
  }
  return { v1, v2 };
}

/** /proc/self/cgroup: `id:controllers:path`, v2 as `0::path`. */
function ownCgroups(file: string): { v1: Map<string, string>; v2?: string } {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") v2 = m[3];
    else for (const c of m[2].split(",")) v1.set(c, m[3]);
  }
  return { v1, v2 };
}

/** The directory of the platform's own cgroup in a mounted hierarchy (a container may mount only a subtree). */
function ownDir(mount: { dir: string; root: string }, path: string | undefined, controller: string): string {
  if (path === undefined) throw new Error(`/proc/self/cgroup names no ${controller} cgroup for this process`);
  const rel = mount.root === "/" ? path : path.startsWith(mount.root) ? path.slice(mount.root.length) : undefined;
  if (rel === undefined) throw new Error(`this process's ${controller} cgroup ${path} is outside the mounted ${mount.root} at ${mount.dir}`);
  const dir = join(mount.dir, rel);
  if (!existsSync(dir)) throw new Error(`this process's ${controller} cgroup directory ${dir} does not exist`);
  return dir;
}

/** Removes `falplane-<pid>` folders (and their runner folders) of platform processes that are gone. */
function removeStale(root: string): void {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return;
  }
  for (const entry of entries) {
    const m = /^falplane-(\d+)$/.exec(entry);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isProcessAlive(pid)) continue;
    const dir = join(root, entry);
    try {
      for (const sub of readdirSync(dir, { withFileTypes: true })) if (sub.isDirectory()) removeDir(join(dir, sub.name));
    } catch {
      // Removed meanwhile.
    }
    removeDir(dir);
  }
}

/** rmdir; true when the folder is gone. A cgroup with processes in it (EBUSY) stays. */
function removeDir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
}

/** Moves the members of process group `pid` that are not yet in the cgroups in, until none is left outside. */
async function sweepGroup(dirs: readonly string[], pid: number): Promise<void> {
  for (let round = 0; round < 20; round++) {
    let inside: Set<number>;
    try {
      inside = new Set((await readFile(join(dirs[0], "cgroup.procs"), "utf8")).trim().split(/\s+/).map(Number));
    } catch {
      return; // The runner's cgroup is gone: it stopped meanwhile.
    }
    const outside = (await processGroup(pid)).filter((p) => !inside.has(p));
    if (outside.length === 0) return;
    for (const member of outside) {
      for (const dir of dirs) {
        try {
          await writeFile(join(dir, "cgroup.procs"), String(member));
        } catch {
          // It exited meanwhile.
        }
      }
    }
  }
}

/** Processes whose process group is `pgid`, other than `pgid` itself. */
async function processGroup(pgid: number): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir("/proc");
  } catch {
    return [];
  }
  const stats = await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e) && Number(e) !== pgid)
      .map((e) =>
        readFile(`/proc/${e}/stat`, "utf8").then(
          (stat) => {
            // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses.
            const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            return Number(fields[2]) === pgid ? Number(e) : undefined;
          },
          () => undefined, // Gone.
        ),
      ),
  );
  return stats.filter((p): p is number => p !== undefined);
}

function write(file: string, value: string | number): void {
  try {
    writeFileSync(file, String(value));
  } catch (err) {
    throw new Error(`cannot write ${value} to ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function readWords(file: string): string[] {
  try {
    return readFileSync(file, "utf8").trim().split(/\s+/);
  } catch {
    return [];
  }
}

/** mountinfo escapes spaces and the like as octal (`\040`). */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

