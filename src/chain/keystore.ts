/**
 * Encrypted key files (Web3 Secret Storage v3: scrypt + AES-128-CTR + keccak MAC), and loading a signing key
 * from a keystore file or an environment variable for remote chains.
 *
 * @example
 * ```ts
 * import { encryptKeystore, decryptKeystore } from './keystore.js'
 * const json = encryptKeystore('0x' + '11'.repeat(32), 'pass', { n: 1024 })
 * decryptKeystore(json, 'pass') // '0x1111…'
 * ```
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID, scryptSync, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { keccak_256 } from '@noble/hashes/sha3.js'
import type { Address, Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { SoukError } from '../core/errors.js'

export class KeystoreError extends SoukError {
  override name = 'KeystoreError'
}

export interface KeystoreV3 {
  version: 3
  id: string
  address: string
  crypto: {
    cipher: 'aes-128-ctr'
    ciphertext: string
    cipherparams: { iv: string }
    kdf: 'scrypt'
    kdfparams: { n: number; r: number; p: number; dklen: number; salt: string }
    mac: string
  }
}

export function encryptKeystore(privateKey: Hex, password: string, opts: { n?: number } = {}): KeystoreV3 {
  const n = opts.n ?? 1 << 17
  const salt = randomBytes(32)
  const iv = randomBytes(16)
  const dk = scryptSync(password, salt, 32, { N: n, r: 8, p: 1, maxmem: 256 * n * 8 * 2 })
  const c = createCipheriv('aes-128-ctr', dk.subarray(0, 16), iv)
  const ct = Buffer.concat([c.update(Buffer.from(privateKey.slice(2), 'hex')), c.final()])
  const mac = keccak_256(Buffer.concat([dk.subarray(16, 32), ct]))
  return {
    version: 3,
    id: randomUUID(),
    address: privateKeyToAddress(privateKey).slice(2).toLowerCase(),
    crypto: {
      cipher: 'aes-128-ctr',
      ciphertext: ct.toString('hex'),
      cipherparams: { iv: iv.toString('hex') },
      kdf: 'scrypt',
      kdfparams: { n, r: 8, p: 1, dklen: 32, salt: salt.toString('hex') },
      mac: Buffer.from(mac).toString('hex'),
    },
  }
}

export function decryptKeystore(ks: KeystoreV3, password: string): Hex {
  if (ks?.version !== 3 || ks.crypto?.kdf !== 'scrypt' || ks.crypto?.cipher !== 'aes-128-ctr') {
    throw new KeystoreError('Unsupported keystore format', { hints: ['Souk reads Web3 Secret Storage v3 files with scrypt and aes-128-ctr.'] })
  }
  const { n, r, p, dklen, salt } = ks.crypto.kdfparams
  const dk = scryptSync(password, Buffer.from(salt, 'hex'), dklen, { N: n, r, p, maxmem: 256 * n * r * 2 })
  const ct = Buffer.from(ks.crypto.ciphertext, 'hex')
  const mac = Buffer.from(keccak_256(Buffer.concat([dk.subarray(16, 32), ct])))
  const want = Buffer.from(ks.crypto.mac, 'hex')
  if (mac.length !== want.length || !timingSafeEqual(mac, want)) {
    throw new KeystoreError('Wrong password for keystore', { code: 'KEYSTORE_PASSWORD', hints: ['Check the password (--password-file or SOUK_KEY_PASSWORD).'] })
  }
  const d = createDecipheriv('aes-128-ctr', dk.subarray(0, 16), Buffer.from(ks.crypto.cipherparams.iv, 'hex'))
  return `0x${Buffer.concat([d.update(ct), d.final()]).toString('hex')}` as Hex
}

/** Where a keystore's password comes from: `--password-file`, then SOUK_KEY_PASSWORD (SOUK_KEYSTORE_PASSWORD, its old name). */
export const KEY_PASSWORD_ENV = 'SOUK_KEY_PASSWORD'
/** Where a raw signing key comes from when no `--key` is given. */
export const PRIVATE_KEY_ENV = 'SOUK_PRIVATE_KEY'
const HEX_KEY = /^0x[0-9a-fA-F]{64}$/

/**
 * The signing key for a remote chain: from `keystorePath` (+ password) or from the environment variable
 * `envVar` (default SOUK_PRIVATE_KEY).
 */
export function loadSigningKey(opts: { keystorePath?: string; password?: string; envVar?: string; env?: Record<string, string | undefined> }): Hex {
  const env = opts.env ?? process.env
  if (opts.keystorePath) {
    let json: KeystoreV3
    try {
      json = JSON.parse(readFileSync(opts.keystorePath, 'utf8')) as KeystoreV3
    } catch (e) {
      throw new KeystoreError(`Cannot read keystore ${opts.keystorePath}`, { code: 'KEYSTORE_READ', cause: e, hints: [`Check the path; create one with \`souk key new --out ${opts.keystorePath}\`.`] })
    }
    const pw = opts.password ?? env[KEY_PASSWORD_ENV] ?? env.SOUK_KEYSTORE_PASSWORD
    if (pw === undefined) throw new KeystoreError(`No password for keystore ${opts.keystorePath}`, { code: 'KEYSTORE_NO_PASSWORD', hints: [`Pass --password-file <file> or set ${KEY_PASSWORD_ENV}.`] })
    return decryptKeystore(json, pw)
  }
  const name = opts.envVar ?? PRIVATE_KEY_ENV
  const v = env[name]
  if (!v) throw new KeystoreError(`No signing key: ${name} is not set and no keystore was given`, { code: 'KEY_MISSING', hints: [`Set ${name}=0x… or pass --key <keystore file>; create one with \`souk key new --out key.json\`.`] })
  if (!HEX_KEY.test(v)) throw new KeystoreError(`${name} is not a 32-byte hex private key`, { code: 'KEY_FORMAT', hints: ['It must look like 0x followed by 64 hex digits.'] })
  return v as Hex
}

/** Reads a password file: its first line, without the line break (a file written by `echo` works). */
export function readPasswordFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').split(/\r?\n/)[0]
  } catch (e) {
    throw new KeystoreError(`Cannot read password file ${path}`, { code: 'KEYSTORE_PASSWORD_FILE', cause: e, hints: ['Check the path of --password-file.'] })
  }
}

/**
 * The one way a command gets the key it sends transactions with: `key` (a `--key` flag: a 0x hex key or the path of
 * a Web3 v3 keystore), else the first of `envVars` that is set (default SOUK_PRIVATE_KEY; a hex key). A keystore's
 * password comes from `passwordFile`, else SOUK_KEY_PASSWORD. Returns undefined when none is given (the caller
 * decides whether it needs one); throws a `KeystoreError` with a hint for a bad key, a missing file or a wrong
 * password. The key itself is never part of a message.
 *
 * @example
 * ```ts
 * resolveSigningKey({ key: 'keys/cache.json', passwordFile: 'keys/pw' }) // { key: '0x…', address: '0x…', source: 'keystore keys/cache.json' }
 * resolveSigningKey({ env: { SOUK_PRIVATE_KEY: '0x' + '11'.repeat(32) } })?.source // 'SOUK_PRIVATE_KEY'
 * ```
 */
export function resolveSigningKey(opts: { key?: string; passwordFile?: string; envVars?: string[]; env?: Record<string, string | undefined> }): { key: Hex; address: Address; source: string } | undefined {
  const env = opts.env ?? process.env
  const password = opts.passwordFile !== undefined ? readPasswordFile(opts.passwordFile) : undefined
  const done = (key: Hex, source: string) => ({ key, address: privateKeyToAddress(key).toLowerCase() as Address, source })
  if (opts.key !== undefined && opts.key !== '') {
    const k = opts.key.trim()
    if (HEX_KEY.test(k)) return done(k as Hex, '--key')
    if (/^(0x)?[0-9a-fA-F]+$/.test(k) && !existsSync(k)) throw new KeystoreError('--key is neither a 32-byte hex key nor a keystore file', { code: 'KEY_FORMAT', hints: ['Pass 0x followed by 64 hex digits, or the path of a keystore (`souk key new --out key.json`).'] })
    return done(loadSigningKey({ keystorePath: k, password, env }), `keystore ${k}`)
  }
  for (const name of opts.envVars ?? [PRIVATE_KEY_ENV]) if (env[name]) return done(loadSigningKey({ envVar: name, env }), name)
  return undefined
}
