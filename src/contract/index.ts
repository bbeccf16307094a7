/**
 * The wire contract of the platform API: what the server accepts
 * (schemas.ts) and what it answers (responses.ts). The server validates with
 * and types its answers by these; the client derives its types from them
 * with `import type` only, because the client is serialized into Pulumi
 * dynamic providers and must not carry zod at run time.
 */
import type { z } from "zod";

export * from "./schemas";
export * from "./responses";

/**
 * T with every array and object read-only. The platform's rows and the app
 * model hold read-only arrays; a read-only type accepts both kinds, so a body
 * typed this way takes the model's values as they are.
 */
export type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** What the server may send for an answer schema. */
export type Sent<S extends z.ZodType> = DeepReadonly<z.output<S>>;

/** What a caller may send for a request schema (defaults not yet applied). */
export type Sendable<S extends z.ZodType> = DeepReadonly<z.input<S>>;
