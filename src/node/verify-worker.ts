/**
 * Worker-thread entry of src/node/verify-pool.ts: checks a batch of (digest, signature, public key) triples with
 * `verifyWithPublicKey` (libsecp256k1 where it loads).
 *
 * Message in: `{ id, data }`, data = n records of 32 + 65 + 65 bytes (digest ‖ r ‖ s ‖ v ‖ uncompressed key);
 * out: `{ id, ok }`, ok = n bytes, 1 where the signature holds.
 */
import { parentPort } from 'node:worker_threads'
import { verifyWithPublicKey } from '../crypto/secp256k1.js'

export const VERIFY_RECORD_BYTES = 32 + 65 + 65

const port = parentPort
if (!port) throw new Error('verify-worker runs as a worker thread')
port.on('message', (job: { id: number; data: ArrayBuffer }) => {
  const d = new Uint8Array(job.data)
  const n = d.length / VERIFY_RECORD_BYTES
  const ok = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const at = i * VERIFY_RECORD_BYTES
    ok[i] = verifyWithPublicKey(d.subarray(at, at + 32), d.subarray(at + 32, at + 97), d.subarray(at + 97, at + 162)) ? 1 : 0
  }
  port.postMessage({ id: job.id, ok }, [ok.buffer])
})
