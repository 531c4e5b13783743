// Which timers a piece of code leaves pending: setTimeout and clearTimeout are wrapped while `run` is awaited.
// Everything that runs meanwhile is seen too, so keep `run` short and quiet (no other timers of its own).
export async function timersLeftBy<T>(run: () => Promise<T>): Promise<{ value: T; started: number; pending: number }> {
  const made = new Set<unknown>();
  const done = new Set<unknown>();
  const orig = { setTimeout, clearTimeout };
  globalThis.setTimeout = ((...a: Parameters<typeof setTimeout>) => {
    const t = orig.setTimeout(...a);
    made.add(t);
    return t;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((t: Parameters<typeof clearTimeout>[0]) => {
    done.add(t);
    orig.clearTimeout(t);
  }) as typeof clearTimeout;
  try {
    const value = await run();
    return { value, started: made.size, pending: [...made].filter((t) => !done.has(t)).length };
  } finally {
    Object.assign(globalThis, orig);
  }
}
