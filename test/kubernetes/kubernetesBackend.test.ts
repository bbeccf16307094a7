/**
 * The Kubernetes runner backend against a real control plane (etcd,
 * kube-apiserver, kube-scheduler, kube-controller-manager) with kwok playing
 * the kubelet of fake GPU nodes (test/helpers/kube.ts). The scheduler really
 * places the runner Pods, and refuses the one that does not fit; kwok marks a
 * placed Pod Ready (no process runs in it, so requests are served only on the
 * local backend's tests). What is tested here: placement, the scheduler's
 * reason as the PENDING reason, readiness-driven state, scale up and down,
 * regions, a Pod deleted behind the platform's back, and a platform restart
 * that adopts the Pods it left and deletes the ones it should not keep.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { KWOK_TOLERATION, startKubeCluster, waitFor, type KubeCluster } from "../helpers/kube";
import { startTestPlatform, type TestPlatform } from "../helpers/testPlatform";
import { deployWorker } from "../helpers/deploy";
import { buildRunnerPod, LABELS } from "../../src/platform/runners/kubernetes/podSpec";
import type { Runner } from "../../src/client/types";

const NS = "falplane-runners";
/** Generous: on a busy two-core machine the control plane answers slowly. These bound waits, they time nothing. */
const WAIT = 90_000;
/** Per test: a deploy (an environment build) and several waits. */
const TEST_TIMEOUT = 300_000;

let cluster: KubeCluster;

beforeAll(async () => {
  // Long enough for a first build of the control plane when `npm test`'s set-up has not done it.
  cluster = await startKubeCluster();
  await cluster.addNodes([
    { name: "h100-east", gpus: 1, gpuType: "GPU-H100", region: "us-east" },
    { name: "h100-west", gpus: 1, gpuType: "GPU-H100", region: "us-west" },
    { name: "a100-east", gpus: 1, gpuType: "GPU-A100", region: "us-east" },
    { name: "cpu-east", region: "us-east" },
  ]);
  await cluster.createNamespace(NS);
}, 45 * 60_000);

afterAll(async () => {
  await cluster?.stop();
});

function startKubePlatform(dataDir?: string): Promise<TestPlatform> {
  return startTestPlatform({
    database: "pglite",
    dataDir,
    backend: "kubernetes",
    kubernetes: { kubeconfig: cluster.kubeconfig, namespace: NS, image: "falplane-runner:test", tolerations: [KWOK_TOLERATION] },
  });
}

async function runnerPods(): Promise<V1Pod[]> {
  const list = await cluster.core.listNamespacedPod({ namespace: NS, labelSelector: `${LABELS.platform}=falplane` });
  return list.items;
}

async function waitRunners(p: TestPlatform, app: string, what: string, ok: (rs: Runner[]) => boolean): Promise<Runner[]> {
  let last: Runner[] = [];
  await waitFor(`${app}: ${what}`, WAIT, async () => ok((last = await p.client.listRunners(app))), () => JSON.stringify(last, null, 1));
  return last;
}

async function waitPods(what: string, ok: (pods: V1Pod[]) => boolean): Promise<V1Pod[]> {
  let last: V1Pod[] = [];
  const show = () =>
    last
      .map((p) => `${p.metadata?.name} app=${p.metadata?.labels?.[LABELS.app]} type=${p.metadata?.labels?.[LABELS.machineType]} node=${p.spec?.nodeName} phase=${p.status?.phase} deleting=${!!p.metadata?.deletionTimestamp}`)
      .join("\n");
  await waitFor(`Pods: ${what}`, WAIT, async () => ok((last = await runnerPods())), show);
  return last;
}

const ready = (rs: Runner[]) => rs.filter((r) => r.state === "IDLE" || r.state === "RUNNING");

/** Deletes the app (stopping its runners) and waits until no runner Pod is left, so the next test starts on an empty cluster. */
async function removeApp(p: TestPlatform, name: string): Promise<void> {
  if (await p.client.findApp(name)) await p.client.deleteApp(name);
  await waitPods("all gone", (ps) => ps.length === 0);
}

describe("Kubernetes backend", () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startKubePlatform();
  });
  afterAll(async () => {
    await platform?.stop();
  });

  it("the scheduler places GPU runners on nodes of their type and refuses the one that does not fit, which shows as PENDING with its reason", async () => {
    onTestFinished(() => removeApp(platform, "h100"));
    await deployWorker(platform.client, {
      name: "h100",
      scaling: { min_concurrency: 3, max_concurrency: 3, keep_alive: 300 },
      codeSettings: { machine_types: ["GPU-H100"], startup_timeout: 600 },
    });
    const rs = await waitRunners(platform, "h100", "two ready, one PENDING with the scheduler's reason", (rs) => ready(rs).length === 2 && rs.some((r) => r.state === "PENDING" && !!r.reason));
    const pending = rs.find((r) => r.state === "PENDING")!;
    // The scheduler's own words: both H100 nodes are full, the others are not H100 nodes.
    expect(pending.reason).toMatch(/^0\/4 nodes are available: /);
    expect(pending.reason).toContain("2 Insufficient nvidia.com/gpu");
    expect(pending.reason).toContain("2 node(s) didn't match Pod's node affinity/selector");

    const pods = await runnerPods();
    expect(pods).toHaveLength(3);
    const placed = pods.filter((p) => p.spec?.nodeName).map((p) => p.spec!.nodeName).sort();
    expect(placed).toEqual(["h100-east", "h100-west"]);
    const unplaced = pods.find((p) => !p.spec?.nodeName)!;
    expect(unplaced.metadata!.labels![LABELS.runner]).toBe(pending.runner_id);
    const c = pods[0].spec!.containers[0];
    // The API server writes quantities canonically: 114688Mi is 112Gi.
    expect(c.resources!.limits).toEqual({ cpu: "12", memory: "112Gi", "nvidia.com/gpu": "1" });
    expect(c.command).toEqual(["python", "-m", "falplane.runner", "app.py::Worker"]);
    expect(pods[0].metadata!.ownerReferences![0]).toMatchObject({ kind: "ConfigMap", name: "falplane-runners" });

    // Deleting the app stops every runner, the pending one included: no Pod is left.
    await platform.client.deleteApp("h100");
    await waitPods("all gone", (ps) => ps.length === 0);
    expect(await platform.client.findApp("h100")).toBeUndefined();
  }, TEST_TIMEOUT);

  it("scales an app 0 → 2 → 0 through min_concurrency, with runner state following Pod readiness", async () => {
    onTestFinished(() => removeApp(platform, "scaler"));
    await deployWorker(platform.client, {
      name: "scaler",
      scaling: { min_concurrency: 0, max_concurrency: 2, keep_alive: 1 },
      codeSettings: { machine_types: ["GPU-H100"], startup_timeout: 600 },
    });
    expect(await platform.client.listRunners("scaler")).toEqual([]);
    expect(await runnerPods()).toEqual([]);

    await platform.client.updateApp("scaler", "main", { scaling: { min_concurrency: 2 } });
    const up = await waitRunners(platform, "scaler", "two ready", (rs) => ready(rs).length === 2);
    const pods = await waitPods("two Ready Pods", (ps) => ps.length === 2 && ps.every((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")));
    expect(pods.map((p) => p.metadata!.labels![LABELS.runner]).sort()).toEqual(up.map((r) => r.runner_id).sort());
    expect(pods.map((p) => p.spec!.nodeName).sort()).toEqual(["h100-east", "h100-west"]);
    // The gateway reaches a runner by its Pod IP (kwok hands them out of 10.0.0.0/24).
    expect(pods.every((p) => /^10\.0\.0\.\d+$/.test(p.status!.podIP ?? ""))).toBe(true);

    await platform.client.updateApp("scaler", "main", { scaling: { min_concurrency: 0 } });
    await waitRunners(platform, "scaler", "none left", (rs) => rs.length === 0);
    await waitPods("all gone", (ps) => ps.length === 0);
  }, TEST_TIMEOUT);

  it("places runners by the app's regions (node affinity on topology.kubernetes.io/region)", async () => {
    onTestFinished(() => removeApp(platform, "west"));
    await deployWorker(platform.client, {
      name: "west",
      scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 300, regions: ["us-west"] },
      codeSettings: { machine_types: ["GPU-H100"], startup_timeout: 600 },
    });
    await waitRunners(platform, "west", "one ready", (rs) => ready(rs).length === 1);
    const [pod] = await runnerPods();
    expect(pod.spec!.nodeName).toBe("h100-west");
  }, TEST_TIMEOUT);

  it("notices a runner Pod deleted behind its back and replaces it", async () => {
    onTestFinished(() => removeApp(platform, "victim"));
    await deployWorker(platform.client, {
      name: "victim",
      scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 300 },
      codeSettings: { machine_types: ["GPU-A100"], startup_timeout: 600 },
    });
    const [first] = await waitRunners(platform, "victim", "one ready", (rs) => ready(rs).length === 1);
    const [pod] = await runnerPods();
    expect(pod.spec!.nodeName).toBe("a100-east");
    await cluster.core.deleteNamespacedPod({ name: pod.metadata!.name!, namespace: NS, gracePeriodSeconds: 0 });
    const after = await waitRunners(platform, "victim", "a new runner ready", (rs) => ready(rs).length === 1 && !rs.some((r) => r.runner_id === first.runner_id));
    const pods = await waitPods("only the new runner's Pod", (ps) => ps.length === 1 && ps[0].metadata!.name !== pod.metadata!.name);
    expect(pods[0].metadata!.labels![LABELS.runner]).toBe(after[0].runner_id);
  }, TEST_TIMEOUT);
});

describe("Kubernetes backend across a platform restart", () => {
  it("a new platform process on the same database adopts the running Pods and deletes the ones it should not keep", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "falplane-kube-restart-"));
    onTestFinished(() => rmSync(dataDir, { recursive: true, force: true }));
    const first = await startKubePlatform(dataDir);
    let second: TestPlatform | undefined;
    try {
      await deployWorker(first.client, {
        name: "keeper",
        scaling: { min_concurrency: 2, max_concurrency: 2, keep_alive: 300 },
        codeSettings: { machine_types: ["GPU-H100"], startup_timeout: 600 },
      });
      const before = await waitRunners(first, "keeper", "two ready", (rs) => ready(rs).length === 2);
      const podsBefore = await waitPods("two Ready Pods", (ps) => ps.length === 2 && ps.every((p) => p.status?.podIP));
      // A Pod of this installation whose app does not exist (as if its app was deleted while no platform ran).
      const stray = buildRunnerPod(
        { runnerId: "00000000-0000-4000-8000-000000000001", entrypoint: "app.py::Worker", env: {}, gpus: 0, machineType: "XS", appId: "no-such-app", revisionId: "no-such-revision", graceSeconds: 1 },
        { namespace: NS, platform: "falplane", image: "falplane-runner:test", port: 8080, workDir: "/app", gpuTypeLabel: "falplane.dev/machine-type", tolerations: [KWOK_TOLERATION] },
      );
      await cluster.core.createNamespacedPod({ namespace: NS, body: stray });
      const all = await waitPods("the stray Pod", (ps) => ps.length === 3);

      // A shutdown leaves the runner Pods running for the next platform process.
      await first.close();
      expect((await runnerPods()).map((p) => p.metadata!.uid).sort()).toEqual(all.map((p) => p.metadata!.uid).sort());

      second = await startKubePlatform(dataDir);
      // Adopted during start-up, before the autoscaler could start any: the same runners, the same Pods.
      const after = await second.client.listRunners("keeper");
      expect(after.map((r) => r.runner_id).sort()).toEqual(before.map((r) => r.runner_id).sort());
      expect(after.every((r) => r.state === "IDLE")).toBe(true);
      const podsAfter = await waitPods("the stray Pod deleted", (ps) => ps.length === 2);
      expect(podsAfter.map((p) => p.metadata!.uid).sort()).toEqual(podsBefore.map((p) => p.metadata!.uid).sort());

      // Adopted runners are the platform's like any other: deleting the app deletes their Pods.
      await second.client.deleteApp("keeper");
      await waitPods("all gone", (ps) => ps.length === 0);
    } finally {
      await second?.stop();
      await first.stop();
    }
  }, TEST_TIMEOUT);
});
