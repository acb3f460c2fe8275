import { createHash } from 'node:crypto'
import type pg from 'pg'
import { EQ, prepareOwnTable } from '../checkpoint/own-table.js'
import { LoadError } from '../errors.js'
import type { Rejection } from '../reject/rejection.js'
import { quoteIdent } from '../schema/introspect.js'

/**
 * Which reject lines a redrive has loaded, recorded in each batch's own transaction: the reject
 * file is rewritten only at the end, so a redrive killed midway, run again, skips what the
 * ledger holds instead of loading it twice; and two redrives of one file that both got going
 * cannot load one line twice (the second insert of a key fails its batch). A line is known by its
 * input, place and text (its entry key). The ledger of a redrive is dropped once the reject file
 * is rewritten without those lines.
 */
export class RedriveLedger {
  private readonly table: string

  constructor(
    private readonly schema: string,
    private readonly job: string,
  ) {
    this.table = `${quoteIdent(schema)}.redriven`
  }

  /** Check the ledger may be trusted, create it when missing, and check the privileges a redrive needs. */
  async ensure(client: pg.Client): Promise<void> {
    await prepareOwnTable(client, {
      schema: this.schema,
      table: 'redriven',
      columns:
        'job pg_catalog.text NOT NULL, entry pg_catalog.text NOT NULL, ' +
        'loaded_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(), PRIMARY KEY (job, entry)',
      privileges: ['SELECT', 'INSERT', 'DELETE'],
    })
  }

  /** The entry keys an earlier, unfinished redrive of this file loaded. */
  async loaded(client: pg.Client): Promise<Set<string>> {
    const r = await client.query<{ entry: string }>(
      `SELECT entry FROM ${this.table} WHERE job ${EQ} $1::pg_catalog.text`,
      [this.job],
    )
    return new Set(r.rows.map((x) => x.entry))
  }

  /** Record a batch's loaded lines, inside its transaction; a line another run recorded makes the batch fail. */
  async record(client: pg.Client, entries: readonly string[]): Promise<void> {
    if (entries.length === 0) return
    const r = await client.query(
      `INSERT INTO ${this.table} (job, entry)
       SELECT $1::pg_catalog.text, pg_catalog.unnest($2::pg_catalog.text[]) ON CONFLICT DO NOTHING`,
      [this.job, entries],
    )
    if ((r.rowCount ?? 0) < entries.length) {
      throw new LoadError(
        'JOB_RUNNING',
        'another redrive of this reject file loaded some of the same lines ' +
          '(its job lock was lost with its connection); this run stops before committing them twice',
        'let the other redrive finish',
      )
    }
  }

  /** Forget the ledger once the reject file no longer holds its lines. */
  async forget(client: pg.Client): Promise<void> {
    await client.query(`DELETE FROM ${this.table} WHERE job ${EQ} $1::pg_catalog.text`, [this.job])
  }
}

/** What the ledger knows a reject line by: its input, line, byte offset and raw text. */
export function entryKeyOf(r: Pick<Rejection, 'file' | 'input' | 'line' | 'byte' | 'raw'>): string {
  return createHash('sha256')
    .update(`${r.input ?? r.file}\u0000${r.line}\u0000${r.byte}\u0000${r.raw}`)
    .digest('base64url')
}
