/**
 * The stand-in data server as one executable file (main.ts and what it imports, mysql2
 * included), bundled by esbuild for Node 18+, with a `#!/usr/bin/env node` line: what the lab
 * installs as a server host's /usr/bin/pandora_server. Built once per process.
 */
import { builtinModules } from "node:module";
import * as path from "node:path";
import { buildSync } from "esbuild";
import { OPTIONAL_EXTERNALS } from "../../lib/bundle";

export const DATASERVER_ENTRY = path.join(__dirname, "main.ts");

let cached: string | undefined;

export function buildDataServer(): string {
  if (cached) return cached;
  const result = buildSync({
    entryPoints: [DATASERVER_ENTRY],
    absWorkingDir: path.join(__dirname, "..", ".."),
    bundle: true,
    platform: "node",
    target: "node18",
    format: "cjs",
    minify: true,
    write: false,
    metafile: true,
    logLevel: "silent",
    banner: { js: "#!/usr/bin/env node" },
  });
  if (result.outputFiles.length !== 1) throw new Error(`esbuild produced ${result.outputFiles.length} files for ${DATASERVER_ENTRY}, expected 1`);
  const builtins = new Set(builtinModules);
  const missing = Object.values(result.metafile.outputs)
    .flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path))
    .filter((e) => !e.startsWith("node:") && !builtins.has(e) && !OPTIONAL_EXTERNALS.includes(e));
  if (missing.length) throw new Error(`the stand-in data server would require ${[...new Set(missing)].join(", ")} at run time`);
  cached = result.outputFiles[0].text;
  return cached;
}
