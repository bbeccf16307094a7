/**
 * Computes the deploy check of one app: which production-facing values the
 * deploy changes, following the inheritance rules of docs/semantics.md as
 * src/model/scaling.ts implements them for the deploy itself:
 *
 * - runtime-tunable values (keep_alive … regions) stay the live ones unless
 *   `resetScale`; a first deployment takes the code's values. A code value that
 *   differs from the live one without `resetScale` is listed with its live
 *   value kept and the note NOTE_NEEDS_RESET, so a reviewer sees it.
 * - code values (max_multiplexing, startup_timeout, machine_types, num_gpus)
 *   always come from the revision being activated.
 * - auth mode is set by every deploy.
 * - source files and source object make a new revision when they differ.
 */
import { createHash } from "node:crypto";
import {
  CODE_SETTINGS_DEFAULTS,
  CODE_SETTING_KEYS,
  RUNTIME_SCALING_KEYS,
  type CodeSettings,
  type FileEntry,
  type RuntimeScaling,
} from "../model/catalog";
import { effectiveScaling, isFirstDeploy, withCodeDefaults, withRuntimeDefaults } from "../model/scaling";
import type { CheckRow, DeployCheck, LiveState, PlannedDeploy } from "./types";

/** Production column of a first deployment. */
export const NOT_APPLICABLE = "n/a";
/**
 * Note of a runtime-tunable value whose code value differs from the live one,
 * without resetScale; followed by ` (code: <value>)` so the reviewer sees the value that is not applied.
 */
export const NOTE_NEEDS_RESET = "Code value will not apply without resetScale";
/** Note of a runtime-tunable value that resetScale sets back to the code's value. */
export const NOTE_RESET = "reset by resetScale";
/** Note of a code value that changes with the new revision. */
export const NOTE_NEW_REVISION = "new revision";
/** Note of a code value whose live revision could not be read. */
export const NOTE_LIVE_UNKNOWN = "live revision could not be read";

/** Display order of the code values. */
const CODE_ORDER: readonly (keyof CodeSettings)[] = ["machine_types", "num_gpus", "max_multiplexing", "startup_timeout", "requirements", "python_version"];
/** Code values shown on a first deployment only when set: most apps leave them at their defaults. */
const SHOWN_WHEN_SET = new Set<keyof CodeSettings>(["requirements", "python_version"]);
const SECONDS = new Set<string>(["keep_alive", "scaling_delay", "request_timeout", "startup_timeout"]);

/** `note; from <origin>`: a row's note with where its code value came from, when known. */
export function withOrigin(note: string, origin: string | undefined): string {
  if (!origin) return note;
  return note ? `${note}; from ${origin}` : `from ${origin}`;
}

export function computeDeployCheck(plan: PlannedDeploy, live: LiveState): DeployCheck {
  const origin = (key: string): string | undefined => plan.origins?.[key];
  const app = live.app;
  // An app without an active revision (its first deploy failed) is still a first deployment:
  // nothing serves traffic and the code's values apply.
  const first = isFirstDeploy(app);
  const liveRev = !first && live.revision && live.revision.id === app!.revision ? live.revision : undefined;
  const plannedCode = withCodeDefaults(plan.codeSettings);
  const liveCode = liveRev ? withCodeDefaults(liveRev.code_settings) : undefined;
  const rows: CheckRow[] = [];

  // ---- source
  const filesNow = liveRev ? liveRev.files : undefined;
  const changed = filesNow ? changedFiles(filesNow, plan.files) : undefined;
  if (first) {
    rows.push({ setting: "Source files", production: NOT_APPLICABLE, afterDeploy: filesLabel(plan.files), note: "" });
    rows.push({ setting: "Source object", production: NOT_APPLICABLE, afterDeploy: plan.sourceObject, note: "" });
  } else if (!liveRev) {
    rows.push({ setting: "Source files", production: "unknown", afterDeploy: filesLabel(plan.files), note: NOTE_LIVE_UNKNOWN });
    rows.push({ setting: "Source object", production: "unknown", afterDeploy: plan.sourceObject, note: NOTE_LIVE_UNKNOWN });
  } else {
    if (changed!.length > 0) {
      rows.push({ setting: "Source files", production: filesLabel(filesNow!), afterDeploy: filesLabel(plan.files), note: changedNote(changed!) });
    }
    if (liveRev.source_object !== plan.sourceObject) {
      rows.push({ setting: "Source object", production: liveRev.source_object, afterDeploy: plan.sourceObject, note: "" });
    }
  }

  // ---- image: the planned tag (the content hash) against the live revision's, digest left out
  const liveImage = liveRev?.code_settings?.image?.split("@")[0];
  const plannedImage = plan.image?.ref;
  if (plannedImage && (first || !liveRev)) {
    rows.push({ setting: "image", production: first ? NOT_APPLICABLE : "unknown", afterDeploy: plannedImage, note: first ? "" : NOTE_LIVE_UNKNOWN });
  } else if (liveRev && liveImage !== plannedImage) {
    rows.push({ setting: "image", production: liveImage ?? "none", afterDeploy: plannedImage ?? "none", note: NOTE_NEW_REVISION });
  }

  // ---- auth
  if (first || app!.auth_mode !== plan.authMode) {
    rows.push({ setting: "Auth mode", production: first ? NOT_APPLICABLE : app!.auth_mode, afterDeploy: plan.authMode, note: withOrigin("", origin("auth_mode")) });
  }

  // ---- code values: always those of the revision being activated
  for (const key of CODE_ORDER) {
    const next = formatValue(key, plannedCode[key]);
    const atDefault = next === formatValue(key, CODE_SETTINGS_DEFAULTS[key]);
    if (SHOWN_WHEN_SET.has(key) && atDefault && (first || !liveRev)) continue;
    if (first) {
      rows.push({ setting: key, production: NOT_APPLICABLE, afterDeploy: next, note: withOrigin("", origin(key)) });
    } else if (!liveCode) {
      rows.push({ setting: key, production: "unknown", afterDeploy: next, note: withOrigin(NOTE_LIVE_UNKNOWN, origin(key)) });
    } else {
      const now = formatValue(key, liveCode[key]);
      if (now !== next) rows.push({ setting: key, production: now, afterDeploy: next, note: withOrigin(NOTE_NEW_REVISION, origin(key)) });
    }
  }

  // ---- runtime-tunable values: live unless resetScale; the code's on a first deployment
  const after = effectiveScaling(app, plan.scaling, plan.resetScale);
  const liveScaling = first ? undefined : withRuntimeDefaults(app!.scaling);
  for (const key of RUNTIME_SCALING_KEYS) {
    const code = formatValue(key, plan.scaling[key]);
    const next = formatValue(key, after[key]);
    if (!liveScaling) {
      rows.push({ setting: key, production: NOT_APPLICABLE, afterDeploy: next, note: withOrigin("", origin(key)) });
      continue;
    }
    const now = formatValue(key, liveScaling[key]);
    if (now === code) continue;
    // A code value that differs is listed even when it does not apply, so a reviewer sees it.
    rows.push(
      next === code
        ? { setting: key, production: now, afterDeploy: next, note: withOrigin(NOTE_RESET, origin(key)) }
        : { setting: key, production: now, afterDeploy: next, note: `${NOTE_NEEDS_RESET} (code: ${code}${origin(key) ? `, from ${origin(key)}` : ""})` },
    );
  }

  const newRevision =
    first ||
    !liveRev ||
    changed!.length > 0 ||
    liveRev.source_object !== plan.sourceObject ||
    liveImage !== plannedImage ||
    // A field the live revision lacks (it predates the field) differs too: the Revision's own diff
    // compares the stored settings as they are, so `up` makes a new revision then.
    CODE_SETTING_KEYS.some(
      (k) => liveRev.code_settings?.[k] === undefined || formatValue(k, liveRev.code_settings[k]) !== formatValue(k, plannedCode[k]),
    );

  return {
    appName: plan.appName,
    environment: plan.environment,
    currentRevision: first ? undefined : app!.revision!,
    firstDeployment: first,
    sourceObject: plan.sourceObject,
    authCurrent: first ? undefined : app!.auth_mode,
    authNext: plan.authMode,
    authChanges: !first && app!.auth_mode !== plan.authMode,
    strategy: plan.strategy,
    buildCache: buildCacheLabel(plan.noCache, live.build),
    appClass: plan.appClass ? `${plan.appClass.className} (${plan.appClass.sdk}.App)` : undefined,
    ignoredSettings: plan.ignoredSettings ?? [],
    image: plan.image ? `${plan.image.ref} (from ${plan.image.from})` : undefined,
    newRevision,
    rows,
  };
}

/** What the build cache will do for this deploy's environment. */
export function buildCacheLabel(noCache: boolean, build: LiveState["build"]): string {
  if (noCache) return "disabled (no-cache)";
  if (!build) return "enabled";
  const key = build.key.slice(0, 12);
  if (build.status === "ready") return `hit (key ${key})`;
  if (build.status === "building") return `building now (key ${key}); the deploy joins that build`;
  return "miss (will build)";
}

/** A value as the table shows it: seconds with `s`, percentages with `%`, lists comma-separated, no regions as `any`. */
export function formatValue(key: keyof RuntimeScaling | keyof CodeSettings | string, value: unknown): string {
  if (Array.isArray(value)) {
    if (key === "regions" && value.length === 0) return "any";
    return value.length === 0 ? "none" : value.join(", ");
  }
  if (typeof value === "number") {
    if (SECONDS.has(key)) return `${value}s`;
    if (key === "concurrency_buffer_perc") return `${value}%`;
    return String(value);
  }
  return value === undefined || value === null ? "unset" : String(value);
}

/** Paths whose content or mode differ, or that exist on one side only; sorted. */
export function changedFiles(
  before: Readonly<Record<string, FileEntry>>,
  after: Readonly<Record<string, FileEntry>>,
): string[] {
  const paths = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...paths]
    .filter((p) => before[p]?.hash !== after[p]?.hash || before[p]?.mode !== after[p]?.mode)
    .sort();
}

/** Short, order-independent fingerprint of a file set: 8 hex digits of sha256 over path, hash and mode. */
export function filesFingerprint(files: Readonly<Record<string, FileEntry>>): string {
  const h = createHash("sha256");
  for (const p of Object.keys(files).sort()) h.update(`${p}\0${files[p].hash}\0${files[p].mode}\n`);
  return h.digest("hex").slice(0, 8);
}

function filesLabel(files: Readonly<Record<string, FileEntry>>): string {
  const n = Object.keys(files).length;
  return `${n} ${n === 1 ? "file" : "files"} (${filesFingerprint(files)})`;
}

/** `1 file changed: app.py`, `5 files changed: a.py, b.py, c.py, +2 more`. */
function changedNote(paths: readonly string[]): string {
  const shown = paths.slice(0, 3).join(", ");
  const more = paths.length > 3 ? `, +${paths.length - 3} more` : "";
  return `${paths.length} ${paths.length === 1 ? "file" : "files"} changed: ${shown}${more}`;
}
