/**
 * `souk clean [--older-than <age>] [--dry-run] [--json]`: removes the run directories `souk testnet` leaves in the
 * OS temp dir when no `--data-dir` is given (`souk-testnet-*`, `souk-storage-testnet-*`, `souk-compute-testnet-*`:
 * a deployment.json, each peer's SQLite files and log, ~17 MB a CDN run), and says how much space it freed.
 *
 * Only directories of exactly those names, owned by the user running it, not symbolic links, whose newest file is
 * older than `--older-than` (default 1h), and that no running process names on its command line (a testnet's peers
 * are started with `--data-dir <run dir>/<peer>`) are removed.
 */
import type { Command } from 'commander'
import { z } from 'zod'

/** The names `mkdtemp` gives a testnet's run directory (src/node/testnet*.ts): a prefix and 6 characters. */
export const RUN_DIR = /^souk-(testnet|storage-testnet|compute-testnet)-[A-Za-z0-9]{6}$/

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }

/** `30m`, `12h`, `7d`, `2w` (or `0`: any age) in milliseconds; undefined if it is none of those. */
export function parseAge(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])?$/.exec(s.trim())
  if (!m) return undefined
  if (!m[2]) return Number(m[1]) === 0 ? 0 : undefined
  return Math.round(Number(m[1]) * UNITS[m[2]]!)
}

const Options = z.object({
  olderThan: z.string().transform((s, ctx) => {
    const ms = parseAge(s)
    if (ms === undefined) { ctx.addIssue({ code: 'custom', message: 'an age: a number with s, m, h, d or w (e.g. 30m, 12h, 7d), or 0 for any age' }); return z.NEVER }
    return ms
  }),
  dryRun: z.boolean().default(false),
  json: z.boolean().default(false),
})

const fmtBytes = (b: number) => (b < 1024 * 1024 ? `${(b / 1024).toFixed(1)} KiB` : b < 1024 ** 3 ? `${(b / 1024 ** 2).toFixed(1)} MiB` : `${(b / 1024 ** 3).toFixed(2)} GiB`)
const fmtAge = (ms: number) => (ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : ms < 2 * 86_400_000 ? `${(ms / 3_600_000).toFixed(1)} h` : `${(ms / 86_400_000).toFixed(1)} days`)

export interface RunDir { path: string; bytes: number; ageMs: number }

export function register(program: Command): void {
  program
    .command('clean')
    .description('remove old souk testnet run directories from the OS temp dir (souk-testnet-*, ~17 MB each) and say how much space that freed')
    .option('--older-than <age>', 'only directories whose newest file is older than this: 30m, 12h, 7d, 2w, or 0 for any age', '1h')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--json', 'print {dir, removed: [{path, bytes, ageMs}], skipped: [{path, reason}], freedBytes, dryRun} as JSON')
    .addHelpText('after', `
\`souk testnet\` without --data-dir keeps each run (deployment.json, every peer's SQLite state and log) in a new
directory of the OS temp dir: souk-testnet-XXXXXX (cdn), souk-storage-testnet-XXXXXX, souk-compute-testnet-XXXXXX.
Only those names are touched, only yours, and never one a running peer uses. TMPDIR sets the temp dir.

Examples:
  souk clean --dry-run                 what would go, and how much space that is
  souk clean --older-than 7d           keep the last week's runs
  souk clean --older-than 0            every run directory not in use`)
    .action(async (raw: unknown) => {
      const o = Options.parse(raw)
      const { tmpdir } = await import('node:os')
      const { lstatSync, readdirSync, readFileSync, rmSync } = await import('node:fs')
      const { join } = await import('node:path')
      const dir = tmpdir()
      const now = Date.now()
      const uid = process.getuid?.()
      // Bytes and newest modification time under `p`, without following symbolic links.
      const measure = (p: string): { bytes: number; newest: number } => {
        const s = lstatSync(p)
        let bytes = s.size, newest = s.mtimeMs
        if (s.isDirectory()) {
          for (const n of readdirSync(p)) {
            try { const m = measure(join(p, n)); bytes += m.bytes; newest = Math.max(newest, m.newest) } catch { /* gone meanwhile */ }
          }
        }
        return { bytes, newest }
      }
      // Command lines of running processes (Linux /proc): a run directory one of them names is in use.
      const inUse = (() => {
        const lines: string[] = []
        try {
          for (const pid of readdirSync('/proc')) {
            if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue
            try { lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')) } catch { /* exited */ }
          }
        } catch { /* no /proc: rely on the age alone */ }
        return (p: string) => lines.some((l) => l.includes(p + '/') || l.includes(p + ' ') || l.endsWith(p))
      })()
      const removed: RunDir[] = []
      const skipped: { path: string; reason: string }[] = []
      let names: string[] = []
      try { names = readdirSync(dir) } catch (e) {
        const { SoukError } = await import('../../core/errors.js')
        throw new SoukError(`Cannot read the temp dir ${dir}`, { code: 'CLEAN_TMPDIR', cause: e, hints: ['Set TMPDIR to the temp dir souk testnet used.'] })
      }
      for (const name of names.filter((n) => RUN_DIR.test(n)).sort()) {
        const path = join(dir, name)
        let s
        try { s = lstatSync(path) } catch { continue }
        if (!s.isDirectory()) continue // a symbolic link or a file of that name is not ours
        if (uid !== undefined && s.uid !== uid) { skipped.push({ path, reason: 'owned by another user' }); continue }
        const m = measure(path)
        const ageMs = Math.max(0, now - m.newest)
        if (ageMs < o.olderThan) { skipped.push({ path, reason: `${fmtAge(ageMs)} old, younger than --older-than ${fmtAge(o.olderThan)}` }); continue }
        if (inUse(path)) { skipped.push({ path, reason: 'in use by a running process' }); continue }
        if (!o.dryRun) {
          try { rmSync(path, { recursive: true, force: true }) } catch (e) { skipped.push({ path, reason: `could not remove it: ${(e as Error).message.split('\n')[0]}` }); continue }
        }
        removed.push({ path, bytes: m.bytes, ageMs })
      }
      const freedBytes = removed.reduce((a, r) => a + r.bytes, 0)
      if (o.json) {
        process.stdout.write(JSON.stringify({ dir, olderThanMs: o.olderThan, dryRun: o.dryRun, removed, skipped, freedBytes }, null, 2) + '\n')
        return
      }
      const L: string[] = []
      const verb = o.dryRun ? 'would remove' : 'removed'
      for (const r of removed) L.push(`${verb} ${r.path}  ${fmtBytes(r.bytes)}, ${fmtAge(r.ageMs)} old`)
      for (const x of skipped) L.push(`kept ${x.path}: ${x.reason}`)
      L.push(removed.length === 0
        ? `nothing to remove in ${dir} (run directories older than ${fmtAge(o.olderThan)}: none${skipped.length ? `; ${skipped.length} kept` : ''})`
        : o.dryRun
          ? `dry run: would free ${fmtBytes(freedBytes)} (${removed.length} run director${removed.length === 1 ? 'y' : 'ies'} in ${dir}); nothing removed`
          : `freed ${fmtBytes(freedBytes)}: ${removed.length} run director${removed.length === 1 ? 'y' : 'ies'} removed from ${dir}`)
      process.stdout.write(L.join('\n') + '\n')
    })
}
