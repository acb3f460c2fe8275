// What a user writes by hand to upsert a CSV, for bench-modes.mjs to beat: csv-parse, then one
// multi-row INSERT … ON CONFLICT DO UPDATE of `rows` rows per statement, each in its own
// transaction (autocommit). Usage: node bench-upsert-script.mjs <file.csv> <table> [rows per statement]
import { createReadStream } from 'node:fs'
import { parse } from 'csv-parse'
import pg from 'pg'

const [file, table, per = '1000'] = process.argv.slice(2)
const size = Number(per)
const client = new pg.Client({ connectionString: process.env.DATABASE_URL })
await client.connect()
const parser = createReadStream(file).pipe(parse({ columns: false, from_line: 2 }))
let columns
let batch = []
const send = async () => {
  if (batch.length === 0) return
  const params = batch.flat()
  const width = batch[0].length
  const tuples = batch.map((_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(',')})`)
  const set = columns
    .slice(1)
    .map((c) => `${c} = EXCLUDED.${c}`)
    .join(', ')
  await client.query(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(',')} ON CONFLICT (${columns[0]}) DO UPDATE SET ${set}`,
    params,
  )
  batch = []
}
columns = ['id', 'uid', 'title', 'status', 'amount', 'qty', 'flag', 'ts', 'day', 'meta']
for await (const record of parser) {
  batch.push(record)
  if (batch.length >= size) await send()
}
await send()
await client.end()
