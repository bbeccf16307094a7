/**
 * Checks of what a gateway call carries besides its body, before anything is
 * stored or forwarded: the X-Fal-Request-Timeout header of a queue submit and
 * the endpoint path. Each refusal is a 4xx naming what was sent and what is
 * allowed; none may reach a runner or the queue.
 */
import { PlatformError } from "../errors";
import { SCALING_BOUNDS } from "../../model/catalog";

/**
 * Seconds a queued request may wait before processing starts
 * (X-Fal-Request-Timeout); null when the header is absent. Bounded by the
 * request_timeout maximum: the value becomes a timer in milliseconds, and an
 * unbounded one (1e300) overflowed it.
 */
export function parseRequestTimeoutHeader(value: string | string[] | undefined): number | null {
  if (value === undefined) return null;
  const max = SCALING_BOUNDS.request_timeout.max;
  const refuse = () =>
    new PlatformError(
      422,
      "invalid",
      `X-Fal-Request-Timeout must be a number of seconds greater than 0 and at most ${max}, got ${JSON.stringify(value)}`,
      { header: "x-fal-request-timeout", value, min_exclusive: 0, max },
    );
  if (typeof value !== "string" || value.trim() === "") throw refuse();
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > max) throw refuse();
  return seconds;
}

/** The runner's own paths (sdk/python/falplane/app.py RESERVED_PATHS and RESERVED_PREFIX): never an app endpoint. */
const RESERVED_PATHS = ["/health"];
const RESERVED_PREFIX = "/_fal";

/**
 * Refuses a call to one of the runner's reserved paths (`/health`, `/_fal/…`,
 * e.g. `/_fal/cancel`) with a 404: they belong to the platform's control of
 * the runner, not to the app. The path is checked in every form a runner
 * could route it to: as sent, percent-decoded, and with `.`/`..` resolved;
 * like the runner, a query, a fragment and trailing slashes are ignored.
 */
export function refuseReservedPath(subpath: string, endpoint: string): void {
  if (isReservedPath(subpath)) {
    throw new PlatformError(404, "not_found", `${endpoint}: the path ${JSON.stringify(subpath)} is reserved by the runner and cannot be called through the gateway`);
  }
}

/**
 * A path of letters, digits, `_`, `-` and single slashes only: percent-decoding
 * and URL resolution leave it as it is (no `%`, no `.`, no backslash, no control
 * characters, no leading `//`), so its one form is checked without them.
 */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_-]*)*$/;

export function isReservedPath(subpath: string): boolean {
  if (subpath === "/") return false;
  if (PLAIN_PATH.test(subpath) && !subpath.startsWith("//")) return isReservedForm(subpath);
  const forms = new Set<string>([subpath]);
  try {
    forms.add(decodeURIComponent(subpath));
  } catch {
    // Not valid percent-encoding: checked as sent.
  }
  for (const f of [...forms]) {
    try {
      const resolved = new URL(f.startsWith("/") ? f : `/${f}`, "http://runner").pathname;
      forms.add(resolved);
      forms.add(decodeURIComponent(resolved));
    } catch {
      // Not a URL path, or not valid percent-encoding once resolved: the forms above are checked.
    }
  }
  return [...forms].some(isReservedForm);
}

function isReservedForm(f: string): boolean {
  const p = normalize(f);
  return RESERVED_PATHS.includes(p) || p === RESERVED_PREFIX || p.startsWith(`${RESERVED_PREFIX}/`);
}

/** As the runner routes: no query or fragment, no trailing or doubled slashes, "/" for the root. */
function normalize(path: string): string {
  const p = path.split("?", 1)[0].split("#", 1)[0].replace(/\/{2,}/g, "/").replace(/\/+$/, "");
  return p.startsWith("/") ? p : `/${p}`;
}
