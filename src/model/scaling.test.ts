/**
 * fal's scale inheritance rule and the camelCase ↔ snake_case mapping: the
 * one module the deploy check, the alias provider, FalApp and falctl share.
 */
import { describe, expect, it } from "vitest";
import { CODE_SETTINGS_DEFAULTS, RUNTIME_SCALING_DEFAULTS, type CodeSettings, type RuntimeScaling } from "./catalog";
import {
  appScalingFieldsOf,
  codeSettingsOf,
  effectiveScaling,
  isFirstDeploy,
  runtimeScalingOf,
  runtimeScalingPatch,
  scalingToSend,
  withCodeDefaults,
  withRuntimeDefaults,
} from "./scaling";

const CODE: RuntimeScaling = { ...RUNTIME_SCALING_DEFAULTS, keep_alive: 120, max_concurrency: 3, regions: ["eu"] };
const LIVE: RuntimeScaling = { ...RUNTIME_SCALING_DEFAULTS, keep_alive: 300, min_concurrency: 1 };

describe("scale inheritance", () => {
  it("a first deploy takes the code's values: no alias, or one that never served a revision", () => {
    expect(isFirstDeploy(undefined)).toBe(true);
    expect(isFirstDeploy({ revision: null, scaling: LIVE })).toBe(true);
    expect(effectiveScaling(undefined, CODE, false)).toEqual(CODE);
    expect(effectiveScaling({ revision: null, scaling: LIVE }, CODE, false)).toEqual(CODE);
    expect(scalingToSend(true, CODE, false)).toEqual(CODE);
  });

  it("a later deploy keeps the live values and sends none", () => {
    const live = { revision: "rev-1", scaling: LIVE };
    expect(isFirstDeploy(live)).toBe(false);
    expect(effectiveScaling(live, CODE, false)).toEqual(LIVE);
    expect(scalingToSend(false, CODE, false)).toBeUndefined();
  });

  it("resetScale applies the code's values over the live ones", () => {
    expect(effectiveScaling({ revision: "rev-1", scaling: LIVE }, CODE, true)).toEqual(CODE);
    expect(scalingToSend(false, CODE, true)).toEqual(CODE);
  });

  it("live values the platform does not report count as their defaults", () => {
    expect(effectiveScaling({ revision: "rev-1", scaling: { keep_alive: 5 } }, CODE, false)).toEqual({ ...RUNTIME_SCALING_DEFAULTS, keep_alive: 5 });
    expect(withRuntimeDefaults(undefined)).toEqual(RUNTIME_SCALING_DEFAULTS);
    expect(withCodeDefaults({ machine_types: ["M"] } as Partial<CodeSettings>)).toEqual({ ...CODE_SETTINGS_DEFAULTS, machine_types: ["M"] });
  });
});

describe("camelCase ↔ snake_case", () => {
  it("fields set nothing: every default", () => {
    expect(runtimeScalingOf({})).toEqual(RUNTIME_SCALING_DEFAULTS);
    expect(codeSettingsOf({})).toEqual(CODE_SETTINGS_DEFAULTS);
  });

  it("each camelCase field sets its snake_case value; runtime and code values go to their own side", () => {
    const fields = {
      scaling: { keepAlive: 5, minConcurrency: 1, maxConcurrency: 4, concurrencyBuffer: 2, concurrencyBufferPerc: 10, scalingDelay: 3, requestTimeout: 30, maxMultiplexing: 2, startupTimeout: 60 },
      regions: ["eu-west"],
      machineTypes: ["S", "M"],
      numGpus: 1,
      requirements: ["cowsay==6.1"],
      pythonVersion: "3.11",
    };
    expect(runtimeScalingOf(fields)).toEqual({
      keep_alive: 5,
      min_concurrency: 1,
      max_concurrency: 4,
      concurrency_buffer: 2,
      concurrency_buffer_perc: 10,
      scaling_delay: 3,
      request_timeout: 30,
      regions: ["eu-west"],
    });
    expect(codeSettingsOf(fields)).toEqual({
      max_multiplexing: 2,
      startup_timeout: 60,
      machine_types: ["S", "M"],
      num_gpus: 1,
      requirements: ["cowsay==6.1"],
      python_version: "3.11",
    });
  });

  it("round-trips: snake_case → camelCase → snake_case gives the same values", () => {
    const code: CodeSettings = { ...CODE_SETTINGS_DEFAULTS, max_multiplexing: 4, machine_types: ["GPU-H100"], num_gpus: 2, python_version: "3.12" };
    const fields = appScalingFieldsOf(CODE, code);
    expect(runtimeScalingOf(fields)).toEqual(CODE);
    expect(codeSettingsOf(fields)).toEqual(code);
    expect(codeSettingsOf(appScalingFieldsOf(RUNTIME_SCALING_DEFAULTS, CODE_SETTINGS_DEFAULTS))).toEqual(CODE_SETTINGS_DEFAULTS);
    // and camelCase → snake_case → camelCase, once every value is spelled out
    expect(appScalingFieldsOf(runtimeScalingOf(fields), codeSettingsOf(fields))).toEqual(fields);
  });

  it("a patch holds only the runtime-tunable values given (falctl apps scale)", () => {
    expect(runtimeScalingPatch({ maxConcurrency: 4, keepAlive: undefined, maxMultiplexing: 2 })).toEqual({ max_concurrency: 4 });
    expect(runtimeScalingPatch(undefined)).toEqual({});
  });
});
