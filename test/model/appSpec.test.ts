/**
 * The app spec a stack deploys (stacks/apps.<stack>.yaml): a reviewer must be
 * able to fix a bad spec from the error alone, so every message names the
 * file, the line, the path inside the document, what was found and what is
 * allowed. And what a spec leaves out gets the documented defaults.
 */
import { afterAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseStackSpec, SpecError } from "../../src/model/appSpec";
import { MACHINE_TYPE_NAMES } from "../../src/model/catalog";
import { resolveSettings } from "../../components/FalApp";
import { TempDirs } from "../helpers/support";

const FILE = "stacks/apps.staging.yaml";

/** The SpecError parsing `yaml` throws (fails the test when it parses). */
function problems(yaml: string): { error: SpecError; problems: readonly string[] } {
  try {
    parseStackSpec(yaml, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    const e = err as SpecError;
    expect(e.message.startsWith(`${FILE}: invalid app spec:`)).toBe(true);
    return { error: e, problems: e.problems };
  }
  throw new Error("the spec should not have parsed");
}

const app = (...lines: string[]) => ["environment: staging", "apps:", "  - source: app/app.py::TextToAscii", ...lines.map((l) => `    ${l}`), ""].join("\n");

describe("app spec errors", () => {
  it("an unknown machine type names the line, the path, the value and the allowed types", () => {
    const { error, problems: ps } = problems(app("machineType: GPU-Z9"));
    expect(ps).toEqual([
      `line 4, apps[0].machineType: unknown machine type "GPU-Z9"; allowed: ${MACHINE_TYPE_NAMES.join(", ")} (found "GPU-Z9")`,
    ]);
    expect(error.message).toContain("allowed: XS, S, M, L, GPU-A6000");
    expect(error.file).toBe(FILE);
  });

  it("an unknown type inside machineTypes names its index", () => {
    const { problems: ps } = problems(app("machineTypes: [S, XXL]"));
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatch(/^line 4, apps\[0\]\.machineTypes\[1\]: unknown machine type "XXL"/);
  });

  it("a source that is not path/file.py::ClassName says what it must look like", () => {
    for (const bad of ["app/app.py", "app/app.js::Thing", "app/app.py::123Bad", "app.py::"]) {
      const { problems: ps } = problems(["apps:", `  - source: ${JSON.stringify(bad)}`, ""].join("\n"));
      expect(ps, bad).toEqual([`line 2, apps[0].source: must look like path/to/file.py::ClassName (found ${JSON.stringify(bad)})`]);
    }
  });

  it("a negative scaling value names the field, the bound and the value", () => {
    const { problems: ps } = problems(app("scaling:", "  keepAlive: 60", "  maxConcurrency: -1"));
    expect(ps).toHaveLength(1);
    expect(ps[0]).toBe("line 6, apps[0].scaling.maxConcurrency: must be at least 0 (runners) (found -1)");
  });

  it("values below their own minimum: maxMultiplexing 0, requestTimeout 0, a percentage over 100", () => {
    const ps = [...problems(app("scaling:", "  maxMultiplexing: 0", "  requestTimeout: 0", "  concurrencyBufferPerc: 150")).problems].sort();
    expect(ps).toHaveLength(3);
    expect(ps[0]).toBe("line 5, apps[0].scaling.maxMultiplexing: must be at least 1 (requests) (found 0)");
    expect(ps[1]).toBe("line 6, apps[0].scaling.requestTimeout: must be at least 1 (seconds) (found 0)");
    expect(ps[2]).toBe("line 7, apps[0].scaling.concurrencyBufferPerc: must be at most 100 (percent) (found 150)");
  });

  it("values above their maximum (catalog.ts SCALING_BOUNDS, the API's bounds too) name the bound and the value", () => {
    const ps = problems(
      app("numGpus: 9", "revisionHistoryLimit: 100000", "scaling:", "  requestTimeout: 5000000", "  keepAlive: 99999999999", "  startupTimeout: 1e300"),
    ).problems;
    expect([...ps].sort()).toEqual([
      "line 4, apps[0].numGpus: must be at most 8 (GPUs) (found 9)",
      "line 5, apps[0].revisionHistoryLimit: must be at most 10000 (revisions) (found 100000)",
      "line 7, apps[0].scaling.requestTimeout: must be at most 86400 (seconds) (found 5000000)",
      "line 8, apps[0].scaling.keepAlive: must be at most 604800 (seconds) (found 99999999999)",
      "line 9, apps[0].scaling.startupTimeout: must be at most 86400 (seconds) (found 1e+300)",
    ]);
  });

  it("regions are bounded: at most 32, each at most 64 characters", () => {
    const many = problems(app(`regions: [${Array.from({ length: 33 }, (_, i) => `r${i}`).join(", ")}]`)).problems;
    expect(many).toEqual(["line 4, apps[0].regions: at most 32 regions"]);
    const long = problems(app(`regions: [${"x".repeat(65)}]`)).problems;
    expect(long).toHaveLength(1);
    expect(long[0]).toMatch(/^line 4, apps\[0\]\.regions\[0\]: a region name has at most 64 characters/);
  });

  it("a YAML alias bomb (billion laughs) is a SpecError naming the file, not a raw ReferenceError", () => {
    const lol = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      lol.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    }
    const { error, problems: ps } = problems(lol.join("\n") + "\napps:\n  - source: app/app.py::TextToAscii\n");
    expect(error.file).toBe(FILE);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatch(/^too many YAML aliases/);
  });

  it("two apps with one name (set or taken from the class) are refused, naming both indexes and the name", () => {
    const { problems: ps } = problems(
      ["apps:", "  - source: a/app.py::TextToAscii", "  - source: b/app.py::Other", "    name: other", "  - source: c/app.py::Thing", "    name: text-to-ascii", ""].join("\n"),
    );
    expect(ps).toEqual(['line 5, apps[2]: apps[0] and apps[2] are both named "text-to-ascii"; app names must be unique in a file']);
  });

  it("root must be a relative path inside the project: absolute paths and paths climbing out with .. are refused", () => {
    for (const bad of ["/etc", "../outside", "app/../../outside", "..", "C:\\\\Windows"]) {
      const { problems: ps } = problems(app(`root: ${JSON.stringify(bad)}`));
      expect(ps, bad).toHaveLength(1);
      expect(ps[0], bad).toContain("apps[0].root: must");
      expect(ps[0], bad).toContain(JSON.stringify(bad));
    }
    expect(problems(app('root: "/etc"')).problems[0]).toContain("not an absolute one");
    expect(problems(app('root: "../x"')).problems[0]).toContain("climbs out of it with ..");
    // Inside the project, even through a `..` that comes back in, is fine.
    for (const ok of ["app", "./app", "app/sub/../other", "."]) {
      expect(parseStackSpec(app(`root: ${JSON.stringify(ok)}`), FILE).apps[0].root, ok).toBe(ok);
    }
  });

  it("an unknown key is named, in an app, in scaling and at the top level", () => {
    expect(problems(app("colour: red")).problems).toEqual(['line 3, apps[0]: Unrecognized key: "colour"']);
    expect(problems(app("scaling:", "  maxConcurency: 3")).problems[0]).toMatch(/apps\[0\]\.scaling: Unrecognized key: "maxConcurency"/);
    expect(problems(app() + "region: eu\n").problems[0]).toMatch(/\(top level\): Unrecognized key: "region"/);
  });

  it("a YAML syntax error names its line", () => {
    const { problems: ps } = problems(["environment: staging", "apps:", "  - source: app/app.py::TextToAscii", "   machineType: S", ""].join("\n"));
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatch(/^line 4: YAML syntax: /);
    const unclosed = problems(app("scaling: [", "")).problems;
    expect(unclosed[0]).toMatch(/^line \d+: YAML syntax: .*\]/);
  });

  it("machineType and machineTypes together are refused, pointing at machineTypes", () => {
    expect(problems(app("machineType: S", "machineTypes: [M]")).problems).toEqual([
      "line 5, apps[0].machineTypes: set either machineType or machineTypes, not both",
    ]);
  });

  it("lists every problem of a spec at once, each with its own line", () => {
    const { problems: ps } = problems(
      ["environment: Staging", "apps:", "  - source: a.py::A", "    machineType: Q", "  - source: b.py::B", "    authMode: secret", ""].join("\n"),
    );
    expect(ps).toHaveLength(3);
    expect(ps[0]).toMatch(/^line 1, environment: must be lowercase/);
    expect(ps[1]).toMatch(/^line 4, apps\[0\]\.machineType:/);
    expect(ps[2]).toMatch(/^line 6, apps\[1\]\.authMode: .*(found "secret")/);
  });

  it("a spec without apps says to list one", () => {
    expect(problems("environment: staging\napps: []\n").problems).toEqual(["line 2, apps: list at least one app"]);
    expect(problems("environment: staging\n").problems[0]).toMatch(/^apps: /);
  });
});

describe("app spec defaults", () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.removeAll());

  it("a minimal spec deploys into main and leaves every optional field unset", () => {
    expect(parseStackSpec("apps:\n  - source: app/app.py::TextToAscii\n", FILE)).toEqual({
      environment: "main",
      secrets: [],
      apps: [{ source: "app/app.py::TextToAscii" }],
    });
  });

  it("secret names must be environment variable names, with the value found in the message", () => {
    expect(() => parseStackSpec("secrets: [hf-token]\napps:\n  - source: app/app.py::TextToAscii\n", FILE)).toThrow(
      /secrets\[0\]: must be an environment variable name.*\(found "hf-token"\)/,
    );
  });

  it("a full spec keeps every value it sets", () => {
    const spec = parseStackSpec(
      app(
        "name: banner",
        "root: app",
        "authMode: shared",
        "strategy: recreate",
        "machineTypes: [S, M]",
        "numGpus: 0",
        "regions: [eu-west]",
        "resetScale: true",
        "message: hello",
        "scaling:",
        "  keepAlive: 5",
        "  minConcurrency: 1",
        "  maxConcurrency: 4",
        "  maxMultiplexing: 2",
        "  startupTimeout: 30",
      ),
      FILE,
    );
    expect(spec.environment).toBe("staging");
    expect(spec.apps[0]).toMatchObject({
      name: "banner",
      authMode: "shared",
      strategy: "recreate",
      machineTypes: ["S", "M"],
      regions: ["eu-west"],
      resetScale: true,
      scaling: { keepAlive: 5, minConcurrency: 1, maxConcurrency: 4, maxMultiplexing: 2, startupTimeout: 30 },
    });
  });

  it("an app whose spec sets nothing gets its class's values (keep_alive = 300 in the example) and the documented defaults for the rest", () => {
    const dir = dirs.example();
    const s = resolveSettings("x", { source: join(dir, "app.py") + "::TextToAscii" });
    expect(s).toMatchObject({
      appName: "text-to-ascii",
      environment: "main",
      sourceObject: "app.py::TextToAscii",
      sourceDir: dir,
      authMode: "private",
    });
    expect(s.strategy.name).toBe("rolling");
    expect(s.codeSettings).toEqual({ max_multiplexing: 1, startup_timeout: 600, machine_types: ["S"], num_gpus: 0, requirements: [], python_version: null });
    expect(s.scaling).toEqual({
      keep_alive: 300,
      min_concurrency: 0,
      max_concurrency: 2,
      concurrency_buffer: 0,
      concurrency_buffer_perc: 0,
      scaling_delay: 0,
      request_timeout: 3600,
      regions: [],
    });
  });
});

describe("an app's requirements", () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.removeAll());
  const source = (dir: string) => join(dir, "app.py") + "::TextToAscii";

  it("come from requirements.txt in the app's root when the spec names none, normalised", () => {
    const dir = dirs.example();
    writeFileSync(join(dir, "requirements.txt"), "# pinned for the demo\npyfiglet==1.0.4   # banners\n\n  numpy>=1.26 \\\n  ; python_version >= '3.10'\npyfiglet==1.0.4\n");
    const s = resolveSettings("x", { source: source(dir) });
    expect(s.codeSettings.requirements).toEqual(["numpy>=1.26 ; python_version >= '3.10'", "pyfiglet==1.0.4"]);
  });

  it("from the spec win over requirements.txt, and pythonVersion is kept", () => {
    const dir = dirs.example();
    writeFileSync(join(dir, "requirements.txt"), "pyfiglet==1.0.4\n");
    const s = resolveSettings("x", { source: source(dir), requirements: ["rich==13.7.1"], pythonVersion: "3.11" });
    expect(s.codeSettings).toMatchObject({ requirements: ["rich==13.7.1"], python_version: "3.11" });
  });

  it("a pip option in requirements.txt is refused, naming the file, the line and what is allowed", () => {
    const dir = dirs.example();
    writeFileSync(join(dir, "requirements.txt"), "pyfiglet==1.0.4\n--index-url https://example.invalid/simple\n");
    expect(() => resolveSettings("x", { source: source(dir) })).toThrow(
      /requirements: .*requirements\.txt:2: '--index-url https:\/\/example\.invalid\/simple' is a pip option; only requirement strings are allowed/,
    );
  });

  it("a malformed pythonVersion in the stack spec is an error that quotes the field", () => {
    const { problems: ps } = problems(app("pythonVersion: python3"));
    expect(ps).toHaveLength(1);
    expect(ps[0]).toContain("apps[0].pythonVersion");
    expect(ps[0]).toContain('"python3"');
    expect(ps[0]).toContain("must be a Python version such as 3.11");
  });
});
