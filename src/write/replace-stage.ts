import { createHash } from 'node:crypto'
import type pg from 'pg'
import { LoadError } from '../errors.js'
import type { TableSchema } from '../schema/introspect.js'
import { quoteIdent } from '../schema/introspect.js'
import { chooseKey, uniqueKeys } from '../schema/keys.js'
import type { RetryPolicy } from './writer.js'
import { backoffDelayMs, classifyFault } from './writer.js'

/**
 * --mode replace. The rows go, batch by batch with their checkpoints, into a staging table in
 * pgbulk's schema made like the table (LIKE … INCLUDING ALL: columns, defaults, identity, CHECK
 * and NOT NULL constraints, unique indexes; and the table's foreign keys to other tables), so that
 * it accepts and refuses what appending to the empty table would. The table itself is untouched
 * until the end, when one transaction switches its contents (switchStage): readers see the old
 * rows until that commits, then the new ones; views, grants, triggers, comments and foreign keys
 * pointing at it stay, since it is the same table. A killed replace resumes into the same staging
 * table, and switches only once every input is loaded.
 */
export interface Stage {
  /** The staging table, as the writers see it (the table's columns, another name). */
  table: TableSchema
  /** The key the switch keeps rows by, when other tables' foreign keys point at the table. */
  key: readonly string[] | undefined
}

/** The staging table of a job: one per job and table, so that a resumed run finds its rows. */
function stageName(job: string, table: TableSchema): string {
  return `replace_${createHash('sha256').update(`${table.sqlName}\u0000${job}`).digest('hex').slice(0, 16)}`
}

/**
 * The job's staging table: made when the job starts (emptied if an earlier run left one), kept
 * when it resumes. Undefined when a resumed job has none: its switch is done (every input
 * finished), or the table was dropped meanwhile (an error when rows are still to load).
 */
export async function openStage(
  client: pg.Client,
  table: TableSchema,
  ownSchema: string,
  job: string,
  state: { fresh: boolean; loadingLeft: boolean },
  givenKey: readonly string[] | undefined,
): Promise<Stage | undefined> {
  const name = stageName(job, table)
  const sqlName = `${quoteIdent(ownSchema)}.${quoteIdent(name)}`
  const exists = await client.query<{ e: boolean }>(
    'SELECT pg_catalog.to_regclass($1::pg_catalog.text) IS NOT NULL AS e',
    [sqlName],
  )
  const stage: Stage = {
    table: { ...table, schema: ownSchema, name, sqlName },
    key: await switchKey(client, table, givenKey),
  }
  if (exists.rows[0]?.e) {
    if (state.fresh) await client.query(`TRUNCATE ${sqlName}`)
    return stage
  }
  if (!state.fresh) {
    if (!state.loadingLeft) return undefined
    throw new LoadError(
      'CHECKPOINT_UNAVAILABLE',
      `the staging table ${sqlName} of this replace is gone: the rows its earlier runs loaded are lost`,
      'pass --restart to load the input from the start',
    )
  }
  // The table's foreign keys: to other tables as they are; to itself, to the staging table (a row's
  // parent may be a row of the file, as when appending).
  const fks = await client.query<{ def: string; self: boolean; cols: string[]; refs: string[] }>(
    `SELECT pg_catalog.pg_get_constraintdef(c.oid) AS def, c.confrelid OPERATOR(pg_catalog.=) c.conrelid AS self,
            ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, o)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
            ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.unnest(c.confkey) WITH ORDINALITY k(n, o)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS refs
       FROM pg_catalog.pg_constraint c
      WHERE c.conrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND c.contype = 'f' ORDER BY c.conname`,
    [table.sqlName],
  )
  const names = (cols: string[]) => cols.map(quoteIdent).join(', ')
  const fk = (f: { def: string; self: boolean; cols: string[]; refs: string[] }) =>
    f.self ? `FOREIGN KEY (${names(f.cols)}) REFERENCES ${sqlName} (${names(f.refs)})` : f.def
  // Identity columns draw from the table's own sequences, as appending would (a sequence of the
  // staging table would number the rows anew, and leave the table's sequence behind).
  const identities = await client.query<{ col: string; seq: string }>(
    `SELECT a.attname AS col, pg_catalog.pg_get_serial_sequence($1::pg_catalog.text, a.attname) AS seq
       FROM pg_catalog.pg_attribute a
      WHERE a.attrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND a.attidentity <> '' AND NOT a.attisdropped`,
    [table.sqlName],
  )
  try {
    await client.query(
      // (a logged table: an unlogged one, tried, was no faster here, and a server crash empties it)
      `BEGIN; CREATE TABLE ${sqlName} (LIKE ${table.sqlName} INCLUDING ALL EXCLUDING IDENTITY); ` +
        identities.rows
          .map((i) => {
            const next = `pg_catalog.nextval(${quoteLiteral(i.seq)}::pg_catalog.regclass)`
            return `ALTER TABLE ${sqlName} ALTER COLUMN ${quoteIdent(i.col)} SET DEFAULT ${next}; `
          })
          .join('') +
        fks.rows
          .map((f, k) => `ALTER TABLE ${sqlName} ADD CONSTRAINT ${quoteIdent(`fk_${k + 1}`)} ${fk(f)}; `)
          .join('') +
        'COMMIT',
    )
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    if ((err as { code?: string }).code !== '42501') throw err
    throw new LoadError(
      'PERMISSION_DENIED',
      `permission denied: --mode replace stages the rows in a table of schema ${JSON.stringify(ownSchema)}, ` +
        `and the current role may not create one there (${(err as Error).message})`,
      `GRANT CREATE ON SCHEMA ${quoteIdent(ownSchema)} to the role, or pass --checkpoint-schema with a schema it owns`,
      { cause: err },
    )
  }
  return stage
}

/**
 * When other tables' foreign keys point at the table, the switch keeps the rows whose key stays (it
 * updates them in place): the key (--key, or as for --mode upsert). Else none: it deletes and inserts.
 */
async function switchKey(
  client: pg.Client,
  table: TableSchema,
  given: readonly string[] | undefined,
): Promise<readonly string[] | undefined> {
  const r = await client.query<{ n: number }>(
    `SELECT pg_catalog.count(*)::pg_catalog.int4 AS n FROM pg_catalog.pg_constraint c
      WHERE c.contype = 'f' AND c.confrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass
        AND c.conrelid OPERATOR(pg_catalog.<>) c.confrelid`,
    [table.sqlName],
  )
  if ((r.rows[0]?.n ?? 0) === 0) return undefined
  return chooseKey(table, await uniqueKeys(client, table), given)
}

/** How the switch waits for row locks others hold, and retries. */
export interface SwitchPolicy extends Pick<
  RetryPolicy,
  'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'random' | 'sleep'
> {
  /** The longest the switch waits for a lock before it gives way and tries again (--lock-budget). */
  lockBudgetMs: number
}

/**
 * Make the table hold exactly the staging table's rows, in one transaction, and drop the staging
 * table in it. Readers are never locked out (DELETE and INSERT take row locks only); a lock held by
 * another writer is waited for at most the lock budget, then the switch rolls back and tries again
 * after a jittered backoff. When other tables' foreign keys point at the table, the rows whose key
 * stays are updated in place (and the others deleted), so that the rows pointing at them stay valid.
 */
export async function switchStage(
  client: pg.Client,
  table: TableSchema,
  stage: Stage,
  policy: SwitchPolicy,
  loaded: number,
): Promise<void> {
  const staged = await client.query<{ n: string }>(`SELECT pg_catalog.count(*) AS n FROM ${stage.table.sqlName}`)
  if (Number(staged.rows[0]?.n) !== loaded) {
    throw new LoadError(
      'CHECKPOINT_UNAVAILABLE',
      `the staging table ${stage.table.sqlName} holds ${staged.rows[0]?.n} rows where its checkpoints say ${loaded} ` +
        'were loaded (rows were removed from it by hand, or lost): the table is left as it was',
      'pass --restart to load the input from the start',
    )
  }
  const cols = table.columns.filter((c) => !c.generated).map((c) => quoteIdent(c.name))
  const list = cols.join(', ')
  const t = table.sqlName
  const s = stage.table.sqlName
  const insert = `INSERT INTO ${t} (${list}) OVERRIDING SYSTEM VALUE SELECT ${list} FROM ${s}`
  let body: string
  if (stage.key) {
    const key = stage.key.map(quoteIdent)
    // (the key's own equality, whatever its type: citext, a domain, …)
    const same = key.map((k) => `s.${k} = t.${k}`).join(' AND ')
    const set = cols.filter((c) => !key.includes(c)).map((c) => `${c} = EXCLUDED.${c}`)
    body =
      `DELETE FROM ${t} t WHERE NOT EXISTS (SELECT 1 FROM ${s} s WHERE ${same}); ` +
      `${insert} ON CONFLICT (${key.join(', ')}) ${set.length > 0 ? `DO UPDATE SET ${set.join(', ')}` : 'DO NOTHING'}; `
  } else {
    body = `DELETE FROM ${t}; ${insert}; `
  }
  const budget = Math.max(1, Math.round(policy.lockBudgetMs))
  const sql = `BEGIN; SET LOCAL lock_timeout = ${budget}; ${body}DROP TABLE ${s}; COMMIT`
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(sql)
      return
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      if (classifyFault(err) !== 'statement' || attempt >= policy.attempts) {
        throw new LoadError(
          'DB_FATAL',
          `the switch of ${t} to the new rows failed: ${(err as Error).message}; the table is as it was, ` +
            `and the new rows wait in ${s}`,
          'pgbulk load --resume with the same options tries the switch again',
          { cause: err },
        )
      }
      await policy.sleep(backoffDelayMs(attempt, policy))
    }
  }
}

/** A string as an SQL literal. */
function quoteLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`
}
