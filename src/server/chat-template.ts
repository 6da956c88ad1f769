/**
 * Chat messages → prompt text. The released models are base language models with no chat format of their own, so
 * the server renders `messages` with a Jinja template as Hugging Face chat templates are written (the same
 * variables: `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, and `raise_exception`), rendered by
 * `@huggingface/jinja`. The default is a plain transcript ending in "Assistant:"; `--chat-template FILE` replaces it.
 */
import { Template } from '@huggingface/jinja';
import { ApiError } from './errors.js';
import type { ChatMessage } from './request.js';

/** "Role: content" paragraphs, then "Assistant:" for the model to continue */
export const DEFAULT_CHAT_TEMPLATE =
  '{%- for message in messages -%}\n{{- message.role | capitalize }}: {{ message.content }}\n\n{% endfor -%}\n' +
  '{%- if add_generation_prompt %}Assistant:{% endif -%}';

export class ChatTemplate {
  private readonly template: Template;

  /** `source` names the template in errors (a file path, or 'the default chat template') */
  constructor(
    text: string,
    readonly source = 'the default chat template',
  ) {
    try {
      this.template = new Template(text);
    } catch (e) {
      throw new Error(`${source}: not a valid Jinja template: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** the prompt for `messages`; a template that fails (or raises) is the request's error: 400 naming `messages` */
  render(messages: ChatMessage[], tokens: { bos: string; eos: string }): string {
    try {
      return this.template.render({ messages, add_generation_prompt: true, bos_token: tokens.bos, eos_token: tokens.eos });
    } catch (e) {
      throw new ApiError(400, `${this.source} failed to render these messages: ${e instanceof Error ? e.message : String(e)}`, 'invalid_request_error', 'messages', 'template_error');
    }
  }
}
