/**
 * Worker-thread entry of src/node/capnet-solver-pool.ts: searches a CAPnet puzzle's starts over chunks in a
 * SharedArrayBuffer, batch by batch from a counter shared by every worker of the job (`searchClaimedStarts`: the
 * WebAssembly four-lane solver), until the starts run out or the shared flag says a worker found the goal (this one
 * sets it when it does).
 *
 * Message in: `{ id, data, lengths, chunkSize, params, goal, to, batch, counter, flag }`; out: `{ id, result }` or
 * `{ id, error }`.
 */
import { parentPort } from 'node:worker_threads'
import { searchClaimedStarts } from '../proofs/capnet/puzzle.js'
import type { PuzzleParams } from '../proofs/capnet/params.js'

interface Job {
  id: number
  data: SharedArrayBuffer
  lengths: number[]
  chunkSize: number
  params: PuzzleParams
  goal: Uint8Array
  to: number
  batch: number
  /** Int32 [next start to hand out]. */
  counter: SharedArrayBuffer
  /** Int32 [1 once a worker found the goal]. */
  flag: SharedArrayBuffer
}

const port = parentPort
if (!port) throw new Error('capnet-solver-worker runs as a worker thread')
port.on('message', (job: Job) => {
  try {
    const chunks = job.lengths.map((len, i) => new Uint8Array(job.data, i * job.chunkSize, len))
    const counter = new Int32Array(job.counter)
    const flag = new Int32Array(job.flag)
    const claim = () => (Atomics.load(flag, 0) !== 0 ? -1 : Atomics.add(counter, 0, job.batch))
    const result = searchClaimedStarts(chunks, job.params, job.goal, job.to, job.batch, claim)
    if (result.secret) Atomics.store(flag, 0, 1)
    port.postMessage({ id: job.id, result })
  } catch (e) {
    port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) })
  }
})
