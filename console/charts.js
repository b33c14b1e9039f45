// Small SVG charts drawn in the browser: grouped bars or lines over a series of days. No
// library, no inline style (the CSP forbids it): colours and dashes come from console.css
// classes s0, s1, s2. Each chart is a <figure> with a caption, a one-line summary the SVG is
// described by, a legend, and the same numbers as a table for screen readers and anyone who
// wants the exact values.
import { el } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
const WIDE = 640;
const H = 260;
const M = { top: 14, right: 14, bottom: 38, left: 58 };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// A round step for about four grid lines: 1, 2 or 5 times a power of ten.
function niceStep(max) {
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((f) => f * power).find((s) => s >= rough);
}

// ``labels``: the x values (days); ``series``: [{name, values (numbers or null)}];
// ``kind``: "bars" or "lines"; ``format``: a value as text (tables, tooltips, the y axis);
// ``axis``: the y axis' title; ``fixedMax``: a known top of the scale (a 1-5 rating);
// ``integers``: counts, whose grid lines fall on whole numbers.
// ``width``: the drawing's width in its own units, about the width it is shown at, so the
// text stays readable on a phone (the SVG scales to its box).
export function chart({ id, title, summary, labels, labelText = (x) => x, series, kind,
  format = (v) => String(v), axis, fixedMax = null, width = WIDE, integers = false }) {
  const W = Math.round(Math.max(300, Math.min(WIDE, width)));
  const maxLabels = Math.max(3, Math.floor(W / 80));
  const values = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
  const top = fixedMax ?? Math.max(0, ...values);
  const step = top > 0 ? Math.max(integers ? 1 : 0, niceStep(top)) : 1;
  const yMax = fixedMax ?? Math.max(step, Math.ceil(top / step) * step);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const band = plotW / Math.max(1, labels.length);
  const x = (i) => M.left + band * (i + 0.5);
  const y = (v) => M.top + plotH - (v / yMax) * plotH;

  const grid = svg('g', { class: 'grid' });
  for (let v = 0; v <= yMax + 1e-9; v += fixedMax ? 1 : step) {
    grid.append(svg('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }),
      svg('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' },
        document.createTextNode(format(v))));
  }
  const every = Math.ceil(labels.length / maxLabels);
  const xAxis = svg('g', { class: 'x-axis' },
    svg('line', { x1: M.left, x2: W - M.right, y1: y(0), y2: y(0), class: 'axis' }));
  labels.forEach((label, i) => {
    if (i % every) return;
    xAxis.append(svg('text', { x: x(i), y: H - M.bottom + 16, 'text-anchor': 'middle', class: 'tick' },
      document.createTextNode(labelText(label))));
  });
  const yTitle = svg('text', { x: 12, y: M.top + plotH / 2, class: 'axis-title', 'text-anchor': 'middle',
    transform: `rotate(-90 12 ${M.top + plotH / 2})` }, document.createTextNode(axis));

  const marks = svg('g', { class: `marks ${kind}` });
  if (kind === 'bars') {
    const group = band * 0.8;
    const width = group / series.length;
    series.forEach((s, n) => s.values.forEach((v, i) => {
      if (!v) return;
      const left = x(i) - group / 2 + n * width;
      marks.append(svg('rect', { class: `bar s${n}`, x: left, y: y(v), width: Math.max(1, width - 1),
        height: y(0) - y(v) }, svg('title', {}, document.createTextNode(
        `${labelText(labels[i])}: ${s.name} ${format(v)}`))));
    }));
  } else {
    series.forEach((s, n) => {
      let d = '';
      let pen = false;
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
        pen = true;
        marks.append(svg('circle', { class: `dot s${n}`, cx: x(i), cy: y(v), r: 3.5 },
          svg('title', {}, document.createTextNode(`${labelText(labels[i])}: ${s.name} ${format(v)}`))));
      });
      if (d) marks.prepend(svg('path', { class: `line s${n}`, d }));
    });
  }
  const empty = values.length ? null : svg('text', { x: M.left + plotW / 2, y: M.top + plotH / 2,
    'text-anchor': 'middle', class: 'no-data' }, document.createTextNode('No data in this range'));

  const captionId = `${id}-caption`;
  const summaryId = `${id}-summary`;
  const picture = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart-svg',
    'aria-labelledby': `${captionId} ${summaryId}`, focusable: 'false' },
  grid, xAxis, yTitle, marks, empty);

  const legend = el('ul', { class: 'legend', 'aria-label': `Legend: ${title}` },
    ...series.map((s, n) => el('li', {},
      svg('svg', { viewBox: '0 0 24 12', class: 'swatch', 'aria-hidden': 'true', focusable: 'false' },
        kind === 'bars' ? svg('rect', { class: `bar s${n}`, x: 4, y: 0, width: 16, height: 12 })
          : svg('path', { class: `line s${n}`, d: 'M0,6 L24,6' })),
      s.name)));

  const table = el('table', { class: 'numbers' },
    el('caption', { text: title }),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Day' }),
      ...series.map((s) => el('th', { scope: 'col', text: s.name })))),
    el('tbody', {}, ...labels.map((label, i) => el('tr', {},
      el('th', { scope: 'row', text: labelText(label) }),
      ...series.map((s) => el('td', { text: s.values[i] === null || s.values[i] === undefined
        ? 'no data' : format(s.values[i]) }))))));

  return el('figure', { class: 'chart card', id },
    el('figcaption', { id: captionId, text: title }),
    el('p', { class: 'meta', id: summaryId, text: summary }),
    picture, legend,
    el('details', {}, el('summary', { text: `The numbers of "${title}" as a table` }),
      el('div', { class: 'table-scroll', role: 'region', tabindex: '0', 'aria-label': `${title}: numbers` }, table)));
}
