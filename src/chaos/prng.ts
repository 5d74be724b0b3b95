// A small seeded PRNG (sfc32, seeded through splitmix32) so that a chaos run's plan — the mix of
// payments, the fault schedule, the bank's fault draws and the fuzzers' inputs — follows from one
// printed seed. Each concern draws from its own stream (fork), so adding draws to one does not
// shift the others.
import { randomBytes } from 'node:crypto';

export interface Prng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max]. */
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** An independent stream named `label`, derived from this one's seed. */
  fork(label: string): Prng;
  /** A 32-bit seed for another PRNG (fast-check). */
  seed32(): number;
}

export const SEED_MAX = 0xffff_ffff;

export function randomSeed(): number {
  return randomBytes(4).readUInt32BE(0);
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashLabel(seed: number, label: string): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function createPrng(seed: number): Prng {
  if (!(Number.isInteger(seed) && seed >= 0 && seed <= SEED_MAX)) throw new Error(`seed must be an integer from 0 to ${SEED_MAX}`);
  const init = splitmix32(seed);
  let a = init(),
    b = init(),
    c = init(),
    d = init();
  const u32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) u32();
  const next = () => u32() / 2 ** 32;
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    fork: (label) => createPrng(hashLabel(seed, label)),
    seed32: () => u32() | 0,
  };
}
