/**
 * Worker entry of the wasm backend's thread pool (Node worker_threads or a browser module Worker). It instantiates
 * the module on the shared memory, moves its stack and TLS to blocks the main thread allocated for it, reports
 * ready and then runs the C worker loop, which returns only after bd_shutdown().
 */
import type { WorkerReply, WorkerStart } from './wasm.js';

interface WorkerExports {
  __stack_pointer: WebAssembly.Global;
  __wasm_init_tls(p: number): void;
  bd_worker_main(tid: number): void;
}

async function run(m: WorkerStart, reply: (r: WorkerReply) => void): Promise<void> {
  try {
    // The start function sees the memory already initialised by the main instance and leaves it alone.
    const inst = await WebAssembly.instantiate(m.module, { env: { memory: m.memory } });
    const ex = inst.exports as unknown as WorkerExports;
    ex.__stack_pointer.value = m.stackTop; // before any call that uses the stack
    ex.__wasm_init_tls(m.tls);
    reply({ ready: true });
    ex.bd_worker_main(m.tid);
    reply({ exited: true });
  } catch (e) {
    reply({ error: e instanceof Error ? e.stack ?? e.message : String(e) });
  }
}

if (typeof process !== 'undefined' && process.versions?.node) {
  const { parentPort } = await import('node:worker_threads');
  parentPort!.once('message', (m: WorkerStart) => void run(m, (r) => parentPort!.postMessage(r)));
} else {
  const scope = globalThis as unknown as {
    onmessage: ((e: { data: WorkerStart }) => void) | null;
    postMessage(r: WorkerReply): void;
  };
  scope.onmessage = (e) => {
    scope.onmessage = null;
    void run(e.data, (r) => scope.postMessage(r));
  };
}
