/**
 * The runner layer's public face: what the gateway, the queue, the service,
 * the API and start-up may use. Code outside runners/ imports from here only,
 * so the files behind it (manager, autoscaler, backends, materialisation) can
 * change without touching their callers.
 */
export { RunnerManager, CapacityError, NotPlaceableHereError, RevisionSupersededError, RevisionUnavailableError, type AcquireOptions, type Lease, type ManagedRunner, type RunnerState, type RunnerManagerOptions } from "./manager";
export { Autoscaler, type AutoscalerOptions } from "./autoscaler";
export { RunnerStartError, type RunnerBackend, type StartedRunner } from "./backend";
export { LocalBackend } from "./localBackend";
export { exchangeWithRunner, postToRunner, streamFromRunner, runnerHealth, cancelOnRunner, type RunnerResponse, type RunnerStream } from "./runnerHttp";
