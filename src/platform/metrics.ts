/**
 * Prometheus metrics of one platform process, served at /metrics. A registry
 * per platform (not the global one) so several can live in one test process.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export class PlatformMetrics {
  readonly registry = new Registry();
  readonly queueDepth = new Gauge({ name: "falplane_queue_depth", help: "Requests waiting or in progress", labelNames: ["status"], registers: [this.registry] });
  readonly queueWait = new Histogram({
    name: "falplane_queue_wait_seconds",
    help: "Time from submit to the start of processing",
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: "falplane_request_duration_seconds",
    help: "Time a runner spent on a request",
    labelNames: ["mode"],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly outcomes = new Counter({
    name: "falplane_request_outcomes_total",
    help: "Requests by mode (queue, sync) and outcome (ok, error, retried, timeout, cancelled)",
    labelNames: ["mode", "outcome"],
    registers: [this.registry],
  });
  readonly runners = new Gauge({ name: "falplane_runners", help: "Runners of this process by state", labelNames: ["state"], registers: [this.registry] });
  readonly webhooks = new Counter({ name: "falplane_webhook_deliveries_total", help: "Webhook delivery attempts by result", labelNames: ["result"], registers: [this.registry] });
}
