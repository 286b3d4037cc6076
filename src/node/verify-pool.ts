/**
 * A {@link SignatureVerifier} on node:worker_threads: signature checks a payee asks for at about the same time go to
 * the least busy worker in batches (16 at once as soon as they are queued, the rest at the end of the event-loop
 * turn), so a busy payee verifies on every core while its own thread prepares the next batch. A single verify waits one turn and a round trip (~0.1 ms): the pool
 * pays off with many concurrent payments, not one stream. Workers start on first use, do not keep the process
 * alive while idle, and `close()` ends them.
 *
 * @example
 * ```ts
 * import { createVerifierPool } from './verify-pool.js'
 * const verifier = createVerifierPool({ workers: 2 })
 * // createLotteryPayee({ ...ctx, verifier }) — or directly:
 * const ok = await verifier.verify(digest, sig, publicKey)
 * await verifier.close()
 * ```
 */
import type { Worker } from 'node:worker_threads'
import { startWorker } from './workers.js'
import { availableParallelism } from 'node:os'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { SignatureVerifier } from '../crypto/secp256k1.js'

const RECORD = 32 + 65 + 65

export interface VerifierPoolOptions {
  /** Worker threads (default: os.availableParallelism()). */
  workers?: number
  /** Most signatures in one message to a worker (default 256). */
  maxBatch?: number
  /** Signatures queued that are sent at once, without waiting for the end of the event-loop turn (default 16). */
  eagerBatch?: number
}

export interface VerifierPool extends SignatureVerifier {
  readonly size: number
  /** Messages sent to workers and signatures in them so far (their ratio is the mean batch). */
  stats(): { messages: number; signatures: number }
  /** Starts the workers and resolves once each has loaded and answered (a worker's start-up takes ~0.1-1 s). */
  ready(): Promise<void>
  /** Terminates the workers (pending checks fail); the pool restarts them if used again. */
  close(): Promise<void>
}

type Waiter = { resolve: (ok: boolean) => void; reject: (e: Error) => void }

export function createVerifierPool(opts: VerifierPoolOptions = {}): VerifierPool {
  const size = Math.max(1, Math.floor(opts.workers ?? availableParallelism()))
  const maxBatch = Math.max(1, opts.maxBatch ?? 256)
  const eager = Math.max(1, opts.eagerBatch ?? 16)
  const entry = new URL(`./verify-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url)
  let workers: Worker[] = []
  const jobs = new Map<number, { waiters: Waiter[]; worker: number }>()
  let nextId = 0
  const load: number[] = Array.from({ length: size }, () => 0)
  let queue: { rec: Uint8Array; w: Waiter }[] = []
  let flushing = false
  let inFlight = 0
  const counts = { messages: 0, signatures: 0 }

  const start = () => {
    if (workers.length) return
    workers = Array.from({ length: size }, () => {
      const w = startWorker(entry)
      w.unref()
      w.on('message', (m: { id: number; ok: Uint8Array }) => {
        const job = jobs.get(m.id)
        if (!job) return
        jobs.delete(m.id)
        load[job.worker]! -= job.waiters.length
        job.waiters.forEach((x, i) => x.resolve(m.ok[i] === 1))
        if (--inFlight === 0) for (const x of workers) x.unref()
      })
      w.on('error', (e) => fail(e))
      return w
    })
  }
  const fail = (e: Error) => {
    for (const job of jobs.values()) for (const x of job.waiters) x.reject(new Error(`signature verifier worker: ${e.message}`))
    jobs.clear()
    inFlight = 0
    load.fill(0)
  }

  const flush = () => {
    flushing = false
    const items = queue
    queue = []
    send(items)
  }
  const send = (items: { rec: Uint8Array; w: Waiter }[]) => {
    // Split evenly over the workers, at most maxBatch a message, never below an eager batch.
    const per = Math.min(maxBatch, Math.max(eager, Math.ceil(items.length / size)))
    for (let i = 0; i < items.length; i += per) {
      const part = items.slice(i, i + per)
      const data = new Uint8Array(part.length * RECORD)
      part.forEach((x, j) => data.set(x.rec, j * RECORD))
      counts.messages++
      counts.signatures += part.length
      const id = nextId++
      // The least busy worker (by signatures in flight), so a worker still on its last batch is not queued behind.
      let wi = 0
      for (let k = 1; k < size; k++) if (load[k]! < load[wi]!) wi = k
      load[wi]! += part.length
      jobs.set(id, { waiters: part.map((x) => x.w), worker: wi })
      if (inFlight++ === 0) for (const x of workers) x.ref()
      workers[wi]!.postMessage({ id, data: data.buffer }, [data.buffer])
    }
  }

  return {
    size,
    stats: () => ({ ...counts }),
    async ready() {
      start()
      await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
        const id = nextId++
        const wi = workers.indexOf(w)
        load[wi]! += 1
        jobs.set(id, { waiters: [{ resolve: () => resolve(), reject }], worker: wi })
        if (inFlight++ === 0) for (const x of workers) x.ref()
        // An empty batch: the worker answers once it runs.
        w.postMessage({ id, data: new ArrayBuffer(0) })
      })))
    },
    verify(digest, sig, pub) {
      if (digest.length !== 32 || sig.length !== 65 || pub.length !== 65) return Promise.resolve(false)
      start()
      const rec = new Uint8Array(RECORD)
      rec.set(digest, 0)
      rec.set(sig, 32)
      rec.set(pub, 97)
      return new Promise<boolean>((resolve, reject) => {
        queue.push({ rec, w: { resolve, reject } })
        // A full batch goes at once, so a worker starts on it while this thread prepares the next; the rest at the
        // end of this turn of the event loop.
        if (queue.length >= eager) send(queue.splice(0, queue.length))
        else if (!flushing) {
          flushing = true
          setImmediate(flush)
        }
      })
    },
    async close() {
      const ws = workers
      workers = []
      fail(new Error('the pool was closed'))
      for (const x of queue) x.w.reject(new Error('signature verifier: the pool was closed'))
      queue = []
      await Promise.all(ws.map((w) => w.terminate()))
    },
  }
}
