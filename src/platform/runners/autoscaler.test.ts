/**
 * The autoscaler's decisions, without runners: each case is something a user
 * would notice (a runner that starts, one that does not, one that stays).
 * test/reliability/autoscaling.test.ts checks the same rules end to end.
 */
import { describe, expect, it } from "vitest";
import { RUNTIME_SCALING_DEFAULTS, type RuntimeScaling } from "../../model/catalog";
import {
  crashBackoffMs,
  idleRunnersToStop,
  regionAllows,
  runnersToPreempt,
  shouldScaleUp,
  shouldStartForSyncCall,
  wantedRunners,
  warmRunners,
  type GpuHolder,
  type RunnerLoad,
} from "./autoscaler";

const scaling = (s: Partial<RuntimeScaling> = {}): RuntimeScaling => ({ ...RUNTIME_SCALING_DEFAULTS, max_concurrency: 10, ...s });

describe("wantedRunners", () => {
  it("wants none with no demand and no minimum: an unused app scales to zero", () => {
    expect(wantedRunners(scaling(), 1, 0)).toBe(0);
  });

  it("wants one runner per max_multiplexing requests of demand, rounded up", () => {
    expect(wantedRunners(scaling(), 1, 3)).toBe(3);
    expect(wantedRunners(scaling(), 4, 5)).toBe(2);
  });

  it("adds concurrency_buffer, or concurrency_buffer_perc of demand when that is more", () => {
    expect(wantedRunners(scaling({ concurrency_buffer: 1 }), 1, 2)).toBe(3);
    expect(wantedRunners(scaling({ concurrency_buffer: 1, concurrency_buffer_perc: 50 }), 1, 4)).toBe(6);
  });

  it("never goes below min_concurrency nor above max_concurrency", () => {
    expect(wantedRunners(scaling({ min_concurrency: 2 }), 1, 1)).toBe(2);
    expect(wantedRunners(scaling({ max_concurrency: 3 }), 1, 9)).toBe(3);
    expect(wantedRunners(scaling({ min_concurrency: 5, max_concurrency: 3 }), 1, 0)).toBe(3);
  });
});

describe("shouldScaleUp", () => {
  it("starts runners at once when none is live and work waits (scale from zero), whatever scaling_delay says", () => {
    expect(shouldScaleUp(0, 1, 1, 0, scaling({ scaling_delay: 30 }))).toBe(true);
  });

  it("with runners live, starts more only once the oldest request has waited scaling_delay", () => {
    const s = scaling({ scaling_delay: 2 });
    expect(shouldScaleUp(1, 3, 4, 1500, s)).toBe(false);
    expect(shouldScaleUp(1, 3, 4, 2000, s)).toBe(true);
  });

  it("starts nothing when enough runners are live", () => {
    expect(shouldScaleUp(3, 3, 10, 60_000, scaling())).toBe(false);
  });

  it("tops up to the wanted count at once when nothing waits (keep-warm)", () => {
    expect(shouldScaleUp(1, 2, 0, 0, scaling({ scaling_delay: 30 }))).toBe(true);
  });
});

describe("shouldStartForSyncCall", () => {
  const demand = { active: 0, starting: 0, waiting: 1, maxConcurrency: 2, maxMultiplexing: 1 };

  it("starts a runner for the first sync call of an app with none (scale from zero), even with max_concurrency 0", () => {
    expect(shouldStartForSyncCall(demand)).toBe(true);
    expect(shouldStartForSyncCall({ ...demand, maxConcurrency: 0 })).toBe(true);
  });

  it("does not start another while the starting runners can take every waiting call", () => {
    expect(shouldStartForSyncCall({ ...demand, active: 1, starting: 1, waiting: 1 })).toBe(false);
    expect(shouldStartForSyncCall({ ...demand, active: 1, starting: 1, waiting: 2, maxMultiplexing: 2 })).toBe(false);
    expect(shouldStartForSyncCall({ ...demand, active: 1, starting: 1, waiting: 2 })).toBe(true);
  });

  it("does not go beyond max_concurrency: the call waits for a slot instead", () => {
    expect(shouldStartForSyncCall({ ...demand, active: 2, starting: 0, waiting: 5 })).toBe(false);
  });
});

describe("warmRunners", () => {
  it("keeps min_concurrency runners, or concurrency_buffer when larger, with no traffic", () => {
    expect(warmRunners(scaling({ min_concurrency: 2 }), 1)).toBe(2);
    expect(warmRunners(scaling({ min_concurrency: 1, concurrency_buffer: 3 }), 1)).toBe(3);
    expect(warmRunners(scaling(), 1)).toBe(0);
  });

  it("keeps no more than max_concurrency warm", () => {
    expect(warmRunners(scaling({ min_concurrency: 4, max_concurrency: 2 }), 1)).toBe(2);
  });
});

describe("idleRunnersToStop", () => {
  const now = 1_000_000;
  const idleFor = (s: number): RunnerLoad => ({ state: "IDLE", inFlight: 0, lastActive: now - s * 1000, maxMultiplexing: 1 });
  const busy: RunnerLoad = { state: "RUNNING", inFlight: 1, lastActive: now - 600_000, maxMultiplexing: 1 };

  it("stops runners idle for longer than keep_alive", () => {
    const a = idleFor(61);
    expect(idleRunnersToStop([a], scaling({ keep_alive: 60 }), 0, now)).toEqual([a]);
  });

  it("keeps runners idle for less than keep_alive", () => {
    expect(idleRunnersToStop([idleFor(30)], scaling({ keep_alive: 60 }), 0, now)).toEqual([]);
  });

  it("never stops a busy runner", () => {
    expect(idleRunnersToStop([busy], scaling({ keep_alive: 0 }), 0, now)).toEqual([]);
  });

  it("keeps min_concurrency runners however long they idle", () => {
    const rs = [idleFor(100), idleFor(100), idleFor(100)];
    expect(idleRunnersToStop(rs, scaling({ keep_alive: 10, min_concurrency: 2 }), 0, now)).toHaveLength(1);
  });

  it("keeps idle runners that queued requests are about to need", () => {
    expect(idleRunnersToStop([idleFor(100), idleFor(100)], scaling({ keep_alive: 10 }), 2, now)).toEqual([]);
  });
});

describe("crashBackoffMs", () => {
  it("waits 30 s per consecutive setup failure, at most 10 minutes", () => {
    expect(crashBackoffMs(1)).toBe(30_000);
    expect(crashBackoffMs(3)).toBe(90_000);
    expect(crashBackoffMs(20)).toBe(600_000);
    expect(crashBackoffMs(1000)).toBe(600_000);
  });
});

describe("runnersToPreempt", () => {
  const holder = (id: string, appId: string, o: Partial<GpuHolder> = {}): GpuHolder => ({
    id,
    appId,
    revisionId: `${appId}-rev`,
    state: "IDLE",
    inFlight: 0,
    lastActive: 1000,
    gpus: 1,
    ...o,
  });
  const noMin = () => 0;

  it("takes idle runners of other revisions, oldest idle first, until enough GPUs come free", () => {
    const rs = [holder("new", "a", { lastActive: 3000 }), holder("old", "b", { lastActive: 1000 }), holder("mid", "c", { lastActive: 2000 })];
    expect(runnersToPreempt(rs, 2, "waiting-rev", noMin).map((r) => r.id)).toEqual(["old", "mid"]);
  });

  it("never takes busy runners, runners of the waiting revision, or those min_concurrency keeps", () => {
    const rs = [
      holder("busy", "a", { state: "RUNNING", inFlight: 1 }),
      holder("same", "b", { revisionId: "waiting-rev" }),
      holder("kept", "c"),
    ];
    expect(runnersToPreempt(rs, 1, "waiting-rev", (app) => (app === "c" ? 1 : 0))).toEqual([]);
  });

  it("keeps min_concurrency of an app with several idle runners and takes the rest", () => {
    const rs = [holder("c1", "c", { lastActive: 1 }), holder("c2", "c", { lastActive: 2 }), holder("c3", "c", { lastActive: 3 })];
    expect(runnersToPreempt(rs, 3, "w", () => 2).map((r) => r.id)).toEqual([]);
    expect(runnersToPreempt(rs, 1, "w", () => 2).map((r) => r.id)).toEqual(["c1"]);
  });

  it("counts GPUs of draining runners as coming free, and preempts nothing that would not free enough", () => {
    expect(runnersToPreempt([holder("d", "a", { state: "DRAINING" }), holder("i", "b")], 1, "w", noMin)).toEqual([]);
    expect(runnersToPreempt([holder("i", "b", { gpus: 1 })], 2, "w", noMin)).toEqual([]);
  });
});

describe("regionAllows", () => {
  it("no regions means any; otherwise only the listed ones", () => {
    expect(regionAllows([], "us")).toBe(true);
    expect(regionAllows(["eu", "us"], "us")).toBe(true);
    expect(regionAllows(["eu"], "us")).toBe(false);
  });
});
