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
  return keys.filter((k) => !CONNECTION_KEYS.includes(k) && !sameValue(olds[k], news[k]));
}

/**
 * Deep equality that ignores object key order: the engine stores outputs with
 * sorted keys, while fresh inputs keep the order the program built them in.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "undefined";
}
