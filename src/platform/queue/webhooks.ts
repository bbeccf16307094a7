/**
 * Webhook delivery: when a queued request with `fal_webhook` completes, its
 * result is POSTed to that URL, as fal does. A delivery that fails (no
 * answer within 10 s, or an answer other than 2xx) is retried with doubling
 * delays, at most 10 attempts in all; the state lives on the request row, so
 * any platform process may make the next attempt.
 */
import type { Db } from "../store/db";
import * as qs from "../store/queueStore";
import type { WebhookRow } from "../store/queueStore";
import { loadBody, type PayloadStore } from "../store/payloadStore";
import type { Logger } from "../log";
import type { PlatformMetrics } from "../metrics";
import { postWebhook, WEBHOOK_REFUSED, type WebhookPolicy } from "./webhookTarget";

/** Attempts before a delivery counts as failed for good. */
export const MAX_WEBHOOK_ATTEMPTS = 10;
/** Deliveries claimed per pass. */
const BATCH = 20;
/** How long a webhook receiver may take to answer. */
const DELIVERY_TIMEOUT_MS = 10_000;

export interface WebhookDeliveryOptions {
  readonly db: Db;
  /** Where results too big for a queue row live. */
  readonly payloads: PayloadStore;
  readonly log: Logger;
  readonly metrics: PlatformMetrics;
  /** Where webhooks may go (./webhookTarget.ts). */
  readonly policy: WebhookPolicy;
  /** First retry delay, doubling each time: 10 attempts span 15 s × (2^9 − 1) ≈ 2.1 h. Default 15000 ms. */
  readonly baseDelayMs?: number;
}

export class WebhookDelivery {
  private readonly baseDelayMs: number;

  constructor(private readonly opts: WebhookDeliveryOptions) {
    this.baseDelayMs = opts.baseDelayMs ?? 15_000;
  }

  /** Delivers the webhooks that are due now (claimed, so no other process delivers them meanwhile). */
  async deliverDue(): Promise<void> {
    for (const r of await qs.claimDueWebhooks(this.opts.db, BATCH)) await this.deliver(r);
  }

  private async deliver(r: WebhookRow): Promise<void> {
    const { db, log, metrics } = this.opts;
    const ok = r.result_status !== null && r.result_status < 400;
    const attempts = r.webhook_attempts + 1;
    try {
      const result = await loadBody(this.opts.payloads, r.result_body, r.result_ref);
      const status = await postWebhook(
        {
          url: r.webhook_url!,
          headers: { "content-type": "application/json", "x-fal-request-id": r.id },
          body: JSON.stringify({
            request_id: r.id,
            gateway_request_id: r.id,
            status: ok ? "OK" : "ERROR",
            payload: payloadOf(result),
            ...(ok ? {} : { error: r.error ?? `status ${r.result_status}` }),
          }),
          timeoutMs: DELIVERY_TIMEOUT_MS,
        },
        this.opts.policy,
      );
      if (status < 200 || status >= 300) throw new Error(`webhook answered ${status}`);
      await qs.setWebhookState(db, r.id, "delivered", attempts, null);
      metrics.webhooks.inc({ result: "delivered" });
    } catch (err) {
      // A target the policy refuses (its name now resolves to a private address) is not retried.
      const final = attempts >= MAX_WEBHOOK_ATTEMPTS || isRefusedTarget(err);
      await qs.setWebhookState(db, r.id, final ? "failed" : "pending", attempts, final ? null : this.baseDelayMs * 2 ** (attempts - 1));
      metrics.webhooks.inc({ result: final ? "failed" : "retry" });
      log.warn({ request_id: r.id, attempt: attempts, err: String(err) }, final ? "webhook delivery failed for good" : "webhook delivery failed; will retry");
    }
  }
}

function isRefusedTarget(err: unknown): boolean {
  return (err as { code?: string }).code === WEBHOOK_REFUSED;
}

/** The result as JSON when it is JSON, as text otherwise, null when there is none. */
function payloadOf(result: Buffer | undefined): unknown {
  if (!result) return null;
  const text = result.toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
