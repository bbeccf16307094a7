/**
 * The deploy check's text, compared whole: a first deployment, a change (auth,
 * code, a scaled-up max_concurrency with and without resetScale) and no change.
 */
import { describe, expect, it } from "vitest";
import { computeDeployCheck, renderDeployCheck, renderUnavailableCheck, type LiveState, type PlannedDeploy } from "../../src/check";
import { CODE_SETTINGS_DEFAULTS, RUNTIME_SCALING_DEFAULTS } from "../../src/model/catalog";

const hash = (c: string) => c.repeat(64);
const FILES = { "app.py": { hash: hash("a"), mode: 0o644 }, "README.md": { hash: hash("b"), mode: 0o644 } };

/** What `exampleSpec()` deploys: the text-to-ascii example with its scaling. */
const PLAN: PlannedDeploy = {
  appName: "text-to-ascii",
  environment: "production",
  sourceObject: "app.py::TextToAscii",
  files: FILES,
  authMode: "private",
  strategy: "rolling",
  codeSettings: { ...CODE_SETTINGS_DEFAULTS, max_multiplexing: 4, startup_timeout: 60 },
  scaling: { ...RUNTIME_SCALING_DEFAULTS, keep_alive: 120 },
  resetScale: false,
  noCache: false,
};

/** Production as PLAN left it, then scaled by an operator to max_concurrency 5. */
const LIVE: LiveState = {
  app: { revision: "rev-1", auth_mode: "private", scaling: { ...PLAN.scaling, max_concurrency: 5 } },
  revision: { id: "rev-1", source_object: "app.py::TextToAscii", code_settings: PLAN.codeSettings, files: FILES },
};

/** PLAN with public auth and a changed app.py. */
const CHANGED: PlannedDeploy = { ...PLAN, authMode: "public", files: { ...FILES, "app.py": { hash: hash("c"), mode: 0o644 } } };

const text = (...lines: string[]) => lines.join("\n");

describe("renderDeployCheck", () => {
  it("a first deployment lists every value with Production n/a", () => {
    expect(renderDeployCheck(computeDeployCheck(PLAN, {}))).toBe(
      text(
        "Deployment Check: text-to-ascii",
        "Target: text-to-ascii (env: production)",
        "Current revision: none (first deployment)",
        "Source object: app.py::TextToAscii",
        "Auth: n/a -> private",
        "Deployment strategy: rolling",
        "Environment build cache: enabled",
        "",
        "Effective Deployment Values",
        "+-------------------------+------------+---------------------+------+",
        "| Setting                 | Production | After Deploy        | Note |",
        "+-------------------------+------------+---------------------+------+",
        "| Source files            | n/a        | 2 files (0d712e2a)  |      |",
        "| Source object           | n/a        | app.py::TextToAscii |      |",
        "| Auth mode               | n/a        | private             |      |",
        "| machine_types           | n/a        | S                   |      |",
        "| num_gpus                | n/a        | 0                   |      |",
        "| max_multiplexing        | n/a        | 4                   |      |",
        "| startup_timeout         | n/a        | 60s                 |      |",
        "| keep_alive              | n/a        | 120s                |      |",
        "| min_concurrency         | n/a        | 0                   |      |",
        "| max_concurrency         | n/a        | 2                   |      |",
        "| concurrency_buffer      | n/a        | 0                   |      |",
        "| concurrency_buffer_perc | n/a        | 0%                  |      |",
        "| scaling_delay           | n/a        | 0s                  |      |",
        "| request_timeout         | n/a        | 3600s               |      |",
        "| regions                 | n/a        | any                 |      |",
        "+-------------------------+------------+---------------------+------+",
      ),
    );
  });

  it("an app whose first deploy never activated a revision is still a first deployment", () => {
    const check = computeDeployCheck(PLAN, { app: { ...LIVE.app!, revision: null } });
    expect(check.firstDeployment).toBe(true);
    expect(renderDeployCheck(check)).toContain("Current revision: none (first deployment)");
  });

  it("a change: auth private -> public, a changed file, and a live max_concurrency the code does not reset", () => {
    const check = computeDeployCheck(CHANGED, LIVE);
    expect(check.newRevision).toBe(true);
    expect(renderDeployCheck(check)).toBe(
      text(
        "Deployment Check: text-to-ascii",
        "Target: text-to-ascii (env: production)",
        "Current revision: rev-1",
        "Source object: app.py::TextToAscii",
        "Auth: private -> public  (changes)",
        "Deployment strategy: rolling",
        "Environment build cache: enabled",
        "",
        "Effective Production Diff",
        "+-----------------+--------------------+--------------------+--------------------------------------------------------+",
        "| Setting         | Production         | After Deploy       | Note                                                   |",
        "+-----------------+--------------------+--------------------+--------------------------------------------------------+",
        "| Source files    | 2 files (0d712e2a) | 2 files (6af28061) | 1 file changed: app.py                                 |",
        "| Auth mode       | private            | public             |                                                        |",
        "| max_concurrency | 5                  | 5                  | Code value will not apply without resetScale (code: 2) |",
        "+-----------------+--------------------+--------------------+--------------------------------------------------------+",
      ),
    );
  });

  it("the same change with resetScale applies the code's max_concurrency", () => {
    expect(renderDeployCheck(computeDeployCheck({ ...CHANGED, resetScale: true }, LIVE))).toBe(
      text(
        "Deployment Check: text-to-ascii",
        "Target: text-to-ascii (env: production)",
        "Current revision: rev-1",
        "Source object: app.py::TextToAscii",
        "Auth: private -> public  (changes)",
        "Deployment strategy: rolling",
        "Environment build cache: enabled",
        "",
        "Effective Production Diff",
        "+-----------------+--------------------+--------------------+------------------------+",
        "| Setting         | Production         | After Deploy       | Note                   |",
        "+-----------------+--------------------+--------------------+------------------------+",
        "| Source files    | 2 files (0d712e2a) | 2 files (6af28061) | 1 file changed: app.py |",
        "| Auth mode       | private            | public             |                        |",
        "| max_concurrency | 5                  | 2                  | reset by resetScale    |",
        "+-----------------+--------------------+--------------------+------------------------+",
      ),
    );
  });

  it("no changes: the no-changes line instead of a table", () => {
    const live: LiveState = { ...LIVE, app: { ...LIVE.app!, scaling: PLAN.scaling } };
    const check = computeDeployCheck(PLAN, live);
    expect(check.rows).toEqual([]);
    expect(check.newRevision).toBe(false);
    expect(renderDeployCheck(check)).toBe(
      text(
        "Deployment Check: text-to-ascii",
        "Target: text-to-ascii (env: production)",
        "Current revision: rev-1",
        "Source object: app.py::TextToAscii",
        "Auth: private -> private",
        "Deployment strategy: rolling",
        "Environment build cache: enabled",
        "",
        "No production-facing config changes detected.",
      ),
    );
  });

  it("code values, the source object, recreate and no-cache", () => {
    const plan: PlannedDeploy = {
      ...PLAN,
      sourceObject: "app.py::TextToAsciiV2",
      strategy: "recreate",
      noCache: true,
      codeSettings: { ...CODE_SETTINGS_DEFAULTS, max_multiplexing: 8, startup_timeout: 60, machine_types: ["GPU-A100", "GPU-H100"], num_gpus: 2 },
      scaling: { ...PLAN.scaling, regions: ["eu-west"], concurrency_buffer_perc: 20 },
      resetScale: true,
    };
    expect(renderDeployCheck(computeDeployCheck(plan, LIVE))).toBe(
      text(
        "Deployment Check: text-to-ascii",
        "Target: text-to-ascii (env: production)",
        "Current revision: rev-1",
        "Source object: app.py::TextToAsciiV2",
        "Auth: private -> private",
        "Deployment strategy: recreate",
        "Environment build cache: disabled (no-cache)",
        "",
        "Effective Production Diff",
        "+-------------------------+---------------------+-----------------------+---------------------+",
        "| Setting                 | Production          | After Deploy          | Note                |",
        "+-------------------------+---------------------+-----------------------+---------------------+",
        "| Source object           | app.py::TextToAscii | app.py::TextToAsciiV2 |                     |",
        "| machine_types           | S                   | GPU-A100, GPU-H100    | new revision        |",
        "| num_gpus                | 0                   | 2                     | new revision        |",
        "| max_multiplexing        | 4                   | 8                     | new revision        |",
        "| max_concurrency         | 5                   | 2                     | reset by resetScale |",
        "| concurrency_buffer_perc | 0%                  | 20%                   | reset by resetScale |",
        "| regions                 | any                 | eu-west               | reset by resetScale |",
        "+-------------------------+---------------------+-----------------------+---------------------+",
      ),
    );
  });

  it("a live revision that cannot be read shows its values as unknown", () => {
    const check = computeDeployCheck(PLAN, { app: { ...LIVE.app!, scaling: PLAN.scaling } });
    expect(check.firstDeployment).toBe(false);
    expect(check.rows.map((r) => [r.setting, r.production, r.note])).toEqual([
      ["Source files", "unknown", "live revision could not be read"],
      ["Source object", "unknown", "live revision could not be read"],
      ["machine_types", "unknown", "live revision could not be read"],
      ["num_gpus", "unknown", "live revision could not be read"],
      ["max_multiplexing", "unknown", "live revision could not be read"],
      ["startup_timeout", "unknown", "live revision could not be read"],
    ]);
  });

  it("never contains ANSI escape codes", () => {
    for (const check of [computeDeployCheck(PLAN, {}), computeDeployCheck(CHANGED, LIVE)]) {
      expect(renderDeployCheck(check)).not.toMatch(/\u001b\[/);
    }
  });
});

describe("renderUnavailableCheck", () => {
  it("says the live state could not be read, and why", () => {
    expect(renderUnavailableCheck("text-to-ascii", "production", "cannot reach the platform at http://127.0.0.1:1 (GET /v1/apps/text-to-ascii): ECONNREFUSED")).toBe(
      text(
        "Deployment Check: text-to-ascii",
        "Target: text-to-ascii (env: production)",
        "The deploy check could not read the live state from the platform: cannot reach the platform at http://127.0.0.1:1 (GET /v1/apps/text-to-ascii): ECONNREFUSED",
      ),
    );
  });
});
