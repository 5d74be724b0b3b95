// The failure converter of every client, worker and workflow bundle (loaded by path: the workflow
// sandbox needs it too). It moves each failure's message and stack trace into a payload, which the
// payload codec then encrypts; the failure itself says only "Encoded failure". Decoding also reads
// failures written without it.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
