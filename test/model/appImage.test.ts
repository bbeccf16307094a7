/**
 * Image apps without BuildKit (docs/images.md): the spec's `image` field, the
 * content-hash tag FalApp computes, the Dockerfile of a baseImage app, the
 * platform's check of a revision's image, and the deploy check's image rows.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseImageDockerfile, planImage, IMAGE_TAG_LENGTH } from "../../components/AppImage";
import { parseStackSpec } from "../../src/model/appSpec";
import { collectAppFiles } from "../../src/model/files";
import { CODE_SETTINGS_DEFAULTS, RUNTIME_SCALING_DEFAULTS } from "../../src/model/catalog";
import { withCodeDefaults } from "../../src/model/scaling";
import { CodeSettingsBody } from "../../src/contract/schemas";
import { computeDeployCheck, renderDeployCheck, type PlannedDeploy } from "../../src/check";

const DIGEST = `sha256:${"a".repeat(64)}`;

describe("the app spec's image field", () => {
  const spec = (image: string) => parseStackSpec(`apps:\n  - source: app/app.py::Greeter\n    image: ${image}\n`, "apps.yaml");

  it("takes a Dockerfile, a context, build args, a registry, or a base image", () => {
    expect(spec("{}").apps[0].image).toEqual({});
    expect(spec("{ dockerfile: app/Dockerfile.gpu, context: app, buildArgs: { CUDA: '12.4' }, registry: 'registry.internal:5000/ml' }").apps[0].image).toEqual({
      dockerfile: "app/Dockerfile.gpu",
      context: "app",
      buildArgs: { CUDA: "12.4" },
      registry: "registry.internal:5000/ml",
    });
    expect(spec("{ baseImage: 'python:3.11-slim' }").apps[0].image).toEqual({ baseImage: "python:3.11-slim" });
  });

  it("refuses a base image with a Dockerfile, paths outside the project, bad references and unknown keys", () => {
    expect(() => spec("{ baseImage: 'python:3.11', dockerfile: Dockerfile }")).toThrow(/apps\[0\]\.image\.baseImage: set either baseImage or dockerfile\/context, not both/);
    expect(() => spec("{ dockerfile: /etc/Dockerfile }")).toThrow(/image\.dockerfile: must be a relative path inside the project/);
    expect(() => spec("{ context: ../elsewhere }")).toThrow(/image\.context: must stay inside the project/);
    expect(() => spec("{ baseImage: 'Python 3' }")).toThrow(/image\.baseImage: must be an image reference/);
    expect(() => spec("{ registry: 'http://registry.internal' }")).toThrow(/image\.registry: must be host\[:port\]\/path/);
    expect(() => spec("{ registry: 'registry.internal/ml:v1' }")).toThrow(/image\.registry/);
    expect(() => spec("{ dockerFile: Dockerfile }")).toThrow(/Unrecognized key: "dockerFile"/);
  });
});

describe("planImage: the tag is the content hash", () => {
  let dir: string;
  let cwd: string;
  beforeEach(() => {
    cwd = process.cwd();
    dir = mkdtempSync(join(tmpdir(), "falplane-imgplan-"));
    mkdirSync(join(dir, "app"));
    writeFileSync(join(dir, "app", "app.py"), "print('hi')\n");
    writeFileSync(join(dir, "app", "Dockerfile"), "FROM scratch\nCOPY app.py /app/app.py\n");
    process.chdir(dir);
  });
  afterEach(() => {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  });
  const plan = (spec: Parameters<typeof planImage>[0]["spec"], requirements: string[] = [], registry: string | null = "127.0.0.1:5000/ml") =>
    planImage({ spec, appName: "greeter", sourceDir: join(dir, "app"), files: collectAppFiles(join(dir, "app")), requirements, registry: registry ?? undefined });

  it("names the repository after the app and tags it with the content hash; unchanged content, same tag", () => {
    const p = plan({});
    expect(p.repository).toBe("127.0.0.1:5000/ml/greeter");
    expect(p.tag).toMatch(new RegExp(`^[0-9a-f]{${IMAGE_TAG_LENGTH}}$`));
    expect(p.ref).toBe(`127.0.0.1:5000/ml/greeter:${p.tag}`);
    expect(p.dockerfile).toEqual({ location: join(dir, "app", "Dockerfile") });
    expect(p.from).toBe("Dockerfile app/Dockerfile");
    expect(plan({}).tag).toBe(p.tag);
  });

  it("a changed file, Dockerfile or build arg makes a new tag", () => {
    const base = plan({}).tag;
    expect(plan({ buildArgs: { A: "1" } }).tag).not.toBe(base);
    writeFileSync(join(dir, "app", "app.py"), "print('changed')\n");
    const changedFile = plan({}).tag;
    expect(changedFile).not.toBe(base);
    writeFileSync(join(dir, "app", "Dockerfile"), "FROM scratch\nCOPY . /app\n");
    expect(plan({}).tag).not.toBe(changedFile);
  });

  it("a Dockerfile outside the context counts too", () => {
    writeFileSync(join(dir, "Dockerfile.app"), "FROM scratch\nCOPY app.py /a.py\n");
    const p = plan({ dockerfile: "Dockerfile.app" });
    writeFileSync(join(dir, "Dockerfile.app"), "FROM scratch\nCOPY app.py /b.py\n");
    expect(plan({ dockerfile: "Dockerfile.app" }).tag).not.toBe(p.tag);
  });

  it("a base image app gets a generated Dockerfile; its requirements and base are part of the tag", () => {
    const p = plan({ baseImage: "python:3.11" }, ["pyfiglet==1.0.4"]);
    expect(p.dockerfile).toEqual({ inline: baseImageDockerfile("python:3.11", ["pyfiglet==1.0.4"]) });
    expect(p.from).toBe("base python:3.11 + 1 requirement");
    expect(plan({ baseImage: "python:3.11" }, ["pyfiglet==1.0.5"]).tag).not.toBe(p.tag);
    expect(plan({ baseImage: "python:3.12" }, ["pyfiglet==1.0.4"]).tag).not.toBe(p.tag);
    expect(baseImageDockerfile("python:3.11", ["a b", "c"])).toBe('FROM python:3.11\nWORKDIR /app\nCOPY . /app\nRUN ["python3","-m","pip","install","--no-cache-dir","a b","c"]\n');
    expect(baseImageDockerfile("python:3.11", [])).toBe("FROM python:3.11\nWORKDIR /app\nCOPY . /app\n");
  });

  it("says what is missing: a registry, the Dockerfile, the context", () => {
    expect(() => plan({}, [], null)).toThrow(/no registry to push the image to: set image.registry, or `pulumi config set falplane:imageRegistry/);
    rmSync(join(dir, "app", "Dockerfile"));
    expect(() => plan({})).toThrow(/image: no Dockerfile in the app's root/);
    expect(() => plan({ dockerfile: "nope/Dockerfile" })).toThrow(/image.dockerfile: "nope\/Dockerfile" is not a file/);
    expect(() => plan({ context: "nope" })).toThrow(/image.context: "nope" is not a directory/);
  });
});

describe("a revision's image on the platform", () => {
  const body = { max_multiplexing: 1, startup_timeout: 600, machine_types: ["S"], num_gpus: 0 };

  it("is optional and, when given, must be pinned by digest", () => {
    expect(CodeSettingsBody.parse(body)).not.toHaveProperty("image");
    expect(CodeSettingsBody.parse({ ...body, image: `127.0.0.1:5000/ml/greeter:abc@${DIGEST}` }).image).toBe(`127.0.0.1:5000/ml/greeter:abc@${DIGEST}`);
    expect(CodeSettingsBody.safeParse({ ...body, image: "127.0.0.1:5000/ml/greeter:abc" }).success).toBe(false);
    expect(CodeSettingsBody.safeParse({ ...body, image: `Greeter@${DIGEST}` }).success).toBe(false);
  });

  it("survives withCodeDefaults, and an app without one gets no key", () => {
    expect(withCodeDefaults({ image: `r/g@${DIGEST}` }).image).toBe(`r/g@${DIGEST}`);
    expect(withCodeDefaults({})).not.toHaveProperty("image");
  });
});

describe("the deploy check of an image app", () => {
  const f = (c: string) => ({ hash: c.repeat(64), mode: 0o644 });
  const PLAN: PlannedDeploy = {
    appName: "greeter",
    environment: "main",
    sourceObject: "app.py::Greeter",
    files: { "app.py": f("a") },
    authMode: "private",
    strategy: "rolling",
    codeSettings: CODE_SETTINGS_DEFAULTS,
    scaling: RUNTIME_SCALING_DEFAULTS,
    resetScale: false,
    noCache: false,
    image: { ref: "r:5000/ml/greeter:1111", from: "Dockerfile app/Dockerfile" },
  };
  const live = (image?: string) => ({
    app: { revision: "r1", auth_mode: "private" as const, scaling: RUNTIME_SCALING_DEFAULTS },
    revision: { id: "r1", source_object: "app.py::Greeter", files: { "app.py": f("a") }, code_settings: { ...CODE_SETTINGS_DEFAULTS, ...(image ? { image } : {}) } },
  });

  it("shows the image and where it is built from, and an image row on a first deployment", () => {
    const check = computeDeployCheck(PLAN, {});
    expect(renderDeployCheck(check)).toContain("Image: r:5000/ml/greeter:1111 (from Dockerfile app/Dockerfile)");
    expect(check.rows).toContainEqual({ setting: "image", production: "n/a", afterDeploy: "r:5000/ml/greeter:1111", note: "" });
  });

  it("the same tag live is no change; a new tag is a new revision", () => {
    const same = computeDeployCheck(PLAN, live(`r:5000/ml/greeter:1111@${DIGEST}`));
    expect(same.newRevision).toBe(false);
    expect(same.rows.find((r) => r.setting === "image")).toBeUndefined();
    const next = computeDeployCheck({ ...PLAN, image: { ...PLAN.image!, ref: "r:5000/ml/greeter:2222" } }, live(`r:5000/ml/greeter:1111@${DIGEST}`));
    expect(next.newRevision).toBe(true);
    expect(next.rows).toContainEqual({ setting: "image", production: "r:5000/ml/greeter:1111", afterDeploy: "r:5000/ml/greeter:2222", note: "new revision" });
  });

  it("an app without an image shows no image line or row", () => {
    const { image: _image, ...plain } = PLAN;
    const check = computeDeployCheck(plain, live());
    expect(renderDeployCheck(check)).not.toContain("Image:");
    expect(check.rows.find((r) => r.setting === "image")).toBeUndefined();
    expect(check.newRevision).toBe(false);
  });
});
