// Loaded once per workflow thread, before any workflow runs (the SDK's `preloadModules`, set by
// src/workers/worker.ts), so that zod's modules are evaluated once and shared, not again for every
// new workflow: the SDK gives each workflow its own module registry, and evaluating zod was about a
// sixth of a card payment's CPU in the workflow thread (docs/performance.md, "The workflow
// thread's CPU").
//
// The SDK deep-freezes what a preloaded module exports. zod writes two entries of its module state
// (its default locale and its memoizer) when it builds its first schema; after the freeze that write
// would throw in the first workflow. Building and using one schema here makes the write happen
// before the freeze. Schemas themselves are not preloaded: frozen schemas cannot bind their methods
// lazily, so src/domain's schemas are still built per workflow.
//
// This module must be imported for a side effect, and zod's package says it has none: webpack
// would drop a bare `require('zod')` from the preload list, so the list names this module.
import { z } from 'zod';

const warmup = z
  .strictObject({ id: z.string().min(1), kind: z.enum(['a']).default('a'), count: z.number().int().optional() })
  .safeParse({ id: 'x', count: 1 });
if (!warmup.success) throw new Error('preload: zod failed to parse its warm-up value');
