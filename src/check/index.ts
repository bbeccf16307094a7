/** The deploy check (`fal deploy --check`; here `pulumi preview`): compute, render, read the live state. */
export * from "./types";
export * from "./compute";
export * from "./render";
export * from "./live";
