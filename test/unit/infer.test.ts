import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createIfMissing } from '../../src/infer/create-missing.js'
import type { InferReading } from '../../src/infer/infer.js'
import { resolveEncoding } from '../../src/parse/decode.js'
import { dialectOf } from '../../src/parse/dialect.js'
import { checkInputs } from '../../src/source/open-input.js'
import { ColumnGuess } from '../../src/infer/column-types.js'
import { createTableSql, sqlIdent, tableName, tableNameFor } from '../../src/infer/create-table.js'
import { columnNames } from '../../src/validate/column-match.js'
import { sniffDelimiter } from '../../src/infer/sniff.js'

/** The type inferred for a column of these values ('' and null are NULL). */
function typeOf(values: (string | null)[], json?: 'string' | 'number' | 'boolean' | 'object' | 'array'): string {
  const g = new ColumnGuess()
  for (const v of values) g.add(v === null ? null : { text: v, ...(json ? { json } : {}) })
  return g.type
}

describe('ColumnGuess: the narrowest type every value fits', () => {
  it.each<[(string | null)[], string]>([
    [['1', '2', '-32768', '32767'], 'smallint'],
    [['1', '32768'], 'integer'],
    [['1', '2147483647'], 'integer'],
    [['1', '2147483648'], 'bigint'],
    [['1', '-9223372036854775808'], 'bigint'],
    [['1', '9223372036854775808'], 'numeric'],
    [['1', '2.5', '-0.001'], 'numeric'],
    [['1.5e10', '2'], 'double precision'],
    // (underscores and hexadecimal: PostgreSQL 16's numbers, refused by 15 and before)
    [['1', '1_000'], 'text'],
    [['2.5', '0x1F'], 'text'],
    [['1.5e10', '0b101'], 'text'],
    [[' +.5 ', '5.'], 'numeric'],
    [['1', 'x'], 'text'],
    [['t', 'f', 'yes', 'no', 'TRUE', 'off'], 'boolean'],
    [['0', '1', '1'], 'smallint'],
    [['t', 'f', '1'], 'text'],
    [['2024-01-02', '2020-02-29'], 'date'],
    [['2023-02-29'], 'text'],
    [['2024-01-02', '2024-01-02 03:04:05'], 'timestamp'],
    [['2024-01-02T03:04:05'], 'timestamp'],
    [['2024-01-02T03:04:05Z'], 'timestamptz'],
    [['2024-01-02 03:04:05+01', '2024-01-02 03:04:05'], 'timestamptz'],
    [['03.01.2020'], 'text'],
    [['12:30', '23:59:59.5'], 'time'],
    [['25:00'], 'text'],
    [['6f1e1a2c-1d3b-4a7e-9a4e-2c7d3b1f0a11'], 'uuid'],
    [['{"a":1}'], 'text'],
    [['', null, '5'], 'smallint'],
    [['', null], 'text'],
  ])('%j is %s', (values, type) => expect(typeOf(values)).toBe(type))

  it('types NDJSON values by their JSON kind: objects and arrays are jsonb, strings never numbers', () => {
    expect(typeOf(['{"a":1}', '[1]'], 'object')).toBe('jsonb')
    expect(typeOf(['7'], 'string')).toBe('text')
    expect(typeOf(['2024-01-02'], 'string')).toBe('date')
    expect(typeOf(['true', 'false'], 'boolean')).toBe('boolean')
    expect(typeOf(['7', '8'], 'number')).toBe('smallint')
    const mixed = new ColumnGuess()
    mixed.add({ text: '{"a":1}', json: 'object' })
    mixed.add({ text: 'x', json: 'string' })
    expect(mixed.type).toBe('jsonb')
  })

  it('counts values and NULLs, and keeps the first value as the example', () => {
    const g = new ColumnGuess()
    for (const v of ['', '4', null, '5']) g.add(v === null ? null : { text: v })
    expect([g.values, g.nulls, g.example]).toEqual([2, 2, '4'])
  })
})

describe('sniffDelimiter', () => {
  it.each([
    ['a,b,c\n1,2,3\n4,5,6\n', ','],
    ['a;b;c\n1;2,5;3\n4;5;6\n', ';'],
    ['a\tb\n1\t2\n', '\t'],
    ['a|b|c\n1|2|3\n', '|'],
    ['name,"x;y;z"\nq,"1;2;3"\n', ','],
  ])('finds the delimiter of %j', (sample, delimiter) => expect(sniffDelimiter(sample)?.delimiter).toBe(delimiter))

  it('finds none in a file of one column', () => expect(sniffDelimiter('a\nb\nc\n')).toBeUndefined())
})

describe('names', () => {
  it('makes lower_snake_case identifiers, unique, at most 63 bytes', () => {
    expect(columnNames(['Customer ID', 'customer-id', '', '2nd Place', 'x'.repeat(70), 'x'.repeat(70)])).toEqual([
      'customer_id',
      'customer_id_2',
      'column_3',
      'c_2nd_place',
      'x'.repeat(63),
      `${'x'.repeat(61)}_2`,
    ])
  })

  it('quotes reserved words and names PostgreSQL would not read bare', () => {
    expect(['user', 'order', 'time', 'größe', 'a$b'].map(sqlIdent)).toEqual([
      '"user"',
      '"order"',
      'time',
      '"größe"',
      'a$b',
    ])
  })

  it('takes a table name as SQL spells one, and makes one from a file name', () => {
    expect(tableName('sales.customers')).toBe('sales.customers')
    expect(tableName('"Sales 2024"."Q1"')).toBe('"Sales 2024"."Q1"')
    expect(() => tableName('x; DROP TABLE y')).toThrow(/is not a table name/)
    expect(tableNameFor('/data/Customer Export.csv.gz')).toBe('customer_export')
    expect(tableNameFor('/data/order.ndjson')).toBe('"order"')
    expect(tableNameFor('-')).toBe('stdin')
  })

  it('writes the statement with a comment where a name changed or a column held no value', () => {
    const sql = createTableSql('t', [
      { name: 'customer_id', source: 'Customer ID', type: 'integer', nulls: 0, values: 2 },
      { name: 'note', source: 'note', type: 'text', nulls: 2, values: 0 },
      { name: 'x', source: 'x\n); DROP TABLE t; --', type: 'text', nulls: 0, values: 1 },
    ])
    expect(sql).toBe(
      'CREATE TABLE t (\n' +
        '  customer_id integer,  -- from "Customer ID"\n' +
        '  note        text,  -- no value: text\n' +
        '  x           text  -- from "x\\n); DROP TABLE t; --"\n' +
        ');\n',
    )
  })
})

describe('createIfMissing', () => {
  // (two loads with --create at once: the second CREATE can fail on pg_type's unique index, not
  // with duplicate_table; the table is there then, and the load goes on into it)
  it('takes a unique_violation on CREATE, the table there after, for "created meanwhile"', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgbulk-create-'))
    const path = join(dir, 'a.csv')
    await writeFile(path, 'a\n1\n')
    const files = await checkInputs([path])
    const reading = (): InferReading => ({
      format: 'csv',
      encoding: resolveEncoding('utf8')!,
      dialect: dialectOf('csv', {}),
      delimiterGiven: true,
      header: true,
      maxRecordBytes: 1 << 20,
    })
    let created = false
    const client = {
      query: (sql: string) => {
        if (sql.startsWith('SELECT pg_catalog.to_regclass'))
          return Promise.resolve({ rows: [{ oid: created ? '1' : null }] })
        if (sql.startsWith('CREATE TABLE')) {
          created = true // (by the other load)
          return Promise.reject(
            Object.assign(new Error('duplicate key value violates unique constraint "pg_type_typname_nsp_index"'), {
              code: '23505',
            }),
          )
        }
        return Promise.resolve({ rows: [] })
      },
    } as unknown as pg.Client
    await expect(createIfMissing(client, 't', files, reading)).resolves.toEqual({ existed: true })
    created = false
    const noSchema = {
      query: (sql: string) =>
        sql.startsWith('CREATE TABLE')
          ? Promise.reject(Object.assign(new Error('schema "nosuch" does not exist'), { code: '3F000' }))
          : Promise.resolve({ rows: [{ oid: null }] }),
    } as unknown as pg.Client
    await expect(createIfMissing(noSchema, 'nosuch.t', files, reading)).rejects.toMatchObject({
      code: 'TABLE_NOT_FOUND',
    })
  })
})
