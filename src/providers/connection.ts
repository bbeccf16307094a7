/**
 * How every provider reaches the platform: a URL and an API key given as
 * resource inputs. The key is a Pulumi secret input and an additional secret
 * output, so it is encrypted in state; providers never capture it.
 */
import { PlatformClient } from "../client/client";

export interface ConnectionProps {
  readonly platformUrl: string;
  readonly apiKey: string;
}

export function clientFor(p: ConnectionProps): PlatformClient {
  return new PlatformClient({ url: p.platformUrl, key: p.apiKey });
}

/** Inputs that say how to reach the platform, not what to deploy: they never cause a diff. */
export const CONNECTION_KEYS = ["platformUrl", "apiKey"];

/** Keys of `news` whose values differ from `olds`, ignoring connection keys. */
export function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>, keys: readonly string[]): string[] {
  return keys.filter((k) => !CONNECTION_KEYS.includes(k) && JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
}
