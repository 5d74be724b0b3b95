// AES-256-GCM payload codec: every payload a client or worker sends to Temporal is encrypted
// before it leaves the process, so the server stores (and its UI shows) only ciphertext. As in
// Temporal's encryption sample, the whole original Payload (metadata and data) is the plaintext;
// the encrypted payload's metadata says only `encoding: binary/encrypted` and the key id.
// Wire format of `data`: 12-byte random nonce | ciphertext | 16-byte GCM tag.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { KeyRing } from './keys.js';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

export class PayloadDecryptionError extends ValueError {
  override name = 'PayloadDecryptionError';
}

export function isEncrypted(payload: Payload): boolean {
  return text(payload.metadata?.[METADATA_ENCODING_KEY]) === ENCRYPTED_ENCODING;
}

export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly ring: KeyRing) {
    if (!ring.keys.has(ring.active_key_id)) throw new Error(`active key ${ring.active_key_id} is not in the key ring`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const id = this.ring.active_key_id;
    const key = this.ring.keys.get(id)!;
    return payloads.map((payload) => {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      const plaintext = proto.temporal.api.common.v1.Payload.encode(payload).finish();
      const data = Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING), [METADATA_KEY_ID]: utf8(id) },
        data,
      };
    });
  }

  /** Payloads not encrypted by this codec (written before encryption was turned on, or the
   * recorded replay histories) pass through unchanged. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (!isEncrypted(payload)) return payload;
      const id = text(payload.metadata?.[METADATA_KEY_ID]);
      if (!id) throw new PayloadDecryptionError('encrypted payload without an encryption-key-id');
      const key = this.ring.keys.get(id);
      if (!key) {
        throw new PayloadDecryptionError(
          `payload encrypted with key "${id}", which is not in the key ring (known: ${[...this.ring.keys.keys()].join(', ')}): ` +
            'add it to PAYLOAD_CODEC_KEYS / the key file',
        );
      }
      const data = payload.data ?? new Uint8Array();
      if (data.length < NONCE_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`encrypted payload (key "${id}") is truncated`);
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plaintext: Buffer;
      try {
        plaintext = Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new PayloadDecryptionError(
          `payload encrypted with key "${id}" fails authentication: tampered with, or a different key under that id`,
        );
      }
      return proto.temporal.api.common.v1.Payload.decode(plaintext);
    });
  }
}
