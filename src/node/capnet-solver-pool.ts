/**
 * A {@link PuzzleSolverPool} on node:worker_threads: CAPnet puzzles solved across cores
 * (`solvePuzzleParallel`). The chunks are copied once per puzzle into a SharedArrayBuffer that every worker reads;
 * a shared flag stops the other ranges once one finds the goal. Workers start on first use and do not keep the
 * process alive between jobs; `close()` ends them.
 *
 * @example
 * ```ts
 * import { createPuzzleSolverPool } from './capnet-solver-pool.js'
 * import { solvePuzzleParallel } from '../proofs/capnet/index.js'
 * const pool = createPuzzleSolverPool({ workers: 2 })
 * const { secret } = await solvePuzzleParallel({ innerChunks, challenge: bundle.puzzle, pool })
 * await pool.close()
 * ```
 */
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PuzzleSolverPool, StartSearch } from '../proofs/capnet/puzzle.js'

export interface PuzzleSolverPoolOptions {
  /** Worker threads (default: os.availableParallelism()). */
  workers?: number
}

export interface ClosablePuzzleSolverPool extends PuzzleSolverPool {
  /** Terminates the workers (jobs in flight are rejected); the pool restarts them if used again. */
  close(): Promise<void>
}

type Pending = { resolve: (r: StartSearch) => void; reject: (e: Error) => void }

export function createPuzzleSolverPool(opts: PuzzleSolverPoolOptions = {}): ClosablePuzzleSolverPool {
  const size = Math.max(1, Math.floor(opts.workers ?? availableParallelism()))
  const entry = new URL(`./capnet-solver-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)
  let workers: Worker[] = []
  const pending = new Map<number, Pending>()
  let nextId = 0
  let busy = 0
  const spare: SharedArrayBuffer[] = []

  const start = () => {
    if (workers.length) return
    workers = Array.from({ length: size }, () => {
      const w = entry.pathname.endsWith('.ts')
        // Sources run through tsx: the worker registers tsx's loader before importing its entry.
        ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}) })`, { eval: true })
        : new Worker(entry)
      w.unref()
      w.on('message', (m: { id: number; result?: StartSearch; error?: string }) => {
        const p = pending.get(m.id)
        if (!p) return
        pending.delete(m.id)
        if (m.result) p.resolve(m.result)
        else p.reject(new Error(`capnet solver worker: ${m.error}`))
      })
      // A worker that dies fails the jobs in flight; the next job starts a fresh set of workers.
      const fail = (e: Error) => {
        if (!workers.includes(w)) return
        const ws = workers
        workers = []
        for (const other of ws) if (other !== w) void other.terminate()
        for (const p of pending.values()) p.reject(e)
        pending.clear()
      }
      w.on('error', fail)
      w.on('exit', (code) => fail(new Error(`capnet solver worker exited (code ${code})`)))
      return w
    })
  }

  return {
    size,
    async searchRanges({ innerChunks, params, goal, ranges }) {
      start()
      const bytes = innerChunks.length * params.chunkSize
      // A shared buffer of an earlier job if one is free and big enough (allocating 512 KiB costs ~0.15 ms).
      const i = spare.findIndex((b) => b.byteLength >= bytes)
      const data = i >= 0 ? spare.splice(i, 1)[0] : new SharedArrayBuffer(bytes)
      const view = new Uint8Array(data)
      innerChunks.forEach((c, j) => view.set(c, j * params.chunkSize))
      const flag = new SharedArrayBuffer(4)
      const lengths = innerChunks.map((c) => c.length)
      if (busy++ === 0) for (const w of workers) w.ref()
      try {
        const results = await Promise.all(ranges.map(([from, to], i) => new Promise<StartSearch>((resolve, reject) => {
          const id = nextId++
          pending.set(id, { resolve, reject })
          workers[i % size].postMessage({ id, data, lengths, chunkSize: params.chunkSize, params, goal, from, to, flag })
        })))
        // Every worker has answered, so none reads `data` any more (after a failure one might: not reused then).
        if (spare.length < 4) spare.push(data)
        return results
      } finally {
        if (--busy === 0) for (const w of workers) w.unref()
      }
    },
    async close() {
      const ws = workers
      workers = [] // first, so that their exits are not taken for failures
      for (const p of pending.values()) p.reject(new Error('capnet solver pool closed'))
      pending.clear()
      spare.length = 0
      await Promise.all(ws.map((w) => w.terminate()))
    },
  }
}
