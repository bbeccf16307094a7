/**
 * The environment a process the platform starts for an app inherits: the
 * platform's own, less its secrets (database URL, keys, Pulumi settings).
 * Runners and environment builds (which run the app's packages' build code)
 * both start from it.
 */
const PLATFORM_ONLY = /^(FAL_|FALPLANE_|DATABASE_URL|PULUMI_|PG)/;

export function appProcessEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || PLATFORM_ONLY.test(k)) continue;
    out[k] = v;
  }
  return out;
}
