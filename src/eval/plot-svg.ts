/**
 * Minimal SVG line charts for training curves (no dependencies): one panel per chart, shared styling, linear axes
 * with "nice" ticks. Used by `bd3lm plot`.
 */
export interface Series {
  name: string;
  points: [number, number][];
  color: string;
  /** dots instead of a line */
  dots?: boolean;
  opacity?: number;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logY?: boolean;
}

const W = 720;
const H = 300;
const M = { l: 64, r: 16, t: 28, b: 40 };

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(+v.toPrecision(12));
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(p: Panel, y0: number): string {
  const pts = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!p.logY || y > 0));
  if (pts.length === 0) return `<text x="${M.l}" y="${y0 + M.t}" font-size="13">${esc(p.title)}: no data</text>`;
  const fy = (y: number) => (p.logY ? Math.log10(y) : y);
  let [xl, xh] = [Math.min(...pts.map((q) => q[0])), Math.max(...pts.map((q) => q[0]))];
  let [yl, yh] = [Math.min(...pts.map((q) => fy(q[1]))), Math.max(...pts.map((q) => fy(q[1])))];
  if (xh === xl) xh = xl + 1;
  if (yh === yl) [yl, yh] = [yl - 0.5, yh + 0.5];
  const pad = (yh - yl) * 0.05;
  yl -= pad;
  yh += pad;
  const sx = (x: number) => M.l + ((x - xl) / (xh - xl)) * (W - M.l - M.r);
  const sy = (y: number) => y0 + H - M.b - ((fy(y) - yl) / (yh - yl)) * (H - M.t - M.b);
  const parts: string[] = [];
  parts.push(`<text x="${M.l}" y="${y0 + 18}" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
  for (const t of niceTicks(xl, xh)) {
    parts.push(`<line x1="${sx(t)}" x2="${sx(t)}" y1="${y0 + M.t}" y2="${y0 + H - M.b}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(t)}" y="${y0 + H - M.b + 16}" font-size="11" text-anchor="middle">${t}</text>`);
  }
  for (const t of niceTicks(yl, yh)) {
    const v = p.logY ? 10 ** t : t;
    const y = y0 + H - M.b - ((t - yl) / (yh - yl)) * (H - M.t - M.b);
    parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${M.l - 6}" y="${y + 4}" font-size="11" text-anchor="end">${+v.toPrecision(3)}</text>`);
  }
  parts.push(`<rect x="${M.l}" y="${y0 + M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#999"/>`);
  parts.push(`<text x="${(M.l + W - M.r) / 2}" y="${y0 + H - 6}" font-size="12" text-anchor="middle">${esc(p.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${y0 + (M.t + H - M.b) / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(p.yLabel)}</text>`);
  p.series.forEach((s, i) => {
    const q = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!p.logY || y > 0));
    const op = s.opacity ?? 1;
    if (s.dots) for (const [x, y] of q) parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}" opacity="${op}"/>`);
    else if (q.length) parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" opacity="${op}" points="${q.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`);
    const ly = y0 + M.t + 14 + i * 15;
    parts.push(`<rect x="${W - M.r - 230}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${W - M.r - 215}" y="${ly}" font-size="11">${esc(s.name)}</text>`);
  });
  return parts.join('\n');
}

export function renderSvg(panels: Panel[]): string {
  const body = panels.map((p, i) => panel(p, i * H)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H * panels.length}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}
