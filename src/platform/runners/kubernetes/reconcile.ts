/**
 * Runner Pods that no live platform process holds (left by a platform that
 * restarted, crashed or shut down) are adopted or deleted, never leaked:
 * at start and then periodically.
 *
 * A Pod is adopted when it is Ready and serves its app's active revision, up
 * to the app's max_concurrency; its runner keeps its id. Any other Pod is
 * deleted with the grace period. A Pod whose runner row another platform
 * process keeps fresh (it heartbeats its runners) is that process's: left
 * alone.
 */
import type { Db } from "../../store/db";
import * as repo from "../../store/repo";
import { RUNNER_ROW_FRESH_S } from "../../store/runnerStore";
import type { Logger } from "../../log";
import { ACTIVE_STATES, type RunnerManager } from "../manager";
import type { ExistingPod, KubernetesBackend } from "./kubernetesBackend";
import { describe } from "./kubernetesBackend";

export interface ReconcileDeps {
  readonly db: Db;
  readonly runners: RunnerManager;
  readonly backend: KubernetesBackend;
  /** `<hostname>:<pid>` of this process. */
  readonly hostId: string;
  readonly log: Logger;
}

export interface ReconcileResult {
  readonly adopted: string[];
  readonly deleted: string[];
}

export async function reconcileRunnerPods(d: ReconcileDeps): Promise<ReconcileResult> {
  const adopted: string[] = [];
  const deleted: string[] = [];
  for (const pod of d.backend.existingPods()) {
    const verdict = await judge(d, pod);
    if (verdict === "leave") continue;
    if (verdict === "adopt") {
      const app = (await repo.getAppById(d.db, pod.appId!))!;
      const revision = (await repo.getRevision(d.db, pod.revisionId!))!;
      const machineType = pod.machineType ?? revision.code_settings.machine_types[0];
      await d.runners.adopt(app, revision, d.backend.adopt(pod.runnerId), machineType);
      adopted.push(pod.runnerId);
      d.log.info({ runner_id: pod.runnerId, pod: pod.podName, app: app.name }, "adopted a runner Pod left by an earlier platform process");
      continue;
    }
    await d.backend.deletePod(pod.runnerId);
    await repo.upsertRunnerState(d.db, pod.runnerId, "TERMINATED", `its Pod was deleted on reconciliation: ${verdict}`).catch(() => undefined);
    deleted.push(pod.runnerId);
    d.log.info({ runner_id: pod.runnerId, pod: pod.podName, why: verdict }, "deleted a runner Pod left by an earlier platform process");
  }
  return { adopted, deleted };
}

/** "adopt", "leave", or why the Pod is deleted. */
async function judge(d: ReconcileDeps, pod: ExistingPod): Promise<string> {
  if (pod.ending) return "leave"; // on its way out; the API server removes it
  if (!pod.appId || !pod.revisionId) return "it has no app or revision label";
  const row = (await repo.listRunners(d.db, pod.appId, true)).find((r) => r.id === pod.runnerId);
  if (row && row.host !== d.hostId && !["TERMINATED", "DEAD"].includes(row.state)) {
    const ageS = (Date.now() - new Date(row.updated_at).getTime()) / 1000;
    if (ageS < RUNNER_ROW_FRESH_S) return "leave"; // a live platform process runs it
  }
  const app = await repo.getAppById(d.db, pod.appId);
  if (!app) return "its app is gone";
  if (app.current_revision !== pod.revisionId) return "its revision no longer serves the app";
  if (!pod.ready) return "it was not ready";
  const active = d.runners.list(app.id).filter((r) => r.revisionId === pod.revisionId && ACTIVE_STATES.includes(r.state)).length;
  if (active >= Math.max(1, app.scaling.max_concurrency)) return "its app has max_concurrency runners already";
  return "adopt";
}

/** Reconciles at once (adoptions done when it resolves), then every intervalMs; returns the stop. */
export async function startPodReconciler(d: ReconcileDeps, intervalMs = 30_000): Promise<() => Promise<void>> {
  const first = await reconcileRunnerPods(d).catch((err) => {
    // The next round tries again; the platform serves meanwhile.
    d.log.warn({ err: describe(err) }, "reconciling runner Pods failed");
    return { adopted: [], deleted: [] };
  });
  if (first.adopted.length || first.deleted.length) {
    d.log.info({ adopted: first.adopted.length, deleted: first.deleted.length }, "reconciled with the runner Pods in the cluster");
  }
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = reconcileRunnerPods(d)
      .catch((err) => d.log.warn({ err: describe(err) }, "reconciling runner Pods failed"))
      .finally(() => (running = undefined));
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
