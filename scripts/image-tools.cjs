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
const { spawn, execFileSync } = require("node:child_process");
const { existsSync, mkdirSync, createWriteStream, renameSync, rmSync, readdirSync } = require("node:fs");
const { homedir } = require("node:os");
const { join, resolve } = require("node:path");

const ROOT = resolve(__dirname, "..");
const BUILDKIT_VERSION = "v0.31.1";
const BUILDX_VERSION = "v0.35.0";
const REGISTRY_VERSION = "v3.1.2";
const DOCKER_BUILD_VERSION = "0.0.22";
const CACHE_ROOT = process.env.FALPLANE_IMAGE_TOOLS_CACHE || join(homedir(), ".cache", "falplane");
const LOG_DIR = join(homedir(), ".cache", "falplane", "logs");

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
const seconds = (since) => `${Math.round((Date.now() - since) / 1000)} s`;

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

/**
 * Runs a command with its whole output in a log file: a progress line every
 * 30 s (in place on a terminal), and the last lines of the log on failure.
 */
function runLogged(title, cmd, args, opts) {
  mkdirSync(LOG_DIR, { recursive: true });
  const logPath = join(LOG_DIR, `${opts.logName}.log`);
  const log = createWriteStream(logPath);
  const started = Date.now();
  const tail = [];
  let status = "";
  const tty = process.stdout.isTTY;
  const show = () => {
    const line = `[image-tools]   ${title}: ${status ? status + ", " : ""}${seconds(started)}`;
    if (tty) process.stdout.write(`\r${line.slice(0, (process.stdout.columns || 100) - 1)}\x1b[K`);
    else process.stdout.write(line + "\n");
  };
  const ticker = setInterval(show, tty ? 1000 : 30_000);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let pending = "";
    const onData = (chunk) => {
      log.write(chunk);
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        if (opts.progress) status = opts.progress(line) || status;
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const finish = (code, error) => {
      clearInterval(ticker);
      if (tty) process.stdout.write("\r\x1b[K");
      log.end(() => {
        if (code === 0) return resolvePromise({ elapsed: seconds(started), logPath });
        const why = error ? error.message : `exit code ${code}`;
        const last = tail.filter((l) => l.trim()).slice(-20).map((l) => `    ${l}`).join("\n");
        reject(new Error(`${title} failed (${why}); last lines of ${logPath}:\n${last}`));
      });
    };
    child.on("error", (err) => finish(-1, err));
    child.on("close", (code) => finish(code));
  });
}

/** Progress of `go build -v` / `go install -v`: modules downloaded and packages compiled. */
function goProgress() {
  let downloaded = 0;
  let compiled = 0;
  return (line) => {
    if (line.startsWith("go: downloading")) downloaded++;
    else if (/^[\w.-]+(\/[\w.@+~-]+)*$/.test(line.trim())) compiled++;
    return `${downloaded} modules downloaded, ${compiled} packages compiled`;
  };
}

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
