/** Public surface of the components: what an infra repo imports. */
export { FalApp, type FalAppArgs, type FalAppScaling } from "./FalApp";
export { AppAlias, type AppAliasArgs } from "./AppAlias";
export { Revision, type RevisionArgs } from "./Revision";
export { Environment, type EnvironmentArgs } from "./Environment";
export { Secret, type SecretArgs } from "./Secret";
export { Strategy } from "./Strategy";
export { Platform, type PlatformArgs, type PlatformResources } from "./Platform";
export { resolveConnection, type PlatformConnection, type ResolvedConnection } from "./connection";
