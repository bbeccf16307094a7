/**
 * An app's container image (docs/images.md): built with BuildKit through
 * `@pulumi/docker-build` and pushed under a tag that is the content hash of
 * everything that goes into it (the build context's files, the Dockerfile or
 * the base image and requirements, the build args). Unchanged code gives the
 * same tag and the same inputs, so the engine sees no change and nothing is
 * built; the revision records `<repository>:<tag>@sha256:<digest>`.
 */
import * as pulumi from "@pulumi/pulumi";
import * as dockerBuild from "@pulumi/docker-build";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { relative, resolve } from "node:path";
import { collectAppFiles } from "../src/model/files";
import type { ImageSpec, ReadonlySpec } from "../src/model/appSpec";
import type { FileEntry } from "../src/model/catalog";

/** Changes when what the content hash covers changes, so old tags are never reused for a new meaning. */
export const IMAGE_HASH_VERSION = "falplane-image-v1";
/** Hex digits of the content hash used as the tag. */
export const IMAGE_TAG_LENGTH = 24;

/** What FalApp builds: the tag, where from, and how. */
export interface ImagePlan {
  /** `<registry>/<app name>`. */
  readonly repository: string;
  /** The content hash (IMAGE_TAG_LENGTH hex digits). */
  readonly tag: string;
  /** `<repository>:<tag>`: what is pushed. */
  readonly ref: string;
  /** Absolute build context directory. */
  readonly contextDir: string;
  /** Absolute Dockerfile path, or the Dockerfile generated for baseImage. */
  readonly dockerfile: { readonly location: string } | { readonly inline: string };
  readonly buildArgs: Readonly<Record<string, string>>;
  /** How the image is made, for the deploy check: `Dockerfile app/Dockerfile`, `base python:3.11 + 2 requirements`. */
  readonly from: string;
}

/**
 * The Dockerfile of a baseImage app: the app's root copied to /app and its
 * requirements installed with pip (exec form: no shell quoting of the
 * requirement strings).
 */
export function baseImageDockerfile(baseImage: string, requirements: readonly string[]): string {
  return [
    `FROM ${baseImage}`,
    "WORKDIR /app",
    "COPY . /app",
    ...(requirements.length ? [`RUN ${JSON.stringify(["python3", "-m", "pip", "install", "--no-cache-dir", ...requirements])}`] : []),
    "",
  ].join("\n");
}

/** sha256 over one file set, order-independent: path, content hash and mode of each file. */
function filesDigest(files: Readonly<Record<string, FileEntry>>): string {
  const h = createHash("sha256");
  for (const p of Object.keys(files).sort()) h.update(`${p}\0${files[p].hash}\0${files[p].mode}\n`);
  return h.digest("hex");
}

/**
 * Resolves an app's `image` settings into what to build and its tag. Paths
 * are relative to the program's directory. Throws an Error naming the field.
 */
export function planImage(opts: {
  readonly spec: ReadonlySpec<ImageSpec>;
  readonly appName: string;
  /** Absolute app root (the revision's files). */
  readonly sourceDir: string;
  /** The root's files, as the revision has them. */
  readonly files: Readonly<Record<string, FileEntry>>;
  /** The revision's requirements (installed into a baseImage). */
  readonly requirements: readonly string[];
  /** `host[:port]/path` from the spec or stack config. */
  readonly registry: string | undefined;
}): ImagePlan {
  const { spec } = opts;
  if (!opts.registry) {
    throw new Error("no registry to push the image to: set image.registry, or `pulumi config set falplane:imageRegistry <host[:port]/path>`");
  }
  const repository = `${opts.registry.replace(/\/+$/, "")}/${opts.appName}`;
  const buildArgs = Object.fromEntries(Object.entries(spec.buildArgs ?? {}).sort(([a], [b]) => a.localeCompare(b)));
  const h = createHash("sha256").update(`${IMAGE_HASH_VERSION}\n`);

  let contextDir: string;
  let dockerfile: ImagePlan["dockerfile"];
  let from: string;
  if (spec.baseImage) {
    contextDir = opts.sourceDir;
    const text = baseImageDockerfile(spec.baseImage, opts.requirements);
    dockerfile = { inline: text };
    from = `base ${spec.baseImage}${opts.requirements.length ? ` + ${opts.requirements.length} requirement${opts.requirements.length === 1 ? "" : "s"}` : ""}`;
    h.update(`inline\0${text}\n`);
  } else {
    contextDir = spec.context ? resolve(spec.context) : opts.sourceDir;
    if (!existsSync(contextDir) || !statSync(contextDir).isDirectory()) {
      throw new Error(`image.context: ${JSON.stringify(spec.context)} is not a directory (resolved to ${contextDir})`);
    }
    const file = spec.dockerfile ? resolve(spec.dockerfile) : resolve(opts.sourceDir, "Dockerfile");
    if (!existsSync(file) || !statSync(file).isFile()) {
      const what = spec.dockerfile ? `image.dockerfile: ${JSON.stringify(spec.dockerfile)} is not a file` : "image: no Dockerfile in the app's root (set image.dockerfile, or image.baseImage)";
      throw new Error(`${what} (resolved to ${file})`);
    }
    dockerfile = { location: file };
    from = `Dockerfile ${relative(process.cwd(), file) || file}`;
    h.update(`dockerfile\0${readFileSync(file).toString("base64")}\n`);
  }
  const contextFiles = contextDir === opts.sourceDir ? opts.files : collectAppFiles(contextDir);
  h.update(`context\0${filesDigest(contextFiles)}\n`);
  h.update(`args\0${JSON.stringify(buildArgs)}\n`);
  const tag = h.digest("hex").slice(0, IMAGE_TAG_LENGTH);
  return { repository, tag, ref: `${repository}:${tag}`, contextDir, dockerfile, buildArgs, from };
}

/** A path as the docker-build provider gets it: relative to the program's directory, so the state does not depend on where the checkout is. */
function programPath(abs: string): string {
  return relative(process.cwd(), abs) || ".";
}

/**
 * Creates the `@pulumi/docker-build` Image of a plan (a child of `parent`)
 * and returns the pinned reference `<repository>:<tag>@sha256:<digest>` the
 * revision records. The builder is stack config `falplane:imageBuilder` (a
 * buildx builder name, e.g. a "remote" BuildKit); default: buildx's default.
 */
export function buildAppImage(name: string, plan: ImagePlan, parent: pulumi.Resource): pulumi.Output<string> {
  const builder = new pulumi.Config("falplane").get("imageBuilder");
  const dockerfile = "inline" in plan.dockerfile ? { inline: plan.dockerfile.inline } : { location: programPath(plan.dockerfile.location) };
  const image = new dockerBuild.Image(
    name,
    {
      tags: [plan.ref],
      context: { location: programPath(plan.contextDir) },
      dockerfile,
      buildArgs: { ...plan.buildArgs },
      push: true,
      // A preview does not build: the tag already says whether the content changed.
      buildOnPreview: false,
      ...(builder ? { builder: { name: builder } } : {}),
    },
    // Old tags stay in the registry: older revisions name them, and a rollback runs them again.
    { parent, retainOnDelete: true },
  );
  return image.digest.apply((digest) => `${plan.ref}@${digest}`);
}
