/**
 * The Kubernetes runner backend: each runner is a Pod (./podSpec.ts) in one
 * namespace, placed by the cluster's scheduler. Same interface as the local
 * backend (../backend.ts): the manager, the autoscaler and the gateway do not
 * know which one runs.
 *
 * - One watch (an informer of @kubernetes/client-node) follows every runner
 *   Pod of this platform installation, one more follows the nodes; each Pod
 *   change goes to its runner (./podRunner.ts).
 * - GPU capacity is counted per GPU type: the allocatable `nvidia.com/gpu`
 *   of the nodes whose GPU-type label matches the machine type, less what
 *   this platform's runners of that type ask for. The manager waits (and
 *   preempts idle runners of the same GPU type) when that type is full; the
 *   scheduler has the last word (region, taints, other workloads), and its
 *   reason for refusing a Pod shows as the runner's PENDING reason. A type no
 *   Ready node offers is left to the scheduler (a cluster autoscaler may add
 *   such a node).
 * - Every runner Pod is owned by an anchor ConfigMap (`<platform>-runners`):
 *   deleting it makes the garbage collector delete every runner Pod.
 * - Pods outlive a platform restart: on shutdown the platform leaves them
 *   (detach), and the next start adopts those of the active revision and
 *   deletes the others (./reconcile.ts).
 */
import type * as K8s from "@kubernetes/client-node";
import type { V1Node, V1Pod, V1Toleration } from "@kubernetes/client-node";
import { existsSync, readFileSync } from "node:fs";
import { MACHINE_TYPES } from "../../../model/catalog";
import type { Logger } from "../../log";
import { NoCapacityError, RunnerStartError, type RunnerBackend, type RunnerLaunch } from "../backend";
import { ANNOTATIONS, DEFAULT_GPU_TYPE_LABEL, GPU_RESOURCE, LABELS, buildRunnerPod, podName, type PodSettings } from "./podSpec";
import { PodRunner } from "./podRunner";
import { isReady, podGpus } from "./podStatus";
import { Wakeups } from "../wakeups";

export interface KubernetesBackendOptions {
  /** Path of a kubeconfig file. Default: in-cluster config inside a Pod, else KUBECONFIG or ~/.kube/config. */
  readonly kubeconfig?: string;
  /** Context of the kubeconfig. Default: its current context. */
  readonly context?: string;
  /** Namespace of the runner Pods. Default: the platform Pod's own namespace in-cluster, the context's namespace, else `default`. */
  readonly namespace?: string;
  /** Name of this platform installation: label of its Pods, name of the anchor ConfigMap (`<platform>-runners`). Default `falplane`. */
  readonly platform?: string;
  /** Runner image for revisions without an image of their own. Default `falplane-runner:latest`. */
  readonly image?: string;
  /** Port runners listen on in their Pod. Default 8080. */
  readonly port?: number;
  /** Working directory of the runner in the image. Default `/app`. */
  readonly workDir?: string;
  /** Node label naming a node's GPU type. Default `falplane.dev/machine-type` (value: the machine type, `GPU-H100`). */
  readonly gpuTypeLabel?: string;
  /** Machine type → value of gpuTypeLabel, e.g. {"GPU-H100": "NVIDIA-H100-80GB-HBM3"} with gpuTypeLabel `nvidia.com/gpu.product`. */
  readonly gpuTypeValues?: Readonly<Record<string, string>>;
  /** Tolerations of every runner Pod (GPU Pods also tolerate `nvidia.com/gpu`). */
  readonly tolerations?: readonly V1Toleration[];
  /** Machine types offered. Default: every catalog type. */
  readonly machineTypes?: readonly string[];
  /** How the gateway reaches a runner: its Pod IP (default) or a Service per runner. */
  readonly address?: "pod-ip" | "service";
  /** SIGTERM → SIGKILL grace of runner Pods (terminationGracePeriodSeconds). Default 5000 ms. */
  readonly graceMs?: number;
  readonly imagePullPolicy?: string;
  readonly serviceAccountName?: string;
  readonly priorityClassName?: string;
  readonly log?: Logger;
}

/** What a Pod of this installation that no runner of this process holds says about itself (for adoption). */
export interface ExistingPod {
  readonly runnerId: string;
  readonly podName: string;
  readonly appId?: string;
  readonly revisionId?: string;
  readonly machineType?: string;
  readonly gpus: number;
  readonly ready: boolean;
  /** Being deleted or over already. */
  readonly ending: boolean;
}

const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** Capacity this process cannot count (nodes not visible, or none of the type): every start goes to the scheduler. */
const UNKNOWN_CAPACITY = { total: Number.MAX_SAFE_INTEGER, free: Number.MAX_SAFE_INTEGER } as const;

/**
 * The Kubernetes client, loaded on first use: loading it takes about half a
 * second, which a platform on the local backend does not pay.
 */
function client(): typeof K8s {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("@kubernetes/client-node") as typeof K8s;
}

export class KubernetesBackend implements RunnerBackend {
  readonly name = "kubernetes";
  /** The scheduler places runners by the app's `regions` (node affinity), not by this process's region. */
  readonly placesRegions = true;
  readonly machineTypes: readonly string[];
  readonly namespace: string;
  readonly platform: string;
  private readonly core: K8s.CoreV1Api;
  private readonly pods: K8s.Informer<V1Pod> & K8s.ObjectCache<V1Pod>;
  private readonly nodes: K8s.Informer<V1Node> & K8s.ObjectCache<V1Node>;
  private readonly runners = new Map<string, PodRunner>();
  private settings!: PodSettings;
  private readonly wakeups = new Wakeups();
  private stopped = false;
  private nodesVisible = true;
  private readonly log?: Logger;

  private constructor(
    private readonly kc: K8s.KubeConfig,
    namespace: string,
    private readonly opts: KubernetesBackendOptions,
  ) {
    const k8s = client();
    this.namespace = namespace;
    this.platform = opts.platform ?? "falplane";
    this.log = opts.log?.child({ backend: "kubernetes", namespace });
    this.machineTypes = opts.machineTypes ?? Object.keys(MACHINE_TYPES);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    const selector = `${LABELS.platform}=${this.platform}`;
    this.pods = k8s.makeInformer(
      kc,
      `/api/v1/namespaces/${namespace}/pods`,
      () => this.core.listNamespacedPod({ namespace, labelSelector: selector }),
      selector,
    );
    this.nodes = k8s.makeInformer(kc, "/api/v1/nodes", () => this.core.listNode());
  }

  /** Connects to the cluster: the anchor ConfigMap, then the Pod and node watches (their first lists done). */
  static async connect(opts: KubernetesBackendOptions = {}): Promise<KubernetesBackend> {
    const kc = new (client().KubeConfig)();
    const inCluster = !opts.kubeconfig && !!process.env.KUBERNETES_SERVICE_HOST && existsSync(`${SA_DIR}/token`);
    try {
      if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
      else if (inCluster) kc.loadFromCluster();
      else kc.loadFromDefault();
      if (opts.context) kc.setCurrentContext(opts.context);
    } catch (err) {
      throw new Error(`cannot load the Kubernetes config${opts.kubeconfig ? ` ${opts.kubeconfig}` : ""}: ${err instanceof Error ? err.message : err}`);
    }
    if (!kc.getCurrentCluster()) {
      throw new Error("no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run the platform in a Pod");
    }
    const namespace =
      opts.namespace ??
      (inCluster && existsSync(`${SA_DIR}/namespace`) ? readFileSync(`${SA_DIR}/namespace`, "utf8").trim() : undefined) ??
      kc.getContextObject(kc.getCurrentContext())?.namespace ??
      "default";
    const backend = new KubernetesBackend(kc, namespace, opts);
    await backend.init().catch(async (err) => {
      await backend.close();
      throw new Error(`cannot use Kubernetes at ${kc.getCurrentCluster()?.server} (namespace ${namespace}): ${describe(err)}`);
    });
    return backend;
  }

  private async init(): Promise<void> {
    // Without leave to manage ConfigMaps (a Role for Pods only) runner Pods get no owner; adoption still cleans up.
    const owner = await this.ensureAnchor().catch((err) => {
      if (statusOf(err) !== 403) throw err;
      this.log?.warn({ err: describe(err) }, "cannot read or create the anchor ConfigMap: runner Pods get no owner reference");
      return undefined;
    });
    this.settings = {
      namespace: this.namespace,
      platform: this.platform,
      image: this.opts.image ?? "falplane-runner:latest",
      port: this.opts.port ?? 8080,
      workDir: this.opts.workDir ?? "/app",
      gpuTypeLabel: this.opts.gpuTypeLabel ?? DEFAULT_GPU_TYPE_LABEL,
      gpuTypeValues: this.opts.gpuTypeValues,
      tolerations: this.opts.tolerations,
      owner,
      imagePullPolicy: this.opts.imagePullPolicy,
      serviceAccountName: this.opts.serviceAccountName,
      priorityClassName: this.opts.priorityClassName,
    };
    for (const [what, informer] of [["pods", this.pods], ["nodes", this.nodes]] as const) {
      // The informer stops at an error; start it again, unless the backend is closing.
      informer.on("error", (err: unknown) => {
        if (this.stopped) return;
        this.log?.warn({ watch: what, err: describe(err) }, "Kubernetes watch failed; restarting it");
        setTimeout(() => void (this.stopped ? undefined : informer.start().catch(() => undefined)), 1000).unref();
      });
    }
    this.pods.on("add", (pod) => this.onPod(pod));
    this.pods.on("update", (pod) => this.onPod(pod));
    this.pods.on("delete", (pod) => this.onPodGone(pod));
    this.nodes.on("change", () => this.wakeups.wakeAll());
    await this.pods.start();
    // Nodes are cluster-wide: without leave to list them (a namespaced Role), the scheduler alone decides.
    const nodesVisible = await this.core.listNode({ limit: 1 }).then(
      () => true,
      (err) => {
        if (statusOf(err) !== 403) throw err;
        this.log?.warn({ err: describe(err) }, "cannot list nodes: GPU capacity is left to the scheduler (no waiting or preemption before a Pod is created)");
        return false;
      },
    );
    if (nodesVisible) await this.nodes.start();
    this.nodesVisible = nodesVisible;
  }

  /** The ConfigMap every runner Pod is owned by (created when missing). */
  private async ensureAnchor(): Promise<{ name: string; uid: string }> {
    const name = `${this.platform}-runners`;
    const found = await this.core.readNamespacedConfigMap({ name, namespace: this.namespace }).catch((err) => {
      if (statusOf(err) === 404) return undefined;
      throw err;
    });
    const cm =
      found ??
      (await this.core
        .createNamespacedConfigMap({
          namespace: this.namespace,
          body: {
            metadata: { name, labels: { [LABELS.managedBy]: "falplane", [LABELS.platform]: this.platform } },
            data: { about: "Owner of this falplane installation's runner Pods: deleting it deletes them." },
          },
        })
        .catch(async (err) => {
          // Another platform process created it meanwhile.
          if (statusOf(err) === 409) return this.core.readNamespacedConfigMap({ name, namespace: this.namespace });
          throw err;
        }));
    return { name, uid: cm.metadata!.uid! };
  }

  canHost(machineType: string): boolean {
    return this.machineTypes.includes(machineType);
  }

  /**
   * The allocatable GPUs of Ready, schedulable nodes, and those not asked for
   * by this platform's runners. With a GPU machine type: only the nodes whose
   * GPU-type label has that type's value, and only the runners of that GPU
   * type. Without one (or with a CPU type): every node and every runner.
   */
  gpuCapacity(machineType?: string): { total: number; free: number } {
    // Unknown capacity: every start goes to the scheduler, whose refusal shows as the PENDING reason.
    if (!this.nodesVisible) return UNKNOWN_CAPACITY;
    const want = this.gpuTypeValue(machineType);
    const label = this.opts.gpuTypeLabel ?? DEFAULT_GPU_TYPE_LABEL;
    let total = 0;
    for (const node of this.nodes.list()) {
      if (node.spec?.unschedulable) continue;
      if (!node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) continue;
      if (want !== undefined && node.metadata?.labels?.[label] !== want) continue;
      total += Number(node.status?.allocatable?.[GPU_RESOURCE] ?? 0) || 0;
    }
    // No Ready node of this GPU type (yet): the scheduler decides, and a cluster autoscaler may add one.
    if (want !== undefined && total === 0) return UNKNOWN_CAPACITY;
    let held = 0;
    for (const r of this.runners.values()) {
      if (want === undefined || this.gpuTypeValue(r.machineType) === want) held += r.gpus;
    }
    return { total, free: Math.max(0, total - held) };
  }

  /** Runners of two machine types compete for the same GPUs when their nodes carry the same GPU-type label value. */
  sharesGpus(a: string, b: string): boolean {
    return this.gpuTypeValue(a) === this.gpuTypeValue(b);
  }

  /** The GPU-type label value of a GPU machine type's nodes (gpuTypeValues, else its name); undefined for a CPU type. */
  private gpuTypeValue(machineType: string | undefined): string | undefined {
    if (!machineType || !((MACHINE_TYPES[machineType]?.gpus ?? 0) > 0)) return undefined;
    return this.opts.gpuTypeValues?.[machineType] ?? machineType;
  }

  capacityChanged(maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    return this.wakeups.wait(maxWaitMs, signal);
  }


  async start(launch: RunnerLaunch): Promise<PodRunner> {
    const gpus = launch.gpus ?? 0;
    const cap = this.gpuCapacity(launch.machineType);
    if (gpus > cap.free) throw new NoCapacityError(gpus, cap.free, cap.total);
    const name = podName(launch.runnerId);
    const serviceHost = this.opts.address === "service" ? `${name}.${this.namespace}.svc` : undefined;
    const runner: PodRunner = new PodRunner(launch.runnerId, name, this.settings.port, gpus, serviceHost, this.hooksFor(launch.runnerId, name), {
      startupTimeoutMs: launch.startupTimeoutMs,
      onPending: launch.onPending,
      machineType: launch.machineType,
    });
    // Held from now on: a start racing this one sees these GPUs taken.
    this.runners.set(launch.runnerId, runner);
    const pod = buildRunnerPod(
      {
        runnerId: launch.runnerId,
        entrypoint: launch.entrypoint,
        env: launch.env,
        gpus,
        machineType: launch.machineType,
        appId: launch.appId,
        appName: launch.appName,
        revisionId: launch.revisionId,
        regions: launch.regions,
        image: launch.image,
        graceSeconds: Math.ceil((this.opts.graceMs ?? 5000) / 1000),
      },
      this.settings,
    );
    let created: V1Pod;
    try {
      created = await this.core.createNamespacedPod({ namespace: this.namespace, body: pod });
      if (serviceHost) await this.createService(name, launch.runnerId, created.metadata!.uid!);
    } catch (err) {
      this.runners.delete(launch.runnerId);
      await this.core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
      this.wakeups.wakeAll();
      throw new RunnerStartError(`runner ${launch.runnerId}: cannot create Pod ${name} in namespace ${this.namespace}: ${describe(err)}`, "");
    }
    // The watch may have seen it first; otherwise its next event updates the runner.
    runner.observe(this.pods.get(name, this.namespace) ?? created);
    return runner;
  }

  /** A Service per runner (address: service), owned by its Pod so it goes with it. */
  private async createService(name: string, runnerId: string, podUid: string): Promise<void> {
    await this.core.createNamespacedService({
      namespace: this.namespace,
      body: {
        metadata: {
          name,
          labels: { [LABELS.managedBy]: "falplane", [LABELS.platform]: this.platform, [LABELS.runner]: runnerId },
          ownerReferences: [{ apiVersion: "v1", kind: "Pod", name, uid: podUid }],
        },
        spec: { selector: { [LABELS.runner]: runnerId }, ports: [{ name: "http", port: this.settings.port, targetPort: this.settings.port }] },
      },
    });
  }

  /** Pods of this installation that no runner of this process holds: a previous platform process's, for adoption or deletion. */
  existingPods(): ExistingPod[] {
    const out: ExistingPod[] = [];
    for (const pod of this.pods.list(this.namespace)) {
      const labels = pod.metadata?.labels ?? {};
      const runnerId = labels[LABELS.runner];
      if (!runnerId || this.runners.has(runnerId)) continue;
      const phase = pod.status?.phase;
      out.push({
        runnerId,
        podName: pod.metadata!.name!,
        appId: labels[LABELS.appId],
        revisionId: labels[LABELS.revision],
        machineType: labels[LABELS.machineType],
        gpus: Number(pod.metadata?.annotations?.[ANNOTATIONS.gpus] ?? podGpus(pod)) || 0,
        ready: isReady(pod),
        ending: !!pod.metadata?.deletionTimestamp || phase === "Failed" || phase === "Succeeded",
      });
    }
    return out;
  }

  /** Takes over a Ready Pod a previous platform process started; it is a runner of this process from now on. */
  adopt(runnerId: string): PodRunner {
    const name = podName(runnerId);
    const pod = this.pods.get(name, this.namespace);
    if (!pod) throw new Error(`Pod ${name} is gone`);
    const serviceHost = this.opts.address === "service" ? `${name}.${this.namespace}.svc` : undefined;
    const runner = new PodRunner(runnerId, name, this.settings.port, podGpus(pod), serviceHost, this.hooksFor(runnerId, name), {
      startupTimeoutMs: 0,
      adopted: pod,
      machineType: pod.metadata?.labels?.[LABELS.machineType],
    });
    this.runners.set(runnerId, runner);
    return runner;
  }

  /** Deletes a Pod no runner of this process holds (one not adopted), with the grace period. */
  async deletePod(runnerId: string): Promise<void> {
    await this.core
      .deleteNamespacedPod({ name: podName(runnerId), namespace: this.namespace, gracePeriodSeconds: Math.ceil((this.opts.graceMs ?? 5000) / 1000) })
      .catch((err) => {
        if (statusOf(err) !== 404) throw err;
      });
  }

  /**
   * The platform is shutting down: from now on stopping a runner leaves its
   * Pod running, for the next platform process to adopt.
   */
  detach(): void {
    for (const r of this.runners.values()) r.release();
  }

  /**
   * For process exit hooks, which cannot wait for the API server: runner Pods
   * stay, and the next platform start adopts or deletes them.
   */
  killAll(): void {}

  /** Stops the watches. */
  async close(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.pods.stop(), this.nodes.stop()]).catch(() => undefined);
    this.wakeups.wakeAll();
  }

  private hooksFor(runnerId: string, name: string) {
    return {
      deletePod: async (graceSeconds: number) => {
        await this.core.deleteNamespacedPod({ name, namespace: this.namespace, gracePeriodSeconds: graceSeconds });
      },
      onExit: () => {
        this.runners.delete(runnerId);
        this.wakeups.wakeAll();
      },
    };
  }

  private onPod(pod: V1Pod): void {
    const id = pod.metadata?.labels?.[LABELS.runner];
    const r = id ? this.runners.get(id) : undefined;
    if (r && pod.metadata?.name === r.podName) r.observe(pod);
  }

  private onPodGone(pod: V1Pod): void {
    const id = pod.metadata?.labels?.[LABELS.runner];
    const r = id ? this.runners.get(id) : undefined;
    if (r && pod.metadata?.name === r.podName) r.gone();
    this.wakeups.wakeAll();
  }
}

/** HTTP status of a failed API call, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  return typeof e?.code === "number" ? e.code : typeof e?.statusCode === "number" ? e.statusCode : undefined;
}

/** One line about a failed API call: the API server's message when it sent one. */
export function describe(err: unknown): string {
  const e = err as { body?: unknown; message?: string };
  let body = e?.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      // Not JSON.
    }
  }
  const msg = (body as { message?: string } | undefined)?.message;
  const code = statusOf(err);
  return msg ? `${msg}${code ? ` (HTTP ${code})` : ""}` : (e?.message ?? String(err)).split("\n")[0];
}
