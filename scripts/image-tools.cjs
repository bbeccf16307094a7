#!/usr/bin/env node
/**
 * What container-image apps are built and pushed with (docs/images.md), built
 * from Go modules and cached outside the clone by version, like the engine:
 *
 *   buildkitd, buildctl  BuildKit v0.31.1   ~/.cache/falplane/buildkit-v0.31.1/bin
 *   buildx               buildx v0.35.0     (same folder; registers the BuildKit daemon as a "remote" builder)
 *   registry             distribution v3.1.2 ~/.cache/falplane/registry-v3.1.2/bin (the tests' local registry)
 *   pulumi-resource-docker-build  v0.0.22   ~/.cache/falplane/pulumi-docker-build-v0.0.22/bin
 *                                          (the @pulumi/docker-build provider plugin; no registry ships it here)
 *
 * BuildKit and the provider are built in the modules tools/buildkit and
 * tools/docker-build (go.mod + go.sum pinned there); the registry with `go
 * install`. FALPLANE_IMAGE_TOOLS_CACHE moves the three folders under another
 * directory. Full output in ~/.cache/falplane/logs/image-tools-*.log. Plain
 * CommonJS with no dependencies, like engine.cjs.
 *
 *   node scripts/image-tools.cjs           builds what is missing (about 10 to 20 minutes on 2 cores the first time)
 *   node scripts/image-tools.cjs --check   exit 0 when everything is built, 1 otherwise
 *
 * require("./image-tools.cjs") gives IMAGE_TOOLS, imageToolPath(), imageToolsMissing() and buildImageTools().
 */
"use strict";
const logged = require("./logged.cjs");
const { execFileSync } = require("node:child_process");
const { existsSync, mkdirSync, renameSync, rmSync, readdirSync } = require("node:fs");
const { homedir } = require("node:os");
const { join, resolve } = require("node:path");

const ROOT = resolve(__dirname, "..");
const BUILDKIT_VERSION = "v0.31.1";
const BUILDX_VERSION = "v0.35.0";
const REGISTRY_VERSION = "v3.1.2";
const DOCKER_BUILD_VERSION = "0.0.22";
const CACHE_ROOT = process.env.FALPLANE_IMAGE_TOOLS_CACHE || join(homedir(), ".cache", "falplane");
const { LOG_DIR } = logged;

/** Each tool set: where its binaries go and how they are built. */
const IMAGE_TOOLS = [
  {
    name: `BuildKit ${BUILDKIT_VERSION} (buildkitd, buildctl) and buildx ${BUILDX_VERSION}`,
    dir: join(CACHE_ROOT, `buildkit-${BUILDKIT_VERSION}`, "bin"),
    binaries: ["buildkitd", "buildctl", "buildx"],
    module: join(ROOT, "tools", "buildkit"),
    packages: ["github.com/moby/buildkit/cmd/buildkitd", "github.com/moby/buildkit/cmd/buildctl", "github.com/docker/buildx/cmd/buildx"],
    // `--version` says what was built (without these the binaries report v0.0.0+unknown).
    ldflags: `-s -w -X github.com/moby/buildkit/version.Version=${BUILDKIT_VERSION} -X github.com/docker/buildx/version.Version=${BUILDX_VERSION}`,
    logName: "image-tools-buildkit",
    estimate: "about 6 to 12 minutes on 2 cores",
  },
  {
    name: `the image registry (distribution ${REGISTRY_VERSION})`,
    dir: join(CACHE_ROOT, `registry-${REGISTRY_VERSION}`, "bin"),
    binaries: ["registry"],
    install: `github.com/distribution/distribution/v3/cmd/registry@${REGISTRY_VERSION}`,
    ldflags: "-s -w",
    logName: "image-tools-registry",
    estimate: "about 1 to 3 minutes",
  },
  {
    name: `the docker-build provider plugin (pulumi-resource-docker-build ${DOCKER_BUILD_VERSION})`,
    dir: join(CACHE_ROOT, `pulumi-docker-build-v${DOCKER_BUILD_VERSION}`, "bin"),
    binaries: ["pulumi-resource-docker-build"],
    module: join(ROOT, "tools", "docker-build"),
    packages: ["github.com/pulumi/pulumi-docker-build/provider/cmd/pulumi-resource-docker-build"],
    // The provider reports this version to the engine (the Makefile's VERSION_PATH).
    ldflags: `-s -w -X github.com/pulumi/pulumi-docker-build/provider.Version=${DOCKER_BUILD_VERSION}`,
    logName: "image-tools-docker-build",
    estimate: "about 5 to 10 minutes on 2 cores (less after BuildKit: they share packages)",
  },
];

const say = (msg) => process.stdout.write(`[image-tools] ${msg}\n`);
const { seconds } = logged;

/** Absolute path of one built binary (`buildkitd`, `registry`, `pulumi-resource-docker-build`, ...). */
function imageToolPath(binary) {
  const tool = IMAGE_TOOLS.find((t) => t.binaries.includes(binary));
  if (!tool) throw new Error(`unknown image tool ${binary}`);
  return join(tool.dir, binary);
}

/** The binaries not built yet. */
function imageToolsMissing() {
  return IMAGE_TOOLS.flatMap((t) => t.binaries.filter((b) => !existsSync(join(t.dir, b))));
}

/** The shared long-command runner (scripts/logged.cjs) with this script's prefix. */
const runLogged = (title, cmd, args, opts) => logged.runLogged("[image-tools]", title, cmd, args, opts);
const { goProgress } = logged;

/** Builds one tool set into a staging folder and moves it into place, so an interrupted build never leaves half a set. */
async function buildTool(tool) {
  const env = { ...process.env, CGO_ENABLED: "0" };
  say(`building ${tool.name} from Go modules into ${tool.dir}`);
  say(`first build on a machine: ${tool.estimate}; later runs reuse it. Full output: ${join(LOG_DIR, `${tool.logName}.log`)}`);
  const partial = `${tool.dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  let r;
  if (tool.install) {
    r = await runLogged(`building ${tool.binaries.join(", ")}`, "go", ["install", "-v", "-trimpath", "-ldflags", tool.ldflags, tool.install], {
      cwd: partial,
      env: { ...env, GOBIN: partial, GOFLAGS: "" },
      logName: tool.logName,
      progress: goProgress(),
    });
  } else {
    r = await runLogged(`building ${tool.binaries.join(", ")}`, "go", ["build", "-v", "-trimpath", "-ldflags", tool.ldflags, "-o", partial + "/", ...tool.packages], {
      cwd: tool.module,
      env: { ...env, GOFLAGS: `${process.env.GOFLAGS || ""} -mod=readonly`.trim() },
      logName: tool.logName,
      progress: goProgress(),
    });
  }
  mkdirSync(tool.dir, { recursive: true });
  for (const b of readdirSync(partial)) renameSync(join(partial, b), join(tool.dir, b));
  rmSync(partial, { recursive: true, force: true });
  say(`${tool.binaries.join(", ")} built (${r.elapsed})`);
}

/** Builds whatever is missing. Resolves with the folders when every binary is there. */
async function buildImageTools() {
  const todo = IMAGE_TOOLS.filter((t) => t.binaries.some((b) => !existsSync(join(t.dir, b))));
  if (todo.length === 0) return IMAGE_TOOLS.map((t) => t.dir);
  try {
    execFileSync("go", ["version"], { stdio: "ignore" });
  } catch {
    throw new Error("Go is needed to build BuildKit, the registry and the docker-build provider for image apps (no registry ships them here); install Go 1.26");
  }
  const started = Date.now();
  for (const tool of todo) await buildTool(tool);
  const still = imageToolsMissing();
  if (still.length) throw new Error(`after the build, ${still.join(", ")} still missing`);
  say(`image tools ready (${seconds(started)}): ${todo.map((t) => t.dir).join(", ")}`);
  return IMAGE_TOOLS.map((t) => t.dir);
}

module.exports = {
  BUILDKIT_VERSION,
  BUILDX_VERSION,
  REGISTRY_VERSION,
  DOCKER_BUILD_VERSION,
  IMAGE_TOOLS,
  imageToolPath,
  imageToolsMissing,
  buildImageTools,
};

if (require.main === module) {
  if (process.argv.includes("--check")) process.exit(imageToolsMissing().length ? 1 : 0);
  buildImageTools().then(
    (dirs) => {
      if (!process.argv.includes("--quiet")) say(`ready: ${dirs.join(", ")}`);
    },
    (err) => {
      process.stderr.write(`[image-tools] FAILED: ${err && err.message ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
