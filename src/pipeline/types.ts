// What one input's run is given (load.ts and redrive.ts build it): a leaf, imported by the
// pipeline's modules and its callers alike.
import type pg from 'pg'
import type { Batcher } from '../batch/batcher.js'
import type { BatchSizeController } from '../batch/autotune.js'
import type { CheckpointProgress } from '../checkpoint/checkpoint-store.js'
import type { BatchFacts } from '../checkpoint/batch-ledger.js'
import type { RejectLimit } from '../options.js'
import type { ParseOptions } from '../parse/parse-input.js'
import type { ParsedRecord } from '../parse/parsed-record.js'
import type { RejectSink } from '../reject/reject-sink.js'
import type { Rejection } from '../reject/rejection.js'
import type { BatchEvent, RunTotals } from '../report/run-figures.js'
import type { TableSchema } from '../schema/introspect.js'
import type { ValidRow } from '../validate/valid-row.js'
import type { ValueFormats } from '../validate/value-formats.js'
import type { WriterPool } from '../write/writer-pool.js'

/** Everything one input's pipeline needs. */
export interface InputPipeline {
  /** What messages and rejections call the input. */
  name: string
  /** The input's absolute path or "stdin", kept in each rejection (absent in a redrive, whose rows keep theirs). */
  input?: string | undefined
  /** The parse stage's output. */
  records: AsyncIterable<ParsedRecord[]> | Iterable<ParsedRecord[]>
  /** Bytes consumed from the input so far. */
  bytesConsumed: () => number
  schema: TableSchema
  parse: ParseOptions
  /** CSV/TSV column names when there is no header row. */
  columnNames?: string[]
  header: boolean
  ignoreExtra: boolean
  /** --map: input field → table column. */
  map?: Readonly<Record<string, string>> | undefined
  /** --date-order, --decimal-comma, …: how values are rewritten before they are checked. */
  formats?: ValueFormats | undefined
  /** The writers; none in a client-side dry run. */
  writers: WriterPool | undefined
  batcher: Batcher
  /** --batch-size auto: sets the batcher's size after each batch. */
  autoTune?: BatchSizeController | undefined
  sink: RejectSink
  totals: RunTotals
  rejectLimit: RejectLimit | undefined
  signal: AbortSignal | undefined
  onProgress: (() => void) | undefined
  onReject: ((r: Rejection) => void) | undefined
  /** Told of the rows of each batch once committed (pgbulk redrive drops them from its file). */
  onLoaded?: ((rows: readonly ValidRow[]) => void) | undefined
  /**
   * Records before this byte offset were committed by an earlier run:
   * read, not counted, skipped (gzip and stdin, which cannot seek).
   */
  skipBefore?: number
  /** Where a resumed input starts (the checkpoint's position). */
  startAt?: { byte: number; line: number }
  /**
   * Saves where the input stands, inside each batch's transaction, told the batch's rows that
   * went in (pgbulk redrive records them) and, when it decided any line, what the batch ledger
   * keeps of it; absent when the run keeps no checkpoint.
   */
  checkpoint?:
    | ((
        client: pg.Client,
        progress: CheckpointProgress,
        stored: readonly ValidRow[],
        batch: BatchFacts | undefined,
      ) => Promise<void>)
    | undefined
  /** The run's id: each batch's statements start with a comment naming it and the batch. */
  runId?: string | undefined
  /** Told of each batch once it committed, in input order. */
  onBatch?: ((b: BatchEvent) => void) | undefined
  /** --log-sample-rows: told the rows each committed batch stored (absent, nothing is looked at). */
  sampleRows?: ((rows: readonly ValidRow[], batch: number, file: string) => void) | undefined
  /** --mode truncate: true once, for the run's first transaction, which empties the table before its rows go in. */
  emptyTable?: (() => boolean) | undefined
  /** What earlier runs of this job did with this input: checkpoints count from there. */
  resumedFrom?: Pick<CheckpointProgress, 'rowsRead' | 'rowsLoaded' | 'rowsRejected' | 'batches'> | undefined
}
