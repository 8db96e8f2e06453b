/**
 * Split-brain merge of monitoring data, before a diverged node's tail is undone or the node is
 * resynced: the rows Pandora wrote on it during the split (module data, string data, events)
 * are copied into the master, so a repair loses no monitoring data. What the manual does by
 * hand with mysqldump and sed. Rows already on the master are not copied twice; events get a new
 * id_evento on the master.
 */
import type { NodeConnection } from "./probe";

interface TableSpec {
  table: string;
  /** Columns copied. */
  columns: string[];
  /** Columns compared: a row is on the master when all of them match (default: all copied). */
  key?: string[];
}

export const MERGED_TABLES: TableSpec[] = [
  { table: "tagente_datos", columns: ["id_agente_modulo", "datos", "utimestamp"] },
  { table: "tagente_datos_string", columns: ["id_agente_modulo", "datos", "utimestamp"] },
  {
    table: "tevento",
    columns: ["id_agente", "id_grupo", "evento", "timestamp", "utimestamp", "estado", "event_type", "criticity", "source", "id_extra"],
    // Not estado: an event validated on one side since the split is still the same event.
    key: ["id_agente", "id_grupo", "evento", "utimestamp", "event_type", "criticity", "source", "id_extra"],
  },
];

const BATCH = 2000;

type Row = Record<string, unknown>;
const key = (r: Row, cols: string[]) => JSON.stringify(cols.map((c) => (r[c] === null || r[c] === undefined ? null : String(r[c]))));

async function tableExists(c: NodeConnection, table: string): Promise<boolean> {
  const rows = await c.admin("SELECT 1 AS v FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", [table]);
  return rows.length > 0;
}

/**
 * Copies the rows of the monitoring tables with utimestamp >= `since` (unix seconds) from the
 * diverged node into the master, skipping rows the master already has. Returns rows copied per table.
 */
export async function mergeMonitoringData(from: NodeConnection, to: NodeConnection, since: number): Promise<Record<string, number>> {
  const copied: Record<string, number> = {};
  for (const spec of MERGED_TABLES) {
    if (!(await tableExists(from, spec.table)) || !(await tableExists(to, spec.table))) continue;
    const cols = spec.columns.map((c) => `\`${c}\``).join(", ");
    let n = 0;
    let after = since - 1;
    let offset = 0;
    for (;;) {
      // Ordered by utimestamp; rows sharing one utimestamp are paged with an offset.
      const rows = await from.admin<Row>(
        `SELECT ${cols} FROM \`${spec.table}\` WHERE utimestamp >= ? ORDER BY utimestamp LIMIT ? OFFSET ?`,
        [after + 1, BATCH, offset],
      );
      if (!rows.length) break;
      const lo = Number(rows[0].utimestamp);
      const hi = Number(rows[rows.length - 1].utimestamp);
      const there = await to.admin<Row>(`SELECT ${cols} FROM \`${spec.table}\` WHERE utimestamp BETWEEN ? AND ?`, [lo, hi]);
      const have = new Map<string, number>();
      const keyCols = spec.key ?? spec.columns;
      for (const r of there) have.set(key(r, keyCols), (have.get(key(r, keyCols)) ?? 0) + 1);
      const missing: Row[] = [];
      for (const r of rows) {
        const k = key(r, keyCols);
        const left = have.get(k) ?? 0;
        if (left > 0) have.set(k, left - 1);
        else missing.push(r);
      }
      if (missing.length) {
        const marks = `(${spec.columns.map(() => "?").join(", ")})`;
        await to.admin(
          `INSERT INTO \`${spec.table}\` (${cols}) VALUES ${missing.map(() => marks).join(", ")}`,
          missing.flatMap((r) => spec.columns.map((c) => r[c])),
        );
        n += missing.length;
      }
      if (rows.length < BATCH) break;
      // Next page: past the last complete utimestamp, or further into a crowded one.
      if (lo === hi) offset += rows.length;
      else {
        after = hi - 1;
        offset = rows.filter((r) => Number(r.utimestamp) === hi).length;
      }
    }
    copied[spec.table] = n;
  }
  return copied;
}
