/**
 * Webhook delivery: when a queued request with `fal_webhook` completes, its
 * result is POSTed to that URL, as fal does. A delivery that fails (no
 * answer within 10 s, or an answer other than 2xx) is retried with doubling
 * delays, at most 10 attempts in all; the state lives on the request row, so
 * any platform process may make the next attempt.
 */
import type { Db } from "../store/db";
import * as qs from "../store/queueStore";
import type { RequestRow } from "../store/queueStore";
import type { Logger } from "../log";
import type { PlatformMetrics } from "../metrics";

/** Attempts before a delivery counts as failed for good. */
export const MAX_WEBHOOK_ATTEMPTS = 10;
/** Deliveries claimed per pass. */
const BATCH = 20;
/** How long a webhook receiver may take to answer. */
const DELIVERY_TIMEOUT_MS = 10_000;

export interface WebhookDeliveryOptions {
  readonly db: Db;
  readonly log: Logger;
  readonly metrics: PlatformMetrics;
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

  private async deliver(r: RequestRow): Promise<void> {
    const { db, log, metrics } = this.opts;
    const ok = r.result_status !== null && r.result_status < 400;
    const attempts = r.webhook_attempts + 1;
    try {
      const res = await fetch(r.webhook_url!, {
        method: "POST",
        headers: { "content-type": "application/json", "x-fal-request-id": r.id },
        body: JSON.stringify({
          request_id: r.id,
          gateway_request_id: r.id,
          status: ok ? "OK" : "ERROR",
          payload: payloadOf(r),
          ...(ok ? {} : { error: r.error ?? `status ${r.result_status}` }),
        }),
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`webhook answered ${res.status}`);
      await qs.setWebhookState(db, r.id, "delivered", attempts, null);
      metrics.webhooks.inc({ result: "delivered" });
    } catch (err) {
      const final = attempts >= MAX_WEBHOOK_ATTEMPTS;
      await qs.setWebhookState(db, r.id, final ? "failed" : "pending", attempts, final ? null : this.baseDelayMs * 2 ** (attempts - 1));
      metrics.webhooks.inc({ result: final ? "failed" : "retry" });
      log.warn({ request_id: r.id, attempt: attempts, err: String(err) }, final ? "webhook delivery failed for good" : "webhook delivery failed; will retry");
    }
  }
}

/** The result as JSON when it is JSON, as text otherwise, null when there is none. */
function payloadOf(r: RequestRow): unknown {
  if (!r.result_body) return null;
  const text = Buffer.from(r.result_body).toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
