import * as net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { ReturnWatch } from "../../runtime/observe/return-watch";

const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe("ReturnWatch: a fenced node that does not answer, watched for its return", () => {
  test("nothing while the port refuses; onBack once it accepts, then the host is no longer watched", async () => {
    const port = await freePort();
    const back: string[] = [];
    const w = new ReturnWatch((h) => back.push(h));
    w.set([{ host: "127.0.0.1", port }]);
    await new Promise((r) => setTimeout(r, 300));
    expect(back).toEqual([]);
    // Accepting without a word (a stopped server's kernel): not back.
    const mute = net.createServer(() => undefined);
    servers.push(mute);
    await new Promise<void>((r) => mute.listen(port, "127.0.0.1", r));
    await new Promise((r) => setTimeout(r, 400));
    expect(back).toEqual([]);
    await new Promise((r) => mute.close(r));
    // A server that greets: back.
    const s = net.createServer((c) => c.end("greeting"));
    servers.push(s);
    await new Promise<void>((r) => s.listen(port, "127.0.0.1", r));
    const t0 = Date.now();
    while (!back.length && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 10));
    expect(back).toEqual(["127.0.0.1"]);
    await new Promise((r) => setTimeout(r, 200));
    expect(back).toEqual(["127.0.0.1"]);
    w.stop();
  });

  test("a host dropped from the set is no longer reported", async () => {
    const s = net.createServer((c) => c.end("greeting"));
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const back: string[] = [];
    const w = new ReturnWatch((h) => back.push(h));
    w.set([{ host: "127.0.0.1", port: (s.address() as net.AddressInfo).port }]);
    w.set([]);
    await new Promise((r) => setTimeout(r, 200));
    expect(back).toEqual([]);
    w.stop();
  });
});
