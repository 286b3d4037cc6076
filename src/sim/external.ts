/**
 * `RoleComponents.external` in the simulator: work a role awaits outside the engine's queue (sharp's transcoding on
 * libuv's threads) is handed to `engine.external`, so simulated time stands still until it settles, and its result
 * is delivered by an event scheduled when the work began, at that instant: after every work in flight has settled
 * (the engine runs no event before), in the order the works began. Two roles whose works overlap resume in the same
 * order whichever finished first in wall time, so the run stays a function of its seed.
 *
 * @example
 * ```ts
 * import { createEngine } from './src/sim/engine.js'
 * import { externalWork } from './src/sim/external.js'
 * const engine = createEngine()
 * const external = externalWork(engine)
 * const seen: string[] = []
 * void external(() => new Promise((r) => setTimeout(r, 20))).then(() => seen.push('slow'))
 * void external(async () => {}).then(() => seen.push('fast'))
 * await engine.run()
 * console.log(seen, engine.now()) // [ 'slow', 'fast' ] 0
 * ```
 */
import type { Engine } from './engine.js'

export function externalWork(engine: Pick<Engine, 'external' | 'after'>): <T>(work: () => Promise<T>) => Promise<T> {
  return <T>(work: () => Promise<T>) => new Promise<T>((resolve, reject) => {
    let out: { ok: true; value: T } | { ok: false; error: unknown } | undefined
    const settled = Promise.resolve().then(work).then((value) => { out = { ok: true, value } }, (error: unknown) => { out = { ok: false, error } })
    engine.external(settled)
    engine.after(0, () => {
      if (!out) { void settled.then(() => (out!.ok ? resolve(out!.value) : reject(out!.error))); return }
      if (out.ok) resolve(out.value)
      else reject(out.error)
    })
  })
}
