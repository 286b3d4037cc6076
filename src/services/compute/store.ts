/**
 * What a compute worker keeps across a crash (SQLite): its jobs (the signed market deal, the compute terms, the
 * profile, where the job stands) and the leaf of every unit it delivered (unit, input hash, output hash), so a
 * worker killed mid-job restarts on the same file, rebuilds the batch trees it claimed and still answers a demand,
 * settles its batches and finalizes.
 *
 * @example
 * ```ts
 * const store = sqliteWorkerStore(openDatabase('worker.sqlite'))
 * store.putJob({ jobId, client, deal, terms, profile, state: 'open' })
 * store.putLeaf(jobId, 0, inputHash, outputHash)
 * ```
 */
import type { Address, Hex } from 'viem'
import type { Db } from '../../core/db.js'
import { decodeJson, encodeJson } from '../../net/index.js'
import type { Deal } from '../../market/schema.js'
import type { ComputeTerms } from './protocol.js'
import type { TranscodeProfile } from './transcode.js'

export type WorkerJobState = 'signed' | 'open' | 'ended'

export interface WorkerJob {
  jobId: Hex
  client: Address
  deal: Deal
  terms: ComputeTerms
  profile: TranscodeProfile
  state: WorkerJobState
}

export interface WorkerBatch { jobId: Hex; batch: number; first: number; count: number; root: Hex; state: 'claimed' | 'settled' | 'faulted' }

export interface WorkerStore {
  putJob(j: WorkerJob): void
  setState(jobId: Hex, state: WorkerJobState): void
  job(jobId: Hex): WorkerJob | undefined
  jobs(state?: WorkerJobState): WorkerJob[]
  putLeaf(jobId: Hex, unit: number, inputHash: Hex, outputHash: Hex): void
  /** The leaves of units [first, first + count) in order (undefined where a unit was not delivered). */
  leaves(jobId: Hex, first: number, count: number): ({ inputHash: Hex; outputHash: Hex } | undefined)[]
  putBatch(b: WorkerBatch): void
  batches(jobId: Hex): WorkerBatch[]
  close(): void
}

export function sqliteWorkerStore(db: Db): WorkerStore {
  db.exec(`create table if not exists compute_jobs (job_id text primary key, client text not null, body text not null, state text not null);
    create table if not exists compute_leaves (job_id text not null, unit integer not null, input_hash text not null, output_hash text not null, primary key (job_id, unit));
    create table if not exists compute_batches (job_id text not null, batch integer not null, first integer not null, count integer not null, root text not null, state text not null, primary key (job_id, batch))`)
  const put = db.prepare('insert into compute_jobs (job_id, client, body, state) values (?, ?, ?, ?) on conflict(job_id) do update set body = excluded.body, state = excluded.state')
  const setState = db.prepare('update compute_jobs set state = ? where job_id = ?')
  const get = db.prepare('select body, state from compute_jobs where job_id = ?')
  const all = db.prepare('select body, state from compute_jobs order by job_id')
  const byState = db.prepare('select body, state from compute_jobs where state = ? order by job_id')
  const putLeaf = db.prepare('insert or replace into compute_leaves (job_id, unit, input_hash, output_hash) values (?, ?, ?, ?)')
  const leaves = db.prepare('select unit, input_hash, output_hash from compute_leaves where job_id = ? and unit >= ? and unit < ? order by unit')
  const putBatch = db.prepare('insert or replace into compute_batches (job_id, batch, first, count, root, state) values (?, ?, ?, ?, ?, ?)')
  const batches = db.prepare('select * from compute_batches where job_id = ? order by batch')
  const row = (r: { body: string; state: string } | undefined): WorkerJob | undefined =>
    r ? { ...(decodeJson(new TextEncoder().encode(r.body)) as Omit<WorkerJob, 'state'>), state: r.state as WorkerJobState } : undefined
  return {
    putJob(j) {
      const { state, ...body } = j
      put.run(j.jobId, j.client, new TextDecoder().decode(encodeJson(body)), state)
    },
    setState: (id, s) => { setState.run(s, id) },
    job: (id) => row(get.get(id) as { body: string; state: string } | undefined),
    jobs: (s) => ((s ? byState.all(s) : all.all()) as { body: string; state: string }[]).map((r) => row(r)!),
    putLeaf: (id, u, i, o) => { putLeaf.run(id, u, i, o) },
    leaves(id, first, count) {
      const out: ({ inputHash: Hex; outputHash: Hex } | undefined)[] = new Array(count).fill(undefined)
      for (const r of leaves.all(id, first, first + count) as { unit: number; input_hash: Hex; output_hash: Hex }[]) out[r.unit - first] = { inputHash: r.input_hash, outputHash: r.output_hash }
      return out
    },
    putBatch: (b) => { putBatch.run(b.jobId, b.batch, b.first, b.count, b.root, b.state) },
    batches: (id) => (batches.all(id) as { job_id: Hex; batch: number; first: number; count: number; root: Hex; state: WorkerBatch['state'] }[]).map((r) => ({ jobId: r.job_id, batch: r.batch, first: r.first, count: r.count, root: r.root, state: r.state })),
    close: () => { if (db.open) db.close() },
  }
}
