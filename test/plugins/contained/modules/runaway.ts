/** Misbehaving code for the containment tests: each function breaks one limit. */

/** Never returns. */
export function spin(): never {
  for (;;) {
    /* busy */
  }
}

/** Allocates until the worker's heap limit stops it. */
export function hog(): number {
  const kept: number[][] = []
  for (;;) kept.push(new Array(1_000_000).fill(kept.length))
}

export function fail(message: string): never {
  throw new Error(message)
}

export function add(a: number, b: number): number {
  return a + b
}
