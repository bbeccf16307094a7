/**
 * The Kubernetes runner backend (docs/operations.md, "Running on
 * Kubernetes"). Loaded only when the platform runs with `--backend
 * kubernetes`: the local backend never loads the Kubernetes client.
 */
export { KubernetesBackend, type KubernetesBackendOptions, type ExistingPod } from "./kubernetesBackend";
export { reconcileRunnerPods, startPodReconciler, type ReconcileResult } from "./reconcile";
export { buildRunnerPod, podName, LABELS, DEFAULT_GPU_TYPE_LABEL, REGION_LABEL, GPU_RESOURCE } from "./podSpec";
