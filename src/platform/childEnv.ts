/**
 * The environment of processes the platform starts for an app.
 *
 * Runners get an allow-list: what any process needs (PATH, locale, time zone,
 * proxies), the names an operator passes on purpose (`--runner-env`), and the
 * runner's own values (its environment's secrets, its identity). Nothing else
 * of the platform's environment reaches them, so a secret the operator keeps
 * in the platform's environment (DATABASE_URL, cloud credentials) stays there.
 *
 * Environment builds run the app's packages' build code with the platform's
 * environment less its own settings (database URL, keys, Pulumi settings):
 * a build may need the operator's index credentials and tool settings (UV_*,
 * PIP_*), which an allow-list would have to guess.
 */
const PLATFORM_ONLY = /^(FAL_|FALPLANE_|DATABASE_URL|PULUMI_|PG)/;

/** Host variables every runner gets, when the platform has them. */
const RUNNER_BASE = /^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy|NVIDIA_[A-Z_]+|LD_LIBRARY_PATH)$/;

export function appProcessEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || PLATFORM_ONLY.test(k)) continue;
    out[k] = v;
  }
  return out;
}

/** The part of the platform's environment a runner inherits: the base allow-list plus `passNames`. */
export function runnerBaseEnv(passNames: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue;
    if (RUNNER_BASE.test(k) || passNames.includes(k)) out[k] = v;
  }
  return out;
}
