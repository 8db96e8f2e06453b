/** npm run bench -- seed --size 1G | npm run bench -- failover --trials 20 */
import { benchFailover } from "./failover";
import { benchSeed } from "./seed";

const USAGE = "usage: npm run bench -- seed [--size 1G] [--trials 3]\n       npm run bench -- failover [--trials 20] [--writers 16]";

async function main(argv: string[]): Promise<void> {
  const [what, ...rest] = argv;
  if (what === "failover") {
    let trials = 20;
    let writers = 16;
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === "--trials" && /^[1-9]\d*$/.test(rest[i + 1] ?? "")) trials = Number(rest[++i]);
      else if (rest[i] === "--writers" && /^[1-9]\d*$/.test(rest[i + 1] ?? "")) writers = Number(rest[++i]);
      else throw new Error(`unexpected argument '${rest[i]}'\n${USAGE}`);
    }
    await benchFailover(trials, writers);
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
