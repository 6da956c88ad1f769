import type { Backend } from './backend.js';

/**
 * Named scratch buffers from a backend, grown on demand and reused across calls, so a forward pass allocates
 * nothing once warm (and wasm memory is not churned). A view returned by `get` is valid until the next `get` of the
 * same name with a larger size.
 */
export class Workspace {
  private readonly bufs = new Map<string, Float32Array>();
  private readonly ints = new Map<string, Int32Array>();
  private readonly byteBufs = new Map<string, Uint8Array>();
  constructor(private readonly backend: Backend) {}

  get(name: string, n: number): Float32Array {
    let b = this.bufs.get(name);
    if (!b || b.length < n) {
      if (b) this.backend.free(b);
      b = this.backend.alloc(Math.max(n, 1));
      this.bufs.set(name, b);
    }
    return b.subarray(0, n);
  }

  getInt(name: string, n: number): Int32Array {
    let b = this.ints.get(name);
    if (!b || b.length < n) {
      if (b) this.backend.free(b);
      b = this.backend.allocInt(Math.max(n, 1));
      this.ints.set(name, b);
    }
    return b.subarray(0, n);
  }

  /** Copies `src` into the named int buffer (e.g. token ids or spans, so the backend reads them in place). */
  ints32(name: string, src: ArrayLike<number>): Int32Array {
    const b = this.getInt(name, src.length);
    b.set(src);
    return b;
  }

  /** A named byte buffer in JavaScript memory (masks that only TypeScript reads). */
  bytes(name: string, n: number): Uint8Array {
    let b = this.byteBufs.get(name);
    if (!b || b.length < n) {
      b = new Uint8Array(Math.max(n, 1));
      this.byteBufs.set(name, b);
    }
    return b.subarray(0, n);
  }

  dispose(): void {
    for (const b of this.bufs.values()) this.backend.free(b);
    for (const b of this.ints.values()) this.backend.free(b);
    this.bufs.clear();
    this.ints.clear();
    this.byteBufs.clear();
  }
}
