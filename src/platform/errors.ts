/** Errors that carry an HTTP status and a machine-readable code to the API's caller. */
export class PlatformError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "PlatformError";
  }
}

export const notFound = (what: string) => new PlatformError(404, "not_found", `${what} not found`);
export const conflict = (msg: string, details?: Record<string, unknown>) =>
  new PlatformError(409, "conflict", msg, details);
export const invalid = (msg: string, details?: Record<string, unknown>) =>
  new PlatformError(422, "invalid", msg, details);
