/**
 * One runner Pod as the runner manager sees a runner (backend.ts
 * StartedRunner): `ready` once the Pod is Ready (its readiness probe is the
 * runner protocol's /health), `exited` once it is gone or over, `stop` deletes
 * it with the grace period (SIGTERM, then SIGKILL). The backend feeds it every
 * change of its Pod (from one watch over all runner Pods); while the
 * scheduler refuses the Pod, its reason goes to the launch's onPending.
 */
import type { V1Pod } from "@kubernetes/client-node";
import { RunnerStartError, type RunnerExit, type StartedRunner } from "../backend";
import { CapacityError } from "../manager";
import { viewPod } from "./podStatus";

export interface PodRunnerHooks {
  /** Deletes the Pod with this grace period (seconds); resolves when the API server accepted it. */
  deletePod(graceSeconds: number): Promise<void>;
  /** Called once the runner is over (GPUs come free). */
  onExit(): void;
}

export class PodRunner implements StartedRunner {
  readonly pid = undefined;
  /** Its machine type: the GPU type whose capacity it holds (per-type counting in the backend). */
  readonly machineType: string | undefined;
  readonly ready: Promise<void>;
  readonly exited: Promise<RunnerExit>;
  /** Set while the scheduler has not placed the Pod and gave a reason. */
  pendingReason: string | undefined;
  private ip: string | undefined;
  private isReady = false;
  private exitInfo: RunnerExit | undefined;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private resolveExited!: (e: RunnerExit) => void;
  private deadline: NodeJS.Timeout | undefined;
  private deleting = false;
  /** The platform is shutting down and leaves the Pod to the next platform process (detach). */
  private released = false;

  constructor(
    readonly id: string,
    readonly podName: string,
    readonly port: number,
    readonly gpus: number,
    /** Fixed address (a per-runner Service); undefined: the Pod IP. */
    private readonly serviceHost: string | undefined,
    private readonly hooks: PodRunnerHooks,
    opts: { startupTimeoutMs: number; onPending?: (reason: string | undefined) => void; adopted?: V1Pod; machineType?: string },
  ) {
    this.onPending = opts.onPending;
    this.machineType = opts.machineType;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A failed start is reported through `ready`; keep Node from flagging it as unhandled meanwhile.
    this.ready.catch(() => undefined);
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
    if (opts.adopted) {
      this.observe(opts.adopted);
    } else {
      this.deadline = setTimeout(() => this.timedOut(opts.startupTimeoutMs), opts.startupTimeoutMs);
      this.deadline.unref();
    }
  }

  private readonly onPending?: (reason: string | undefined) => void;

  get url(): string {
    return `http://${this.serviceHost ?? this.ip ?? "0.0.0.0"}:${this.port}`;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  /** A new version of the runner's Pod (from the watch). */
  observe(pod: V1Pod): void {
    if (!this.alive) return;
    const v = viewPod(pod);
    if (v.kind === "unscheduled") {
      if (v.reason && v.reason !== this.pendingReason) {
        this.pendingReason = v.reason;
        this.onPending?.(v.reason);
      }
      return;
    }
    if (this.pendingReason !== undefined) {
      // Placed: no longer pending. Said before readiness, so the manager is past PENDING when `ready` resolves.
      this.pendingReason = undefined;
      this.onPending?.(undefined);
    }
    if (v.kind === "starting") return;
    if (v.kind === "terminating") {
      // It holds its GPUs until it is gone (gone() ends it); a runner not ready yet will never be.
      this.deleting = true;
      if (!this.isReady) {
        clearTimeout(this.deadline);
        this.rejectReady(new RunnerStartError(`runner ${this.id}: its Pod ${this.podName} was deleted before it became ready`, ""));
      }
      return;
    }
    if (v.kind === "ready") {
      if (v.ip) this.ip = v.ip;
      if (!this.isReady) {
        this.isReady = true;
        clearTimeout(this.deadline);
        this.resolveReady();
      }
      return;
    }
    // Over: the container exited, the Pod failed or is being deleted.
    this.finish({ code: v.exitCode, signal: v.signal }, `runner ${this.id} (Pod ${this.podName}) ended before it became ready: ${v.why}`);
    // A Pod that is over but not deleted (restartPolicy Never, Failed) still holds its name: remove it.
    if (!pod.metadata?.deletionTimestamp) void this.delete(0);
  }

  /** The Pod is gone from the API server. */
  gone(): void {
    this.finish({ code: null, signal: this.deleting ? "SIGTERM" : "SIGKILL" }, `runner ${this.id}: its Pod ${this.podName} was deleted before it became ready`);
  }

  /** Deletes the Pod: SIGTERM, SIGKILL after graceMs (terminationGracePeriodSeconds for this deletion). */
  async stop(graceMs: number): Promise<RunnerExit> {
    if (!this.alive) return this.exitInfo!;
    if (this.released) {
      // Left running for the next platform process to adopt.
      this.finish({ code: null, signal: null }, `runner ${this.id} was handed over`);
      return this.exitInfo!;
    }
    await this.delete(Math.ceil(graceMs / 1000));
    // The API server removes the Pod once the kubelet reports it stopped, or at once with grace 0.
    const forceAfter = setTimeout(() => void this.delete(0), graceMs + 30_000);
    forceAfter.unref();
    const exit = await this.exited;
    clearTimeout(forceAfter);
    return exit;
  }

  /** The platform shuts down: stop() from now on leaves the Pod running, for adoption. */
  release(): void {
    this.released = true;
  }

  private async delete(graceSeconds: number): Promise<void> {
    this.deleting = true;
    try {
      await this.hooks.deletePod(graceSeconds);
    } catch {
      // Already gone (404), or the API server is unreachable: the watch says when it is gone.
    }
  }

  private timedOut(startupTimeoutMs: number): void {
    if (this.isReady || !this.alive) return;
    const s = Math.round(startupTimeoutMs / 1000);
    const err =
      this.pendingReason !== undefined
        ? // Lack of capacity is not a crash: the manager starts no backoff for it.
          new CapacityError(this.id, s, `the Kubernetes scheduler did not place Pod ${this.podName}: ${this.pendingReason}`)
        : new RunnerStartError(`runner ${this.id} (Pod ${this.podName}) did not become ready within startup_timeout (${s} s)`, "");
    this.rejectReady(err);
    void this.delete(0);
  }

  private finish(exit: RunnerExit, notReadyMessage: string): void {
    if (!this.alive) return;
    this.exitInfo = exit;
    clearTimeout(this.deadline);
    if (!this.isReady) this.rejectReady(new RunnerStartError(notReadyMessage, ""));
    this.resolveExited(exit);
    this.hooks.onExit();
  }
}
