/**
 * The stand-in data server's producer and consumer steps, as the real one orders them
 * (lib/PandoraFMS/DataServer.pm, measured: pandora-server-facts.md): the producer queues the
 * `*.data` files of incomingdir, up to max_queue_files; a consumer parses a file (two tries, 2 s
 * apart; unparsable: renamed `<file>_BADXML`, an event raised), then DELETES it, then writes its
 * values to the database, swallowing every error — so a file taken while the database is dead is
 * gone, its values lost, silently. Files not taken stay. The I/O is injected; pure otherwise.
 */
import * as path from "node:path";
import type { AgentData } from "./xml";
import { parseAgentData } from "./xml";

export const PARSE_TRIES = 2;
export const PARSE_RETRY_MS = 2000;
export const BADXML_SUFFIX = "_BADXML";

export interface IncomingFile {
  name: string;
  mtimeMs: number;
}

/**
 * The files the producer queues from a listing: `*.data` only, not already queued or being
 * processed, oldest first (then by name; the order is ours), at most `room`.
 */
export function selectFiles(listing: IncomingFile[], taken: ReadonlySet<string>, room: number): string[] {
  if (room <= 0) return [];
  return listing
    .filter((f) => f.name.endsWith(".data") && !taken.has(f.name))
    .sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, room)
    .map((f) => f.name);
}

export interface ConsumerIo {
  /** The file's text; throws (ENOENT) when it is gone. */
  readFile(file: string): Promise<string>;
  mtimeMs(file: string): Promise<number>;
  unlink(file: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  sleep(ms: number): Promise<void>;
  /** Writes the data to the database (storeAgentData); throws on any database error. */
  store(data: AgentData, mtimeMs: number): Promise<void>;
  /** Raises the event of an unparsable file; its errors are swallowed. */
  badXmlEvent(file: string, error: string): Promise<void>;
  /** Told of every error the database write threw (the server decides whether it is fatal). */
  onStoreError(e: unknown): void;
  log(level: number, msg: string): void;
}

export type Outcome =
  | { kind: "stored" }
  /** Deleted, then the write failed: the values are lost. */
  | { kind: "lost"; error: string }
  | { kind: "badxml"; error: string }
  /** The file was gone before it could be read. */
  | { kind: "gone" };

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Parses `file` (two tries, PARSE_RETRY_MS apart); undefined data when it is gone. */
async function parseWithRetry(io: ConsumerIo, file: string): Promise<{ data?: AgentData; mtimeMs?: number; error?: string; gone?: boolean }> {
  let error = "";
  for (let attempt = 1; attempt <= PARSE_TRIES; attempt++) {
    let text: string;
    let mtimeMs: number;
    try {
      mtimeMs = await io.mtimeMs(file);
      text = await io.readFile(file);
    } catch {
      return { gone: true };
    }
    try {
      return { data: parseAgentData(text), mtimeMs };
    } catch (e) {
      error = message(e);
      io.log(2, `Failed to parse ${path.basename(file)} (try ${attempt} of ${PARSE_TRIES}): ${error}`);
      if (attempt < PARSE_TRIES) await io.sleep(PARSE_RETRY_MS);
    }
  }
  return { error };
}

/** One consumer's work on one file: parse, delete, then write (errors swallowed). */
export async function consumeFile(io: ConsumerIo, file: string): Promise<Outcome> {
  const parsed = await parseWithRetry(io, file);
  if (parsed.gone) return { kind: "gone" };
  if (!parsed.data) {
    const error = parsed.error ?? "unparsable";
    try {
      await io.rename(file, `${file}${BADXML_SUFFIX}`);
    } catch (e) {
      io.log(1, `Cannot rename ${file}: ${message(e)}`);
    }
    try {
      await io.badXmlEvent(file, error);
    } catch {
      // swallowed, as every database error of a consumer
    }
    return { kind: "badxml", error };
  }
  try {
    await io.unlink(file);
  } catch (e) {
    io.log(1, `Cannot delete ${file}: ${message(e)}`);
  }
  try {
    await io.store(parsed.data, parsed.mtimeMs!);
    return { kind: "stored" };
  } catch (e) {
    io.onStoreError(e);
    // Silently: the real server logs nothing at its default verbosity.
    io.log(10, `Error processing ${path.basename(file)}: ${message(e)}`);
    return { kind: "lost", error: message(e) };
  }
}
