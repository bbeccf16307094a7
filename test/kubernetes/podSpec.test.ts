/** The runner Pod's spec and how its status reads: pure functions, no cluster. */
import { describe, expect, it } from "vitest";
import type { V1Pod } from "@kubernetes/client-node";
import { buildRunnerPod, cpuQuantity, labelValue, podName, type PodSettings } from "../../src/platform/runners/kubernetes/podSpec";
import { podGpus, unschedulableReason, viewPod } from "../../src/platform/runners/kubernetes/podStatus";

const settings: PodSettings = {
  namespace: "runners",
  platform: "falplane",
  image: "registry.internal/falplane-runner:1",
  port: 8080,
  workDir: "/app",
  gpuTypeLabel: "falplane.dev/machine-type",
  owner: { name: "falplane-runners", uid: "uid-1" },
};

const input = {
  runnerId: "0b7c2c8e-1111-4222-8333-944445555666",
  entrypoint: "app.py::Worker",
  env: { FAL_APP_NAME: "txt2img", SECRET: "s" },
  gpus: 2,
  machineType: "GPU-H100",
  appId: "app-1",
  appName: "txt2img",
  revisionId: "rev-1",
  regions: ["us-east", "eu-west"],
  graceSeconds: 7,
};

describe("buildRunnerPod", () => {
  const pod = buildRunnerPod(input, settings);
  const c = pod.spec!.containers[0];

  it("labels the Pod with platform, app, revision and runner, owned by the anchor ConfigMap", () => {
    expect(pod.metadata!.name).toBe(podName(input.runnerId));
    expect(pod.metadata!.namespace).toBe("runners");
    expect(pod.metadata!.labels).toEqual({
      "app.kubernetes.io/managed-by": "falplane",
      "falplane.dev/platform": "falplane",
      "falplane.dev/runner-id": input.runnerId,
      "falplane.dev/app-id": "app-1",
      "falplane.dev/app": "txt2img",
      "falplane.dev/revision": "rev-1",
      "falplane.dev/machine-type": "GPU-H100",
    });
    expect(pod.metadata!.ownerReferences).toEqual([{ apiVersion: "v1", kind: "ConfigMap", name: "falplane-runners", uid: "uid-1", blockOwnerDeletion: false }]);
  });

  it("asks for the machine type's CPU and memory and num_gpus × its GPUs, as requests and limits", () => {
    const want = { cpu: "12", memory: "114688Mi", "nvidia.com/gpu": "2" };
    expect(c.resources).toEqual({ requests: want, limits: want });
  });

  it("requires a node of the GPU type in one of the app's regions, and tolerates GPU taints", () => {
    expect(pod.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms).toEqual([
      {
        matchExpressions: [
          { key: "falplane.dev/machine-type", operator: "In", values: ["GPU-H100"] },
          { key: "topology.kubernetes.io/region", operator: "In", values: ["us-east", "eu-west"] },
        ],
      },
    ]);
    expect(pod.spec!.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
  });

  it("maps the machine type to the configured label value", () => {
    const p = buildRunnerPod(input, { ...settings, gpuTypeLabel: "nvidia.com/gpu.product", gpuTypeValues: { "GPU-H100": "NVIDIA-H100-80GB-HBM3" } });
    expect(p.spec!.affinity!.nodeAffinity!.requiredDuringSchedulingIgnoredDuringExecution!.nodeSelectorTerms[0].matchExpressions![0]).toEqual({
      key: "nvidia.com/gpu.product",
      operator: "In",
      values: ["NVIDIA-H100-80GB-HBM3"],
    });
  });

  it("runs the runner harness with PORT, probes /health, and gives SIGTERM the grace period", () => {
    expect(c.image).toBe("registry.internal/falplane-runner:1");
    expect(c.command).toEqual(["python", "-m", "falplane.runner", "app.py::Worker"]);
    expect(c.workingDir).toBe("/app");
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: "PORT", value: "8080" },
        { name: "FAL_RUNNER_ID", value: input.runnerId },
        { name: "FAL_RUNNER_HOST", value: "0.0.0.0" },
        { name: "SECRET", value: "s" },
      ]),
    );
    expect(c.readinessProbe!.httpGet).toEqual({ path: "/health", port: 8080 });
    expect(pod.spec!.terminationGracePeriodSeconds).toBe(7);
    expect(pod.spec!.restartPolicy).toBe("Never");
  });

  it("a revision's own image wins; a CPU runner has no GPU, affinity or toleration", () => {
    const cpu = buildRunnerPod({ ...input, gpus: 0, machineType: "XS", regions: [], image: "app@sha256:abc" }, settings);
    expect(cpu.spec!.containers[0].image).toBe("app@sha256:abc");
    expect(cpu.spec!.containers[0].resources).toEqual({ requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "500m", memory: "512Mi" } });
    expect(cpu.spec!.affinity).toBeUndefined();
    expect(cpu.spec!.tolerations).toBeUndefined();
  });

  it("quantities and label values", () => {
    expect(cpuQuantity(0.5)).toBe("500m");
    expect(cpuQuantity(24)).toBe("24");
    expect(labelValue("a b/c")).toBe("a-b-c");
    expect(labelValue("-x".padEnd(80, "y")).length).toBeLessThanOrEqual(63);
  });
});

describe("viewPod", () => {
  const base = (status: V1Pod["status"], extra: Partial<V1Pod["spec"]> = {}, meta: V1Pod["metadata"] = {}): V1Pod => ({
    metadata: { name: "p", ...meta },
    spec: { containers: [{ name: "runner", resources: { limits: { "nvidia.com/gpu": "2" } } }], ...extra },
    status,
  });

  it("reads the scheduler's refusal from PodScheduled", () => {
    const message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
    const pod = base({ phase: "Pending", conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message }] });
    expect(unschedulableReason(pod)).toBe(message);
    expect(viewPod(pod)).toEqual({ kind: "unscheduled", reason: message });
    expect(viewPod(base({ phase: "Pending" }))).toEqual({ kind: "unscheduled", reason: undefined });
  });

  it("placed, ready, terminating, over", () => {
    expect(viewPod(base({ phase: "Pending" }, { nodeName: "n1" }))).toEqual({ kind: "starting", node: "n1" });
    expect(viewPod(base({ phase: "Running", podIP: "10.0.0.7", conditions: [{ type: "Ready", status: "True" }] }, { nodeName: "n1" }))).toEqual({
      kind: "ready",
      node: "n1",
      ip: "10.0.0.7",
    });
    expect(viewPod(base({ phase: "Running" }, { nodeName: "n1" }, { deletionTimestamp: new Date() }))).toEqual({ kind: "terminating" });
    const exited = base({ phase: "Failed", containerStatuses: [{ name: "runner", image: "i", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode: 3, reason: "Error" } } }] }, { nodeName: "n1" });
    expect(viewPod(exited)).toMatchObject({ kind: "over", exitCode: 3, signal: null });
    const killed = base({ phase: "Failed", containerStatuses: [{ name: "runner", image: "i", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode: 137 } } }] }, { nodeName: "n1" });
    expect(viewPod(killed)).toMatchObject({ kind: "over", exitCode: null, signal: "SIGKILL" });
    const pull = base({ phase: "Pending", containerStatuses: [{ name: "runner", image: "i", imageID: "", ready: false, restartCount: 0, state: { waiting: { reason: "ImagePullBackOff", message: "not found" } } }] }, { nodeName: "n1" });
    expect(viewPod(pull)).toMatchObject({ kind: "over", why: "ImagePullBackOff: not found" });
  });

  it("counts the GPUs a Pod asks for", () => {
    expect(podGpus(base({}))).toBe(2);
  });
});
