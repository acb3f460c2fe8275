import type pg from 'pg'
import { LoadError } from '../errors.js'
import { closest } from '../validate/column-match.js'

/** What a relation that is not a table is, for the message that refuses it (pg_class.relkind). */
const RELKIND_NAMES: Record<string, string> = {
  v: 'a view',
  m: 'a materialized view',
  S: 'a sequence',
  c: 'a composite type',
  i: 'an index',
  I: 'a partitioned index',
  t: 'a TOAST table',
}

/** One column of the target table, with domains resolved to their base type. */
export interface ColumnInfo {
  name: string
  /** Base type name from pg_type (int4, varchar, numeric, …), after following domains. */
  type: string
  /** Base type modifier: varchar length + 4, numeric precision and scale, or -1. */
  typmod: number
  /** The column's declared type as PostgreSQL prints it, for messages. */
  displayType: string
  /**
   * NOT NULL on the column or on a domain over it, as pgbulk may check it: false when a BEFORE
   * ROW trigger may fill the value in (the database decides).
   */
  notNull: boolean
  /** A column or domain default, or an identity: an absent value is filled in by the server. */
  hasDefault: boolean
  /** A generated column cannot be written. */
  generated: boolean
  /**
   * GENERATED ALWAYS AS IDENTITY: INSERT refuses a value unless OVERRIDING SYSTEM VALUE
   * (false when that was asked for).
   */
  identityAlways: boolean
  isArray: boolean
  /** Arrays: the element type's delimiter in array literals (',' but for box, ';'). */
  arrayDelimiter?: string
  /** Arrays: the element type is json or jsonb (or a domain over one), whose string elements are JSON strings. */
  elementIsJson?: boolean
  enumLabels?: ReadonlySet<string>
}

/** The order of day, month and year in a date written with numbers only (PostgreSQL's DateStyle has one). */
export type DateOrder = 'DMY' | 'MDY' | 'YMD'

/** The target table as read from pg_catalog. */
export interface TableSchema {
  schema: string
  name: string
  /** "schema"."name", quoted for SQL. */
  sqlName: string
  columns: ColumnInfo[]
  serverVersionNum: number
  /** The session's DateStyle order: how the server reads a date of numbers only (03.01.2020). */
  dateOrder?: DateOrder
  /**
   * The table has enabled BEFORE ROW INSERT triggers: what is stored may differ from what was
   * sent (a trigger may change, fill in or skip a row), so no check may assume the values sent.
   */
  beforeRowTriggers: boolean
  /** A partitioned table (its rows live in its partitions). */
  partitioned?: boolean
}

/** A nullable column of a base type, without typmod or default (for checks of a type, not of a table). */
export function plainColumn(name: string, type: string): ColumnInfo {
  return {
    name,
    type,
    typmod: -1,
    displayType: type,
    notNull: false,
    hasDefault: false,
    generated: false,
    identityAlways: false,
    isArray: false,
  }
}

/** Quote an identifier for SQL, whatever it contains. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

// Operators and functions whose arguments are not an exact match for pg_catalog's are qualified:
// a hostile exact overload on the search_path would be chosen over them (see checkpoint/own-table.ts).
const COLUMNS_SQL = `
WITH RECURSIVE cols AS (
  SELECT a.attnum, a.attname, a.attnotnull, a.atthasdef OR a.attidentity <> '' AS has_default,
         a.attgenerated <> '' AS generated, a.attidentity = 'a' AS identity_always,
         format_type(a.atttypid, a.atttypmod) AS display_type,
         a.atttypid AS typid, a.atttypmod AS typmod, 0 AS depth
  FROM pg_attribute a
  WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT c.attnum, c.attname, c.attnotnull OR t.typnotnull,
         c.has_default OR t.typdefault IS NOT NULL OR t.typdefaultbin IS NOT NULL,
         c.generated, c.identity_always, c.display_type, t.typbasetype, t.typtypmod, c.depth + 1
  FROM cols c JOIN pg_type t ON t.oid = c.typid
  WHERE t.typtype = 'd'
)
SELECT DISTINCT ON (c.attnum) c.attname, c.attnotnull, c.has_default, c.generated, c.identity_always, c.display_type,
       t.typname, c.typmod, t.typcategory = 'A' AS is_array, e.typdelim AS array_delimiter,
       (WITH RECURSIVE base AS (
          SELECT e.oid, e.typtype, e.typbasetype
          UNION ALL
          SELECT b.oid, b.typtype, b.typbasetype
          FROM base JOIN pg_type b ON b.oid = base.typbasetype WHERE base.typtype = 'd'
        ) SELECT bool_or(base.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
            'pg_catalog.json'::pg_catalog.regtype::pg_catalog.oid,
            'pg_catalog.jsonb'::pg_catalog.regtype::pg_catalog.oid
          ])) FROM base) AS element_is_json,
       CASE WHEN t.typtype = 'e' THEN ARRAY(
         SELECT e.enumlabel::pg_catalog.text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder
       ) END AS enum_labels
FROM cols c JOIN pg_type t ON t.oid = c.typid LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
ORDER BY c.attnum, c.depth DESC`

/** The table whose name is closest to a misspelt one ("orders" for "ordres"), as SQL spells it. */
async function tableMeant(client: pg.Client, table: string): Promise<string | undefined> {
  const r = await client
    .query<{ name: string; schema: string }>(
      `SELECT c.relname AS name, n.nspname AS schema FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
        WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
          AND n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema'])
        LIMIT 10000`,
    )
    .catch(() => undefined)
  if (!r) return undefined
  const wanted = table.replace(/"/g, '').toLowerCase()
  const dotted = wanted.includes('.')
  const names = r.rows.map((x) => (dotted ? `${x.schema}.${x.name}` : x.name).toLowerCase())
  const k = closest(wanted, names)
  if (k === undefined) return undefined
  const x = r.rows[k]!
  return dotted ? `${bareOrQuoted(x.schema)}.${bareOrQuoted(x.name)}` : bareOrQuoted(x.name)
}

function bareOrQuoted(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : quoteIdent(name)
}

/**
 * Read the target table's columns from the catalog. `table` is parsed by PostgreSQL itself (to_regclass),
 * so quoting and search_path work as in SQL.
 */
export async function introspectTable(client: pg.Client, table: string): Promise<TableSchema> {
  let found: pg.QueryResult<{ oid: number; nspname: string; relname: string; relkind: string }>
  try {
    found = await client.query(
      `SELECT c.oid::int8 AS oid, n.nspname, c.relname, c.relkind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass($1::pg_catalog.text)::pg_catalog.oid`,
      [table],
    )
  } catch (err) {
    throw new LoadError(
      'TABLE_NOT_FOUND',
      `table ${JSON.stringify(table)} is not a valid table name: ${(err as Error).message}`,
      'names with spaces, capitals or dots need double quotes, e.g. --table \'"My Table"\'',
      { cause: err },
    )
  }
  const rel = found.rows[0]
  if (!rel) {
    const meant = await tableMeant(client, table)
    throw new LoadError(
      'TABLE_NOT_FOUND',
      `table ${JSON.stringify(table)} not found${meant ? ` (did you mean ${meant}?)` : ''}`,
      'check --table and the search_path; unquoted names are folded to lower case as in SQL; ' +
        '--create makes a missing table from the input',
    )
  }
  if (!['r', 'p', 'f'].includes(rel.relkind)) {
    // A view exists: "not found" would send the user looking for a typo. COPY FROM cannot write
    // into a view, even one with INSTEAD OF triggers (PostgreSQL: "cannot copy to view").
    const kind = RELKIND_NAMES[rel.relkind] ?? `not a table (relkind ${rel.relkind})`
    throw new LoadError(
      'TARGET_NOT_TABLE',
      `${JSON.stringify(table)} is ${kind}: ` +
        'pgbulk loads tables only (COPY cannot write into a view, even one with INSTEAD OF triggers)',
      rel.relkind === 'v' || rel.relkind === 'm'
        ? 'load the table the view reads from, or INSERT … SELECT from a table pgbulk loaded'
        : 'give a table with --table',
    )
  }
  const cols = await client.query<{
    attname: string
    attnotnull: boolean
    has_default: boolean
    generated: boolean
    identity_always: boolean
    display_type: string
    typname: string
    typmod: number
    is_array: boolean
    array_delimiter: string | null
    element_is_json: boolean | null
    enum_labels: string[] | null
  }>(COLUMNS_SQL, [rel.oid])
  const version = await client.query<{ v: string; datestyle: string }>(
    `SELECT pg_catalog.current_setting('server_version_num') AS v, pg_catalog.current_setting('DateStyle') AS datestyle`,
  )
  const dateOrder = /\b(DMY|MDY|YMD)\b/.exec(version.rows[0]?.datestyle ?? '')?.[1] as DateOrder | undefined
  // pg_trigger.tgtype bits: 1 row, 2 before, 4 insert (tgenabled 'D': disabled).
  const triggers = await client.query<{ before: boolean }>(
    `SELECT EXISTS (
       SELECT 1 FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal AND tgenabled <> 'D'
         AND tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) 7 OPERATOR(pg_catalog.=) 7
     ) AS before`,
    [rel.oid],
  )
  const beforeRowTriggers = triggers.rows[0]?.before === true
  return {
    schema: rel.nspname,
    name: rel.relname,
    sqlName: `${quoteIdent(rel.nspname)}.${quoteIdent(rel.relname)}`,
    serverVersionNum: Number(version.rows[0]?.v ?? 0),
    ...(dateOrder ? { dateOrder } : {}),
    beforeRowTriggers,
    ...(rel.relkind === 'p' ? { partitioned: true } : {}),
    columns: cols.rows.map((r) => ({
      name: r.attname,
      type: r.typname,
      typmod: r.typmod,
      displayType: r.display_type,
      notNull: r.attnotnull && !beforeRowTriggers,
      hasDefault: r.has_default,
      generated: r.generated,
      identityAlways: r.identity_always,
      isArray: r.is_array,
      ...(r.is_array ? { arrayDelimiter: r.array_delimiter ?? ',', elementIsJson: r.element_is_json === true } : {}),
      ...(r.enum_labels ? { enumLabels: new Set(r.enum_labels) } : {}),
    })),
  }
}

/** Fail early when the role may not insert into the table. */
export async function checkInsertPrivilege(client: pg.Client, schema: TableSchema): Promise<void> {
  const r = await client.query<{ ok: boolean }>(`SELECT has_table_privilege($1, 'INSERT') AS ok`, [schema.sqlName])
  if (!r.rows[0]?.ok) {
    throw new LoadError(
      'PERMISSION_DENIED',
      `permission denied: the current role may not insert into ${schema.sqlName}`,
      'GRANT INSERT on the table, or connect as another role',
    )
  }
}

/**
 * --mode truncate empties the table with TRUNCATE: fail early when the role may not, or when other
 * tables' foreign keys point at it (TRUNCATE refuses to, and emptying it would orphan their rows).
 */
export async function checkTruncatable(client: pg.Client, schema: TableSchema): Promise<void> {
  const r = await client.query<{ ok: boolean; referenced_by: string[] | null }>(
    `SELECT pg_catalog.has_table_privilege($1::pg_catalog.text, 'TRUNCATE') AS ok,
            (SELECT pg_catalog.array_agg(c.conrelid::pg_catalog.regclass::pg_catalog.text ORDER BY c.conname)
               FROM pg_catalog.pg_constraint c
              WHERE c.contype = 'f' AND c.confrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass
                AND c.conrelid OPERATOR(pg_catalog.<>) c.confrelid) AS referenced_by`,
    [schema.sqlName],
  )
  const row = r.rows[0]
  if (!row?.ok) {
    throw new LoadError(
      'PERMISSION_DENIED',
      `permission denied: --mode truncate empties ${schema.sqlName}, and the current role may not truncate it`,
      'GRANT TRUNCATE on the table, or load without --mode truncate',
    )
  }
  if (row.referenced_by) {
    throw new LoadError(
      'USAGE',
      `--mode truncate cannot empty ${schema.sqlName}: foreign keys of ${row.referenced_by.join(', ')} point at it`,
      'load with --mode upsert instead (rows with the same key are updated in place)',
    )
  }
}
