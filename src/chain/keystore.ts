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
import { readFileSync } from 'node:fs'
import { keccak_256 } from '@noble/hashes/sha3.js'
import type { Hex } from 'viem'
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
    throw new KeystoreError('Wrong password for keystore', { code: 'KEYSTORE_PASSWORD', hints: ['Check the password (SOUK_KEYSTORE_PASSWORD or the prompt).'] })
  }
  const d = createDecipheriv('aes-128-ctr', dk.subarray(0, 16), Buffer.from(ks.crypto.cipherparams.iv, 'hex'))
  return `0x${Buffer.concat([d.update(ct), d.final()]).toString('hex')}` as Hex
}

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
      throw new KeystoreError(`Cannot read keystore ${opts.keystorePath}`, { cause: e, hints: ['Check the path; create one with `souk key new`.'] })
    }
    const pw = opts.password ?? env.SOUK_KEYSTORE_PASSWORD
    if (pw === undefined) throw new KeystoreError('No keystore password given', { hints: ['Set SOUK_KEYSTORE_PASSWORD.'] })
    return decryptKeystore(json, pw)
  }
  const name = opts.envVar ?? 'SOUK_PRIVATE_KEY'
  const v = env[name]
  if (!v) throw new KeystoreError(`No signing key: ${name} is not set and no keystore was given`, { hints: [`Set ${name}=0x… or pass --keystore <file>.`] })
  if (!/^0x[0-9a-fA-F]{64}$/.test(v)) throw new KeystoreError(`${name} is not a 32-byte hex private key`, { hints: ['It must look like 0x followed by 64 hex digits.'] })
  return v as Hex
}
