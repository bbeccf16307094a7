/**
 * What a runner Pod's status says, for the backend: whether the scheduler
 * has placed it (and if not, its own reason, "0/3 nodes are available:
 * 2 Insufficient nvidia.com/gpu, ..."), whether it is ready (the readiness
 * probe on the runner protocol's /health), and whether it is over (the
 * container exited, the Pod failed or is being deleted). Pure functions.
 */
import type { V1Pod } from "@kubernetes/client-node";

export type PodView =
  /** Not placed yet; `reason` is the scheduler's message when it has refused the Pod so far. */
  | { readonly kind: "unscheduled"; readonly reason?: string }
  /** Placed on a node, not ready yet (pulling, starting, setup() running). */
  | { readonly kind: "starting"; readonly node: string }
  | { readonly kind: "ready"; readonly node: string; readonly ip?: string }
  /** Being deleted (SIGTERM sent, grace period running); it still holds its resources until it is gone. */
  | { readonly kind: "terminating" }
  /** Over: the runner exited (the Pod failed or completed) or can never start. */
  | { readonly kind: "over"; readonly exitCode: number | null; readonly signal: NodeJS.Signals | null; readonly why: string };

/** The scheduler's reason for not placing the Pod (condition PodScheduled=False, reason Unschedulable), if it gave one. */
export function unschedulableReason(pod: V1Pod): string | undefined {
  const c = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (!c || c.status !== "False") return undefined;
  if (c.reason && c.reason !== "Unschedulable" && !c.message) return c.reason;
  return c.message ?? c.reason ?? undefined;
}

export function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

export function viewPod(pod: V1Pod): PodView {
  const container = pod.status?.containerStatuses?.find((c) => c.name === "runner") ?? pod.status?.containerStatuses?.[0];
  const terminated = container?.state?.terminated;
  if (pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded" || terminated) {
    const code = terminated?.exitCode ?? null;
    const signal = code !== null && code > 128 ? signalName(code - 128) : null;
    const why = [pod.status?.reason, terminated?.reason, pod.status?.message ?? terminated?.message].filter(Boolean).join(": ");
    return { kind: "over", exitCode: signal ? null : code, signal, why: why || `Pod ${pod.status?.phase ?? "ended"}` };
  }
  const waiting = container?.state?.waiting;
  // An image that cannot be pulled or a container that cannot be created never becomes a runner.
  if (waiting && /^(ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError|CreateContainerError|CrashLoopBackOff)$/.test(waiting.reason ?? "")) {
    return { kind: "over", exitCode: null, signal: null, why: `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ""}` };
  }
  if (pod.metadata?.deletionTimestamp) return { kind: "terminating" };
  const node = pod.spec?.nodeName;
  if (!node) return { kind: "unscheduled", reason: unschedulableReason(pod) };
  if (isReady(pod)) return { kind: "ready", node, ip: pod.status?.podIP ?? undefined };
  return { kind: "starting", node };
}

function signalName(n: number): NodeJS.Signals | null {
  const names: Record<number, NodeJS.Signals> = { 1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 15: "SIGTERM" };
  return names[n] ?? null;
}

/** GPUs a Pod asks for (its containers' `nvidia.com/gpu` limits, else requests). */
export function podGpus(pod: V1Pod): number {
  let n = 0;
  for (const c of pod.spec?.containers ?? []) {
    const q = c.resources?.limits?.["nvidia.com/gpu"] ?? c.resources?.requests?.["nvidia.com/gpu"];
    if (q !== undefined) n += Number(q) || 0;
  }
  return n;
}
