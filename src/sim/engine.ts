/**
 * The discrete-event engine: one queue of timed events, a clock that only the queue moves, and a gate that keeps
 * time still while work outside the queue is in flight.
 *
 * Spec:
 * - An event is (at, seq, fn). Events run in order of `at`, then of `seq` (the order they were scheduled): ties are
 *   broken deterministically, never by the heap's layout. `at` is clamped to now: nothing runs in the past.
 * - `clock` is a `Clock` (src/core/clock.ts) over the queue: `sleep` and `setTimer` schedule events; `now()` is the
 *   time of the event being run (ms since the run started, plus `start`).
 * - `runSync` pops and runs events back to back: for models whose events are plain callbacks.
 * - `run` is for real role code, whose work continues on promises after an event's callback returns. Before time
 *   moves to the next instant, `run` waits until the process is quiescent: every microtask has run (a macrotask turn)
 *   and every promise handed to `external` (the chain's requests) has settled, repeated until nothing is in flight.
 *   All events due at one instant run back to back; time then moves. So a role's computation takes no simulated
 *   time, timeouts fire only when simulated time passes, and the interleaving of roles is a function of the event
 *   order alone: the same schedule gives the same run.
 * - Cancelled events stay in the heap, marked, and are skipped when popped (lazy deletion).
 *
 * The heap is 4-ary, over two arrays (interleaved times and seqs, callbacks) with no object per event.
 *
 * @example
 * ```ts
 * import { createEngine } from './src/sim/engine.js'
 * const engine = createEngine()
 * const seen: number[] = []
 * engine.after(20, () => seen.push(engine.now()))
 * const slept = engine.clock.sleep(10).then(() => seen.push(engine.now()))
 * await engine.run()
 * await slept
 * console.log(seen) // [10, 20]
 * ```
 */
import type { Clock } from '../core/clock.js'
import { SoukError } from '../core/errors.js'

export class SimError extends SoukError {
  override name = 'SimError'
}

export interface EngineStats {
  /** Events run (cancelled ones not counted). */
  events: number
  /** Distinct instants the clock moved through in `run`. */
  instants: number
  /** Most events ever pending at once. */
  maxPending: number
  /** Calls to `external`. */
  externalCalls: number
}

export interface RunOptions {
  /** Stop before the first event after this time (the clock is left at `until`). */
  until?: number
  /** Checked at every instant once the process is quiescent: `true` ends the run. */
  stopWhen?: () => boolean
  signal?: AbortSignal
}

export interface RunOutcome {
  /** Why the run ended: no event left, the time limit, `stopWhen`, or the signal. */
  reason: 'idle' | 'until' | 'stopped' | 'aborted'
  now: number
}

export interface Engine {
  /** The clock roles are given. */
  readonly clock: Clock
  now(): number
  /** Runs `fn` at time `at` (clamped to now); returns a cancel function. */
  schedule(at: number, fn: () => void): () => void
  /** Runs `fn` after `ms`; returns a cancel function. */
  after(ms: number, fn: () => void): () => void
  /** `schedule` without a cancel function (no allocation): the hot path of callback models. */
  post(at: number, fn: () => void): void
  /** Events pending (cancelled ones included until popped). */
  pending(): number
  /** Time of the next pending event, or undefined. */
  peekTime(): number | undefined
  /** Pops and runs the next event; false when none is left. */
  step(): boolean
  /** Runs events back to back, synchronously (callback models); returns how many ran. */
  runSync(opts?: { until?: number; maxEvents?: number }): number
  /** Runs events for real role code, waiting for quiescence before each new instant. */
  run(opts?: RunOptions): Promise<RunOutcome>
  /** Marks `p` as work outside the queue: time does not move until it settles. Returns `p`. */
  external<T>(p: Promise<T>): Promise<T>
  stats(): EngineStats
}

const NOOP = (): void => {}
const macrotask = (): Promise<void> => new Promise((r) => setImmediate(r))

export function createEngine(opts: { start?: number; initialCapacity?: number } = {}): Engine {
  let cap = Math.max(16, opts.initialCapacity ?? 1024)
  let keys = new Float64Array(2 * cap)
  let fns: ((() => void) | null)[] = new Array(cap)
  let size = 0
  let seq = 0
  let now = opts.start ?? 0
  let events = 0
  let instants = 0
  let maxPending = 0
  let externalCalls = 0
  const inflight = new Set<Promise<unknown>>()

  const grow = () => {
    cap *= 2
    const k = new Float64Array(2 * cap); k.set(keys); keys = k
    fns.length = cap
  }

  // keys[2i] = time, keys[2i + 1] = seq of heap entry i (interleaved: one cache line holds both). A 4-ary heap:
  // half the depth of a binary one, and the four children of a node are adjacent in memory.
  const push = (at: number, fn: () => void): void => {
    if (size === cap) grow()
    const q = seq++
    let i = size++
    while (i > 0) {
      const p = (i - 1) >> 2
      const pt = keys[2 * p]
      if (pt < at || (pt === at && keys[2 * p + 1] < q)) break
      keys[2 * i] = pt; keys[2 * i + 1] = keys[2 * p + 1]; fns[i] = fns[p]
      i = p
    }
    keys[2 * i] = at; keys[2 * i + 1] = q; fns[i] = fn
    if (size > maxPending) maxPending = size
  }

  /** Removes the top entry (the caller read it first). */
  const popTop = () => {
    const last = --size
    if (last === 0) { fns[0] = null; return }
    const at = keys[2 * last], q = keys[2 * last + 1], fn = fns[last]
    fns[last] = null
    let i = 0
    for (;;) {
      const first = 4 * i + 1
      if (first >= last) break
      let c = first
      let ct = keys[2 * c], cq = keys[2 * c + 1]
      const end = first + 4 < last ? first + 4 : last
      for (let j = first + 1; j < end; j++) {
        const jt = keys[2 * j]
        if (jt < ct || (jt === ct && keys[2 * j + 1] < cq)) { c = j; ct = jt; cq = keys[2 * j + 1] }
      }
      if (at < ct || (at === ct && q < cq)) break
      keys[2 * i] = ct; keys[2 * i + 1] = cq; fns[i] = fns[c]
      i = c
    }
    keys[2 * i] = at; keys[2 * i + 1] = q; fns[i] = fn
  }

  const schedule = (at: number, fn: () => void): (() => void) => {
    if (!Number.isFinite(at)) throw new SimError(`An event was scheduled at ${at}`, { code: 'SIM_BAD_TIME', hints: ['Event times must be finite numbers of milliseconds.'] })
    // A cancel marks the callback by identity: the entry may have moved in the heap since.
    const box = { fn }
    push(at < now ? now : at, () => box.fn())
    return () => { box.fn = NOOP }
  }

  const step = (): boolean => {
    if (size === 0) return false
    const fn = fns[0]!
    now = keys[0]
    popTop()
    events++
    fn()
    return true
  }

  const quiesce = async () => {
    for (;;) {
      await macrotask()
      if (inflight.size === 0) return
      await Promise.allSettled([...inflight])
    }
  }

  const clock: Clock = {
    now: () => now,
    sleep(ms, o) {
      return new Promise<void>((resolve, reject) => {
        const signal = o?.signal
        if (signal?.aborted) return reject(signal.reason)
        const onAbort = () => { cancel(); reject(signal!.reason) }
        const cancel = schedule(now + Math.max(0, ms), () => { signal?.removeEventListener('abort', onAbort); resolve() })
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    },
    setTimer: (ms, fn) => schedule(now + Math.max(0, ms), fn),
  }

  return {
    clock,
    now: () => now,
    schedule,
    after: (ms, fn) => schedule(now + Math.max(0, ms), fn),
    post(at, fn) {
      if (!(at >= now)) { if (!Number.isFinite(at)) throw new SimError(`An event was scheduled at ${at}`, { code: 'SIM_BAD_TIME', hints: ['Event times must be finite numbers of milliseconds.'] }); at = now }
      push(at, fn)
    },
    pending: () => size,
    peekTime: () => (size > 0 ? keys[0] : undefined),
    step,
    runSync(o = {}) {
      const until = o.until ?? Infinity
      const max = o.maxEvents ?? Infinity
      let n = 0
      while (size > 0 && n < max && keys[0] <= until) { step(); n++ }
      if (size === 0 || keys[0] > until) if (until !== Infinity && until > now) now = until
      return n
    },
    async run(o = {}) {
      const until = o.until ?? Infinity
      for (;;) {
        await quiesce()
        if (o.signal?.aborted) return { reason: 'aborted', now }
        if (o.stopWhen?.()) return { reason: 'stopped', now }
        if (size === 0) return { reason: 'idle', now }
        const t = keys[0]
        if (t > until) { if (until > now) now = until; return { reason: 'until', now } }
        instants++
        while (size > 0 && keys[0] === t) step()
      }
    },
    external<T>(p: Promise<T>): Promise<T> {
      externalCalls++
      inflight.add(p)
      const done = () => { inflight.delete(p) }
      p.then(done, done)
      return p
    },
    stats: () => ({ events, instants, maxPending, externalCalls }),
  }
}
