/**
 * The local runner backend: runs runners as child processes on this machine
 * and hands out this machine's GPUs to them (CUDA_VISIBLE_DEVICES).
 *
 * Each runner gets its own process group (detached), and every signal goes to
 * the group: `python3` here can be a pyenv shim whose PID is not the
 * interpreter's, so signalling the PID alone can leave the app serving.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { MACHINE_TYPES } from "../../model/catalog";
import { appProcessEnv } from "../childEnv";
import { eachLine } from "../lines";
import { RunnerStartError, type RunnerBackend, type RunnerExit, type RunnerLaunch, type StartedRunner } from "./backend";
import { runnerHealth } from "./runnerHttp";

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
}

const OUTPUT_TAIL_LINES = 40;

export class LocalRunner implements StartedRunner {
  readonly url: string;
  readonly ready: Promise<void>;
  readonly exited: Promise<RunnerExit>;
  private exitInfo: RunnerExit | undefined;
  private readonly tail: string[] = [];

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
      if (!this.alive) {
        const e = this.exitInfo!;
        throw new RunnerStartError(
          `runner ${this.id} exited during setup (${e.signal ? `signal ${e.signal}` : `exit code ${e.code}`})`,
          this.output(),
        );
      }
      try {
        if ((await runnerHealth(this.url, 2000)) === 200) return;
      } catch {
        // Not listening yet.
      }
      await Promise.race([sleep(delay), this.exited]);
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
  private readonly gpus: readonly string[];
  /** GPU index → runner holding it. */
  private readonly gpuHolders = new Map<string, string>();

  constructor(private readonly opts: LocalBackendOptions) {
    this.bindHost = opts.bindHost ?? "127.0.0.1";
    this.gpus = opts.gpus ?? detectGpus();
    this.machineTypes =
      opts.machineTypes ??
      Object.entries(MACHINE_TYPES)
        .filter(([, t]) => t.gpus === 0 || this.gpus.length > 0)
        .map(([name]) => name);
  }

  canHost(machineType: string): boolean {
    return this.machineTypes.includes(machineType);
  }

  /** GPU indices not held by a runner. */
  freeGpus(): string[] {
    return this.gpus.filter((g) => !this.gpuHolders.has(g));
  }

  async start(launch: RunnerLaunch): Promise<LocalRunner> {
    const wanted = launch.gpus ?? 0;
    const free = this.freeGpus();
    if (wanted > free.length) {
      throw new RunnerStartError(
        `runner ${launch.runnerId} needs ${wanted} GPU(s); this machine has ${this.gpus.length}, ${free.length} free`,
        "",
      );
    }
    const mine = free.slice(0, wanted);
    for (const g of mine) this.gpuHolders.set(g, launch.runnerId);
    const port = await freePort(this.bindHost);
    const env: Record<string, string> = {
      ...appProcessEnv(),
      ...launch.env,
      // Only the GPUs handed to this runner are visible to it; CPU runners see none.
      CUDA_VISIBLE_DEVICES: mine.join(","),
      PORT: String(port),
      FAL_RUNNER_HOST: this.bindHost,
      FAL_RUNNER_ID: launch.runnerId,
      PYTHONPATH: this.opts.pythonSdkPath,
      PYTHONUNBUFFERED: "1",
    };
    const child = spawn(launch.python, ["-m", "falplane.runner", launch.entrypoint], {
      cwd: launch.workDir,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
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
      for (const g of mine) this.gpuHolders.delete(g);
    });
    return runner;
  }

  /** Kills every runner this backend started; used on shutdown and from process exit hooks. */
  killAll(): void {
    for (const r of this.live) r.kill();
  }
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
