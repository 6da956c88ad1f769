/** A one-line download progress bar on stderr (bytes, rate, ETA), redrawn at most 10 times a second. */
import type { DownloadProgress } from './download.js';

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

function eta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** The bar's text for one state (exported for tests). */
export function progressLine(p: DownloadProgress, seconds: number, startBytes: number): string {
  const frac = p.total > 0 ? Math.min(1, p.loaded / p.total) : 0;
  const width = 24;
  const fill = Math.round(frac * width);
  const rate = seconds > 0 ? (p.loaded - startBytes) / seconds : 0;
  const left = rate > 0 ? (p.total - p.loaded) / rate : Infinity;
  return `${p.file} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${mb(p.loaded)} / ${mb(p.total)}  ${mb(rate)}/s  ETA ${eta(left)}`;
}

/** A progress callback drawing on `out` (stderr); call `done` at the end of each file. */
export function stderrProgress(out: NodeJS.WriteStream = process.stderr): (p: DownloadProgress) => void {
  let file = '';
  let start = 0;
  let startBytes = 0;
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (p.file !== file) {
      file = p.file;
      start = now;
      startBytes = p.loaded;
      last = 0;
    }
    const finished = p.loaded >= p.total;
    if (!finished && now - last < 100) return;
    last = now;
    out.write(`\r${progressLine(p, (now - start) / 1000, startBytes)}\x1b[K${finished ? '\n' : ''}`);
  };
}
