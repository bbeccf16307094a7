/**
 * What the runner manager needs from wherever runners actually run: start one
 * for a revision, learn its address, wait for it to become healthy or exit,
 * stop it. The manager depends on this interface only, so a backend other than
 * local child processes (Kubernetes pods, say) can be added without touching
 * leasing, draining or scaling.
 */

/** Everything a backend needs to start one runner. */
export interface RunnerLaunch {
  readonly runnerId: string;
  /** Directory holding the revision's files; the runner's working directory. */
  readonly workDir: string;
  /** `path/file.py::ClassName`, relative to workDir. */
  readonly entrypoint: string;
  /** The interpreter of the revision's own Python environment. */
  readonly python: string;
  /** Extra environment (secrets, app identity). */
  readonly env: Readonly<Record<string, string>>;
  /** GPUs the runner needs. Default 0. */
  readonly gpus?: number;
  /** Its machine type (catalog MACHINE_TYPES): the CPU and memory limits a backend enforces where it can. */
  readonly machineType?: string;
  /** How long the runner may take to answer its health check before it counts as failed. */
  readonly startupTimeoutMs: number;
  /** The app and revision it serves; a backend labels what it starts with them (Kubernetes). */
  readonly appId?: string;
  readonly appName?: string;
  readonly revisionId?: string;
  /** The app's `regions` (empty: any), for a backend that places runners itself (placesRegions). */
  readonly regions?: readonly string[];
  /** The revision's container image, for a backend that runs images; absent: the backend's default. */
  readonly image?: string;
  /**
   * For a backend whose runners can wait for placement after launch (a Pod the
   * scheduler has not placed): called with the reason while it waits, and
   * with undefined once it is placed (before `ready` settles).
   */
  readonly onPending?: (reason: string | undefined) => void;
}

export interface RunnerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A runner a backend started: where it listens and how its life goes. */
export interface StartedRunner {
  readonly id: string;
  /** Operating-system process id, where the backend has one (mirrored to the runners table). */
  readonly pid: number | undefined;
  readonly port: number;
  /** Base URL the gateway and the queue send requests to. */
  readonly url: string;
  /** Resolves once the runner answers its health check; rejects with RunnerStartError otherwise. */
  readonly ready: Promise<void>;
  /** Resolves when the runner is gone, for whatever reason. */
  readonly exited: Promise<RunnerExit>;
  /** Asks the runner to finish and stop; forces it after graceMs. */
  stop(graceMs: number): Promise<RunnerExit>;
}

export interface RunnerBackend {
  /** Shown in errors and in the platform's start-up log (`local`). */
  readonly name: string;
  /**
   * True when the backend places runners by the app's `regions` itself (the
   * Kubernetes scheduler, by node labels) rather than in this process's region.
   */
  readonly placesRegions?: boolean;
  /** Machine types this backend can host. */
  readonly machineTypes: readonly string[];
  canHost(machineType: string): boolean;
  /**
   * GPUs this backend has, and how many no runner holds now. With a machine
   * type, a backend whose GPUs come in types (Kubernetes: nodes labelled by
   * GPU type) counts only the GPUs a runner of that type can get; the local
   * backend has one pool and ignores it.
   */
  gpuCapacity(machineType?: string): { readonly total: number; readonly free: number };
  /**
   * Whether runners of these two machine types hold GPUs of the same pool,
   * so that stopping one can free GPUs for the other (preemption). Absent:
   * every GPU runner shares one pool (the local backend).
   */
  sharesGpus?(a: string, b: string): boolean;
  /** Resolves when capacity may have changed (a runner gave its GPUs back), after maxWaitMs at the latest. */
  capacityChanged(maxWaitMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Starts a runner; resolves as soon as it is launched (not yet healthy: see
   * StartedRunner.ready). Rejects with NoCapacityError, having started
   * nothing, when the GPUs it needs are not free (another start took them).
   */
  start(launch: RunnerLaunch): Promise<StartedRunner>;
  /** Kills every runner this backend started, at once; for shutdown and process exit hooks. */
  killAll(): void;
}

/** Not enough free GPUs to launch a runner now; nothing was started. Not a crash. */
export class NoCapacityError extends Error {
  constructor(
    readonly wanted: number,
    readonly free: number,
    readonly total: number,
  ) {
    super(`needs ${wanted} GPU(s); ${free} of ${total} free`);
    this.name = "NoCapacityError";
  }
}

/** A runner that failed before it became healthy; `output` is the tail of what it printed. */
export class RunnerStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(output ? `${message}\n--- runner output (last lines) ---\n${output}` : message);
    this.name = "RunnerStartError";
  }
}
