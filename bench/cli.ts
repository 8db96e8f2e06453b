/** npm run bench -- seed --size 1G | npm run bench -- failover --trials 20 | npm run bench -- merge --rows 100000 | npm run bench -- chaos --minutes 10 --seed 1 */
import { benchChaos } from "./chaos";
import { benchFailover } from "./failover";
import { benchMerge } from "./merge";
import { benchSeed } from "./seed";
import { MAX_AGENTS } from "../lab/agents";

const USAGE =
  "usage: npm run bench -- seed [--size 1G] [--trials 3]\n       npm run bench -- failover [--trials 20] [--writers 16] [--fault crash|hang] [--agents 20]\n       npm run bench -- merge [--rows 100000] [--history 1000000] [--trials 3]\n       npm run bench -- chaos [--minutes 10] [--seed 1] [--nodes 2|3] [--servers 1|2] [--agents N] [--faults a,b,...] [--keep]";

async function chaos(rest: string[]): Promise<number> {
  const opts: Parameters<typeof benchChaos>[0] = { minutes: 10, seed: 1 };
  for (let i = 0; i < rest.length; i++) {
    const v = rest[i + 1] ?? "";
    if (rest[i] === "--minutes" && /^[1-9]\d*$/.test(v) && Number(v) <= 1440) opts.minutes = Number(rest[++i]);
    else if (rest[i] === "--seed" && /^\d+$/.test(v)) opts.seed = Number(rest[++i]);
    else if (rest[i] === "--nodes" && (v === "2" || v === "3")) opts.nodes = Number(rest[++i]) as 2 | 3;
    else if (rest[i] === "--servers" && (v === "1" || v === "2")) opts.servers = Number(rest[++i]) as 1 | 2;
    else if (rest[i] === "--agents" && /^\d+$/.test(v) && Number(v) <= MAX_AGENTS) opts.agents = Number(rest[++i]);
    else if (rest[i] === "--faults" && v) opts.faults = rest[++i].split(",");
    else if (rest[i] === "--keep") opts.keep = true;
    else throw new Error(`unexpected argument '${rest[i]}'\n${USAGE}`);
  }
  return benchChaos(opts);
}

async function main(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  if (what === "chaos") {
    process.exitCode = await chaos(rest);
    return;
  }
  if (what === "failover") {
    let trials = 20;
    let writers = 16;
    let fault: "crash" | "hang" = "crash";
    let agents = 20;
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === "--trials" && /^[1-9]\d*$/.test(rest[i + 1] ?? "")) trials = Number(rest[++i]);
      else if (rest[i] === "--writers" && /^[1-9]\d*$/.test(rest[i + 1] ?? "")) writers = Number(rest[++i]);
      else if (rest[i] === "--fault" && (rest[i + 1] === "crash" || rest[i + 1] === "hang")) fault = rest[++i] as "crash" | "hang";
      else if (rest[i] === "--agents" && /^\d+$/.test(rest[i + 1] ?? "") && Number(rest[i + 1]) <= MAX_AGENTS) agents = Number(rest[++i]);
      else throw new Error(`unexpected argument '${rest[i]}'\n${USAGE}`);
    }
    await benchFailover(trials, writers, fault, agents);
    return;
  }
  if (what === "merge") {
    let rows = 100_000;
    let history = 1_000_000;
    let trials = 3;
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === "--rows" && /^[1-9]\d*$/.test(rest[i + 1] ?? "")) rows = Number(rest[++i]);
      else if (rest[i] === "--history" && /^\d+$/.test(rest[i + 1] ?? "")) history = Number(rest[++i]);
      else if (rest[i] === "--trials" && /^[1-9]\d*$/.test(rest[i + 1] ?? "")) trials = Number(rest[++i]);
      else throw new Error(`unexpected argument '${rest[i]}'\n${USAGE}`);
    }
    await benchMerge(rows, history, trials);
    return;
  }
  if (what !== "seed") throw new Error(`unknown benchmark '${what ?? ""}'\n${USAGE}`);
  let size = "1G";
  let trials = 3;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--size" && rest[i + 1]) size = rest[++i];
    else if (rest[i] === "--trials" && /^[1-9]\d*$/.test(rest[i + 1] ?? "")) trials = Number(rest[++i]);
    else throw new Error(`unexpected argument '${rest[i]}'\n${USAGE}`);
  }
  await benchSeed(size, trials);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
