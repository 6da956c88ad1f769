/**
 * The text view: the prompt, the finished blocks (one span each, so block boundaries show), and the block being
 * denoised as one cell per position: a mask glyph until a step reveals the position's token.
 */
import type { GenerationLayout } from '../src/sampling/index.js';

const MASK_GLYPH = '▒';
const EOT_TEXT = '<|endoftext|>';

/** How a token's text shows in a cell: whitespace and the end-of-text token as visible symbols. */
function cellText(s: string): string {
  if (s === EOT_TEXT) return '␄';
  if (s === '\n') return '↵';
  if (s === '\t') return '⇥';
  return s === ' ' ? '\u00a0' : s;
}

export class BlockView {
  private layout: GenerationLayout | null = null;
  private current = -1;
  private cells: HTMLSpanElement[] = [];
  private cellStart = 0;

  constructor(
    private readonly promptEl: HTMLElement,
    private readonly generatedEl: HTMLElement,
    private readonly currentEl: HTMLElement,
  ) {}

  /** A new generation: the prompt, and the first block that holds generated positions. */
  start(prompt: string, layout: GenerationLayout): void {
    this.layout = layout;
    this.promptEl.textContent = prompt;
    this.generatedEl.replaceChildren();
    this.openBlock(Math.floor(layout.promptLength / layout.blockSize));
  }

  /** Tokens revealed in block `block` at sequence positions `positions`. */
  reveal(block: number, positions: number[], glyphs: string[]): void {
    if (block !== this.current) this.openBlock(block);
    positions.forEach((p, i) => {
      const cell = this.cells[p - this.cellStart];
      if (!cell) return;
      cell.textContent = cellText(glyphs[i]);
      cell.className = 'cell revealed';
    });
  }

  /** Block `index` is final: its text joins the finished text and the next block opens (masked). */
  finish(index: number, text: string): void {
    const span = document.createElement('span');
    span.className = 'block';
    span.textContent = text;
    this.generatedEl.append(span);
    this.openBlock(index + 1);
  }

  /** The generation ended: no block is being denoised any more. */
  end(): void {
    this.current = -1;
    this.cells = [];
    this.currentEl.replaceChildren();
  }

  /** Cells of block `index` from the first generated position up to the trimmed length; none past the end. */
  private openBlock(index: number): void {
    const l = this.layout!;
    const from = Math.max(index * l.blockSize, l.promptLength);
    const to = Math.min((index + 1) * l.blockSize, l.length);
    this.current = index;
    this.cellStart = from;
    this.cells = [];
    for (let p = from; p < to; p++) {
      const cell = document.createElement('span');
      cell.className = 'cell mask';
      cell.textContent = MASK_GLYPH;
      this.cells.push(cell);
    }
    this.currentEl.replaceChildren(...this.cells);
  }
}
