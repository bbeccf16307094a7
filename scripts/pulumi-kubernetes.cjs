#!/usr/bin/env node
/**
 * pulumi-resource-kubernetes v4.32.0: the provider plugin @pulumi/kubernetes
 * (the Platform component, components/Platform.ts) drives. No registry ships
 * its binary and the Go module proxy refuses its module
 * (github.com/pulumi/pulumi-kubernetes/provider/v4 is 403), so it is built
 * from the provider's source at tag v4.32.0, taken from a git directory holding
 * that tag (FALPLANE_PULUMI_KUBERNETES_GIT, or a snapshot fetched onto the machine;
 * upstream's code is not copied into this repository; tools/pulumi-kubernetes/README.md),
 * with our go.mod and go.sum (Pulumi v3.259.0, the
 * engine's version) and two one-line API fixes. Its schema.json, too large
 * for the source snapshot, is regenerated from the Kubernetes OpenAPI specs of
 * k8s.io/kubernetes modules on the Go proxy.
 *
 * Built once per machine into ~/.cache/falplane/pulumi-kubernetes-v4.32.0/bin
 * (override with FALPLANE_PULUMI_KUBERNETES_CACHE); about 11 minutes and
 * 4.5 GB of memory on 2 cores the first time; full output in
 * ~/.cache/falplane/logs/pulumi-kubernetes-*.log. Plain CommonJS with no
 * dependencies, like engine.cjs. FALPLANE_PULUMI_KUBERNETES_SRC names another
 * source: a checkout of github.com/pulumi/pulumi-kubernetes at v4.32.0.
 *
 *   node scripts/pulumi-kubernetes.cjs           builds it when missing
 *   node scripts/pulumi-kubernetes.cjs --check   exit 0 when it is built, 1 otherwise
 *
 * require("./pulumi-kubernetes.cjs") gives PULUMI_KUBERNETES_BIN_DIR,
 * pulumiKubernetesMissing() and buildPulumiKubernetes().
 */
"use strict";
const logged = require("./logged.cjs");
const { execFileSync } = require("node:child_process");
const { existsSync, mkdirSync, writeFileSync, readFileSync, copyFileSync, renameSync, rmSync, cpSync } = require("node:fs");
const { homedir } = require("node:os");
const { join, resolve } = require("node:path");

const ROOT = resolve(__dirname, "..");
const PULUMI_KUBERNETES_VERSION = "4.32.0";
const HOME = process.env.FALPLANE_PULUMI_KUBERNETES_CACHE || join(homedir(), ".cache", "falplane", `pulumi-kubernetes-v${PULUMI_KUBERNETES_VERSION}`);
const PULUMI_KUBERNETES_BIN_DIR = join(HOME, "bin");
const PLUGIN = "pulumi-resource-kubernetes";
const TOOLS = join(ROOT, "tools", "pulumi-kubernetes");
/** Git directories a snapshot of github.com/pulumi/pulumi-kubernetes may sit in on these machines (the `fetch` tool's mirror). */
const MIRROR_GIT_DIRS = ["/work/.mirror/pulumi+pulumi-kubernetes/repo"];
const { LOG_DIR } = logged;
/** The main OpenAPI spec, and the older ones pulumi-gen-kubernetes merges for deprecated kinds (else it fetches them from GitHub). */
const OPENAPI_MAIN = "1.36.1";
const OPENAPI_LEGACY = ["1.17.0", "1.18.0", "1.19.0", "1.20.0", "1.26.0", "1.28.0", "1.30.0", "1.31.0"];
/** Pulumi's Go API changed between pkg v3.243 (upstream's go.mod) and v3.259 (ours): shared/recipes' patch, as exact replacements. */
const SOURCE_FIXES = [
  { file: "pkg/gen/schema.go", from: "\t\tProvider: pschema.ResourceSpec{", to: "\t\tProvider: &pschema.ResourceSpec{" },
  { file: "cmd/pulumi-gen-kubernetes/main.go", from: "schema.ImportSpec(pkgSpec, nil, schema.ValidationOptions{})", to: "schema.ImportSpec(pkgSpec, nil, nil, schema.ValidationOptions{})" },
];

const say = (msg) => process.stdout.write(`[pulumi-kubernetes] ${msg}\n`);
const { seconds } = logged;

/** True while the plugin is not built. */
function pulumiKubernetesMissing() {
  return !existsSync(join(PULUMI_KUBERNETES_BIN_DIR, PLUGIN));
}

/** The shared long-command runner (scripts/logged.cjs) with this script's prefix. */
const runLogged = (title, cmd, args, opts) => logged.runLogged("[pulumi-kubernetes]", title, cmd, args, opts);
const { goProgress } = logged;

/** The provider's source tree (its `provider/` folder) in `src`, with our go.mod, go.sum and API fixes. */
async function prepareSource(src) {
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  const from = process.env.FALPLANE_PULUMI_KUBERNETES_SRC;
  if (from) {
    if (!existsSync(join(from, "provider", "go.mod"))) throw new Error(`FALPLANE_PULUMI_KUBERNETES_SRC=${from} has no provider/go.mod (a checkout of github.com/pulumi/pulumi-kubernetes at v${PULUMI_KUBERNETES_VERSION} is needed)`);
    cpSync(join(from, "provider"), join(src, "provider"), { recursive: true });
  } else {
    // The provider's source is not kept in this repository (it is upstream's code): it comes
    // from a git directory that holds the tag, e.g. a snapshot fetched onto this machine.
    const git = [process.env.FALPLANE_PULUMI_KUBERNETES_GIT, ...MIRROR_GIT_DIRS].find((d) => d && existsSync(join(d, "HEAD")));
    if (!git) {
      throw new Error(
        `the source of github.com/pulumi/pulumi-kubernetes at v${PULUMI_KUBERNETES_VERSION} is needed to build ${PLUGIN} (the Go module proxy refuses it): ` +
          `set FALPLANE_PULUMI_KUBERNETES_SRC to a checkout of it, or FALPLANE_PULUMI_KUBERNETES_GIT to a git directory holding the tag v${PULUMI_KUBERNETES_VERSION} (looked in ${MIRROR_GIT_DIRS.join(", ")})`,
      );
    }
    await runLogged(
      `taking the provider's source at v${PULUMI_KUBERNETES_VERSION} from ${git}`,
      "bash",
      // Snapshots lack the two largest blobs, which the build regenerates (schema.json) or replaces (terraform.json).
      [
        "-c",
        `set -o pipefail; git --git-dir="$0" archive "v$1" -- provider LICENSE ':(exclude)provider/cmd/pulumi-resource-kubernetes/schema.json' ':(exclude)provider/cmd/pulumi-gen-kubernetes/terraform.json' | tar -x -C "$2"`,
        git,
        PULUMI_KUBERNETES_VERSION,
        src,
      ],
      { cwd: src, env: process.env, logName: "pulumi-kubernetes-unpack" },
    );
  }
  const provider = join(src, "provider");
  copyFileSync(join(TOOLS, "provider.go.mod"), join(provider, "go.mod"));
  // Without our go.sum, `-mod=mod` fills one in (checked against the checksum database).
  if (existsSync(join(TOOLS, "provider.go.sum"))) copyFileSync(join(TOOLS, "provider.go.sum"), join(provider, "go.sum"));
  else rmSync(join(provider, "go.sum"), { force: true });
  for (const fix of SOURCE_FIXES) {
    const file = join(provider, fix.file);
    const text = readFileSync(file, "utf8");
    if (text.includes(fix.to)) continue;
    if (!text.includes(fix.from)) throw new Error(`${fix.file}: the line to fix (${fix.from.trim()}) is not there: not the v${PULUMI_KUBERNETES_VERSION} source?`);
    writeFileSync(file, text.replace(fix.from, fix.to));
  }
  return provider;
}

/** The OpenAPI specs (swagger-v<version>.json) from k8s.io/kubernetes modules on the Go proxy, into `dir`. */
async function openapiSpecs(dir, env) {
  mkdirSync(dir, { recursive: true });
  const versions = [...OPENAPI_LEGACY, OPENAPI_MAIN].filter((v) => !existsSync(join(dir, `swagger-v${v}.json`)));
  if (versions.length === 0) return;
  let done = 0;
  await runLogged(
    `downloading Kubernetes OpenAPI specs (k8s.io/kubernetes ${versions.join(", ")})`,
    "go",
    ["mod", "download", "-json", ...versions.map((v) => `k8s.io/kubernetes@v${v}`)],
    { cwd: dir, env: { ...env, GOFLAGS: "" }, logName: "pulumi-kubernetes-openapi", progress: (l) => (/"Dir":/.test(l) ? `${++done} of ${versions.length}` : undefined) },
  );
  for (const v of versions) {
    const out = execFileSync("go", ["mod", "download", "-json", `k8s.io/kubernetes@v${v}`], { cwd: dir, env: { ...env, GOFLAGS: "" }, encoding: "utf8" });
    const info = JSON.parse(out);
    if (info.Error || !info.Dir) throw new Error(`go mod download k8s.io/kubernetes@v${v}: ${info.Error || "no Dir"}`);
    // Copied under a temporary name and renamed: a concurrent build never reads half a file.
    const tmp = join(dir, `.swagger-v${v}.json.${process.pid}`);
    copyFileSync(join(info.Dir, "api", "openapi-spec", "swagger.json"), tmp);
    renameSync(tmp, join(dir, `swagger-v${v}.json`));
  }
}

/**
 * Builds the plugin into PULUMI_KUBERNETES_BIN_DIR when missing; resolves with
 * that folder. One build at a time per cache folder: a second caller (another
 * test worker, another set-up) waits for the first and uses its result.
 */
async function buildPulumiKubernetes() {
  if (!pulumiKubernetesMissing()) return PULUMI_KUBERNETES_BIN_DIR;
  mkdirSync(HOME, { recursive: true });
  const lock = join(HOME, "build.lock");
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      const holder = Number(readFileSync(lock, "utf8")) || 0;
      if (!holder || !alive(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      say(`another build of ${PLUGIN} (pid ${holder}) is running; waiting for it`);
      while (existsSync(lock) && alive(holder)) await new Promise((r) => setTimeout(r, 5000));
      if (!pulumiKubernetesMissing()) return PULUMI_KUBERNETES_BIN_DIR;
    }
  }
  try {
    return await build();
  } finally {
    rmSync(lock, { force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

async function build() {
  try {
    execFileSync("go", ["version"], { stdio: "ignore" });
  } catch {
    throw new Error(`Go is needed to build ${PLUGIN} v${PULUMI_KUBERNETES_VERSION} (no registry ships its binary); install Go 1.26`);
  }
  const started = Date.now();
  const V = PULUMI_KUBERNETES_VERSION;
  say(`building ${PLUGIN} v${V} (the Kubernetes provider the Platform component needs) from its source into ${PULUMI_KUBERNETES_BIN_DIR}`);
  say(`first build on a machine: downloads modules and compiles (about 11 minutes and 4.5 GB of memory on 2 cores); later runs reuse it. Full output: ${join(LOG_DIR, "pulumi-kubernetes-build.log")}`);
  const env = {
    ...process.env,
    CGO_ENABLED: "0",
    GOFLAGS: "-mod=mod",
    // The checksum database here does not list github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.32.0 (the proxy serves it).
    GONOSUMDB: [process.env.GONOSUMDB, "github.com/pulumi/pulumi-kubernetes/sdk"].filter(Boolean).join(","),
  };
  // Only this build (it holds the lock) uses it; prepareSource starts it afresh after an interrupted one.
  const src = join(HOME, "src");
  const provider = await prepareSource(src);
  const openapi = join(HOME, "openapi");
  await openapiSpecs(openapi, env);

  const tmpBin = join(HOME, "bin.partial");
  rmSync(tmpBin, { recursive: true, force: true });
  mkdirSync(tmpBin, { recursive: true });
  const gen = await runLogged("building the schema generator (pulumi-gen-kubernetes)", "go", ["build", "-v", "-o", join(tmpBin, "pulumi-gen-kubernetes"), "./cmd/pulumi-gen-kubernetes"], {
    cwd: provider,
    env,
    logName: "pulumi-kubernetes-gen-build",
    progress: goProgress(),
  });
  say(`schema generator built (${gen.elapsed})`);

  // The generator writes schema.json, then a Terraform mapping we do not need (it may fail there): keep the shipped mapping.
  const resourceDir = join(provider, "cmd", "pulumi-resource-kubernetes");
  const mapping = readFileSync(join(resourceDir, "terraform-mapping.json"));
  writeFileSync(join(provider, "cmd", "pulumi-gen-kubernetes", "terraform.json"), "{}");
  const schema = join(resourceDir, "schema.json");
  rmSync(schema, { force: true });
  // The generator takes the main spec's path and finds the legacy specs next to it.
  await runLogged("generating the provider schema", join(tmpBin, "pulumi-gen-kubernetes"), [`-version=${V}`, "schema", join(openapi, `swagger-v${OPENAPI_MAIN}.json`), src], {
    cwd: provider,
    env,
    logName: "pulumi-kubernetes-schema",
    allowFailure: true,
  });
  writeFileSync(join(resourceDir, "terraform-mapping.json"), mapping);
  if (!existsSync(schema)) throw new Error(`the schema generator wrote no ${schema}; see ${join(LOG_DIR, "pulumi-kubernetes-schema.log")}`);
  await runLogged("embedding the schema (go run generate.go)", "go", ["run", "generate.go"], {
    cwd: resourceDir,
    env: { ...env, VERSION: V },
    logName: "pulumi-kubernetes-generate",
    progress: goProgress(),
  });

  const ldflags = `-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${V}`;
  const r = await runLogged(`building ${PLUGIN}`, "go", ["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", join(tmpBin, PLUGIN), `./cmd/${PLUGIN}`], {
    cwd: provider,
    env,
    logName: "pulumi-kubernetes-build",
    progress: goProgress(),
  });
  say(`${PLUGIN} built (${r.elapsed})`);
  // Moved into place last, so an interrupted build never leaves a half-built plugin behind.
  mkdirSync(PULUMI_KUBERNETES_BIN_DIR, { recursive: true });
  renameSync(join(tmpBin, PLUGIN), join(PULUMI_KUBERNETES_BIN_DIR, PLUGIN));
  rmSync(tmpBin, { recursive: true, force: true });
  say(`${PLUGIN} v${V} ready in ${PULUMI_KUBERNETES_BIN_DIR} (${seconds(started)})`);
  return PULUMI_KUBERNETES_BIN_DIR;
}

module.exports = { PULUMI_KUBERNETES_VERSION, PULUMI_KUBERNETES_BIN_DIR, pulumiKubernetesMissing, buildPulumiKubernetes };

if (require.main === module) {
  if (process.argv.includes("--check")) process.exit(pulumiKubernetesMissing() ? 1 : 0);
  buildPulumiKubernetes().then(
    (dir) => {
      if (!process.argv.includes("--quiet")) say(`ready: ${dir}`);
    },
    (err) => {
      process.stderr.write(`[pulumi-kubernetes] FAILED: ${err && err.message ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
