/**
 * Names users see: an app's default name is its class name in kebab case,
 * and its endpoint alias is `app` in main and `app--env` elsewhere.
 */
import { describe, expect, it } from "vitest";
import { NAME_PATTERN, aliasName, kebabCase, parseAliasName } from "../../src/model/catalog";

describe("kebabCase: the default app name of a class", () => {
  it.each([
    ["TextToImage", "text-to-image"],
    ["HTTPServer", "http-server"],
    ["TextToAscii", "text-to-ascii"],
    ["MyLLMApp", "my-llm-app"],
    ["Whisper", "whisper"],
    ["SDXL", "sdxl"],
    ["GPT2Model", "gpt2-model"],
    ["Stable_Diffusion", "stable-diffusion"],
    ["image_to_video", "image-to-video"],
  ])("%s → %s", (cls, name) => {
    expect(kebabCase(cls)).toBe(name);
    // Every such name is one the platform accepts.
    expect(name).toMatch(NAME_PATTERN);
  });
});

describe("endpoint aliases", () => {
  it("are the app name in main and app--env elsewhere, and parse back", () => {
    expect(aliasName("text-to-image", "main")).toBe("text-to-image");
    expect(aliasName("text-to-image", "staging")).toBe("text-to-image--staging");
    expect(parseAliasName("text-to-image--staging")).toEqual({ app: "text-to-image", environment: "staging" });
    expect(parseAliasName("text-to-image")).toEqual({ app: "text-to-image", environment: "main" });
  });
});
