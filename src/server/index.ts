/** bd3lm/server: the OpenAI-compatible completion server. */
export { createCompletionServer, SERVER_DEFAULTS, type CompletionServer, type ServerOptions } from './app.js';
