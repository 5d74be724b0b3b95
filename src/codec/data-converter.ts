// The one DataConverter every Temporal Client and Worker of the platform uses: payloads encrypted
// by the EncryptionCodec, and failure messages and stack traces moved into an (encrypted) payload
// too (failure-converter.ts, which workflow bundles must include: see FAILURE_CONVERTER_PATH).
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './encryption-codec.js';
import { loadKeyRing, type KeyRing, type KeySources } from './keys.js';

/** Pass to bundleWorkflowCode({ failureConverterPath }) and keep in the DataConverter. */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.ts', import.meta.url));

export function createDataConverter(ring: KeyRing): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(ring)],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}

/** The data converter with the keys of this environment (see loadKeyRing). */
export function loadDataConverter(sources: KeySources): DataConverter {
  return createDataConverter(loadKeyRing(sources));
}
