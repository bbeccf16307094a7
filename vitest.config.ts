import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "src/**/*.test.ts", "components/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: integration tests start platforms, runners and the engine.
    maxWorkers: 2,
    minWorkers: 1,
    pool: "forks",
    // Starts a throwaway PostgreSQL cluster (or uses TEST_DATABASE_URL) for the postgres variants.
    globalSetup: ["test/globalSetup.ts"],
  },
});
