/**
 * Starting a worker thread on one of Souk's own entry files, whether Souk runs from its TypeScript sources (through
 * tsx: the worker registers tsx's loader before importing its entry) or from compiled JavaScript.
 *
 * @example
 * ```ts
 * import { startWorker } from './workers.js'
 * const w = startWorker(new URL('./verify-worker.ts', import.meta.url))
 * ```
 */
import { Worker } from 'node:worker_threads'

export function startWorker(entry: URL): Worker {
  return entry.pathname.endsWith('.ts')
    ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}) })`, { eval: true })
    : new Worker(entry)
}
