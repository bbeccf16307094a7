/**
 * fal's scale inheritance rule (docs/semantics.md, "Scaling values") and the
 * one mapping between the two spellings of scaling values. The deploy check
 * (src/check), the alias provider (src/providers/appAliasProvider.ts), FalApp
 * and falctl all call this module, so a preview can never promise something
 * `pulumi up` then does differently.
 *
 * The rule:
 * - runtime-tunable values (keep_alive … regions) keep the live alias's values
 *   across deploys, so `falctl apps scale` survives the next deploy;
 * - a first deploy, and a deploy with `resetScale`, takes the code's values;
 * - code-specific values (max_multiplexing, startup_timeout, machine types,
 *   GPUs, requirements, Python version) always come from the revision being
 *   activated: they are part of the revision, not of the alias.
 *
 * Spellings: the app spec (YAML) and FalApp write camelCase fields, most of
 * them in `scaling:`; the platform API and Pulumi state use snake_case
 * RuntimeScaling and CodeSettings. The defaults are declared in ./catalog;
 * this module only reads them.
 */
import type { AppSpec, ReadonlySpec, ScalingSpec } from "./appSpec";
import {
  CODE_SETTINGS_DEFAULTS,
  CODE_SETTING_KEYS,
  RUNTIME_SCALING_DEFAULTS,
  RUNTIME_SCALING_KEYS,
  type CodeSettings,
  type RuntimeScaling,
} from "./catalog";

/** What the rule needs to know of the live alias (GET /v1/apps/{name}); undefined when there is none. */
export interface LiveAlias {
  /** The revision it serves; null while it never served one. */
  readonly revision: string | null;
  /** Its runtime-tunable values; a value the platform does not report counts as its default. */
  readonly scaling?: Partial<RuntimeScaling>;
}

/**
 * A first deploy: no alias yet, or an alias that never served a revision (its
 * first deploy failed), so nothing serves traffic and there is nothing to inherit.
 */
export function isFirstDeploy(live: LiveAlias | null | undefined): boolean {
  return !live || !live.revision;
}

/** Whether a deploy applies the code's runtime-tunable values: on a first deploy and with resetScale only. */
export function codeScalingApplies(firstDeploy: boolean, resetScale: boolean): boolean {
  return firstDeploy || resetScale;
}

/** The runtime-tunable values the alias has after a deploy of `code` (what the deploy check shows). */
export function effectiveScaling(live: LiveAlias | null | undefined, code: RuntimeScaling, resetScale: boolean): RuntimeScaling {
  return codeScalingApplies(isFirstDeploy(live), resetScale) ? code : withRuntimeDefaults(live!.scaling);
}

/**
 * The scaling a deploy sends with the alias update: the code's values where
 * the rule applies them; undefined (nothing sent) keeps the live values.
 */
export function scalingToSend(firstDeploy: boolean, code: RuntimeScaling, resetScale: boolean): RuntimeScaling | undefined {
  return codeScalingApplies(firstDeploy, resetScale) ? code : undefined;
}

/** Runtime-tunable values with the default for each one missing (an older platform, a partial answer). */
export function withRuntimeDefaults(s: Partial<RuntimeScaling> | null | undefined): RuntimeScaling {
  return Object.fromEntries(RUNTIME_SCALING_KEYS.map((k) => [k, s?.[k] ?? RUNTIME_SCALING_DEFAULTS[k]])) as unknown as RuntimeScaling;
}

/** Code settings with the default for each one missing (a revision made before the setting existed). */
export function withCodeDefaults(s: Partial<CodeSettings> | null | undefined): CodeSettings {
  const settings = Object.fromEntries(CODE_SETTING_KEYS.map((k) => [k, s?.[k] ?? CODE_SETTINGS_DEFAULTS[k]])) as unknown as CodeSettings;
  // The image has no default: an app without one has no key at all (docs/images.md).
  return s?.image ? { ...settings, image: s.image } : settings;
}

// ---- camelCase (app spec, FalApp, falctl options) ↔ snake_case (platform)

/** Each field of the spec's `scaling:` block and the platform value it sets. */
export const SCALING_FIELDS = {
  keepAlive: "keep_alive",
  minConcurrency: "min_concurrency",
  maxConcurrency: "max_concurrency",
  concurrencyBuffer: "concurrency_buffer",
  concurrencyBufferPerc: "concurrency_buffer_perc",
  scalingDelay: "scaling_delay",
  requestTimeout: "request_timeout",
  maxMultiplexing: "max_multiplexing",
  startupTimeout: "startup_timeout",
} as const satisfies { readonly [K in keyof ScalingSpec]-?: keyof RuntimeScaling | keyof CodeSettings };

type ScalingField = keyof typeof SCALING_FIELDS;

/** The camelCase fields of an app (spec or FalApp) that set its scaling and code settings; all optional. */
export type AppScalingFields = ReadonlySpec<Pick<AppSpec, "scaling" | "regions" | "machineTypes" | "numGpus" | "requirements" | "pythonVersion">>;

/**
 * Only the runtime-tunable values a `scaling:` block (or falctl's options of
 * the same names) sets, snake_case: a patch of the live values, as
 * `falctl apps scale` sends it. Code-specific fields are ignored.
 */
export function runtimeScalingPatch(s: AppScalingFields["scaling"]): Partial<RuntimeScaling> {
  const patch: Partial<Record<keyof RuntimeScaling, unknown>> = {};
  for (const [field, key] of Object.entries(SCALING_FIELDS) as [ScalingField, string][]) {
    const value = s?.[field];
    if (value !== undefined && value !== null && isRuntimeKey(key)) patch[key] = value;
  }
  return patch as Partial<RuntimeScaling>;
}

/** The code's runtime-tunable values: those the fields set, the defaults for the rest. */
export function runtimeScalingOf(f: AppScalingFields): RuntimeScaling {
  return { ...withRuntimeDefaults(runtimeScalingPatch(f.scaling)), regions: [...(f.regions ?? RUNTIME_SCALING_DEFAULTS.regions)] };
}

/**
 * The code's code-specific settings: those the fields set, the defaults for
 * the rest. `requirements` are taken as given: reading `requirements.txt`
 * when the app names none is the caller's part (src/model/requirements.ts).
 */
export function codeSettingsOf(f: AppScalingFields): CodeSettings {
  const s = f.scaling;
  return {
    max_multiplexing: s?.maxMultiplexing ?? CODE_SETTINGS_DEFAULTS.max_multiplexing,
    startup_timeout: s?.startupTimeout ?? CODE_SETTINGS_DEFAULTS.startup_timeout,
    machine_types: [...(f.machineTypes ?? CODE_SETTINGS_DEFAULTS.machine_types)],
    num_gpus: f.numGpus ?? CODE_SETTINGS_DEFAULTS.num_gpus,
    requirements: [...(f.requirements ?? CODE_SETTINGS_DEFAULTS.requirements)],
    python_version: f.pythonVersion ?? CODE_SETTINGS_DEFAULTS.python_version,
  };
}

/** The inverse of runtimeScalingOf and codeSettingsOf: every value spelled out in camelCase. */
export function appScalingFieldsOf(runtime: RuntimeScaling, code: CodeSettings): AppScalingFields {
  const scaling: Record<string, unknown> = {};
  for (const [field, key] of Object.entries(SCALING_FIELDS) as [ScalingField, string][]) {
    scaling[field] = isRuntimeKey(key) ? runtime[key] : code[key as keyof CodeSettings];
  }
  return {
    scaling: scaling as ScalingSpec,
    regions: [...runtime.regions],
    machineTypes: [...code.machine_types],
    numGpus: code.num_gpus,
    requirements: [...code.requirements],
    ...(code.python_version === null ? {} : { pythonVersion: code.python_version }),
  };
}

function isRuntimeKey(key: string): key is keyof RuntimeScaling {
  return (RUNTIME_SCALING_KEYS as readonly string[]).includes(key);
}
