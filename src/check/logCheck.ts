/**
 * The deploy check inside a Pulumi program: reads the live state with a
 * timeout, computes and renders the check, and logs it as an info diagnostic
 * under the FalApp (what `pulumi preview` and `pulumi up` print). The only
 * part of src/check that needs the Pulumi SDK, so ./index does not export it:
 * the rest stays plain data and functions for tests and other tools.
 */
import * as pulumi from "@pulumi/pulumi";
import { PlatformClient } from "../client/client";
import { computeDeployCheck } from "./compute";
import { readLiveState } from "./live";
import { renderDeployCheck, renderUnavailableCheck } from "./render";
import type { PlannedDeploy } from "./types";

/** The deploy check gives up reading the live state after this long (then warns; preview goes on). */
export const CHECK_TIMEOUT_MS = 10_000;

/** Where the check reads the live state; the key is a secret and is used for the requests only. */
export interface CheckConnection {
  readonly platformUrl: pulumi.Input<string>;
  readonly apiKey: pulumi.Input<string>;
}

/**
 * Reads the live app and its revision (two GETs, never a write), logs the
 * deploy check as an info diagnostic of `resource` and returns its text. Runs
 * only once the URL and key are known, so no unknown value ever reaches the
 * platform; the key is never logged. A platform that cannot be read gives a
 * warning, never a failed preview.
 */
export function logDeployCheck(resource: pulumi.Resource, plan: PlannedDeploy, connection: CheckConnection): pulumi.Output<string> {
  const target = pulumi.all([connection.platformUrl, connection.apiKey]);
  const where = `${plan.appName} (env: ${plan.environment})`;
  whenUnknown(target, () =>
    pulumi.log.warn(`Deployment check: could not read the live state of ${where}: the platform URL or API key is not known until the deploy runs`, resource),
  );
  const text = target.apply(async ([url, key]) => {
    let live;
    try {
      live = await readLiveState(new PlatformClient({ url, key, timeoutMs: CHECK_TIMEOUT_MS }), plan.appName, plan.environment, plan.codeSettings);
    } catch (err) {
      const reason = redact(err instanceof Error ? err.message : String(err), key);
      await pulumi.log.warn(`Deployment check: could not read the live state of ${where} from the platform: ${reason}`, resource);
      return renderUnavailableCheck(plan.appName, plan.environment, reason);
    }
    let rendered: string;
    try {
      rendered = renderDeployCheck(computeDeployCheck(plan, live));
    } catch (err) {
      // A bug in the check must not stop a deploy: say so and go on.
      const reason = redact(err instanceof Error ? err.message : String(err), key);
      await pulumi.log.warn(`Deployment check: could not compute the check of ${where}: ${reason}`, resource);
      return renderUnavailableCheck(plan.appName, plan.environment, reason, "be computed");
    }
    await pulumi.log.info(rendered, resource);
    return rendered;
  });
  // The text holds no secret; without unsecret it would be `[secret]` because the key is an input.
  return pulumi.unsecret(text);
}

/** Calls `f` when `o` turns out unknown (a preview whose URL or key comes from a resource not yet created). */
function whenUnknown(o: pulumi.Output<unknown>, f: () => unknown): void {
  // `isKnown` is not in the SDK's typings but has been on every Output for years; without it we skip the warning.
  const isKnown = (o as unknown as { isKnown?: Promise<boolean> }).isKnown;
  if (isKnown instanceof Promise) void isKnown.then((known) => (known ? undefined : f()), () => undefined);
}

/** Removes the API key (and its secret half) from a message, should an error ever echo it. */
function redact(message: string, key: string): string {
  let out = message;
  for (const s of [key, key.split(":")[1]]) if (s && s.length >= 8) out = out.split(s).join("[secret]");
  return out;
}
