/**
 * A Python pickle reader (protocols 0-5) that never runs anything: a class or function named in the stream becomes a
 * `PyGlobal`, calling it a `PyObject` that records the call, unless the caller supplies a handler for that name
 * (torch's tensor rebuilders, OrderedDict). So a Lightning checkpoint whose hyper-parameters pickle OmegaConf
 * configs and tokenizer objects reads without those libraries, and a hostile file can do no more than fail.
 * Dicts become `Map`s (keys may be ints or tuples), lists and tuples arrays, bytes `Uint8Array`s. No Node imports.
 */

export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object the stream builds from a class or function this reader does not run. */
export class PyObject {
  state: unknown = undefined;
  readonly dictItems = new Map<unknown, unknown>();
  readonly listItems: unknown[] = [];
  constructor(readonly cls: PyGlobal | unknown, readonly args: unknown[]) {}
}

export class PickleError extends Error {}

export interface UnpickleOptions {
  /** handlers for `module.name` globals called by REDUCE / NEWOBJ */
  calls?: Record<string, (args: unknown[]) => unknown>;
  /** torch's storage references (BINPERSID / PERSID) */
  persistentLoad?: (pid: unknown) => unknown;
}

export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}): unknown {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const text = new TextDecoder('utf-8');
  const latin1 = new TextDecoder('latin1');
  let pos = 0;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number) => {
    if (pos + n > data.length) throw new PickleError(`truncated at byte ${pos}`);
  };
  const byte = () => (need(1), data[pos++]);
  const bytes = (n: number) => (need(n), data.subarray(pos, (pos += n)));
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleError('a length beyond 2^53');
    return Number(v);
  };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError(`unterminated line at byte ${pos}`);
    const s = latin1.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (!stack.length) throw new PickleError(`stack underflow at byte ${pos}`);
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) throw new PickleError(`no MARK at byte ${pos}`);
    stack = prev;
    return items;
  };
  const top = () => stack[stack.length - 1];
  const signedLong = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const call = (fn: unknown, args: unknown[]): unknown => {
    if (fn instanceof PyGlobal) {
      const h = opts.calls?.[fn.qualified];
      if (h) return h(args);
    }
    return new PyObject(fn, args);
  };
  const setItems = (target: unknown, kv: unknown[]) => {
    const map = target instanceof Map ? target : target instanceof PyObject ? target.dictItems : undefined;
    if (!map) throw new PickleError(`SETITEM on a ${typeof target} at byte ${pos}`);
    for (let i = 0; i + 1 < kv.length; i += 2) map.set(kv[i], kv[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    const list = Array.isArray(target) ? target : target instanceof PyObject ? target.listItems : undefined;
    if (!list) throw new PickleError(`APPEND on a ${typeof target} at byte ${pos}`);
    list.push(...items);
  };
  const persistent = (pid: unknown) => {
    if (!opts.persistentLoad) throw new PickleError('a persistent id, and no persistent_load');
    return opts.persistentLoad(pid);
  };

  for (;;) {
    const op = byte();
    switch (op) {
      case 0x80: byte(); break; // PROTO
      case 0x95: u64(); break; // FRAME
      case 0x2e: return pop(); // STOP
      case 0x28: marks.push(stack); stack = []; break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4a: need(4); stack.push(view.getInt32(pos, true)); pos += 4; break; // BININT
      case 0x4b: stack.push(byte()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: { const n = byte(); stack.push(signedLong(bytes(n))); break; } // LONG1
      case 0x8b: { const n = u32(); stack.push(signedLong(bytes(n))); break; } // LONG4
      case 0x49: { const s = line(); stack.push(s === '01' ? true : s === '00' ? false : Number(s)); break; } // INT
      case 0x4c: { const s = line().replace(/L$/, ''); const v = BigInt(s); stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v); break; } // LONG
      case 0x47: need(8); stack.push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT (big-endian)
      case 0x46: stack.push(Number(line())); break; // FLOAT
      case 0x58: { const n = u32(); stack.push(text.decode(bytes(n))); break; } // BINUNICODE
      case 0x8c: { const n = byte(); stack.push(text.decode(bytes(n))); break; } // SHORT_BINUNICODE
      case 0x8d: { const n = u64(); stack.push(text.decode(bytes(n))); break; } // BINUNICODE8
      case 0x56: stack.push(line()); break; // UNICODE (raw-unicode-escape; ASCII in practice)
      case 0x53: stack.push(line().replace(/^(['"])(.*)\1$/, '$2')); break; // STRING
      case 0x54: { const n = u32(); stack.push(latin1.decode(bytes(n))); break; } // BINSTRING
      case 0x55: { const n = byte(); stack.push(latin1.decode(bytes(n))); break; } // SHORT_BINSTRING
      case 0x42: { const n = u32(); stack.push(bytes(n).slice()); break; } // BINBYTES
      case 0x43: { const n = byte(); stack.push(bytes(n).slice()); break; } // SHORT_BINBYTES
      case 0x8e: case 0x96: { const n = u64(); stack.push(bytes(n).slice()); break; } // BINBYTES8, BYTEARRAY8
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(), a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x74: case 0x6c: { const items = popMark(); stack.push(items); break; } // TUPLE, LIST
      case 0x91: { const items = popMark(); stack.push(new Set(items)); break; } // FROZENSET
      case 0x64: { const items = popMark(); const m = new Map(); setItems(m, items); stack.push(m); break; } // DICT
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x90: { const items = popMark(); const s = top(); if (!(s instanceof Set)) throw new PickleError('ADDITEMS on a non-set'); for (const x of items) s.add(x); break; }
      case 0x71: memo.set(byte(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x70: memo.set(Number(line()), top()); break; // PUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: case 0x67: { // BINGET, LONG_BINGET, GET
        const k = op === 0x68 ? byte() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(k)) throw new PickleError(`memo ${k} missing at byte ${pos}`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: { const module = line(); const name = line(); stack.push(new PyGlobal(module, name)); break; } // GLOBAL
      case 0x93: { const name = pop(), module = pop(); stack.push(new PyGlobal(String(module), String(name))); break; } // STACK_GLOBAL
      case 0x52: { const args = pop(), fn = pop(); stack.push(call(fn, Array.isArray(args) ? args : [args])); break; } // REDUCE
      case 0x81: { const args = pop(), cls = pop(); stack.push(call(cls, Array.isArray(args) ? args : [args])); break; } // NEWOBJ
      case 0x92: { pop(); const args = pop(), cls = pop(); stack.push(call(cls, Array.isArray(args) ? args : [args])); break; } // NEWOBJ_EX
      case 0x69: { const module = line(); const name = line(); const args = popMark(); stack.push(call(new PyGlobal(module, name), args)); break; } // INST
      case 0x6f: { const items = popMark(); const cls = items.shift(); stack.push(call(cls, items)); break; } // OBJ
      case 0x62: { const state = pop(); const obj = top(); if (obj instanceof PyObject) obj.state = state; break; } // BUILD
      case 0x51: stack.push(persistent(pop())); break; // BINPERSID
      case 0x50: stack.push(persistent(line())); break; // PERSID
      default:
        throw new PickleError(`unsupported pickle opcode 0x${op.toString(16)} at byte ${pos - 1}`);
    }
  }
}
