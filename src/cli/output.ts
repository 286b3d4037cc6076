/**
 * Safe output paths for every `souk` command that writes files (`-o <dir>` of `threat report`, `viability`, `market`;
 * `--out <file>` of `key new|import`; `--data-dir` of `souk node`). The rules, the same everywhere:
 *
 * - `-o`/`--data-dir` names a **directory**. It and its missing parents are created one level at a time (never
 *   `mkdirSync(..., { recursive: true })`, which loops forever on a path under /proc); a path that exists and is not
 *   a directory (`-o README.md`), a path under a file (`-o /etc/passwd/x`), a directory that cannot be created or
 *   written, and anything under /proc or /sys fail with an {@link OutputPathError} naming the flag and the path.
 * - Souk writes only files with its own names into that directory (`<model>.threat.md`, `viability-<preset>.html`,
 *   `market.html`, `*.sqlite`) and replaces an earlier file of the same name (the previous run's); it never touches
 *   the directory's other files. A name that exists as something other than a regular file (a directory, a FIFO, a
 *   device) is refused: writing into a FIFO would block forever.
 * - `--out <file>` names a **file**: an existing file is refused unless the command was given `--force`.
 *
 * @example
 * ```ts
 * import { mkdtempSync } from 'node:fs'
 * import { tmpdir } from 'node:os'
 * import { join } from 'node:path'
 * import { prepareOutputDir, writeOutputFile } from './src/cli/output.js'
 * const dir = prepareOutputDir(join(mkdtempSync(join(tmpdir(), 'souk-out-')), 'reports', 'cdn'), '-o')
 * const file = writeOutputFile(join(dir, 'cdn.threat.md'), '# report\n', { flag: '-o' })
 * ```
 */
import { accessSync, constants, lstatSync, mkdirSync, statSync, writeFileSync, type Stats } from 'node:fs'
import { dirname, relative, resolve, sep } from 'node:path'
import { SoukError } from '../core/errors.js'

/** An output path Souk will not or cannot write: named with the flag the user gave it and what to do. */
export class OutputPathError extends SoukError {
  override name = 'OutputPathError'
}

/** Kernel file systems: nothing Souk writes belongs there (and mkdir under /proc never returns with recursive). */
const SPECIAL = ['/proc', '/sys']

const stat = (p: string): Stats | undefined => {
  try { return statSync(p) } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'ENOTDIR') throw new OutputPathError(`${p} is under a file, not a directory`, { code: 'OUTPUT_PATH', cause: e })
    throw e
  }
}

const what = (s: Stats) => (s.isFile() ? 'a file' : s.isDirectory() ? 'a directory' : s.isFIFO() ? 'a named pipe' : s.isSocket() ? 'a socket' : s.isCharacterDevice() || s.isBlockDevice() ? 'a device' : 'not a regular file')

const errnoText = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException)?.code
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EROFS') return 'the file system is read-only'
  if (code === 'ENOSPC') return 'no space left on the device'
  if (code === 'ENOENT') return 'the file system does not allow it'
  if (code === 'ENOTDIR') return 'a part of the path is a file'
  if (code === 'EISDIR') return 'it is a directory'
  return String((e as Error)?.message ?? e).split('\n')[0]
}

/** An example value for a directory flag's hint. */
const example = (flag: string) => (flag === '--data-dir' ? '.souk/run-1' : 'reports')

function refuseSpecial(path: string, flag: string, given: string): void {
  for (const s of SPECIAL) {
    if (path === s || path.startsWith(s + sep)) {
      throw new OutputPathError(`${flag} ${given}: ${s} is a kernel file system, not a place for Souk's files`, { code: 'OUTPUT_PATH', hints: [`Pass ${flag} <a directory you can write>, e.g. ${flag} ${example(flag)}.`] })
    }
  }
}

/**
 * Makes `dir` a writable directory (creating it and its parents) and returns its absolute path; throws an
 * {@link OutputPathError} naming `flag` otherwise. Bounded: one `mkdir` per missing path component.
 */
export function prepareOutputDir(dir: string, flag = '-o'): string {
  const abs = resolve(dir)
  refuseSpecial(abs, flag, dir)
  const hint = `Pass ${flag} <a directory> (created if missing), e.g. ${flag} ${example(flag)}.`
  // The existing prefix: each component from the root must be a directory (or missing: then all below it are).
  const parts = abs.split(sep).filter(Boolean)
  let missingFrom = parts.length
  for (let i = 1; i <= parts.length; i++) {
    const p = sep + parts.slice(0, i).join(sep)
    let s: Stats | undefined
    try { s = stat(p) } catch (e) {
      throw new OutputPathError(`${flag} ${dir}: cannot use ${p} (${errnoText(e)})`, { code: 'OUTPUT_PATH', cause: e, hints: [hint] })
    }
    if (!s) { missingFrom = i - 1; break }
    if (!s.isDirectory()) {
      const msg = i === parts.length
        ? `${flag} ${dir} is ${what(s)}, not a directory: ${flag} names the directory Souk writes its files into`
        : `${flag} ${dir} is under ${p}, which is ${what(s)}, not a directory`
      throw new OutputPathError(msg, { code: 'OUTPUT_PATH', hints: [hint] })
    }
  }
  for (let i = missingFrom + 1; i <= parts.length; i++) {
    const p = sep + parts.slice(0, i).join(sep)
    try { mkdirSync(p) } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EEXIST' && stat(p)?.isDirectory()) continue // made meanwhile by someone else
      throw new OutputPathError(`${flag} ${dir}: cannot create the directory ${p} (${errnoText(e)})`, { code: 'OUTPUT_PATH', cause: e, hints: [hint] })
    }
  }
  try { accessSync(abs, constants.W_OK | constants.X_OK) } catch (e) {
    throw new OutputPathError(`${flag} ${dir}: cannot write into ${abs} (${errnoText(e)})`, { code: 'OUTPUT_PATH', cause: e, hints: [hint] })
  }
  return abs
}

export interface WriteOutputOptions {
  /** The flag the path came from, for the message (`-o`, `--out`). */
  flag: string
  /** A file the user named (`--out key.json`): refuse an existing one unless `force`. Default false: a file of
   * Souk's own name in an output directory, replaced when it is a regular file. */
  userNamed?: boolean
  force?: boolean
  /** File mode for a new file (e.g. 0o600 for a keystore). */
  mode?: number
}

/**
 * Writes `data` to `path` by the rules above and returns the path written (as given). Never blocks on a special
 * file: anything that exists and is not a regular file is refused before it is opened.
 */
export function writeOutputFile(path: string, data: string | Uint8Array, o: WriteOutputOptions): string {
  const abs = resolve(path)
  refuseSpecial(abs, o.flag, path)
  let s: Stats | undefined
  try { s = lstatSync(abs) } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOTDIR') throw new OutputPathError(`${o.flag} ${path} is under a file, not a directory`, { code: 'OUTPUT_PATH', cause: e, hints: [`Pass ${o.flag} <a path in an existing directory>.`] })
    if (code !== 'ENOENT') throw new OutputPathError(`${o.flag} ${path}: cannot use it (${errnoText(e)})`, { code: 'OUTPUT_PATH', cause: e })
  }
  if (s?.isSymbolicLink()) s = stat(abs) ?? s
  if (s && !s.isFile()) throw new OutputPathError(`Cannot write ${path} (${o.flag}): it exists and is ${what(s)}, not a file Souk may replace`, { code: 'OUTPUT_PATH', hints: [o.userNamed ? `Pass ${o.flag} <another path>.` : `Pass ${o.flag} <another directory>, or remove ${path}.`] })
  if (s && o.userNamed && !o.force) throw new OutputPathError(`${o.flag} ${path} exists`, { code: 'OUTPUT_EXISTS', hints: [`Choose another ${o.flag}, or pass --force to overwrite it.`] })
  const parent = dirname(abs)
  const ps = (() => { try { return stat(parent) } catch { return undefined } })()
  if (!ps?.isDirectory()) {
    throw new OutputPathError(`${o.flag} ${path}: the directory ${relative(process.cwd(), parent) || parent} does not exist${ps ? ` (it is ${what(ps)})` : ''}`, { code: 'OUTPUT_PATH', hints: ['Create the directory first, or choose a path in an existing one.'] })
  }
  try {
    writeFileSync(abs, data, { mode: o.mode, flag: s ? 'w' : 'wx' })
  } catch (e) {
    const exists = (e as NodeJS.ErrnoException).code === 'EEXIST'
    if (exists && o.userNamed && !o.force) throw new OutputPathError(`${o.flag} ${path} exists`, { code: 'OUTPUT_EXISTS', cause: e, hints: [`Choose another ${o.flag}, or pass --force to overwrite it.`] })
    throw new OutputPathError(`${o.flag} ${path}: cannot write it (${errnoText(e)})`, { code: 'OUTPUT_PATH', cause: e, hints: [`Pass ${o.flag} <a writable path>.`] })
  }
  return path
}
