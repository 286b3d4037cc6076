/**
 * A {@link PuzzleSolverPool} on node:worker_threads: CAPnet puzzles solved across cores
 * (`solvePuzzleParallel`). The chunks are copied once per puzzle into a SharedArrayBuffer that every worker reads;
 * the workers take batches of starts, in ascending order, from a shared atomic counter (so a worker that gets less
 * CPU simply takes fewer batches), and a shared flag stops them all once one finds the goal. By default the calling
 * thread takes batches too (it is already running, while a worker may first wait for a core: on a loaded machine
 * that keeps a parallel solve at least as fast as a single-threaded one), which blocks its event loop for up to a
 * solve's length; `inline: false` leaves it free. Workers start on first use and do not keep the process alive
 * between jobs; `close()` ends them.
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
import type { Worker } from 'node:worker_threads'
import { startWorker } from './workers.js'
import { availableParallelism } from 'node:os'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { searchClaimedStarts, type PuzzleSolverPool, type StartSearch } from '../proofs/capnet/puzzle.js'
import type { PuzzleParams } from '../proofs/capnet/params.js'

export interface PuzzleSolverPoolOptions {
  /** Worker threads (default: os.availableParallelism() - 1, at least 1; with `inline`, one thread per core). */
  workers?: number
  /** The calling thread searches too (default true). */
  inline?: boolean
  /** Starts a worker takes at a time (default 256: ~0.1 ms of work at the default params). */
  batch?: number
}

export interface ClosablePuzzleSolverPool extends PuzzleSolverPool {
  /** Worker threads. */
  readonly size: number
  /** Threads that search: the workers, plus the caller when `inline`. */
  readonly threads: number
  /** Terminates the workers (jobs in flight are rejected); the pool restarts them if used again. */
  close(): Promise<void>
}

/** The caller's share: batches from the same counter as the workers'. */
function searchHere(innerChunks: readonly Uint8Array[], params: PuzzleParams, goal: Uint8Array, to: number, batch: number, counter: SharedArrayBuffer, flag: SharedArrayBuffer): StartSearch {
  const c = new Int32Array(counter), f = new Int32Array(flag)
  const r = searchClaimedStarts(innerChunks, params, goal, to, batch, () => (Atomics.load(f, 0) !== 0 ? -1 : Atomics.add(c, 0, batch)))
  if (r.secret) Atomics.store(f, 0, 1)
  return r
}

type Pending = { resolve: (r: StartSearch) => void; reject: (e: Error) => void }

export function createPuzzleSolverPool(opts: PuzzleSolverPoolOptions = {}): ClosablePuzzleSolverPool {
  const size = Math.max(1, Math.floor(opts.workers ?? availableParallelism() - 1))
  const inline = opts.inline ?? true
  const batch = Math.max(4, Math.floor(opts.batch ?? 256))
  const entry = new URL(`./capnet-solver-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)
  let workers: Worker[] = []
  const pending = new Map<number, Pending>()
  let nextId = 0
  let busy = 0
  const spare: SharedArrayBuffer[] = []

  const start = () => {
    if (workers.length) return
    workers = Array.from({ length: size }, () => {
      const w = startWorker(entry)
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
    threads: size + (inline ? 1 : 0),
    async search({ innerChunks, params, goal, from, to }) {
      start()
      const bytes = innerChunks.length * params.chunkSize
      // A shared buffer of an earlier job if one is free and big enough (allocating 512 KiB costs ~0.15 ms).
      const i = spare.findIndex((b) => b.byteLength >= bytes)
      const data = i >= 0 ? spare.splice(i, 1)[0] : new SharedArrayBuffer(bytes)
      const view = new Uint8Array(data)
      innerChunks.forEach((c, j) => view.set(c, j * params.chunkSize))
      const counter = new SharedArrayBuffer(4)
      new Int32Array(counter)[0] = from
      const flag = new SharedArrayBuffer(4)
      const lengths = innerChunks.map((c) => c.length)
      if (busy++ === 0) for (const w of workers) w.ref()
      const ws = workers
      return await new Promise<StartSearch>((resolve, reject) => {
        // Settles on the first answer with the goal (a worker still finishing its batch, or still waiting for a core
        // to see that the counter ran out, is not waited for), or once every searcher answered without it.
        let open = ws.length + (inline ? 1 : 0)
        let hashes = 0
        let settled = false
        const finish = (ok: boolean) => {
          if (--open > 0) return
          // Every worker answered: none reads `data` any more (after a failure one might: not reused then).
          if (ok && spare.length < 4) spare.push(data)
          if (--busy === 0) for (const w of workers) w.unref()
        }
        const answer = (r: StartSearch) => {
          hashes += r.hashes
          if (!settled && (r.secret || open === 1)) {
            settled = true
            resolve(r.secret ? { start: r.start, secret: r.secret, hashes } : { start: -1, secret: null, hashes })
          }
          finish(true)
        }
        const fail = (e: Error) => {
          if (!settled) { settled = true; reject(e) }
          finish(false)
        }
        for (const w of ws) {
          const id = nextId++
          pending.set(id, { resolve: answer, reject: fail })
          w.postMessage({ id, data, lengths, chunkSize: params.chunkSize, params, goal, to, batch, counter, flag })
        }
        if (inline) {
          try { answer(searchHere(innerChunks, params, goal, to, batch, counter, flag)) } catch (e) { fail(e instanceof Error ? e : new Error(String(e))) }
        }
      })
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
