/**
 * An app class's own settings, read the way fal reads them: class attributes
 * (and class keywords, `class A(fal.App, keep_alive=300)`), then the app's
 * `[tool.fal.apps.<name>]` in pyproject.toml. These are the code's values:
 * code-specific ones (machine_type, num_gpus, max_multiplexing,
 * startup_timeout, requirements) define the revision, runtime-tunable ones
 * (keep_alive … regions) are what fal's inheritance rule calls the code
 * values (src/model/scaling.ts). The app spec (YAML or FalApp args) can still
 * override each one.
 *
 * The class is parsed, never imported (sdk/python/falplane/_inspect.py): the
 * deploying machine usually lacks the app's heavy dependencies, and a
 * preview must not run the app's code. Values are validated here with the
 * same bounds the spec and the API use; each error names the file, the line,
 * the attribute, the value and what is allowed.
 */
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { AUTH_MODES, MACHINE_TYPE_NAMES, NAME_PATTERN, NAME_RULE, REGION_BOUNDS, SCALING_BOUNDS, boundMessage, kebabCase, type AuthMode, type BoundedField } from "./catalog";
import type { ScalingSpec } from "./appSpec";
import type { CodeSettings, RuntimeScaling } from "./catalog";
import { REQUIREMENTS_FILE, normaliseRequirements, resolveRequirements } from "./requirements";
import { SCALING_FIELDS, codeSettingsOf, runtimeScalingOf } from "./scaling";

/** The Python SDK's directory: the inspector is `falplane._inspect` in it. */
export const PYTHON_SDK_DIR = resolve(__dirname, "../../sdk/python");

/**
 * The version of fal's SDK (`fal` on PyPI) a fal app's environment gets when
 * its requirements do not name `fal` themselves. The runner serves fal apps
 * through fal's own app builder (sdk/python/falplane/_fal_serve.py), tested
 * with this version; docs/moving-a-fal-app.md says so.
 */
export const FAL_SDK_VERSION = "1.83.0";

/** Which SDK an app class is written for. */
export type AppSdk = "fal" | "falplane";

/** The settings a class may declare, by fal's attribute name. */
export const CLASS_SETTING_NAMES = [
  "requirements",
  "machine_type",
  "num_gpus",
  "regions",
  "keep_alive",
  "min_concurrency",
  "max_concurrency",
  "concurrency_buffer",
  "concurrency_buffer_perc",
  "scaling_delay",
  "request_timeout",
  "startup_timeout",
  "max_multiplexing",
  "app_name",
  "app_auth",
] as const;
export type ClassSettingName = (typeof CLASS_SETTING_NAMES)[number];

/** Where a code value came from, as the deploy check shows it. */
export type ValueOrigin = string;
export const ORIGIN_SPEC: ValueOrigin = "app spec";

/** What a class declares, validated. */
export interface ClassSettings {
  readonly sdk: AppSdk;
  readonly className: string;
  /** The app name when neither the class nor the spec sets one (fal's rule for fal apps). */
  readonly defaultAppName: string;
  readonly appName?: string;
  readonly authMode?: AuthMode;
  readonly machineTypes?: readonly string[];
  readonly numGpus?: number;
  readonly regions?: readonly string[];
  readonly requirements?: readonly string[];
  /** Scaling values by the spec's snake_case key (keep_alive, max_multiplexing, …). */
  readonly scaling: Readonly<Partial<Record<BoundedField, number>>>;
  /** Each setting the class declared → where (`class MyApp, line 12`, `pyproject.toml [tool.fal.apps.x]`). */
  readonly origins: Readonly<Partial<Record<ClassSettingName, ValueOrigin>>>;
  /** fal settings the class declares that this platform does not apply (e.g. `local_python_modules`). */
  readonly ignored: readonly string[];
}

/** The class or one of its settings cannot be used; the message says which and why. */
export class ClassSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClassSettingsError";
  }
}

const RawSetting = z.object({
  value: z.unknown(),
  from: z.enum(["class", "pyproject"]),
  line: z.number().optional(),
  class: z.string().optional(),
  how: z.string().optional(),
  where: z.string().optional(),
});
const InspectOutput = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    sdk: z.enum(["fal", "falplane"]),
    class: z.string(),
    default_app_name: z.string(),
    settings: z.record(z.string(), RawSetting),
    ignored: z.array(z.string()),
  }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);

const cache = new Map<string, ClassSettings>();

/**
 * The settings of `className` in `file` (absolute, or relative to the
 * working directory). `projectRoot` bounds the search for pyproject.toml.
 * Cached per file content (mtime and size) within one process: a Pulumi
 * program reads each app's class more than once.
 */
export function readClassSettings(file: string, className: string, projectRoot: string = process.cwd()): ClassSettings {
  const abs = resolve(file);
  let stamp = "";
  try {
    const st = statSync(abs);
    stamp = `${st.mtimeMs}:${st.size}`;
  } catch {
    // the inspector reports the missing file
  }
  const key = `${abs}\0${className}\0${projectRoot}\0${stamp}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const python = process.env.FALPLANE_PYTHON ?? "python3";
  const run = spawnSync(python, ["-m", "falplane._inspect", abs, className, "--project-root", resolve(projectRoot)], {
    encoding: "utf8",
    env: { ...process.env, PYTHONPATH: [PYTHON_SDK_DIR, process.env.PYTHONPATH].filter(Boolean).join(":"), PYTHONDONTWRITEBYTECODE: "1" },
    timeout: 30_000,
  });
  if (run.error) {
    throw new ClassSettingsError(
      `reading the settings of ${file}::${className} needs Python 3.11 or newer on this machine (${python}; set FALPLANE_PYTHON to another): ${run.error.message}`,
    );
  }
  let parsed: z.infer<typeof InspectOutput>;
  try {
    parsed = InspectOutput.parse(JSON.parse(run.stdout));
  } catch {
    throw new ClassSettingsError(`reading the settings of ${file}::${className} failed (${python} exited with ${run.status}): ${(run.stderr || run.stdout).trim().slice(-2000)}`);
  }
  if (!parsed.ok) throw new ClassSettingsError(parsed.error);
  const settings = validateClassSettings(parsed, file);
  cache.set(key, settings);
  return settings;
}

/** The inspector's raw values checked against the platform's vocabulary and bounds. */
function validateClassSettings(raw: Extract<z.infer<typeof InspectOutput>, { ok: true }>, file: string): ClassSettings {
  const origins: Partial<Record<ClassSettingName, ValueOrigin>> = {};
  const problems: string[] = [];
  const scaling: Partial<Record<BoundedField, number>> = {};
  const out: {
    appName?: string;
    authMode?: AuthMode;
    machineTypes?: string[];
    numGpus?: number;
    regions?: string[];
    requirements?: string[];
  } = {};

  for (const [name, s] of Object.entries(raw.settings)) {
    if (!(CLASS_SETTING_NAMES as readonly string[]).includes(name)) continue;
    const key = name as ClassSettingName;
    const origin = s.from === "class" ? `class ${s.class ?? raw.class}, line ${s.line}` : (s.where ?? "pyproject.toml");
    const where = s.from === "class" ? `${file} line ${s.line}: ${s.class ?? raw.class}.${key}` : `${s.where}: ${pyprojectKey(key)}`;
    const fail = (allowed: string) => problems.push(`${where} = ${JSON.stringify(s.value)}: ${allowed}`);
    const v = s.value;
    origins[key] = origin;
    switch (key) {
      case "app_name":
        if (v === null) break;
        if (typeof v !== "string" || v.length > 63 || !NAME_PATTERN.test(v)) fail(`must be ${NAME_RULE} (at most 63), e.g. text-to-image`);
        else out.appName = v;
        break;
      case "app_auth":
        if (v === null) break;
        if (typeof v !== "string" || !(AUTH_MODES as readonly string[]).includes(v)) fail(`must be one of ${AUTH_MODES.join(", ")}`);
        else out.authMode = v as AuthMode;
        break;
      case "machine_type": {
        const list = typeof v === "string" ? [v] : v;
        if (!Array.isArray(list) || list.length === 0 || !list.every((m) => typeof m === "string")) {
          fail(`must be a machine type or a non-empty list of them (${MACHINE_TYPE_NAMES.join(", ")})`);
        } else {
          const unknown = list.filter((m) => !MACHINE_TYPE_NAMES.includes(m));
          if (unknown.length) fail(`unknown machine type ${unknown.map((m) => JSON.stringify(m)).join(", ")}; allowed: ${MACHINE_TYPE_NAMES.join(", ")}`);
          else out.machineTypes = list as string[];
        }
        break;
      }
      case "regions":
        if (v === null) break;
        if (!Array.isArray(v) || !v.every((r) => typeof r === "string" && r.length > 0 && r.length <= REGION_BOUNDS.maxLength) || v.length > REGION_BOUNDS.maxCount) {
          fail(`must be a list of at most ${REGION_BOUNDS.maxCount} region names (each 1 to ${REGION_BOUNDS.maxLength} characters)`);
        } else out.regions = v as string[];
        break;
      case "requirements": {
        // fal allows layers: a list of lists, installed in order; here they make one environment.
        const flat = Array.isArray(v) ? v.flat() : v;
        if (!Array.isArray(flat) || !flat.every((r) => typeof r === "string" && r.trim().length > 0 && r.length <= 1000)) {
          fail("must be a list of pip requirement strings (or a list of such lists), e.g. [\"torch==2.4.0\"]");
        } else if (flat.some((r) => (r as string).trim().startsWith("-"))) {
          fail("pip options are not allowed, only requirement strings; the package index is set by the platform's operator");
        } else out.requirements = flat as string[];
        break;
      }
      case "num_gpus":
        if (v === null) break;
        if (!inBounds("num_gpus", v)) fail(boundMessage("num_gpus", v, false));
        else out.numGpus = v as number;
        break;
      default: {
        if (v === null) break; // fal's "not set"
        const field = key as BoundedField;
        if (!inBounds(field, v)) fail(boundMessage(field, v, false));
        else scaling[field] = v as number;
      }
    }
  }
  if (problems.length) throw new ClassSettingsError(`invalid app class settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  return {
    sdk: raw.sdk,
    className: raw.class,
    defaultAppName: raw.sdk === "fal" ? raw.default_app_name : kebabCase(raw.class),
    ...out,
    scaling,
    origins,
    ignored: raw.ignored,
  };
}

function inBounds(field: BoundedField, v: unknown): boolean {
  const b = SCALING_BOUNDS[field];
  return typeof v === "number" && Number.isInteger(v) && v >= b.min && v <= b.max;
}

function pyprojectKey(key: ClassSettingName): string {
  return key === "app_auth" ? "auth" : key === "app_name" ? "name" : key;
}

/**
 * The requirements a fal app's environment needs: its own, plus fal's SDK
 * pinned to FAL_SDK_VERSION when they do not name `fal`. A falplane app's
 * requirements are returned as they are.
 */
export function requirementsForSdk(sdk: AppSdk, requirements: readonly string[]): string[] {
  if (sdk !== "fal" || requirements.some((r) => requirementName(r) === "fal")) return normaliseRequirements(requirements);
  return normaliseRequirements([...requirements, `fal==${FAL_SDK_VERSION}`]);
}

/** The distribution name of a requirement string, normalised as pip does (`Fal_Client[x]>=1` → `fal-client`). */
export function requirementName(requirement: string): string {
  const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(requirement);
  return m ? m[1].toLowerCase().replace(/[._-]+/g, "-") : "";
}

/** The fields of an app (spec or FalApp args) that a class can also set. */
export interface ClassOverridableFields {
  readonly name?: string;
  readonly authMode?: AuthMode;
  readonly machineTypes?: readonly string[];
  readonly numGpus?: number;
  readonly regions?: readonly string[];
  readonly requirements?: readonly string[];
  readonly scaling?: Readonly<Partial<Record<keyof typeof SCALING_FIELDS, number>>>;
}

/**
 * The app's fields with the class's values under the spec's: a field the spec
 * sets wins, else the class's (pyproject.toml over class attributes), else
 * it stays unset (its default applies). `origins` says, by the deploy
 * check's setting name (keep_alive, machine_types, requirements, …), where
 * each set value came from.
 */
export function applyClassSettings(
  spec: ClassOverridableFields,
  cls: ClassSettings,
): { readonly fields: ClassOverridableFields; readonly origins: Readonly<Record<string, ValueOrigin>> } {
  const origins: Record<string, ValueOrigin> = {};
  const pick = <T>(checkKey: string, classKey: ClassSettingName, fromSpec: T | undefined, fromClass: T | undefined): T | undefined => {
    if (fromSpec !== undefined) {
      origins[checkKey] = ORIGIN_SPEC;
      return fromSpec;
    }
    if (fromClass !== undefined) origins[checkKey] = cls.origins[classKey] ?? "class";
    return fromClass;
  };
  const scaling: Partial<Record<keyof typeof SCALING_FIELDS, number>> = {};
  for (const [camel, snake] of Object.entries(SCALING_FIELDS) as [keyof typeof SCALING_FIELDS, BoundedField & ClassSettingName][]) {
    const v = pick(snake, snake, spec.scaling?.[camel], cls.scaling[snake]);
    if (v !== undefined) scaling[camel] = v;
  }
  const fields: ClassOverridableFields = {
    name: pick("app_name", "app_name", spec.name, cls.appName),
    authMode: pick("auth_mode", "app_auth", spec.authMode, cls.authMode),
    machineTypes: pick("machine_types", "machine_type", spec.machineTypes, cls.machineTypes),
    numGpus: pick("num_gpus", "num_gpus", spec.numGpus, cls.numGpus),
    regions: pick("regions", "regions", spec.regions, cls.regions),
    requirements: pick("requirements", "requirements", spec.requirements, cls.requirements),
    scaling,
  };
  return { fields, origins };
}

/** An app's code values with everything resolved: what a deploy of it sends. */
export interface CodeValues {
  readonly appName: string;
  /** The auth mode the spec or the class sets; undefined leaves the caller's default. */
  readonly authMode?: AuthMode;
  readonly codeSettings: CodeSettings;
  /** The code's runtime-tunable values. */
  readonly scaling: RuntimeScaling;
  readonly sdk: AppSdk;
  readonly className: string;
  /** Where each value that is not a default came from, by the deploy check's setting name. */
  readonly origins: Readonly<Record<string, ValueOrigin>>;
  /** fal settings the class declares that this platform does not apply. */
  readonly ignoredSettings: readonly string[];
}

/**
 * The code values of the app whose class is `className` in `absFile`, its
 * files in `root`: the spec's fields over the class's settings over the
 * defaults; requirements from the spec, else the class, else
 * `requirements.txt` in root; fal's SDK added for a fal app. Throws
 * ClassSettingsError or RequirementsError with a message for the author.
 */
export function resolveCodeValues(
  absFile: string,
  className: string,
  root: string,
  spec: ClassOverridableFields & { readonly pythonVersion?: string },
): CodeValues {
  const cls = readClassSettings(absFile, className);
  const { fields, origins } = applyClassSettings(spec, cls);
  const requirements = resolveRequirements(root, fields.requirements);
  const allOrigins: Record<string, ValueOrigin> = { ...origins };
  if (fields.requirements === undefined && requirements.length > 0) allOrigins.requirements = REQUIREMENTS_FILE;
  const withSdk = requirementsForSdk(cls.sdk, requirements);
  if (withSdk.length > requirements.length) {
    allOrigins.requirements = `${allOrigins.requirements ? `${allOrigins.requirements}; ` : ""}fal==${FAL_SDK_VERSION} added (fal app)`;
  }
  const scaling = fields.scaling as ScalingSpec | undefined;
  return {
    appName: fields.name ?? cls.defaultAppName,
    authMode: fields.authMode,
    codeSettings: codeSettingsOf({ scaling, machineTypes: fields.machineTypes, numGpus: fields.numGpus, requirements: withSdk, pythonVersion: spec.pythonVersion }),
    scaling: runtimeScalingOf({ scaling, regions: fields.regions }),
    sdk: cls.sdk,
    className,
    origins: allOrigins,
    ignoredSettings: cls.ignored,
  };
}
