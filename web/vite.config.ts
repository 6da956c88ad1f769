// Builds the browser page (npm run build:web) into web/dist; `bd3lm web` serves it with the model and wasm files.
import { defineConfig } from 'vite';

// The library's Node-only code sits behind runtime checks and dynamic imports that browsers never reach; leaving
// those imports external keeps them out of the bundle without stubs.
const nodeBuiltins = { external: [/^node:/] };

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', rolldownOptions: nodeBuiltins },
  // module workers: the model worker imports chunks and starts the wasm pool's workers itself
  worker: { format: 'es', rolldownOptions: nodeBuiltins },
});
