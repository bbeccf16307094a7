/**
 * The local runner backend: runs runners as child processes on this machine
 * and hands out this machine's GPUs to them (CUDA_VISIBLE_DEVICES).
 *
 * Readiness: a runner is ready when its harness says so on the readiness pipe
 * (fd 3 in the runner, named by FAL_READY_FD; docs/runner-protocol.md,
 * "Readiness"), or, for a harness that does not, when GET /health answers
 * 200; both are watched, whichever comes first.
 *
 * Each runner gets its own process group (detached), and every signal goes to
 * the group: `python3` here can be a pyenv shim whose PID is not the
 * interpreter's, so signalling the PID alone can leave the app serving.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MACHINE_TYPES } from "../../model/catalog";
import { runnerBaseEnv } from "../childEnv";
import { pythonInstall } from "./pythonInstall";
import type { Sandbox } from "./sandbox";
import type { RunnerCgroups } from "./cgroups";
import { eachLine } from "../lines";
import { GpuPool } from "./gpuPool";
import { NoCapacityError, RunnerStartError, type RunnerBackend, type RunnerExit, type RunnerLaunch, type StartedRunner } from "./backend";
import { runnerHealth } from "./runnerHttp";
import { isProcessAlive } from "../processes";

export interface LocalBackendOptions {
  /** Directory that holds the `falplane` Python package. */
  readonly pythonSdkPath: string;
  /** Host runners bind. Default 127.0.0.1. */
  readonly bindHost?: string;
  /** Machine types this machine can host. Default: the CPU types, plus GPU types when there are GPUs. */
  readonly machineTypes?: readonly string[];
  /** GPU indices this machine offers. Default: what `nvidia-smi` lists (none when it is missing). */
  readonly gpus?: readonly string[];
  /** Called with each line a runner prints. */
  readonly onOutput?: (runnerId: string, stream: "stdout" | "stderr", line: string) => void;
  /** How runners are isolated (./sandbox.ts). */
  readonly sandbox: Sandbox;
  /**
   * Parent of the runners' working directories; must be outside the data
   * directory. Each platform process uses its own folder in it, and removes
   * those of dead processes. Default `<tmpdir>/falplane-runners`.
   */
  readonly runnersDir?: string;
  /** Names of platform environment variables every runner also gets (`--runner-env`). Default none. */
  readonly passEnv?: readonly string[];
  /** Host directories every runner may read and write (`--runner-shared-dir`, e.g. a model cache). Default none. */
  readonly sharedDirs?: readonly string[];
  /** Machine-type CPU and memory limits (./cgroups.ts); none when absent. */
  readonly cgroups?: RunnerCgroups;
}

const OUTPUT_TAIL_LINES = 40;
/** The runner's end of the readiness pipe: stdio index 3 (after stdin, stdout, stderr). */
const READY_FD = 3;
/** The cgroup gate: a runner with limits waits for a line here before it starts (then the fd is closed). */
const GATE_FD = 4;
const CGROUP_GATE = `read -r _ <&${GATE_FD}; exec ${GATE_FD}<&-; exec "$0" "$@"`;

export class LocalRunner implements StartedRunner {
  readonly url: string;
  readonly ready: Promise<void>;
  readonly exited: Promise<RunnerExit>;
  private exitInfo: RunnerExit | undefined;
  private readonly tail: string[] = [];
  /** Resolves when the harness wrote `ready` on the readiness pipe; never when it does not. */
  private readonly signalled: Promise<void>;
  private isSignalled = false;

  constructor(
    readonly id: string,
    readonly port: number,
    private readonly child: ChildProcess,
    host: string,
    startupTimeoutMs: number,
    onOutput?: LocalBackendOptions["onOutput"],
  ) {
    this.url = `http://${host}:${port}`;
    for (const stream of ["stdout", "stderr"] as const) {
      if (!child[stream]) continue;
      eachLine(child[stream], (line) => {
        this.tail.push(line);
        if (this.tail.length > OUTPUT_TAIL_LINES) this.tail.shift();
        onOutput?.(id, stream, line);
      });
    }
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      child.on("error", (err) => {
        this.tail.push(String(err));
        this.exitInfo = { code: -1, signal: null };
        resolve(this.exitInfo);
      });
    });
    this.signalled = readySignal(child);
    void this.signalled.then(() => (this.isSignalled = true));
    this.ready = this.waitHealthy(startupTimeoutMs);
    // A failed start is reported through `ready`; keep Node from flagging it as unhandled meanwhile.
    this.ready.catch(() => undefined);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  output(): string {
    return this.tail.join("\n");
  }

  /** SIGTERM to the group, SIGKILL after graceMs if it is still there. */
  async stop(graceMs: number): Promise<RunnerExit> {
    if (!this.alive) return this.exitInfo!;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    // Children the app started may outlive it; the group goes with the runner.
    this.signal("SIGKILL");
    return exit;
  }

  kill(): void {
    this.signal("SIGKILL");
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, sig);
    } catch {
      // The group is gone already.
    }
  }

  private async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let delay = 20;
    while (Date.now() < deadline) {
      if (this.isSignalled && this.alive) return;
      if (!this.alive) {
        const e = this.exitInfo!;
        throw new RunnerStartError(
          `runner ${this.id} exited during setup (${e.signal ? `signal ${e.signal}` : `exit code ${e.code}`})`,
          this.output(),
        );
      }
      try {
        const status = await Promise.race([runnerHealth(this.url, 2000), this.signalled.then(() => 200)]);
        if (status === 200 && this.alive) return;
      } catch {
        // Not listening yet.
      }
      // The fallback for a harness that does not signal: poll /health with backoff.
      await Promise.race([sleep(delay), this.exited, this.signalled]);
      delay = Math.min(delay * 2, 250);
    }
    this.kill();
    await this.exited;
    throw new RunnerStartError(
      `runner ${this.id} did not become healthy within startup_timeout (${Math.round(timeoutMs / 1000)} s)`,
      this.output(),
    );
  }
}

export class LocalBackend implements RunnerBackend {
  readonly name = "local";
  readonly machineTypes: readonly string[];
  private readonly bindHost: string;
  private readonly live = new Set<LocalRunner>();
  private readonly gpus: GpuPool;
  /** This process's folder of runner working directories. */
  private readonly workRoot: string;

  constructor(private readonly opts: LocalBackendOptions) {
    this.bindHost = opts.bindHost ?? "127.0.0.1";
    this.workRoot = claimWorkRoot(opts.runnersDir ?? join(tmpdir(), "falplane-runners"));
    this.gpus = new GpuPool(opts.gpus ?? detectGpus());
    this.machineTypes =
      opts.machineTypes ??
      Object.entries(MACHINE_TYPES)
        .filter(([, t]) => t.gpus === 0 || this.gpus.total > 0)
        .map(([name]) => name);
  }

  canHost(machineType: string): boolean {
    return this.machineTypes.includes(machineType);
  }

  gpuCapacity(): { total: number; free: number } {
    return { total: this.gpus.total, free: this.gpus.free().length };
  }

  capacityChanged(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    return this.gpus.changed(maxWaitMs, signal);
  }

  async start(launch: RunnerLaunch): Promise<LocalRunner> {
    const wanted = launch.gpus ?? 0;
    const mine = this.gpus.take(launch.runnerId, wanted);
    if (!mine) throw new NoCapacityError(wanted, this.gpus.free().length, this.gpus.total);
    let workDir: string | undefined;
    let child: ChildProcess;
    let port: number;
    try {
      const python = await pythonInstall(launch.python);
      // Its own copy of the revision's files, outside the data directory: what it writes stays its own.
      workDir = join(this.workRoot, launch.runnerId);
      cpSync(launch.workDir, workDir, { recursive: true, filter: (src) => !src.endsWith("/.complete") });
      chmodSync(workDir, 0o700);
      port = await freePort(this.bindHost);
      const env: Record<string, string> = {
        ...runnerBaseEnv(this.opts.passEnv),
        ...launch.env,
        HOME: workDir,
        // Only the GPUs handed to this runner are visible to it; CPU runners see none.
        CUDA_VISIBLE_DEVICES: mine.join(","),
        PORT: String(port),
        FAL_RUNNER_HOST: this.bindHost,
        FAL_RUNNER_ID: launch.runnerId,
        PYTHONPATH: this.opts.pythonSdkPath,
        PYTHONUNBUFFERED: "1",
      };
      const cmd = this.opts.sandbox.wrap(python.executable, ["-m", "falplane.runner", launch.entrypoint], {
        workDir,
        readOnly: [...python.dirs, this.opts.pythonSdkPath],
        readWrite: this.opts.sharedDirs ?? [],
        gpuDevices: mine.length > 0,
      });
      // fd 3: the readiness pipe; the harness writes one line on it when it takes traffic.
      env.FAL_READY_FD = String(READY_FD);
      const limits = launch.machineType ? MACHINE_TYPES[launch.machineType] : undefined;
      const gated = Boolean(this.opts.cgroups?.enforced && limits);
      // With limits, the runner waits at a gate (fd 4) until it is in its cgroups: nothing it
      // forks (bwrap's init, the app) can start outside them, and no /proc sweep is needed first.
      const [file, args] = gated ? ["/bin/sh", ["-c", CGROUP_GATE, cmd.file, ...cmd.args]] : [cmd.file, cmd.args];
      child = spawn(file, args, { cwd: workDir, env, detached: true, stdio: ["ignore", "pipe", "pipe", "pipe", ...(gated ? (["pipe"] as const) : [])] });
      // At once, before the app allocates anything; what it forks later inherits the cgroup.
      if (this.opts.cgroups && limits && child.pid !== undefined) attachOrKill(this.opts.cgroups, launch.runnerId, child.pid, limits);
      if (gated) (child.stdio[GATE_FD] as import("node:stream").Writable).end("go\n");
    } catch (err) {
      this.gpus.release(launch.runnerId);
      if (workDir) rmSync(workDir, { recursive: true, force: true });
      throw new RunnerStartError(`runner ${launch.runnerId} could not be launched: ${err instanceof Error ? err.message : err}`, "");
    }
    const runner = new LocalRunner(
      launch.runnerId,
      port,
      child,
      this.bindHost,
      launch.startupTimeoutMs,
      this.opts.onOutput,
    );
    this.live.add(runner);
    void runner.exited.then(() => {
      this.live.delete(runner);
      // Whatever the app left running in its group goes too; only then are its GPUs free.
      runner.kill();
      this.gpus.release(launch.runnerId);
      rmSync(workDir!, { recursive: true, force: true });
      this.opts.cgroups?.release(launch.runnerId);
    });
    return runner;
  }

  /** Kills every runner this backend started; used on shutdown and from process exit hooks. */
  killAll(): void {
    for (const r of this.live) r.kill();
  }
}

/** Resolves when the child writes a `ready` line on its readiness pipe (fd 3); stays pending when it never does. */
function readySignal(child: ChildProcess): Promise<void> {
  const pipe = child.stdio[READY_FD] as import("node:stream").Readable | null | undefined;
  if (!pipe) return new Promise(() => undefined);
  return new Promise((resolve) => {
    let seen = "";
    pipe.setEncoding("utf8");
    pipe.on("data", (chunk: string) => {
      seen += chunk;
      if (/(^|\n)ready\n/.test(seen)) {
        resolve();
        pipe.destroy();
      } else if (seen.length > 1024) {
        pipe.destroy(); // Not the protocol: fall back to /health.
      }
    });
    pipe.on("error", () => undefined);
  });
}

/** Limits the runner; when that fails in `on` mode (attach throws), the runner must not run unlimited: kill its group. */
function attachOrKill(cgroups: RunnerCgroups, runnerId: string, pid: number, limits: { cpu: number; memoryMb: number }): void {
  try {
    cgroups.attach(runnerId, pid, limits);
  } catch (err) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Gone already.
    }
    // attach() removes the runner's cgroups once the killed processes are reaped.
    throw err;
  }
}

/**
 * Makes `<parent>/<pid>` this process's folder of runner working directories
 * and removes the folders of processes that are gone (a platform killed
 * with SIGKILL leaves its runners' folders behind).
 */
function claimWorkRoot(parent: string): string {
  mkdirSync(parent, { recursive: true, mode: 0o711 });
  for (const entry of readdirSync(parent)) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || isProcessAlive(pid)) continue;
    rmSync(join(parent, entry), { recursive: true, force: true });
  }
  const mine = join(parent, String(process.pid));
  mkdirSync(mine, { recursive: true, mode: 0o700 });
  return mine;
}


function detectGpus(): string[] {
  try {
    const out = execFileSync("nvidia-smi", ["--query-gpu=index", "--format=csv,noheader"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 5000,
    });
    return out
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}

export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
