/**
 * Where the Pulumi engine lives and the environment it runs with. Shared by
 * setup, the demo and the tests. Plain CommonJS with no dependencies: it runs
 * before `npm install` has.
 */
"use strict";
const { execFileSync } = require("node:child_process");
const { existsSync } = require("node:fs");
const { homedir } = require("node:os");
const { join, resolve, delimiter } = require("node:path");

const ROOT = resolve(__dirname, "..");
/** Pinned engine release; @pulumi/pulumi in package.json is pinned to the same. */
const PULUMI_VERSION = "3.259.0";
const CACHE_DIR = process.env.FALPLANE_ENGINE_CACHE || join(homedir(), ".cache", "falplane", `pulumi-v${PULUMI_VERSION}`, "bin");
const BINARIES = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"];

/** Version of a `pulumi` binary, or undefined when it cannot run. */
function pulumiVersion(bin) {
  try {
    return execFileSync(bin, ["version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 30000 }).trim();
  } catch {
    return undefined;
  }
}

/** A directory holding the three engine binaries at the pinned version, or undefined. */
function findEngineDir() {
  for (const dir of (process.env.PATH || "").split(delimiter)) {
    if (dir && BINARIES.every((b) => existsSync(join(dir, b))) && pulumiVersion(join(dir, "pulumi")) === `v${PULUMI_VERSION}`) {
      return dir;
    }
  }
  if (BINARIES.every((b) => existsSync(join(CACHE_DIR, b))) && pulumiVersion(join(CACHE_DIR, "pulumi")) === `v${PULUMI_VERSION}`) {
    return CACHE_DIR;
  }
  return undefined;
}

/** Environment for running the engine offline with a local file backend. */
function engineEnv(engineDir, extra = {}) {
  return {
    ...process.env,
    PATH: `${engineDir}${delimiter}${process.env.PATH || ""}`,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "false",
    ...extra,
  };
}

module.exports = { ROOT, PULUMI_VERSION, CACHE_DIR, BINARIES, findEngineDir, engineEnv, pulumiVersion };
