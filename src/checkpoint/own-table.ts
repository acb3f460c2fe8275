import type pg from 'pg'
import { LoadError } from '../errors.js'
import { quoteIdent } from '../schema/introspect.js'
import { quotedList } from '../report/words.js'

/**
 * pgbulk's own SQL names every function, type and operator with its pg_catalog schema: a name left
 * bare is looked up on the user's search_path, where a role that may create objects in a schema on
 * it (public, before PostgreSQL 15) can add a better-matching overload (CVE-2018-1058): an exact
 * `unnest(text[])` beats pg_catalog's polymorphic one, `hashtextextended(text, int4)` beats the
 * (text, int8) one, and the hostile function runs with the rights of whoever runs pgbulk.
 */
export const EQ = 'OPERATOR(pg_catalog.=)'

/** One of pgbulk's own tables: where it lives, how to make it, and what pgbulk does with it. */
export interface OwnTableSpec {
  schema: string
  table: string
  /** The columns of CREATE TABLE, every type schema-qualified. */
  columns: string
  /** Table privileges pgbulk uses (SELECT, INSERT, …). */
  privileges: readonly string[]
  /** A column added after the first release: added with ALTER when missing (only the owner may). */
  lateColumn?: { name: string; type: string }
}

/** What the catalog says about the schema and the table, seen by the current role. */
interface State {
  me: string
  db: string
  schema_exists: boolean
  schema_owner: string | null
  schema_owner_trusted: boolean
  schema_creators_untrusted: string[] | null
  schema_usage: boolean
  schema_create: boolean
  db_create: boolean
  table_kind: string | null
  table_owner: string | null
  table_owner_trusted: boolean
  table_is_mine: boolean
  table_triggers: string[] | null
  table_rules: string[] | null
  table_referenced_by: string[] | null
  table_privileges: string[] | null
  has_late_column: boolean
}

// Trusted roles: the current role, the roles it is a member of (pg_auth_members, followed
// recursively: pg_has_role would say a superuser is a member of every role, and so trust a hostile
// one), and superusers. Role 0 in an ACL is PUBLIC.
const STATE_SQL = `
WITH RECURSIVE mine(oid) AS (
  SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname ${EQ} CURRENT_USER
  UNION SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN mine ON m.member ${EQ} mine.oid
), trusted(oid) AS (
  SELECT oid FROM mine UNION SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolsuper
), ns AS (
  SELECT n.oid, n.nspowner, n.nspacl FROM pg_catalog.pg_namespace n WHERE n.nspname ${EQ} $1::pg_catalog.text
), rel AS (
  SELECT c.oid, c.relkind, c.relowner FROM pg_catalog.pg_class c JOIN ns ON c.relnamespace ${EQ} ns.oid
  WHERE c.relname ${EQ} $2::pg_catalog.text
)
SELECT CURRENT_USER::pg_catalog.text AS me, pg_catalog.current_database()::pg_catalog.text AS db,
  EXISTS (SELECT 1 FROM ns) AS schema_exists,
  (SELECT pg_catalog.pg_get_userbyid(ns.nspowner)::pg_catalog.text FROM ns) AS schema_owner,
  COALESCE((SELECT EXISTS (SELECT 1 FROM trusted WHERE trusted.oid ${EQ} ns.nspowner) FROM ns), false)
    AS schema_owner_trusted,
  (SELECT pg_catalog.array_agg(CASE WHEN a.grantee ${EQ} 0::pg_catalog.oid THEN 'PUBLIC'
            ELSE pg_catalog.pg_get_userbyid(a.grantee)::pg_catalog.text END)
     FROM ns, pg_catalog.aclexplode(ns.nspacl) a
     WHERE a.privilege_type ${EQ} 'CREATE'
       AND NOT EXISTS (SELECT 1 FROM trusted WHERE trusted.oid ${EQ} a.grantee)) AS schema_creators_untrusted,
  COALESCE((SELECT pg_catalog.has_schema_privilege(ns.oid, 'USAGE') FROM ns), false) AS schema_usage,
  COALESCE((SELECT pg_catalog.has_schema_privilege(ns.oid, 'CREATE') FROM ns), false) AS schema_create,
  pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') AS db_create,
  (SELECT rel.relkind::pg_catalog.text FROM rel) AS table_kind,
  (SELECT pg_catalog.pg_get_userbyid(rel.relowner)::pg_catalog.text FROM rel) AS table_owner,
  COALESCE((SELECT EXISTS (SELECT 1 FROM trusted WHERE trusted.oid ${EQ} rel.relowner) FROM rel), false)
    AS table_owner_trusted,
  COALESCE((SELECT EXISTS (SELECT 1 FROM mine WHERE mine.oid ${EQ} rel.relowner) FROM rel), false) AS table_is_mine,
  (SELECT pg_catalog.array_agg(t.tgname::pg_catalog.text)
     FROM rel JOIN pg_catalog.pg_trigger t ON t.tgrelid ${EQ} rel.oid
     WHERE NOT t.tgisinternal) AS table_triggers,
  (SELECT pg_catalog.array_agg(w.rulename::pg_catalog.text)
     FROM rel JOIN pg_catalog.pg_rewrite w ON w.ev_class ${EQ} rel.oid) AS table_rules,
  (SELECT pg_catalog.array_agg(k.conrelid::pg_catalog.regclass::pg_catalog.text)
     FROM rel JOIN pg_catalog.pg_constraint k ON k.confrelid ${EQ} rel.oid
     WHERE k.contype ${EQ} 'f') AS table_referenced_by,
  (SELECT pg_catalog.array_agg(p) FROM rel, pg_catalog.unnest($3::pg_catalog.text[]) AS p
     WHERE NOT pg_catalog.has_table_privilege(rel.oid, p)) AS table_privileges,
  EXISTS (SELECT 1 FROM rel JOIN pg_catalog.pg_attribute a ON a.attrelid ${EQ} rel.oid
          WHERE a.attname ${EQ} $4::pg_catalog.name AND NOT a.attisdropped) AS has_late_column`

/** The hint of every refusal: where the README tells a DBA how to set the tables up. */
const SETUP_HINT =
  'see "Preparing checkpoints for a role" in the README, or pass --no-checkpoint to load without resume'

async function readState(client: pg.Client, spec: OwnTableSpec): Promise<State> {
  const r = await client.query<State>(STATE_SQL, [
    spec.schema,
    spec.table,
    spec.privileges,
    spec.lateColumn?.name ?? '',
  ])
  return r.rows[0]!
}

function qualified(spec: OwnTableSpec): string {
  return `${quoteIdent(spec.schema)}.${quoteIdent(spec.table)}`
}

function untrusted(spec: OwnTableSpec, why: string, hint?: string): LoadError {
  return new LoadError(
    'CHECKPOINT_UNTRUSTED',
    `refusing to use ${qualified(spec)}: ${why}; pgbulk's statements on it would run code another role controls`,
    hint ?? `${UNTRUSTED_HINT}; ${SETUP_HINT}`,
  )
}

const UNTRUSTED_HINT =
  'drop it or have it owned by a trusted role, ' +
  'or pass --checkpoint-schema with a schema only trusted roles may create in'

/** Why an owner is not trusted: neither `me` nor a role `me` is a member of, and not a superuser. */
function ownedByStranger(owner: string | null, me: string): string {
  return `owned by role ${JSON.stringify(owner)}, which ${JSON.stringify(me)} is not a member of and is not a superuser`
}

function unavailable(spec: OwnTableSpec, why: string): LoadError {
  return new LoadError('CHECKPOINT_UNAVAILABLE', `cannot use ${qualified(spec)}: ${why}`, SETUP_HINT)
}

/** Refuse a schema or table another role could have planted code in (triggers, rules, objects in the schema). */
function checkTrust(spec: OwnTableSpec, s: State): void {
  if (!s.schema_exists) return
  if (!s.schema_owner_trusted)
    throw untrusted(spec, `schema ${quoteIdent(spec.schema)} is ${ownedByStranger(s.schema_owner, s.me)}`)
  if (s.schema_creators_untrusted?.length) {
    const creators = s.schema_creators_untrusted
    const revokeFrom = creators.map((r) => (r === 'PUBLIC' ? r : quoteIdent(r))).join(', ')
    throw untrusted(
      spec,
      `schema ${quoteIdent(spec.schema)} lets ${quotedList(creators)} create objects in it`,
      `REVOKE CREATE ON SCHEMA ${quoteIdent(spec.schema)} FROM ${revokeFrom}; ${SETUP_HINT}`,
    )
  }
  if (s.table_kind === null) return
  if (s.table_kind !== 'r') throw untrusted(spec, `it is not a plain table (relkind ${JSON.stringify(s.table_kind)})`)
  if (!s.table_owner_trusted) throw untrusted(spec, `it is ${ownedByStranger(s.table_owner, s.me)}`)
  if (s.table_triggers?.length)
    throw untrusted(spec, `it has triggers pgbulk did not create (${s.table_triggers.join(', ')})`)
  if (s.table_rules?.length) throw untrusted(spec, `it has rules pgbulk did not create (${s.table_rules.join(', ')})`)
  // Another table's cascading foreign key turns pgbulk's DELETE into a change of that table, and so runs its triggers.
  if (s.table_referenced_by?.length)
    throw untrusted(spec, `foreign keys of other tables reference it (${s.table_referenced_by.join(', ')})`)
}

/**
 * Check that pgbulk's table is safe to use, then create what is missing (only that: a role without
 * CREATE can use a schema and table a DBA made for it), and check the privileges pgbulk needs.
 */
export async function prepareOwnTable(client: pg.Client, spec: OwnTableSpec): Promise<void> {
  let s = await readState(client, spec)
  checkTrust(spec, s)
  const table = qualified(spec)
  if (!s.schema_exists) {
    if (!s.db_create)
      throw unavailable(
        spec,
        `schema ${quoteIdent(spec.schema)} does not exist, ` +
          `and role ${JSON.stringify(s.me)} lacks CREATE on database ${quoteIdent(s.db)} to create it`,
      )
    await run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(spec.schema)}`)
    s = await readState(client, spec)
    checkTrust(spec, s) // a schema made by another run at the same moment
  }
  if (!s.schema_usage)
    throw unavailable(spec, `role ${JSON.stringify(s.me)} lacks USAGE on schema ${quoteIdent(spec.schema)}`)
  if (s.table_kind === null) {
    if (!s.schema_create)
      throw unavailable(
        spec,
        `the table does not exist, ` +
          `and role ${JSON.stringify(s.me)} lacks CREATE on schema ${quoteIdent(spec.schema)} to create it`,
      )
    await run(`CREATE TABLE IF NOT EXISTS ${table} (${spec.columns})`)
    s = await readState(client, spec)
    checkTrust(spec, s)
  }
  if (spec.lateColumn && !s.has_late_column) {
    const { name, type } = spec.lateColumn
    if (!s.table_is_mine)
      throw unavailable(
        spec,
        `the table lacks column ${name} (added by newer pgbulk), ` +
          `and only its owner ${JSON.stringify(s.table_owner)} may add it: ` +
          `ALTER TABLE ${table} ADD COLUMN ${name} ${type}`,
      )
    await run(`ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${name} ${type}`)
  }
  if (s.table_privileges?.length)
    throw unavailable(spec, `role ${JSON.stringify(s.me)} lacks ${s.table_privileges.join(', ')} on the table`)

  async function run(sql: string): Promise<void> {
    try {
      await client.query(sql)
    } catch (err) {
      // Two first runs at once: IF NOT EXISTS does not stop the second from failing on the catalog's unique index;
      // the state is read again after it.
      if ((err as { code?: string }).code === '23505') return
      throw new LoadError('CHECKPOINT_UNAVAILABLE', `cannot prepare ${table}: ${(err as Error).message}`, SETUP_HINT, {
        cause: err,
      })
    }
  }
}

/** For reading pgbulk's table without creating it: false when it does not exist; throws when it may not be trusted. */
export async function checkOwnTable(client: pg.Client, spec: OwnTableSpec): Promise<boolean> {
  const s = await readState(client, spec)
  checkTrust(spec, s)
  return s.table_kind !== null
}

/**
 * The current role may delete rows of a table (a quoted "schema"."table"): pgbulk jobs --forget
 * leaves alone the ledger of a role that never kept one (it may read it, not delete from it).
 */
export async function mayDelete(client: pg.Client, table: string): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>(
    `SELECT pg_catalog.has_table_privilege($1::pg_catalog.text, 'DELETE') AS ok`,
    [table],
  )
  return r.rows[0]?.ok === true
}
