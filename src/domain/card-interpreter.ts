// One message of a card payment, handled to its end: ask the decider (src/domain/card-lifecycle.ts),
// apply its events, run the ledger step it asks for, feed the result back, until it asks for
// nothing more. The workflow runs it with activities; the unit tests with a model ledger. No I/O
// of its own: `execute` does the steps and turns their failures into a `failed` result.
import { decide } from './card-decide.js';
import {
  STEPS_PER_MESSAGE_MAX,
  evolveAll,
  type CardCommand,
  type CardEvent,
  type CardMessage,
  type CardState,
  type CardStep,
  type CardStepResult,
} from './card-lifecycle.js';

export interface MessageOutcome {
  state: CardState;
  events: CardEvent[];
  refused?: CardStep['refused'];
  failed?: string;
}

export interface InterpreterHooks {
  /** The step, run to completion; a failure is returned as `{ kind: 'failed' }`, never thrown.
   * `message` is the one being handled (the step's event is named from it: src/domain/events.ts). */
  execute(command: CardCommand, state: CardState, message: CardMessage): Promise<CardStepResult>;
  /** The clock events are stamped with (the workflow's deterministic one). */
  now_ms(): number;
  /** Called with each batch of events once applied: the workflow records them as they happen. */
  applied?(events: CardEvent[], state: CardState): void;
}

export async function handleCardMessage(start: CardState, message: CardMessage, hooks: InterpreterHooks): Promise<MessageOutcome> {
  let state = start;
  const events: CardEvent[] = [];
  let input: Parameters<typeof decide>[1] = { message };
  for (let step = 0; ; step += 1) {
    const next = decide(state, input, hooks.now_ms());
    state = evolveAll(state, next.events);
    events.push(...next.events);
    if (next.events.length > 0) hooks.applied?.(next.events, state);
    if (!next.command || next.refused || next.failed) {
      return { state, events, ...(next.refused ? { refused: next.refused } : {}), ...(next.failed ? { failed: next.failed } : {}) };
    }
    // The decider's paths are at most STEPS_PER_MESSAGE_MAX long; more is a bug, not a retry.
    if (step >= STEPS_PER_MESSAGE_MAX) {
      return { state, events, failed: `more than ${STEPS_PER_MESSAGE_MAX} ledger steps for one ${message.kind}` };
    }
    const result = await hooks.execute(next.command, state, message);
    input = { message, step: { command: next.command, result } };
  }
}
