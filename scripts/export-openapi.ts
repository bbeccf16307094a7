/**
 * Prints the platform's OpenAPI document (the one it serves at GET /openapi.json)
 * as pretty JSON, so it can be committed and reviewed:
 *
 *   npx tsx scripts/export-openapi.ts > docs/openapi.json
 *
 * The document is built from the same zod schemas that validate requests
 * (src/platform/api/openapi.ts); no platform is started.
 */
import { openApiDocument } from "../src/platform/api/openapi";
import { PLATFORM_VERSION } from "../src/platform/startPlatform";

process.stdout.write(JSON.stringify(openApiDocument(PLATFORM_VERSION), null, 2) + "\n");
