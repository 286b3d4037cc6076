/** A tiny async mutex: `run(fn)` executes `fn` after every earlier `run` settled (FIFO). */
export function createMutex() {
  let tail: Promise<unknown> = Promise.resolve()
  return {
    run<T>(fn: () => Promise<T>): Promise<T> {
      const p = tail.then(fn, fn)
      tail = p.catch(() => {})
      return p
    },
  }
}
export type Mutex = ReturnType<typeof createMutex>
