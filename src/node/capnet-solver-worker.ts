/**
 * Worker-thread entry of src/node/capnet-solver-pool.ts: searches one range of start offsets of a CAPnet puzzle
 * (`searchStarts`, the WebAssembly four-lane solver) over chunks in a SharedArrayBuffer, stopping once the shared
 * flag says another range found the goal (and setting it when this one does).
 *
 * Message in: `{ id, data, lengths, chunkSize, params, goal, from, to, flag }`; out: `{ id, result }` or `{ id, error }`.
 */
import { parentPort } from 'node:worker_threads'
import { searchStarts } from '../proofs/capnet/puzzle.js'
import type { PuzzleParams } from '../proofs/capnet/params.js'

interface Job {
  id: number
  data: SharedArrayBuffer
  lengths: number[]
  chunkSize: number
  params: PuzzleParams
  goal: Uint8Array
  from: number
  to: number
  flag: SharedArrayBuffer
}

const port = parentPort
if (!port) throw new Error('capnet-solver-worker runs as a worker thread')
port.on('message', (job: Job) => {
  try {
    const chunks = job.lengths.map((len, i) => new Uint8Array(job.data, i * job.chunkSize, len))
    const flag = new Int32Array(job.flag)
    const result = searchStarts(chunks, job.params, job.goal, job.from, job.to, undefined, () => Atomics.load(flag, 0) !== 0)
    if (result.secret) Atomics.store(flag, 0, 1)
    port.postMessage({ id: job.id, result })
  } catch (e) {
    port.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) })
  }
})
