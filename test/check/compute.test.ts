/** The pieces of the deploy check: value formatting, file changes, the inheritance rules, reading live state. */
import { describe, expect, it } from "vitest";
import {
  changedFiles,
  computeDeployCheck,
  filesFingerprint,
  formatValue,
  readLiveState,
  NOTE_NEEDS_RESET,
  type PlannedDeploy,
} from "../../src/check";
import { ApiError } from "../../src/client/client";
import type { App, Revision } from "../../src/client/types";
import { CODE_SETTINGS_DEFAULTS, RUNTIME_SCALING_DEFAULTS } from "../../src/model/catalog";

const f = (c: string, mode = 0o644) => ({ hash: c.repeat(64), mode });

const PLAN: PlannedDeploy = {
  appName: "a",
  environment: "main",
  sourceObject: "app.py::A",
  files: { "app.py": f("a") },
  authMode: "private",
  strategy: "rolling",
  codeSettings: CODE_SETTINGS_DEFAULTS,
  scaling: RUNTIME_SCALING_DEFAULTS,
  resetScale: false,
  noCache: false,
};
const LIVE_REV = { id: "r1", source_object: "app.py::A", code_settings: CODE_SETTINGS_DEFAULTS, files: { "app.py": f("a") } };

describe("formatValue", () => {
  it("adds units, joins lists and shows no regions as any", () => {
    expect(formatValue("keep_alive", 60)).toBe("60s");
    expect(formatValue("startup_timeout", 600)).toBe("600s");
    expect(formatValue("concurrency_buffer_perc", 25)).toBe("25%");
    expect(formatValue("max_concurrency", 3)).toBe("3");
    expect(formatValue("regions", [])).toBe("any");
    expect(formatValue("regions", ["eu", "us"])).toBe("eu, us");
    expect(formatValue("machine_types", ["S", "M"])).toBe("S, M");
  });
});

describe("changedFiles and filesFingerprint", () => {
  it("finds changed, added, removed and mode-only changed files, sorted", () => {
    const before = { "a.py": f("1"), "b.py": f("2"), "c.sh": f("3", 0o644) };
    const after = { "a.py": f("1"), "c.sh": f("3", 0o755), "d.py": f("4"), "b.py": f("9") };
    expect(changedFiles(before, after)).toEqual(["b.py", "c.sh", "d.py"]);
  });

  it("fingerprints ignore key order and see any change", () => {
    expect(filesFingerprint({ "a.py": f("1"), "b.py": f("2") })).toBe(filesFingerprint({ "b.py": f("2"), "a.py": f("1") }));
    expect(filesFingerprint({ "a.py": f("1") })).not.toBe(filesFingerprint({ "a.py": f("1", 0o755) }));
    expect(filesFingerprint({ "a.py": f("1") })).toMatch(/^[0-9a-f]{8}$/);
  });

  it("the Source files note names at most three files", () => {
    const files = Object.fromEntries(["a", "b", "c", "d", "e"].map((n) => [`${n}.py`, f("1")]));
    const check = computeDeployCheck({ ...PLAN, files }, { app: { revision: "r1", auth_mode: "private", scaling: RUNTIME_SCALING_DEFAULTS }, revision: LIVE_REV });
    expect(check.rows[0]).toMatchObject({ setting: "Source files", note: "6 files changed: a.py, app.py, b.py, +3 more" });
  });
});

describe("computeDeployCheck inheritance", () => {
  const live = (scaling: Partial<typeof RUNTIME_SCALING_DEFAULTS>) => ({
    app: { revision: "r1", auth_mode: "private" as const, scaling: { ...RUNTIME_SCALING_DEFAULTS, ...scaling } },
    revision: LIVE_REV,
  });

  it("without resetScale, every runtime value keeps its live value and says the code value does not apply", () => {
    const check = computeDeployCheck(PLAN, live({ keep_alive: 300, min_concurrency: 1, regions: ["eu"] }));
    expect(check.rows).toEqual([
      { setting: "keep_alive", production: "300s", afterDeploy: "300s", note: `${NOTE_NEEDS_RESET} (code: 60s)` },
      { setting: "min_concurrency", production: "1", afterDeploy: "1", note: `${NOTE_NEEDS_RESET} (code: 0)` },
      { setting: "regions", production: "eu", afterDeploy: "eu", note: `${NOTE_NEEDS_RESET} (code: any)` },
    ]);
  });

  it("with resetScale, the code values apply", () => {
    const check = computeDeployCheck({ ...PLAN, resetScale: true }, live({ keep_alive: 300 }));
    expect(check.rows).toEqual([{ setting: "keep_alive", production: "300s", afterDeploy: "60s", note: "reset by resetScale" }]);
  });

  it("code values always come from the new revision, even without resetScale", () => {
    const check = computeDeployCheck({ ...PLAN, codeSettings: { ...CODE_SETTINGS_DEFAULTS, startup_timeout: 120 } }, live({}));
    expect(check.newRevision).toBe(true);
    expect(check.rows).toEqual([{ setting: "startup_timeout", production: "600s", afterDeploy: "120s", note: "new revision" }]);
  });

  it("an auth change alone is a row and marks the Auth line, without a new revision", () => {
    const check = computeDeployCheck({ ...PLAN, authMode: "shared" }, live({}));
    expect(check.newRevision).toBe(false);
    expect(check.authChanges).toBe(true);
    expect(check.rows).toEqual([{ setting: "Auth mode", production: "private", afterDeploy: "shared", note: "" }]);
  });
});

describe("readLiveState", () => {
  const app = { revision: "r1", auth_mode: "private", scaling: RUNTIME_SCALING_DEFAULTS } as unknown as App;
  const rev = LIVE_REV as unknown as Revision;
  const reader = (over: { findApp?: () => Promise<App | undefined>; getRevision?: () => Promise<Revision> }) => ({
    findApp: over.findApp ?? (async () => app),
    getRevision: over.getRevision ?? (async () => rev),
  });

  it("reads the app and its active revision", async () => {
    expect(await readLiveState(reader({}), "a", "main")).toEqual({ app, revision: rev });
  });
  it("an absent app is {}", async () => {
    expect(await readLiveState(reader({ findApp: async () => undefined }), "a", "main")).toEqual({});
  });
  it("an app without an active revision reads no revision", async () => {
    const noRev = { ...app, revision: null };
    expect(await readLiveState(reader({ findApp: async () => noRev }), "a", "main")).toEqual({ app: noRev });
  });
  it("a deleted active revision reads as unknown; other errors are thrown", async () => {
    const gone = reader({ getRevision: async () => Promise.reject(new ApiError(404, "not_found", "gone")) });
    expect(await readLiveState(gone, "a", "main")).toEqual({ app });
    const down = reader({ findApp: async () => Promise.reject(new ApiError(0, "unreachable", "cannot reach the platform")) });
    await expect(readLiveState(down, "a", "main")).rejects.toThrow("cannot reach the platform");
  });
});

describe("the environment in the deploy check", () => {
  const live = (build?: { key: string; status: "ready" | "building" | "missing" }) => ({
    app: { revision: "r1", auth_mode: "private" as const, scaling: RUNTIME_SCALING_DEFAULTS },
    revision: LIVE_REV,
    ...(build ? { build } : {}),
  });
  const KEY = "3f2a9c1b7d04".padEnd(64, "0");

  it("says hit, miss, building or disabled from what the platform has of the build key", () => {
    expect(computeDeployCheck(PLAN, live({ key: KEY, status: "ready" })).buildCache).toBe("hit (key 3f2a9c1b7d04)");
    expect(computeDeployCheck(PLAN, live({ key: KEY, status: "missing" })).buildCache).toBe("miss (will build)");
    expect(computeDeployCheck(PLAN, live({ key: KEY, status: "building" })).buildCache).toBe("building now (key 3f2a9c1b7d04); the deploy joins that build");
    expect(computeDeployCheck({ ...PLAN, noCache: true }, live({ key: KEY, status: "ready" })).buildCache).toBe("disabled (no-cache)");
    // A platform that could not say (an older one): the cache is on, nothing more is known.
    expect(computeDeployCheck(PLAN, live()).buildCache).toBe("enabled");
  });

  it("a change of requirements is a new revision, shown with both values", () => {
    const plan = { ...PLAN, codeSettings: { ...CODE_SETTINGS_DEFAULTS, requirements: ["pyfiglet==1.0.4"] } };
    const check = computeDeployCheck(plan, live());
    expect(check.newRevision).toBe(true);
    expect(check.rows).toContainEqual({ setting: "requirements", production: "none", afterDeploy: "pyfiglet==1.0.4", note: "new revision" });
  });

  it("a first deployment lists requirements and python_version only when the app sets them", () => {
    expect(computeDeployCheck(PLAN, {}).rows.map((r) => r.setting)).not.toContain("requirements");
    const plan = { ...PLAN, codeSettings: { ...CODE_SETTINGS_DEFAULTS, requirements: ["a==1", "b==2"], python_version: "3.11" } };
    const rows = computeDeployCheck(plan, {}).rows;
    expect(rows).toContainEqual({ setting: "requirements", production: "n/a", afterDeploy: "a==1, b==2", note: "" });
    expect(rows).toContainEqual({ setting: "python_version", production: "n/a", afterDeploy: "3.11", note: "" });
  });

  it("a live revision from before builds (no requirements field) makes one new revision, as the Revision's diff does", () => {
    const { requirements: _r, python_version: _p, ...old } = CODE_SETTINGS_DEFAULTS;
    const check = computeDeployCheck(PLAN, { ...live(), revision: { ...LIVE_REV, code_settings: old as typeof CODE_SETTINGS_DEFAULTS } });
    expect(check.newRevision).toBe(true);
    // No row claims a value changed: none → none is not shown.
    expect(check.rows.map((r) => r.setting)).not.toContain("requirements");
  });
});
