/** `bd3lm web` as a child process on a free port, for the page's server and browser tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

export interface WebServer {
  /** the page's URL, e.g. http://127.0.0.1:41234/ */
  url: string;
  proc: ChildProcess;
  /** SIGTERM, then the exit code */
  stop(): Promise<number | null>;
}

/** Starts `bd3lm web --port 0 ...args` and resolves once it prints the address it serves. */
export function startWeb(...args: string[]): Promise<WebServer> {
  const proc = spawn(process.execPath, [CLI, 'web', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving (http:\/\/\S+\/)/.exec(out);
      if (m) resolve({ url: m[1], proc, stop: () => (proc.kill('SIGTERM'), exited) });
    });
    void exited.then((code) => reject(new Error(`bd3lm web exited (${code}) before serving: ${err || out}`)));
  });
}
