/**
 * An app class's settings as the deploy reads them (src/model/classSettings.ts):
 * the spec over pyproject.toml over the class over the defaults, each value's
 * origin kept for the deploy check, fal's SDK added to a fal app's
 * environment, and a bad value refused with its file, line, attribute, value
 * and what is allowed.
 */
import { afterAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ClassSettingsError, FAL_SDK_VERSION, readClassSettings, requirementsForSdk, resolveCodeValues } from "../../src/model/classSettings";
import { resolveSettings } from "../../components/FalApp";
import { TempDirs } from "../helpers/support";

const dirs = new TempDirs();
afterAll(() => dirs.removeAll());

const FAL_APP = [
  "import fal",
  "",
  "class Painter(fal.App, keep_alive=120):",
  '    machine_type = ["GPU-H100", "GPU-A100"]',
  "    num_gpus = 2",
  "    max_concurrency = 4",
  "    max_multiplexing = 2",
  '    requirements = [["torch==2.4.0"], ["diffusers"]]',
  '    app_name = "painter-v2"',
  '    app_auth = "public"',
  '    regions = ["eu-west"]',
  "",
].join("\n");

describe("reading a class's settings", () => {
  it("a fal class's attributes and keywords become the code values, with the line each came from", () => {
    const dir = dirs.app(FAL_APP);
    const code = resolveCodeValues(join(dir, "app.py"), "Painter", dir, {});
    expect(code.sdk).toBe("fal");
    expect(code.appName).toBe("painter-v2");
    expect(code.authMode).toBe("public");
    expect(code.codeSettings).toMatchObject({
      machine_types: ["GPU-H100", "GPU-A100"],
      num_gpus: 2,
      max_multiplexing: 2,
      // fal's layered requirements make one environment, with fal's SDK added.
      requirements: ["diffusers", `fal==${FAL_SDK_VERSION}`, "torch==2.4.0"],
    });
    expect(code.scaling).toMatchObject({ keep_alive: 120, max_concurrency: 4, regions: ["eu-west"], min_concurrency: 0 });
    expect(code.origins).toMatchObject({
      keep_alive: "class Painter, line 3",
      machine_types: "class Painter, line 4",
      requirements: `class Painter, line 8; fal==${FAL_SDK_VERSION} added (fal app)`,
    });
    expect(code.origins.min_concurrency).toBeUndefined();
  });

  it("the spec overrides the class, field by field, and says so", () => {
    const dir = dirs.app(FAL_APP);
    const code = resolveCodeValues(join(dir, "app.py"), "Painter", dir, { scaling: { keepAlive: 30 }, machineTypes: ["GPU-H200"], authMode: "private" });
    expect(code.scaling.keep_alive).toBe(30);
    expect(code.scaling.max_concurrency).toBe(4);
    expect(code.codeSettings.machine_types).toEqual(["GPU-H200"]);
    expect(code.authMode).toBe("private");
    expect(code.origins).toMatchObject({ keep_alive: "app spec", machine_types: "app spec", auth_mode: "app spec", max_concurrency: "class Painter, line 6" });
  });

  it("FalApp takes the class's name and auth mode when the spec sets neither", () => {
    const dir = dirs.app(FAL_APP);
    const s = resolveSettings("p", { source: join(dir, "app.py") + "::Painter" });
    expect(s.appName).toBe("painter-v2");
    expect(s.authMode).toBe("public");
    expect(s.sdk).toBe("fal");
  });

  it("a fal app whose requirements name fal keeps its own pin; a falplane app gets nothing added", () => {
    expect(requirementsForSdk("fal", ["fal==1.80.0", "numpy"])).toEqual(["fal==1.80.0", "numpy"]);
    expect(requirementsForSdk("fal", ["Fal[extra]>=1"])).toEqual(["Fal[extra]>=1"]);
    expect(requirementsForSdk("falplane", ["numpy"])).toEqual(["numpy"]);
  });

  it("bad values are refused with the file, line, attribute, value and what is allowed", () => {
    const dir = dirs.app(
      ["import fal", "class Bad(fal.App):", '    machine_type = "GPU-T4"', "    keep_alive = -5", '    app_auth = "secret"', ""].join("\n"),
    );
    const file = join(dir, "app.py");
    let err: unknown;
    try {
      readClassSettings(file, "Bad");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClassSettingsError);
    const msg = (err as Error).message;
    expect(msg).toContain(`${file} line 3: Bad.machine_type = "GPU-T4": unknown machine type "GPU-T4"; allowed: XS, S, M, L`);
    expect(msg).toContain(`${file} line 4: Bad.keep_alive = -5: must be at least 0 (seconds)`);
    expect(msg).toContain(`${file} line 5: Bad.app_auth = "secret": must be one of private, public, shared`);
  });

  it("a FalApp whose class cannot be read fails before anything reaches the platform, naming the source", () => {
    const dir = dirs.app("import fal\nclass A(fal.App):\n    keep_alive = compute()\n");
    expect(() => resolveSettings("a", { source: join(dir, "app.py") + "::A" })).toThrow(
      /FalApp 'a': source .*app\.py::A: .*app\.py line 3: A\.keep_alive = compute\(\) cannot be read without running the code/,
    );
  });

  it("pyproject.toml's [tool.fal.apps.<name>] overrides the class, as in fal", () => {
    const dir = dirs.app("import fal\nclass Echo(fal.App):\n    keep_alive = 300\n");
    writeFileSync(join(dir, "pyproject.toml"), '[tool.fal.apps.echo]\nref = "app.py::Echo"\nkeep_alive = 45\n');
    const code = resolveCodeValues(join(dir, "app.py"), "Echo", dir, {});
    expect(code.scaling.keep_alive).toBe(45);
    expect(code.origins.keep_alive).toMatch(/pyproject\.toml \[tool\.fal\.apps\.echo\]$/);
  });
});
