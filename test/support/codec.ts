// The test run's payload encryption keys: test/run.ts generates a ring and hands it to every test
// process (and the workers they spawn) in PAYLOAD_CODEC_KEYS; a script run on its own gets one of
// its own. Never a committed key.
import type { DataConverter } from '@temporalio/common';
import { createDataConverter } from '../../src/codec/data-converter.js';
import { generateKeyEntry, parseKeyRing, type KeyRing } from '../../src/codec/keys.js';

let ring: KeyRing | null = null;

export function testKeyRing(): KeyRing {
  if (!process.env.PAYLOAD_CODEC_KEYS) process.env.PAYLOAD_CODEC_KEYS = generateKeyEntry('test-1');
  ring ??= parseKeyRing(process.env.PAYLOAD_CODEC_KEYS, 'PAYLOAD_CODEC_KEYS');
  return ring;
}

/** What the platform's clients and workers use, with the test keys. */
export function testDataConverter(): DataConverter {
  return createDataConverter(testKeyRing());
}
