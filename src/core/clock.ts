/**
 * Time as an injected component. Protocol code never calls `Date.now()` or `setTimeout` itself: it asks its
 * `Clock`, so the simulator can run the same code on virtual time.
 *
 * @example
 * ```ts
 * import { systemClock, manualClock } from './clock.js'
 * const c = manualClock(0)
 * const p = c.sleep(100)
 * c.advance(100) // resolves p
 * await p
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch (or since the simulation started). */
  now(): number
  /** Resolves after `ms`; rejects with the signal's reason when aborted. */
  sleep(ms: number, opts?: { signal?: AbortSignal }): Promise<void>
  /** Calls `fn` after `ms`; returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void
}

export function systemClock(): Clock {
  return {
    now: () => Date.now(),
    sleep(ms, opts) {
      return new Promise<void>((resolve, reject) => {
        if (opts?.signal?.aborted) return reject(opts.signal.reason)
        const t = setTimeout(() => { opts?.signal?.removeEventListener('abort', onAbort); resolve() }, ms)
        const onAbort = () => { clearTimeout(t); reject(opts!.signal!.reason) }
        opts?.signal?.addEventListener('abort', onAbort, { once: true })
      })
    },
    setTimer(ms, fn) {
      const t = setTimeout(fn, ms)
      return () => clearTimeout(t)
    },
  }
}

export interface ManualClock extends Clock {
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void
  /** Number of pending timers. */
  pending(): number
}

/** A clock that only moves when told to: for tests and the discrete-event simulator. */
export function manualClock(start = 0): ManualClock {
  let now = start
  let seq = 0
  const timers: { at: number; seq: number; fn: () => void }[] = []
  const add = (ms: number, fn: () => void) => {
    const t = { at: now + Math.max(0, ms), seq: seq++, fn }
    timers.push(t)
    timers.sort((a, b) => a.at - b.at || a.seq - b.seq)
    return () => { const i = timers.indexOf(t); if (i >= 0) timers.splice(i, 1) }
  }
  return {
    now: () => now,
    sleep(ms, opts) {
      return new Promise<void>((resolve, reject) => {
        if (opts?.signal?.aborted) return reject(opts.signal.reason)
        const cancel = add(ms, () => { opts?.signal?.removeEventListener('abort', onAbort); resolve() })
        const onAbort = () => { cancel(); reject(opts!.signal!.reason) }
        opts?.signal?.addEventListener('abort', onAbort, { once: true })
      })
    },
    setTimer: add,
    advance(ms) {
      const end = now + ms
      while (timers.length > 0 && timers[0].at <= end) {
        const t = timers.shift()!
        now = t.at
        t.fn()
      }
      now = end
    },
    pending: () => timers.length,
  }
}

/**
 * `clock` read `offsetMs` later: the same timers, `now()` shifted. A role whose clock counts from another origin than
 * its chain's block times (the simulator's counts from the run's start, its chain from a genesis date) is given the
 * difference, so deal times it signs and checks agree with the chain's.
 */
export function offsetClock(clock: Clock, offsetMs: number): Clock {
  if (!offsetMs) return clock
  return { now: () => clock.now() + offsetMs, sleep: (ms, o) => clock.sleep(ms, o), setTimer: (ms, fn) => clock.setTimer(ms, fn) }
}
