/**
 * The Pod of one runner, as a pure function of what the manager launches and
 * how the backend is configured: labels (platform, app, revision, runner),
 * an owner reference to the platform's anchor ConfigMap (deleting it removes
 * every runner Pod), the machine type's CPU and memory as requests and
 * limits, `nvidia.com/gpu` for its GPUs, a node affinity for the GPU type and
 * the app's regions, the runner protocol's /health as readiness probe, and
 * the grace period SIGTERM gets before SIGKILL.
 */
import type { V1Pod, V1NodeSelectorRequirement, V1Toleration, V1EnvVar } from "@kubernetes/client-node";
import { MACHINE_TYPES } from "../../../model/catalog";

/** Labels every runner Pod carries; the backend selects its Pods by them. */
export const LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  platform: "falplane.dev/platform",
  app: "falplane.dev/app",
  appId: "falplane.dev/app-id",
  revision: "falplane.dev/revision",
  runner: "falplane.dev/runner-id",
  machineType: "falplane.dev/machine-type",
} as const;

export const ANNOTATIONS = {
  appName: "falplane.dev/app-name",
  entrypoint: "falplane.dev/entrypoint",
  gpus: "falplane.dev/gpus",
} as const;

/** The well-known node label of a node's region. */
export const REGION_LABEL = "topology.kubernetes.io/region";
/** The extended resource NVIDIA's device plugin advertises. */
export const GPU_RESOURCE = "nvidia.com/gpu";
/** Default node label that names a node's GPU type; its value is the machine type (`GPU-H100`) unless gpuTypeValues maps it. */
export const DEFAULT_GPU_TYPE_LABEL = "falplane.dev/machine-type";

export interface PodSettings {
  /** Namespace of the runner Pods. */
  readonly namespace: string;
  /** Value of the `falplane.dev/platform` label: which platform installation owns the Pod. */
  readonly platform: string;
  /** The runner image: Python with the `falplane` package, running `python -m falplane.runner <entrypoint>`. */
  readonly image: string;
  /** Port the runner listens on inside the Pod (its PORT). */
  readonly port: number;
  /** Working directory of the runner in the image (where the app's files are). */
  readonly workDir: string;
  /** Node label naming a node's GPU type. */
  readonly gpuTypeLabel: string;
  /** Machine type → value of gpuTypeLabel on its nodes; default: the machine type's own name. */
  readonly gpuTypeValues?: Readonly<Record<string, string>>;
  /** Tolerations every runner Pod gets (GPU Pods also tolerate `nvidia.com/gpu` taints). */
  readonly tolerations?: readonly V1Toleration[];
  /** The anchor ConfigMap every runner Pod is owned by; absent: no owner reference. */
  readonly owner?: { readonly name: string; readonly uid: string };
  readonly imagePullPolicy?: string;
  readonly serviceAccountName?: string;
  readonly priorityClassName?: string;
}

export interface RunnerPodInput {
  readonly runnerId: string;
  readonly entrypoint: string;
  readonly env: Readonly<Record<string, string>>;
  readonly gpus: number;
  readonly machineType?: string;
  readonly appId?: string;
  readonly appName?: string;
  readonly revisionId?: string;
  /** The app's regions; empty or absent: any. */
  readonly regions?: readonly string[];
  /** The revision's own image, when it has one; otherwise the backend's. */
  readonly image?: string;
  /** Seconds between SIGTERM and SIGKILL when the Pod is deleted. */
  readonly graceSeconds: number;
}

/** The Pod's name for a runner. */
export function podName(runnerId: string): string {
  return `falplane-runner-${runnerId}`.toLowerCase();
}

/** A label value made of a free string: at most 63 characters of [A-Za-z0-9._-], starting and ending alphanumeric. */
export function labelValue(s: string): string {
  const v = s.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 63);
  return v.replace(/^[^A-Za-z0-9]+/, "").replace(/[^A-Za-z0-9]+$/, "");
}

/** Kubernetes memory quantity of a machine type's megabytes. */
function mebibytes(mb: number): string {
  return `${mb}Mi`;
}

/** Kubernetes CPU quantity: whole cores as "2", fractions as millicores ("500m"). */
export function cpuQuantity(cores: number): string {
  return Number.isInteger(cores) ? String(cores) : `${Math.round(cores * 1000)}m`;
}

export function buildRunnerPod(input: RunnerPodInput, s: PodSettings): V1Pod {
  const type = input.machineType ? MACHINE_TYPES[input.machineType] : undefined;
  const resources: Record<string, string> = {};
  if (type) {
    resources.cpu = cpuQuantity(type.cpu);
    resources.memory = mebibytes(type.memoryMb);
  }
  if (input.gpus > 0) resources[GPU_RESOURCE] = String(input.gpus);

  const match: V1NodeSelectorRequirement[] = [];
  if (input.gpus > 0 && input.machineType) {
    match.push({ key: s.gpuTypeLabel, operator: "In", values: [s.gpuTypeValues?.[input.machineType] ?? input.machineType] });
  }
  if (input.regions && input.regions.length > 0) {
    match.push({ key: REGION_LABEL, operator: "In", values: [...input.regions] });
  }

  const tolerations: V1Toleration[] = [...(s.tolerations ?? [])];
  if (input.gpus > 0) tolerations.push({ key: GPU_RESOURCE, operator: "Exists", effect: "NoSchedule" });

  const env: V1EnvVar[] = [
    ...Object.entries(input.env).map(([name, value]) => ({ name, value })),
    { name: "PORT", value: String(s.port) },
    // The Pod's own address: the gateway reaches the runner by Pod IP (or a Service).
    { name: "FAL_RUNNER_HOST", value: "0.0.0.0" },
    { name: "FAL_RUNNER_ID", value: input.runnerId },
    { name: "PYTHONUNBUFFERED", value: "1" },
  ];

  const labels: Record<string, string> = {
    [LABELS.managedBy]: "falplane",
    [LABELS.platform]: labelValue(s.platform),
    [LABELS.runner]: input.runnerId,
  };
  if (input.appId) labels[LABELS.appId] = labelValue(input.appId);
  if (input.appName) labels[LABELS.app] = labelValue(input.appName);
  if (input.revisionId) labels[LABELS.revision] = labelValue(input.revisionId);
  if (input.machineType) labels[LABELS.machineType] = labelValue(input.machineType);

  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: podName(input.runnerId),
      namespace: s.namespace,
      labels,
      annotations: {
        ...(input.appName ? { [ANNOTATIONS.appName]: input.appName } : {}),
        [ANNOTATIONS.entrypoint]: input.entrypoint,
        [ANNOTATIONS.gpus]: String(input.gpus),
      },
      ...(s.owner
        ? { ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: s.owner.name, uid: s.owner.uid, blockOwnerDeletion: false }] }
        : {}),
    },
    spec: {
      // A runner that exits is replaced by the platform (with its crash backoff), not restarted by the kubelet.
      restartPolicy: "Never",
      terminationGracePeriodSeconds: input.graceSeconds,
      ...(match.length ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: match }] } } } } : {}),
      ...(tolerations.length ? { tolerations } : {}),
      ...(s.serviceAccountName ? { serviceAccountName: s.serviceAccountName } : {}),
      ...(s.priorityClassName ? { priorityClassName: s.priorityClassName } : {}),
      automountServiceAccountToken: false,
      containers: [
        {
          name: "runner",
          image: input.image ?? s.image,
          ...(s.imagePullPolicy ? { imagePullPolicy: s.imagePullPolicy } : {}),
          command: ["python", "-m", "falplane.runner", input.entrypoint],
          workingDir: s.workDir,
          env,
          ports: [{ name: "http", containerPort: s.port, protocol: "TCP" }],
          ...(Object.keys(resources).length ? { resources: { requests: resources, limits: resources } } : {}),
          // Readiness is the runner protocol's health: 200 once setup() has finished, 503 while starting or draining.
          readinessProbe: { httpGet: { path: "/health", port: s.port }, periodSeconds: 2, failureThreshold: 1 },
        },
      ],
    },
  };
}
