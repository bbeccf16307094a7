/**
 * The deploy check (`fal deploy --check`; here `pulumi preview`): compute,
 * render, read the live state. Plain data and functions without the Pulumi
 * SDK; ./logCheck, which logs the check inside a program, is imported on its own.
 */
export * from "./types";
export * from "./compute";
export * from "./render";
export * from "./live";
