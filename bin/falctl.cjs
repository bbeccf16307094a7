#!/usr/bin/env node
// falctl runs from TypeScript sources through tsx; no build step.
require("tsx/cjs");
require("../src/cli/main.ts");
