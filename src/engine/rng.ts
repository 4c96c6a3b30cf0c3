// A small, documented, serialisable random generator: xoshiro128** (Blackman &
// Vigna) seeded through splitmix32, so any 32-bit seed gives a well-mixed state.
// Its whole state (including Box–Muller's cached second value) round-trips
// through getState/setState, which is what exact resume needs.

/** MurmurHash3's 32-bit finaliser in wrap-around uint32 arithmetic: the mixing step of every hash-derived seed. */
export function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  return fmix32(state.s);
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** Box–Muller makes two normals at a time; the second waits here. */
  private spare: number | null = null;

  constructor(seed: number) {
    this.seed(seed);
  }

  /** Resets the state from a 32-bit seed (numbers are reduced modulo 2^32). */
  seed(seed: number): void {
    const sm = { s: seed >>> 0 };
    this.s0 = splitmix32(sm);
    this.s1 = splitmix32(sm);
    this.s2 = splitmix32(sm);
    this.s3 = splitmix32(sm);
    this.spare = null;
  }

  /** The next 32-bit output, as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1), on the float32 grid (24 random bits), so every value is exact in a Float32Array. */
  uniform(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /** Standard normal by Box–Muller (the sine half is cached for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const u1 = 1 - this.uniform(); // in (0, 1]: log stays finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** [s0, s1, s2, s3, hasSpare (0|1), spare]: plain numbers, safe for JSON. */
  getState(): number[] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0, this.spare === null ? 0 : 1, this.spare ?? 0];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 6 || state.some((v) => typeof v !== "number" || !Number.isFinite(v))) {
      throw new Error(`Rng.setState: expected 6 finite numbers from getState(), got ${JSON.stringify(state)}`);
    }
    if ((state[0] | state[1] | state[2] | state[3]) === 0) throw new Error("Rng.setState: an all-zero xoshiro state is invalid");
    this.s0 = state[0] | 0;
    this.s1 = state[1] | 0;
    this.s2 = state[2] | 0;
    this.s3 = state[3] | 0;
    this.spare = state[4] === 1 ? state[5] : null;
  }
}

const globalRng = new Rng(0);

/** The generator used when an op or creator is given none. */
export function defaultRng(): Rng {
  return globalRng;
}

/** Reseeds the default generator (as torch.manual_seed). */
export function manualSeed(seed: number): void {
  globalRng.seed(seed);
}
