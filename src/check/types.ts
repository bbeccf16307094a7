/**
 * The deploy check's model: what FalApp is about to deploy, what the platform
 * serves now, and the summary computed from both. Plain data, no Pulumi.
 */
import type { AuthMode, CodeSettings, FileEntry, RuntimeScaling, StrategyName } from "../model/catalog";

/** What the program is about to deploy (FalApp's resolved settings). */
export interface PlannedDeploy {
  readonly appName: string;
  readonly environment: string;
  /** `path/file.py::Class`. */
  readonly sourceObject: string;
  readonly files: Readonly<Record<string, FileEntry>>;
  readonly authMode: AuthMode;
  readonly strategy: StrategyName;
  readonly codeSettings: CodeSettings;
  /** The code's runtime-tunable values. */
  readonly scaling: RuntimeScaling;
  readonly resetScale: boolean;
  /** `noCache` was set: shown as a disabled build cache. */
  readonly noCache: boolean;
  /** The app class and the SDK it is written for (`fal.App` or `falplane.App`). Default: not shown. */
  readonly appClass?: { readonly sdk: "fal" | "falplane"; readonly className: string };
  /**
   * Where each code value that is not a default came from (`class MyApp, line 12`,
   * `pyproject.toml [tool.fal.apps.x]`, `app spec`), by setting name; shown in the
   * rows' notes. Default {} (nothing shown).
   */
  readonly origins?: Readonly<Record<string, string>>;
  /** Settings the class declares that this platform does not apply. Default []. */
  readonly ignoredSettings?: readonly string[];
  /** The app's container image (docs/images.md): `repository:tag` (the content hash) and how it is made. Default: no image. */
  readonly image?: { readonly ref: string; readonly from: string };
}

/** The live app as the platform reports it (GET /v1/apps/<name>). */
export interface LiveApp {
  readonly revision: string | null;
  readonly auth_mode: AuthMode;
  readonly scaling: RuntimeScaling;
}

/** The revision the live app serves (GET /v1/revisions/<id>). */
export interface LiveRevision {
  readonly id: string;
  readonly source_object: string;
  readonly code_settings: CodeSettings;
  readonly files: Readonly<Record<string, FileEntry>>;
}

/**
 * What the platform serves now. `app` undefined: the app does not exist (first
 * deployment). `revision` undefined while `app.revision` is set: the live
 * revision could not be read, so its code values show as `unknown`.
 */
export interface LiveState {
  readonly app?: LiveApp;
  readonly revision?: LiveRevision;
  /** What the platform has of the planned environment's build key; absent when it could not say. */
  readonly build?: { readonly key: string; readonly status: "ready" | "building" | "missing" };
}

export interface CheckRow {
  readonly setting: string;
  /** Value now served; `n/a` on a first deployment. */
  readonly production: string;
  /** Value served after the deploy. */
  readonly afterDeploy: string;
  readonly note: string;
}

export interface DeployCheck {
  readonly appName: string;
  readonly environment: string;
  /** Live revision id, or undefined on a first deployment. */
  readonly currentRevision?: string;
  readonly firstDeployment: boolean;
  readonly sourceObject: string;
  /** Live auth mode, or undefined on a first deployment. */
  readonly authCurrent?: AuthMode;
  readonly authNext: AuthMode;
  readonly authChanges: boolean;
  readonly strategy: StrategyName;
  /** `hit (key …)`, `miss (will build)`, `building (key …)`, `disabled (no-cache)`, or `enabled` when the platform could not say. */
  readonly buildCache: string;
  /** `MyApp (fal.App)`; undefined when the planner did not say. */
  readonly appClass?: string;
  /** Class settings this platform does not apply. */
  readonly ignoredSettings: readonly string[];
  /** `repository:tag (from Dockerfile app/Dockerfile)` of an image app; undefined without an image. */
  readonly image?: string;
  /** Whether the deploy makes a new revision (code or code settings differ from the live revision). */
  readonly newRevision: boolean;
  readonly rows: readonly CheckRow[];
}
