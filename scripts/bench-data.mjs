// The benchmarks' data set: deterministic rows of the 10-column table of issue 5, written as CSV
// or NDJSON, clean or with 1% bad rows of one kind.
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'

export const TABLE = `CREATE TABLE bench (id bigint PRIMARY KEY, uid uuid, title text, status varchar(20),
  amount numeric(12,2) CONSTRAINT amount_not_negative CHECK (amount >= 0), qty integer, flag boolean, ts timestamptz,
  day date, meta jsonb)`

/**
 * Row i of the data set as field texts; `kind` spoils every 100th row (1%) in its own way, but
 * `check10` and `check50`: 10% and 50% of the rows have a negative amount, which the table's CHECK refuses.
 */
export function row(i, kind) {
  const h = ((i * 2654435761) >>> 0).toString(16).padStart(8, '0')
  const bad = i % 100 === 50
  const checkFails = (kind === 'check10' && i % 10 === 5) || (kind === 'check50' && i % 2 === 0)
  return {
    id: kind === 'unique' && bad ? i - 1 : i,
    uid: `${h}-${h.slice(0, 4)}-4${h.slice(1, 4)}-8${h.slice(5, 8)}-${h}${h.slice(0, 4)}`,
    title: `Item ${i}, "quoted" text ${h}`,
    status: ['new', 'paid', 'shipped'][i % 3],
    amount: (checkFails ? -1 : 1) * (((i * 7919) % 1000000) / 100),
    qty: kind === 'value' && bad ? 'many' : i % 1000,
    flag: i % 2 === 1,
    ts: `2024-01-${String(1 + (i % 28)).padStart(2, '0')} 10:${String(i % 60).padStart(2, '0')}:00+00`,
    day: `2024-02-${String(1 + (i % 28)).padStart(2, '0')}`,
    meta: { k: i, tags: ['a', 'b'] },
    malformed: kind === 'malformed' && bad,
  }
}

const csvQuote = (s) => `"${String(s).replaceAll('"', '""')}"`

/** Write rows `from` … `from + rows - 1` of the data set to `path`. */
export async function generate(path, rows, format, kind, from = 1) {
  const out = createWriteStream(path)
  if (format === 'csv') out.write('id,uid,title,status,amount,qty,flag,ts,day,meta\n')
  for (let i = from; i < from + rows; i++) {
    const r = row(i, kind)
    let line
    if (format === 'csv') {
      line = `${r.id},${r.uid},${csvQuote(r.title)},${r.status},${r.amount},${r.qty},${r.flag},${r.ts},${r.day},${csvQuote(JSON.stringify(r.meta))}`
      if (r.malformed) line = line.replace(`${csvQuote(r.title)}`, `${csvQuote(r.title)}x`)
    } else {
      const { malformed, ...fields } = r
      line = JSON.stringify(fields)
      if (malformed) line = line.slice(0, -1)
    }
    if (!out.write(line + '\n')) await once(out, 'drain')
  }
  out.end()
  await once(out, 'finish')
}
