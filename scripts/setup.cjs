#!/usr/bin/env node
/**
 * Makes a fresh clone ready: npm dependencies, the Pulumi engine (built from
 * the Go module proxy when missing, cached outside the clone by version), a
 * check for Python, and PostgreSQL's server binaries for the tests' postgres
 * variants (installed from Debian's packages when running as root).
 * Idempotent and quick when everything is there.
 *
 *   node scripts/setup.cjs                 everything
 *   node scripts/setup.cjs --engine-only   only the engine
 */
"use strict";
const { spawnSync, execFileSync } = require("node:child_process");
const { createHash } = require("node:crypto");
const { existsSync, mkdirSync, copyFileSync, chmodSync, readFileSync, writeFileSync, readdirSync } = require("node:fs");
const { join } = require("node:path");
const { ROOT, PULUMI_VERSION, CACHE_DIR, findEngineDir, pulumiVersion } = require("./engine.cjs");

const say = (msg) => process.stdout.write(`[setup] ${msg}\n`);
const fail = (msg) => {
  process.stderr.write(`[setup] FAILED: ${msg}\n`);
  process.exit(1);
};

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: ROOT, ...opts });
  if (r.error) fail(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(" ")} exited with ${r.status}`);
}

function npmDependencies() {
  const pkg = join(ROOT, "node_modules", "@pulumi", "pulumi", "package.json");
  const lockStamp = join(ROOT, "node_modules", ".package-lock.json");
  const fresh =
    existsSync(pkg) &&
    JSON.parse(readFileSync(pkg, "utf8")).version === PULUMI_VERSION &&
    existsSync(lockStamp) &&
    existsSync(join(ROOT, "node_modules", "vitest"));
  if (fresh) return;
  say("installing npm dependencies (npm ci)...");
  const ci = spawnSync("npm", ["ci", "--no-audit", "--no-fund"], { stdio: "inherit", cwd: ROOT });
  if (!ci.error && ci.status === 0) return;
  // npm ci refuses a lock file that lacks optional packages (rollup's other-platform
  // builds) the registry here does not have; npm install accepts it and, with
  // --no-save, leaves package-lock.json as it is.
  say("npm ci refused; falling back to npm install --no-save (package-lock.json is not changed)");
  run("npm", ["install", "--no-audit", "--no-fund", "--no-save"]);
}

/** Hash of our language host's sources: a change rebuilds it (seconds), not the engine. */
function languageHostStamp() {
  const h = createHash("sha256");
  const dir = join(ROOT, "tools", "pulumi");
  for (const f of ["go.mod", "go.sum"]) h.update(readFileSync(join(dir, f)));
  const src = join(dir, "cmd", "pulumi-language-nodejs");
  for (const f of readdirSync(src).sort()) h.update(f).update(readFileSync(join(src, f)));
  return h.digest("hex");
}

function goBuild(pkg, out) {
  const ldflags = `-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}`;
  run("go", ["build", "-trimpath", "-ldflags", ldflags, "-o", out, pkg], {
    cwd: join(ROOT, "tools", "pulumi"),
    env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: `${process.env.GOFLAGS || ""} -mod=readonly`.trim() },
  });
}

function engine() {
  const stampFile = join(CACHE_DIR, ".language-host.sha256");
  const stamp = languageHostStamp();
  const found = findEngineDir();
  if (found && (found !== CACHE_DIR || (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp))) {
    return found;
  }
  try {
    execFileSync("go", ["version"], { stdio: "ignore" });
  } catch {
    fail("Go is needed to build the Pulumi engine (no registry ships its binary); install Go 1.26 or put pulumi v" + PULUMI_VERSION + " on PATH");
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  const pulumiBin = join(CACHE_DIR, "pulumi");
  if (pulumiVersion(pulumiBin) !== `v${PULUMI_VERSION}`) {
    say(`building the Pulumi engine v${PULUMI_VERSION} from Go modules into ${CACHE_DIR}`);
    say("first build on a machine: downloads modules and compiles (about 5 to 15 minutes on 2 cores); later runs reuse it");
    const started = Date.now();
    const ticker = setInterval(() => say(`  still building the engine... ${Math.round((Date.now() - started) / 1000)} s`), 30000);
    try {
      goBuild("github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", pulumiBin);
    } finally {
      clearInterval(ticker);
    }
    say(`engine built in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  say("building the Node.js language host (tools/pulumi/cmd/pulumi-language-nodejs)");
  goBuild("./cmd/pulumi-language-nodejs", join(CACHE_DIR, "pulumi-language-nodejs"));
  // The dynamic-provider plugin is a script shipped in the @pulumi/pulumi npm package.
  const dyn = join(CACHE_DIR, "pulumi-resource-pulumi-nodejs");
  copyFileSync(join(ROOT, "node_modules", "@pulumi", "pulumi", "pulumi-resource-pulumi-nodejs"), dyn);
  chmodSync(dyn, 0o755);
  writeFileSync(stampFile, stamp);
  const dir = findEngineDir();
  if (!dir) fail(`the engine in ${CACHE_DIR} does not report v${PULUMI_VERSION}`);
  return dir;
}

function python() {
  try {
    const v = execFileSync(process.env.FALPLANE_PYTHON || "python3", ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], {
      encoding: "utf8",
    }).trim();
    const [maj, min] = v.split(".").map(Number);
    if (maj < 3 || (maj === 3 && min < 10)) fail(`Python ${v} found; the runner SDK needs 3.10 or newer`);
  } catch {
    fail("python3 is needed to run apps (set FALPLANE_PYTHON to choose an interpreter)");
  }
}

/**
 * uv builds apps' Python environments (src/platform/builds). It comes from
 * PyPI as a package, installed into its own virtual environment in the cache,
 * at the version tools/uv.json pins. Without it the platform falls back to
 * python -m venv + pip, and says so.
 */
function uv() {
  const { version } = JSON.parse(readFileSync(join(ROOT, "tools", "uv.json"), "utf8"));
  const home = join(require("node:os").homedir(), ".cache", "falplane", `uv-${version}`);
  const bin = join(home, "bin", "uv");
  if (existsSync(bin)) return;
  const py = process.env.FALPLANE_PYTHON || "python3";
  say(`installing uv ${version} from PyPI into ${home} (builds apps' Python environments)...`);
  const venv = spawnSync(py, ["-m", "venv", home], { stdio: "inherit" });
  const pip = venv.status === 0 && spawnSync(join(home, "bin", "python"), ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `uv==${version}`], { stdio: "inherit" });
  if (!pip || pip.status !== 0 || !existsSync(bin)) {
    say(`  could not install uv (${home}); apps' environments will be built with python -m venv + pip, which is slower`);
  }
}

/**
 * The tests run every store and API test on PGlite and on PostgreSQL too:
 * test/globalSetup.ts starts a throwaway cluster with Debian's server binaries.
 */
function postgres() {
  if (process.env.TEST_DATABASE_URL) return; // the tests use that server
  const root = "/usr/lib/postgresql";
  const hasServer = () => existsSync(root) && readdirSync(root).some((v) => existsSync(join(root, v, "bin", "initdb")));
  if (hasServer()) return;
  if (!aptInstall("postgresql", "PostgreSQL", "until then the tests' postgres variants fail (or set TEST_DATABASE_URL=postgres://... to a server you run)")) return;
  if (!hasServer()) fail(`apt-get installed postgresql, but there is no ${root}/*/bin/initdb`);
  say("PostgreSQL installed");
}

/**
 * bubblewrap (bwrap) sandboxes runners (src/platform/runners/sandbox.ts);
 * without it the platform runs them unsandboxed and says so, and the
 * isolation tests fail.
 */
function bubblewrap() {
  const works = () => spawnSync("bwrap", ["--version"], { stdio: "ignore" }).status === 0;
  if (works()) return;
  if (!aptInstall("bubblewrap", "bubblewrap (the runner sandbox)", "until then runners run unsandboxed and the isolation tests fail")) return;
  if (!works()) fail("apt-get installed bubblewrap, but bwrap does not run");
  say("bubblewrap installed");
}

/** Installs a Debian package when this is root on a machine with apt-get; says what to do otherwise. */
function aptInstall(pkg, what, otherwise) {
  say(`installing ${what} (apt-get install ${pkg})...`);
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  let hasApt = true;
  try {
    execFileSync("apt-get", ["--version"], { stdio: "ignore" });
  } catch {
    hasApt = false;
  }
  if (!isRoot || !hasApt) {
    say(`  not ${!hasApt ? "on a machine with apt-get" : "running as root"}, so not installing it: run \`sudo apt-get install -y ${pkg}\`; ${otherwise}`);
    return false;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (!aptUpdated) run("apt-get", ["update"], { env, stdio: ["ignore", "inherit", "inherit"] });
  aptUpdated = true;
  run("apt-get", ["install", "-y", "--no-install-recommends", pkg], { env, stdio: ["ignore", "inherit", "inherit"] });
  return true;
}
let aptUpdated = false;

const engineOnly = process.argv.includes("--engine-only");
if (!engineOnly) npmDependencies();
const dir = engine();
if (!engineOnly) python();
if (!engineOnly) uv();
if (!engineOnly) postgres();
if (!engineOnly) bubblewrap();
say(`ready: engine v${PULUMI_VERSION} in ${dir}`);
