/**
 * The console's chart of daily real-time subscribers per product: an inline SVG line per product
 * over the days of the month. Lines differ in dash pattern as well as colour, every point has a
 * tooltip, and the numbers are also given as a table, so nothing depends on seeing colour.
 */
import { el, svg } from './dom.js';

const WIDTH = 720;
const HEIGHT = 260;
const PAD = { top: 16, right: 16, bottom: 36, left: 44 };
const STYLES = [
  { color: '#1f5fbf', dash: '' },
  { color: '#b3261e', dash: '6 4' },
  { color: '#1e7b34', dash: '2 3' },
  { color: '#7a4fb3', dash: '10 3 2 3' },
  { color: '#a35c00', dash: '1 5' },
];

function daysIn(month) {
  const [year, index] = month.split('-').map(Number);
  return new Date(Date.UTC(year, index, 0)).getUTCDate();
}

/** Whole-number axis steps: about five, never fractional subscribers. */
function ticks(max) {
  const step = Math.max(1, Math.ceil(max / 5));
  const out = [];
  for (let value = 0; value <= max; value += step) out.push(value);
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

function legend(products) {
  return el(
    'ul',
    { class: 'legend' },
    products.map((product, i) => {
      const style = STYLES[i % STYLES.length];
      return el(
        'li',
        {},
        svg(
          'svg',
          { width: 28, height: 10, 'aria-hidden': 'true' },
          svg('line', {
            x1: 0,
            y1: 5,
            x2: 28,
            y2: 5,
            stroke: style.color,
            'stroke-width': 3,
            'stroke-dasharray': style.dash || null,
          }),
        ),
        ' ',
        product,
      );
    }),
  );
}

function numbers(daily, products) {
  const byDay = new Map();
  for (const { day, product, subscribers } of daily.days) {
    if (!byDay.has(day)) byDay.set(day, new Map());
    byDay.get(day).set(product, subscribers);
  }
  return el(
    'details',
    { class: 'numbers' },
    el('summary', {}, 'Show the numbers'),
    el(
      'table',
      { class: 'grid' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', { scope: 'col' }, 'Day (UTC)'),
          products.map((p) => el('th', { scope: 'col', class: 'num' }, p)),
        ),
      ),
      el(
        'tbody',
        {},
        [...byDay].map(([day, counts]) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row' }, day),
            products.map((p) => el('td', { class: 'num' }, counts.get(p) ?? 0)),
          ),
        ),
      ),
    ),
  );
}

/**
 * Draws `daily` (`{month, days: [{day, product, subscribers}]}`) into `container`, one line for
 * each of `products` (the report's, so a product without real-time use shows as a flat line).
 */
export function drawDailyChart(container, daily, products) {
  const names = [...new Set([...products, ...daily.days.map((d) => d.product)])].sort();
  container.replaceChildren();
  if (daily.days.length === 0) {
    container.append(el('p', { class: 'hint' }, `No real-time access is recorded for ${daily.month}.`));
    return;
  }
  const days = daysIn(daily.month);
  // In the current month the lines stop at today: days still to come are unknown, not zero.
  const today = new Date().toISOString().slice(0, 10);
  const lastWithData = Math.max(...daily.days.map((d) => Number(d.day.slice(8, 10))));
  const shown = today.startsWith(daily.month) ? Math.max(Number(today.slice(8, 10)), lastWithData) : days;
  const series = new Map(names.map((name) => [name, new Array(days).fill(0)]));
  for (const { day, product, subscribers } of daily.days) {
    const index = Number(day.slice(8, 10)) - 1;
    series.get(product)[index] = subscribers;
  }
  const max = Math.max(1, ...daily.days.map((d) => d.subscribers));
  const yTicks = ticks(max);
  const top = yTicks[yTicks.length - 1];
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (index) => PAD.left + (days === 1 ? 0 : (index * plotW) / (days - 1));
  const y = (value) => PAD.top + plotH - (value * plotH) / top;

  const peaks = names.map((name) => `${name} at most ${Math.max(...series.get(name))}`).join(', ');
  const chart = svg(
    'svg',
    {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: 'img',
      'aria-labelledby': 'chart-title',
      class: 'daily-chart',
      'data-month': daily.month,
    },
    svg('title', { id: 'chart-title' }, `Real-time subscribers per day in ${daily.month}: ${peaks}.`),
    yTicks.map((value) =>
      svg(
        'g',
        { class: 'tick' },
        svg('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value), class: 'gridline' }),
        svg('text', { x: PAD.left - 8, y: y(value) + 4, 'text-anchor': 'end' }, value),
      ),
    ),
    Array.from({ length: days }, (_, i) => i)
      .filter((i) => i === 0 || (i + 1) % 5 === 0)
      .map((i) => svg('text', { x: x(i), y: HEIGHT - PAD.bottom + 18, 'text-anchor': 'middle' }, i + 1)),
    svg(
      'text',
      { x: PAD.left + plotW / 2, y: HEIGHT - 4, 'text-anchor': 'middle', class: 'axis-label' },
      'Day',
    ),
    names.map((name, n) => {
      const style = STYLES[n % STYLES.length];
      const values = series.get(name).slice(0, shown);
      return svg(
        'g',
        { class: 'series', 'data-product': name },
        svg('polyline', {
          points: values.map((v, i) => `${x(i)},${y(v)}`).join(' '),
          fill: 'none',
          stroke: style.color,
          'stroke-width': 2,
          'stroke-dasharray': style.dash || null,
        }),
        values.map((v, i) =>
          v === 0
            ? null
            : svg(
                'circle',
                { cx: x(i), cy: y(v), r: 3.5, fill: style.color },
                svg('title', {}, `${name}, day ${i + 1}: ${v} real-time subscriber${v === 1 ? '' : 's'}`),
              ),
        ),
      );
    }),
  );
  container.append(chart, legend(names), numbers(daily, names));
}
