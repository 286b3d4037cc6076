/**
 * Components for payment roles in tests: a manual clock (time moves only when the test says), a seeded random
 * stream and a memory logger. Not exported from the payment layer's index: tests import it by path.
 *
 * Each call gives a new stream: the n-th call with `label` (counted from 0 in this process) draws from
 * `seededRng(label + '#' + n)`. So a restarted role, or a second issuer built the same way, never replays the
 * lane ids, rands or salts of the first (a real node's CSPRNG never would), and a test file's streams are the same
 * on every run as long as it builds its roles in the same order.
 *
 * @example
 * ```ts
 * import { testComponents } from '../testing.js'
 * const payee = await createLotteryPayee({ chain, deployment, key, ...testComponents('payee.test/a') })
 * ```
 */
import { manualClock, type ManualClock } from '../core/clock.js'
import { memoryLogger, type LogEntry, type Logger } from '../core/logger.js'
import { seededRng, type Rng } from '../crypto/rng.js'

const calls = new Map<string, number>()

/** `clock`, `rng` and `logger` of a `SchemeContext`, for a test (see the module comment for `label`). */
export function testComponents(label: string, start = 0): { clock: ManualClock; rng: Rng; logger: Logger & { entries: LogEntry[] } } {
  const n = calls.get(label) ?? 0
  calls.set(label, n + 1)
  const clock = manualClock(start)
  return { clock, rng: seededRng(`${label}#${n}`), logger: memoryLogger({ now: clock.now }) }
}
