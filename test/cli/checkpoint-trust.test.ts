import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliRun, runPgbulk } from '../helpers/cli.js'
import { createTestDb, type TestDb } from '../helpers/db.js'

// Issue 11, items 5 and 6: pgbulk's own tables (the checkpoints, the redrive ledger) are used only
// when no other role can have planted code in them, and a least-privilege role can use the ones a
// DBA prepared for it. Roles are cluster-wide: each gets a unique name and is dropped at the end.

let db: TestDb
let dir: string
const tag = randomBytes(4).toString('hex')
const HOSTILE = `pgbulk_hostile_${tag}`
const LEAST = `pgbulk_least_${tag}`
const PASSWORD = `pw_${randomBytes(8).toString('hex')}`
const roles = [HOSTILE, LEAST]

/** The test database's URL, logged in as `role`. */
function urlAs(role: string): string {
  const u = new URL(db.url)
  u.username = role
  u.password = PASSWORD
  return u.toString()
}

async function asRole<T>(role: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: urlAs(role) })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

function pgbulk(args: string[], url = db.url): Promise<CliRun> {
  return runPgbulk(args, { cwd: dir, env: { DATABASE_URL: url } })
}

let tables = 0
/** A fresh target table, writable by the least-privilege role, and a three-row CSV for it. */
async function target(): Promise<{ t: string; input: string }> {
  const t = `target_${++tables}`
  await db.client.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name text); GRANT SELECT, INSERT ON ${t} TO ${LEAST}`)
  const input = join(dir, `${t}.csv`)
  await writeFile(input, 'id,name\n1,a\n2,b\n3,c\n')
  return { t, input }
}

/** The SQL a DBA runs to prepare checkpoints for a role (as in the README). */
function dbaSetup(schema: string, role: string): string {
  return `CREATE SCHEMA ${schema};
    CREATE TABLE ${schema}.checkpoints (
      job text NOT NULL, input text NOT NULL, target text NOT NULL,
      input_size bigint, input_mtime_ms bigint, input_hash text,
      next_byte bigint NOT NULL, next_line bigint NOT NULL, rows_read bigint NOT NULL,
      rows_loaded bigint NOT NULL, rows_rejected bigint NOT NULL, batches bigint NOT NULL,
      done boolean NOT NULL, started_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
      owner text, PRIMARY KEY (job, input));
    GRANT USAGE ON SCHEMA ${schema} TO ${role};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ${schema}.checkpoints TO ${role};`
}

/** Who a hostile trigger or function ran as (the table it records into). */
async function traced(): Promise<string[]> {
  const r = await db.client.query<{ who: string }>(`SELECT who FROM hostile_trace ORDER BY who`)
  return r.rows.map((x) => x.who)
}

function expectRefused(run: CliRun, code: string, message: RegExp): void {
  expect(run.code, run.stderr).toBe(1)
  expect(run.stderr).toContain(`(${code})`)
  expect(run.stderr).toMatch(message)
  expect(run.stderr).toMatch(/hint: /)
}

beforeAll(async () => {
  db = await createTestDb()
  dir = await mkdtemp(join(tmpdir(), 'pgbulk-trust-'))
  const dbName = new URL(db.url).pathname.slice(1)
  await db.client.query(`CREATE ROLE ${HOSTILE} LOGIN PASSWORD '${PASSWORD}';
    CREATE ROLE ${LEAST} LOGIN PASSWORD '${PASSWORD}';
    GRANT CONNECT, CREATE ON DATABASE ${dbName} TO ${HOSTILE};
    REVOKE CREATE ON DATABASE ${dbName} FROM PUBLIC;
    CREATE TABLE hostile_trace (who text);
    GRANT INSERT ON hostile_trace TO PUBLIC`)
  // The hostile role's own schema, for its functions.
  await asRole(HOSTILE, (c) =>
    c.query(`CREATE SCHEMA hostile;
      CREATE FUNCTION hostile.trace() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO public.hostile_trace VALUES (current_user); RETURN NULL; END $$;
      GRANT USAGE ON SCHEMA hostile TO PUBLIC`),
  )
})

afterAll(async () => {
  for (const r of roles)
    await db.client.query(`REASSIGN OWNED BY ${r} TO CURRENT_USER; DROP OWNED BY ${r}`).catch(() => {})
  await db.cleanup()
  const admin = new pg.Client({ connectionString: db.url.replace(/\/[^/?]*(\?|$)/, '/postgres$1') })
  await admin.connect()
  for (const r of roles) await admin.query(`DROP ROLE IF EXISTS ${r}`)
  await admin.end()
})

describe('checkpoint trust', () => {
  it('refuses a pgbulk schema another role created, before writing anything, and its triggers never run', async () => {
    const { t, input } = await target()
    // Made before the hostile schema exists: a reject file for redrive (row 3 fails the CHECK, dropped after).
    await db.client.query(`ALTER TABLE ${t} ADD CONSTRAINT small CHECK (id < 3)`)
    const first = await pgbulk(['load', input, '--table', t, '--no-checkpoint', '--quiet'])
    expect(first.code, first.stderr).toBe(2)
    await db.client.query(`DELETE FROM ${t}; ALTER TABLE ${t} DROP CONSTRAINT small`)
    await asRole(HOSTILE, (c) =>
      c.query(`${dbaSetup('pgbulk', 'PUBLIC')}
        GRANT CREATE ON SCHEMA pgbulk TO PUBLIC;
        CREATE TABLE pgbulk.redriven (job text NOT NULL, entry text NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (job, entry));
        GRANT ALL ON pgbulk.redriven TO PUBLIC;
        CREATE TRIGGER trace AFTER INSERT OR UPDATE OR DELETE ON pgbulk.checkpoints FOR EACH STATEMENT EXECUTE FUNCTION hostile.trace();
        CREATE TRIGGER trace AFTER INSERT OR UPDATE OR DELETE ON pgbulk.redriven FOR EACH STATEMENT EXECUTE FUNCTION hostile.trace()`),
    )
    const rejects = join(dir, `${t}-new.rejects.ndjson`)
    const load = await pgbulk(['load', input, '--table', t, '--rejects', rejects])
    expectRefused(
      load,
      'CHECKPOINT_UNTRUSTED',
      /refusing to use "pgbulk"\."checkpoints": schema "pgbulk" is owned by role "pgbulk_hostile_\w+", which "\w+" is not a member of/,
    )
    expect(await db.count(t)).toBe(0)
    expect(existsSync(rejects)).toBe(false)
    const redrive = await pgbulk(['redrive', `${input}.rejects.ndjson`, '--table', t])
    expectRefused(redrive, 'CHECKPOINT_UNTRUSTED', /refusing to use "pgbulk"\."redriven"/)
    expect(await db.count(t)).toBe(0)
    const jobs = await pgbulk(['jobs', '--forget', 'x'])
    expectRefused(jobs, 'CHECKPOINT_UNTRUSTED', /refusing to use "pgbulk"\."checkpoints"/)
    expect(await traced()).toEqual([])
  })

  it('refuses a trusted table that another role put a trigger on', async () => {
    const { t, input } = await target()
    await db.client.query(`${dbaSetup('ck_trigger', HOSTILE)} GRANT TRIGGER ON ck_trigger.checkpoints TO ${HOSTILE}`)
    await asRole(HOSTILE, (c) =>
      c.query(
        `CREATE TRIGGER trace BEFORE INSERT OR UPDATE ON ck_trigger.checkpoints FOR EACH ROW EXECUTE FUNCTION hostile.trace()`,
      ),
    )
    const load = await pgbulk(['load', input, '--table', t, '--checkpoint-schema', 'ck_trigger'])
    expectRefused(load, 'CHECKPOINT_UNTRUSTED', /has triggers pgbulk did not create \(trace\)/)
    expect(await db.count(t)).toBe(0)
    expect(await traced()).toEqual([])
  })

  it('refuses a trusted table that a table of another role references with a foreign key', async () => {
    const { t, input } = await target()
    await db.client.query(`${dbaSetup('ck_fk', HOSTILE)} GRANT REFERENCES ON ck_fk.checkpoints TO ${HOSTILE}`)
    await asRole(HOSTILE, (c) =>
      c.query(`CREATE TABLE hostile.child (job text, input text, FOREIGN KEY (job, input) REFERENCES ck_fk.checkpoints ON DELETE CASCADE);
        CREATE TRIGGER trace AFTER DELETE ON hostile.child FOR EACH STATEMENT EXECUTE FUNCTION hostile.trace()`),
    )
    const load = await pgbulk(['load', input, '--table', t, '--checkpoint-schema', 'ck_fk'])
    expectRefused(load, 'CHECKPOINT_UNTRUSTED', /foreign keys of other tables reference it \(hostile\.child\)/)
    expect(await db.count(t)).toBe(0)
    expect(await traced()).toEqual([])
  })

  it('refuses a trusted schema that other roles may create objects in', async () => {
    const { t, input } = await target()
    await db.client.query(`${dbaSetup('ck_open', LEAST)} GRANT CREATE ON SCHEMA ck_open TO ${HOSTILE}`)
    const load = await pgbulk(['load', input, '--table', t, '--checkpoint-schema', 'ck_open'])
    expectRefused(load, 'CHECKPOINT_UNTRUSTED', new RegExp(`schema "ck_open" lets "${HOSTILE}" create objects in it`))
    expect(load.stderr).toContain(`REVOKE CREATE ON SCHEMA "ck_open" FROM "${HOSTILE}"`)
    expect(await db.count(t)).toBe(0)
  })

  it('calls pg_catalog functions, not a better-matching overload a hostile role put on the search_path', async () => {
    const { t, input } = await target()
    // public is world-writable before PostgreSQL 15: hashtextextended(text, int4) is an exact
    // match for a bare hashtextextended($1, 0), which pg_catalog's (text, int8) is not.
    await db.client.query(`GRANT CREATE ON SCHEMA public TO ${HOSTILE}`)
    try {
      await asRole(HOSTILE, (c) =>
        c.query(`CREATE FUNCTION public.hashtextextended(text, integer) RETURNS bigint LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO public.hostile_trace VALUES (current_user); RETURN 0; END $$`),
      )
      const load = await pgbulk(['load', input, '--table', t, '--checkpoint-schema', 'ck_shadow', '--quiet'])
      expect(load.code, load.stderr).toBe(0)
      expect(await db.count(t)).toBe(3)
      expect(await traced()).toEqual([])
    } finally {
      await db.client.query(
        `DROP FUNCTION IF EXISTS public.hashtextextended(text, integer); REVOKE CREATE ON SCHEMA public FROM ${HOSTILE}`,
      )
    }
  })
})

describe('checkpoints for a least-privilege role', () => {
  it('loads, and resumes a finished job, with the checkpoint table a DBA prepared, without CREATE anywhere', async () => {
    const { t, input } = await target()
    await db.client.query(dbaSetup('ck_least', LEAST))
    const load = await pgbulk(
      ['load', input, '--table', t, '--checkpoint-schema', 'ck_least', '--job', 'least', '--quiet'],
      urlAs(LEAST),
    )
    expect(load.code, load.stderr).toBe(0)
    expect(await db.count(t)).toBe(3)
    const cp = await db.client.query<{ done: boolean }>(`SELECT done FROM ck_least.checkpoints WHERE job = 'least'`)
    expect(cp.rows).toEqual([{ done: true }])
    const again = await pgbulk(
      ['load', input, '--table', t, '--checkpoint-schema', 'ck_least', '--job', 'least', '--resume'],
      urlAs(LEAST),
    )
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).toMatch(/0 rows read/)
    expect(await db.count(t)).toBe(3)
  })

  it('names the missing CREATE on the database when the schema does not exist', async () => {
    const { t, input } = await target()
    const load = await pgbulk(['load', input, '--table', t, '--checkpoint-schema', 'ck_missing'], urlAs(LEAST))
    expectRefused(
      load,
      'CHECKPOINT_UNAVAILABLE',
      new RegExp(`schema "ck_missing" does not exist, and role "${LEAST}" lacks CREATE on database`),
    )
    expect(await db.count(t)).toBe(0)
  })

  it('names the missing CREATE on the schema when the table does not exist', async () => {
    const { t, input } = await target()
    await db.client.query(`CREATE SCHEMA ck_empty; GRANT USAGE ON SCHEMA ck_empty TO ${LEAST}`)
    const load = await pgbulk(['load', input, '--table', t, '--checkpoint-schema', 'ck_empty'], urlAs(LEAST))
    expectRefused(
      load,
      'CHECKPOINT_UNAVAILABLE',
      new RegExp(`the table does not exist, and role "${LEAST}" lacks CREATE on schema "ck_empty"`),
    )
  })

  it('names the missing table privileges', async () => {
    const { t, input } = await target()
    await db.client.query(
      `${dbaSetup('ck_readonly', LEAST)} REVOKE INSERT, UPDATE, DELETE ON ck_readonly.checkpoints FROM ${LEAST}`,
    )
    const load = await pgbulk(['load', input, '--table', t, '--checkpoint-schema', 'ck_readonly'], urlAs(LEAST))
    expectRefused(
      load,
      'CHECKPOINT_UNAVAILABLE',
      new RegExp(`role "${LEAST}" lacks INSERT, UPDATE, DELETE on the table`),
    )
    expect(await db.count(t)).toBe(0)
  })

  it('tells a non-owner which ALTER the owner must run when the table predates the owner column', async () => {
    const { t, input } = await target()
    await db.client.query(`${dbaSetup('ck_old', LEAST)} ALTER TABLE ck_old.checkpoints DROP COLUMN owner`)
    const load = await pgbulk(['load', input, '--table', t, '--checkpoint-schema', 'ck_old'], urlAs(LEAST))
    expectRefused(
      load,
      'CHECKPOINT_UNAVAILABLE',
      /lacks column owner .* only its owner .* may add it: ALTER TABLE "ck_old"\."checkpoints" ADD COLUMN owner/,
    )
    expect(await db.count(t)).toBe(0)
  })
})
