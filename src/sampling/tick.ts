/**
 * Gives the event loop a turn between model calls: setImmediate in Node (timers and I/O run before it fires), a
 * MessageChannel message in browsers and workers (not clamped like nested setTimeout), setTimeout(0) otherwise.
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return new Promise((r) => g.setImmediate!(r));
  if (typeof MessageChannel === 'function') {
    return new Promise((r) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        r();
      };
      ch.port2.postMessage(null);
    });
  }
  return new Promise((r) => setTimeout(r, 0));
}

/** The error an aborted generation rejects with: name 'AbortError', message 'aborted' (as fetch does). */
export function abortError(): Error {
  const e = new Error('aborted');
  e.name = 'AbortError';
  return e;
}
