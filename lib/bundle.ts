/**
 * The pandora_ha daemon as one JavaScript file: runtime/cli.ts and everything it imports
 * (mysql2 included) bundled by esbuild for Node 18+, CommonJS, minified. The plan ships it to
 * every server host (step `servers/<s>/pandora-ha`), where a wrapper runs it with the host's
 * Node runtime. Built in-process (esbuild's native binary, installed by `npm ci`), once per
 * process: the Pulumi program and the lab each call it once.
 */
import { createHash } from "node:crypto";
import { builtinModules } from "node:module";
import * as path from "node:path";
import { buildSync } from "esbuild";

export const DAEMON_ENTRY = path.join(__dirname, "..", "runtime", "cli.ts");

/**
 * Modules the bundle may leave to `require` at run time although the hosts do not have them:
 * optional ones, required inside try/catch (mysql2's debug-output highlighter).
 */
export const OPTIONAL_EXTERNALS = ["cardinal"];

export interface DaemonBundle {
  /** The bundle's source text. */
  js: string;
  /** First 16 hex digits of its SHA-256: changes whenever the daemon changes. */
  hash: string;
  /** What the bundle still `require`s at run time: Node's own modules (and OPTIONAL_EXTERNALS). */
  externals: string[];
}

let cached: DaemonBundle | undefined;

export function buildDaemonBundle(): DaemonBundle {
  if (cached) return cached;
  const result = buildSync({
    entryPoints: [DAEMON_ENTRY],
    absWorkingDir: path.join(__dirname, ".."),
    bundle: true,
    platform: "node",
    target: "node18",
    format: "cjs",
    minify: true,
    sourcemap: false,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  if (result.outputFiles.length !== 1) throw new Error(`esbuild produced ${result.outputFiles.length} files for ${DAEMON_ENTRY}, expected 1`);
  const js = result.outputFiles[0].text;
  const externals = [
    ...new Set(Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path))),
  ].sort();
  // The hosts have the bundle and Node, no node_modules: anything else would fail there.
  const builtins = new Set(builtinModules);
  const missing = externals.filter((e) => !e.startsWith("node:") && !builtins.has(e) && !OPTIONAL_EXTERNALS.includes(e));
  if (missing.length) throw new Error(`the pandora_ha bundle would require ${missing.join(", ")} at run time, which the hosts do not have`);
  cached = { js, hash: createHash("sha256").update(js).digest("hex").slice(0, 16), externals };
  return cached;
}
