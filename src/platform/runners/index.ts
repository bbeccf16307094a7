/**
 * The runner layer's public face: what the gateway, the queue, the service and
 * the API may use. Everything else under runners/ is its own machinery.
 */
export { RunnerManager, type Lease, type ManagedRunner, type RunnerState } from "./manager";
export { LocalBackend, RunnerStartError } from "./localBackend";
export { postToRunner, type RunnerResponse } from "./runnerHttp";
