import { connect, connectionConfig } from '../db/connect.js'
import type { Checkpoint } from './checkpoint-store.js'
import { CheckpointStore } from './checkpoint-store.js'

/** The checkpoints of every job, newest first (none when the table does not exist yet). */
export async function listJobs(opts: { db?: string; checkpointSchema?: string }): Promise<Checkpoint[]> {
  const client = await connect(connectionConfig(opts.db))
  try {
    return await new CheckpointStore(opts.checkpointSchema).list(client)
  } finally {
    await client.end().catch(() => {})
  }
}

/** Remove a job's checkpoints; returns how many inputs it had. */
export async function forgetJob(job: string, opts: { db?: string; checkpointSchema?: string }): Promise<number> {
  const client = await connect(connectionConfig(opts.db))
  try {
    const store = new CheckpointStore(opts.checkpointSchema)
    return (await store.list(client)).some((c) => c.job === job) ? await store.forget(client, job) : 0
  } finally {
    await client.end().catch(() => {})
  }
}
