/**
 * The Kubernetes runner backend against a real control plane (etcd,
 * kube-apiserver, kube-scheduler, kube-controller-manager) with kwok playing
 * the kubelet of fake GPU nodes (test/helpers/kube.ts). The scheduler really
 * places the runner Pods, and refuses the one that does not fit; kwok marks a
 * placed Pod Ready (no process runs in it, so requests are served only on the
 * local backend's tests). What is tested here: placement, GPU capacity
 * counted per GPU type, the scheduler's reason as the PENDING reason,
 * readiness-driven state, scale up and down, regions, preemption of an idle
 * runner of the same GPU type (drained: its Pod deleted with the grace
 * period), a Pod deleted behind the platform's back, and a platform restart
 * that adopts the Pods it left and deletes the ones it should not keep.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
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

  it("the platform says nothing about the local backend's sandbox or cgroups at start", () => {
    const warnings = platform.logs.filter((l) => /not sandboxed|limits are not enforced/.test(String(l.msg)));
    expect(warnings).toEqual([]);
    const listening = platform.logs.find((l) => l.msg === "platform listening")!;
    expect(listening.backend).toBe("kubernetes");
    expect(listening).not.toHaveProperty("sandbox");
    expect(listening).not.toHaveProperty("resources");
  });

  it("counts GPUs per GPU type; the scheduler places GPU runners on nodes of their type and refuses the one another workload's GPU keeps out, which shows as PENDING with its reason", async () => {
    // Another workload (no runner of this platform) holds the GPU of h100-east: the platform does not count it, the scheduler does.
    const foreign: V1Pod = {
      metadata: { name: "someone-elses-h100" },
      spec: {
        containers: [{ name: "main", image: "other:latest", resources: { requests: { "nvidia.com/gpu": "1" }, limits: { "nvidia.com/gpu": "1" } } }],
        nodeName: "h100-east",
        tolerations: [KWOK_TOLERATION],
      },
    };
    await cluster.core.createNamespacedPod({ namespace: NS, body: foreign });
    onTestFinished(async () => {
      await removeApp(platform, "h100");
      await cluster.core.deleteNamespacedPod({ name: "someone-elses-h100", namespace: NS, gracePeriodSeconds: 0 }).catch(() => undefined);
      await waitFor("the other workload's Pod gone", WAIT, async () => !(await cluster.core.listNamespacedPod({ namespace: NS })).items.some((p) => p.metadata?.name === "someone-elses-h100"));
    });
    await deployWorker(platform.client, {
      name: "h100",
      scaling: { min_concurrency: 3, max_concurrency: 3, keep_alive: 300 },
      codeSettings: { machine_types: ["GPU-H100"], startup_timeout: 600 },
    });
    const rs = await waitRunners(
      platform,
      "h100",
      "one ready, one PENDING with the scheduler's reason, one PENDING with the platform's",
      (rs) =>
        ready(rs).length === 1 &&
        rs.some((r) => r.state === "PENDING" && /^0\/4 nodes are available/.test(r.reason ?? "")) &&
        rs.some((r) => r.state === "PENDING" && r.reason === "waiting for 1 GPU of GPU-H100; 0 of 2 free"),
    );
    // The platform counts the H100 nodes' GPUs only (the A100 node's GPU is no use to this runner): two Pods, not three.
    const pending = rs.find((r) => r.state === "PENDING" && r.reason?.startsWith("0/4"))!;
    // The scheduler's own words: both H100 nodes are full, the others are not H100 nodes.
    expect(pending.reason).toContain("2 Insufficient nvidia.com/gpu");
    expect(pending.reason).toContain("2 node(s) didn't match Pod's node affinity/selector");

    const pods = await runnerPods();
    expect(pods).toHaveLength(2);
    expect(pods.filter((p) => p.spec?.nodeName).map((p) => p.spec!.nodeName)).toEqual(["h100-west"]);
    const unplaced = pods.find((p) => !p.spec?.nodeName)!;
    expect(unplaced.metadata!.labels![LABELS.runner]).toBe(pending.runner_id);
    const c = pods[0].spec!.containers[0];
    // The API server writes quantities canonically: 114688Mi is 112Gi.
    expect(c.resources!.limits).toEqual({ cpu: "12", memory: "112Gi", "nvidia.com/gpu": "1" });
    expect(c.command).toEqual(["python", "-m", "falplane.runner", "app.py::Worker"]);
    expect(pods[0].metadata!.ownerReferences![0]).toMatchObject({ kind: "ConfigMap", name: "falplane-runners" });

    // Deleting the app stops every runner, the pending ones included: no Pod is left.
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

  it("a request for an app on a full GPU type preempts an idle runner of another app of that type (drained: its Pod deleted with the grace period), never one of another GPU type, and the scheduler places the new Pod", async () => {
    // Every version of every runner Pod, from a watch: a deleted Pod may be gone before a list would see it terminating.
    const versions = new Map<string, V1Pod[]>();
    const watching = await new k8s.Watch(cluster.kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: `${LABELS.platform}=falplane` },
      (_type: string, pod: V1Pod) => {
        const name = pod.metadata!.name!;
        versions.set(name, [...(versions.get(name) ?? []), pod]);
      },
      () => undefined,
    );
    let call: Promise<unknown> | undefined;
    onTestFinished(async () => {
      await call;
      watching.abort();
      for (const app of ["a100-idler", "h100-holder", "h100-newcomer"]) if (await platform.client.findApp(app)) await platform.client.deleteApp(app);
      await waitPods("all gone", (ps) => ps.length === 0);
    });

    // An idle A100 runner, the least recently active of all: a preemption that ignored GPU types would pick it.
    await deployWorker(platform.client, {
      name: "a100-idler",
      scaling: { min_concurrency: 1, max_concurrency: 1, keep_alive: 300 },
      codeSettings: { machine_types: ["GPU-A100"], startup_timeout: 600 },
    });
    await waitRunners(platform, "a100-idler", "one ready", (rs) => ready(rs).length === 1);
    // Both H100 nodes full of idle runners of one app.
    await deployWorker(platform.client, {
      name: "h100-holder",
      scaling: { min_concurrency: 2, max_concurrency: 2, keep_alive: 300 },
      codeSettings: { machine_types: ["GPU-H100"], startup_timeout: 600 },
    });
    const holders = await waitRunners(platform, "h100-holder", "two ready", (rs) => ready(rs).length === 2);
    const before = await waitPods("three Ready Pods", (ps) => ps.length === 3 && ps.every((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")));
    const idlerPod = before.find((p) => p.metadata!.labels![LABELS.app] === "a100-idler")!;
    expect(idlerPod.spec!.nodeName).toBe("a100-east");
    const holderPods = before.filter((p) => p.metadata!.labels![LABELS.app] === "h100-holder");
    expect(holderPods.map((p) => p.spec!.nodeName).sort()).toEqual(["h100-east", "h100-west"]);
    // The grace the backend sets (the platform's runner grace, 3 s in the tests), in the spec before any deletion.
    for (const p of before) expect(p.spec!.terminationGracePeriodSeconds).toBe(3);

    // Nothing keeps them any more but keep_alive: idle runners that may be preempted.
    await platform.client.updateApp("a100-idler", "main", { scaling: { min_concurrency: 0 } });
    await platform.client.updateApp("h100-holder", "main", { scaling: { min_concurrency: 0 } });
    expect(ready(await platform.client.listRunners("h100-holder"))).toHaveLength(2);
    expect(ready(await platform.client.listRunners("a100-idler"))).toHaveLength(1);

    await deployWorker(platform.client, {
      name: "h100-newcomer",
      scaling: { min_concurrency: 0, max_concurrency: 1, keep_alive: 300, request_timeout: 60 },
      codeSettings: { machine_types: ["GPU-H100"], startup_timeout: 600 },
    });
    expect(await platform.client.listRunners("h100-newcomer")).toEqual([]);
    // A request starts its runner. kwok runs no process, so what it answers does not matter here; it ends by request_timeout at the latest.
    call = fetch(`${platform.url}/run/local/h100-newcomer`, {
      method: "POST",
      headers: { authorization: `Key ${platform.key}`, "content-type": "application/json" },
      body: "{}",
    }).then((res) => res.text(), () => undefined);

    const [newcomer] = await waitRunners(platform, "h100-newcomer", "one ready", (rs) => ready(rs).length === 1);
    const kept = await waitRunners(platform, "h100-holder", "one runner left", (rs) => rs.length === 1);
    const after = await waitPods(
      "the preempted Pod gone, the newcomer's Ready",
      (ps) => ps.length === 3 && ps.every((p) => !p.metadata?.deletionTimestamp && p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
    );

    // One of the holder's idle runners was preempted; the A100 runner, older but of another GPU type, was not.
    const preemptedId = holders.map((r) => r.runner_id).find((id) => id !== kept[0].runner_id)!;
    expect(ready(await platform.client.listRunners("a100-idler")).map((r) => r.runner_id)).toHaveLength(1);
    expect(after.find((p) => p.metadata!.labels![LABELS.app] === "a100-idler")!.metadata!.uid).toBe(idlerPod.metadata!.uid);
    const preemptions = platform.logs.filter((l) => l.msg === "preempting an idle runner for its GPUs");
    expect(preemptions.map((l) => l.preempted)).toEqual([preemptedId]);

    // The preempted runner was drained: its Pod was deleted with the grace period its spec carries (SIGTERM, SIGKILL 3 s later).
    const preemptedPod = holderPods.find((p) => p.metadata!.labels![LABELS.runner] === preemptedId)!;
    const seen = versions.get(preemptedPod.metadata!.name!) ?? [];
    const deleting = seen.find((p) => p.metadata?.deletionTimestamp);
    expect(deleting, `versions seen of ${preemptedPod.metadata!.name}: ${seen.length}`).toBeDefined();
    expect(deleting!.metadata!.deletionGracePeriodSeconds).toBe(3);
    expect(deleting!.spec!.terminationGracePeriodSeconds).toBe(3);

    // The real scheduler put the newcomer's Pod where the preempted one was: the only H100 GPU that came free.
    const newcomerPod = after.find((p) => p.metadata!.labels![LABELS.app] === "h100-newcomer")!;
    expect(newcomerPod.metadata!.labels![LABELS.runner]).toBe(newcomer.runner_id);
    expect(newcomerPod.spec!.nodeName).toBe(preemptedPod.spec!.nodeName);
    expect(after.find((p) => p.metadata!.labels![LABELS.app] === "h100-holder")!.metadata!.labels![LABELS.runner]).toBe(kept[0].runner_id);
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
