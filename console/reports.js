// The reports page: a date range (the last 14 days unless changed) and a grouping; the
// measures as a table, three charts over the days of the range (volumes, first response and
// wait, satisfaction), and the same report as a CSV file fetched with the key.
import { $, el, showError, showFieldErrors, seconds, utcDay } from './dom.js';
import { chart } from './charts.js';

const DEFAULT_DAYS = 14;
const GROUP_TITLE = { day: 'Day', queue: 'Queue', agent: 'Agent', page: 'Page' };
const COLUMNS = [
  ['conversations', 'Conversations', String],
  ['closed', 'Closed', String],
  ['abandoned', 'Abandoned', String],
  ['transferred', 'Transferred', String],
  ['median_wait_seconds', 'Median wait', seconds],
  ['median_first_response_seconds', 'Median first response', seconds],
  ['p90_first_response_seconds', '90th percentile first response', seconds],
  ['median_handle_seconds', 'Median handle time', seconds],
  ['csat_average', 'Satisfaction (average of 5)', (v) => (v === null ? 'no data' : v.toFixed(2))],
  ['csat_responses', 'Ratings', String],
];

// "2026-03-04" → "4 Mar", read as a UTC day wherever the browser is.
function dayText(day) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString([], { day: 'numeric', month: 'short', timeZone: 'UTC' });
}

// Every day from ``from`` to ``to``: the report leaves out days without conversations.
function daysOf(from, to) {
  const days = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86400000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

// Durations on a chart's axis in one unit chosen from the largest value.
function timeScale(values) {
  const top = Math.max(0, ...values.filter((v) => v !== null));
  if (top < 120) return { unit: 'seconds', divide: 1, short: 's' };
  if (top < 3 * 3600) return { unit: 'minutes', divide: 60, short: 'min' };
  return { unit: 'hours', divide: 3600, short: 'h' };
}

const round = (v, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

export function startReports(api) {
  let shown = false;
  const form = $('report-form');

  function range() {
    return { from: form.elements.from.value, to: form.elements.to.value,
      group_by: form.elements.group_by.value };
  }

  async function load() {
    const { from, to, group_by: groupBy } = range();
    showError($('report-error'), null);
    showFieldErrors(form, null);
    $('report-status').textContent = 'Loading the report…';
    try {
      const byDay = await api.get(`/reports?from=${from}&to=${to}&group_by=day`);
      const table = groupBy === 'day' ? byDay
        : await api.get(`/reports?from=${from}&to=${to}&group_by=${groupBy}`);
      renderTable(table, groupBy);
      renderCharts(byDay.items, from, to);
      const total = byDay.items.reduce((sum, r) => sum + r.conversations, 0);
      $('report-status').textContent = `${total} conversation${total === 1 ? '' : 's'} created `
        + `from ${dayText(from)} to ${dayText(to)}, table by ${groupBy}.`;
    } catch (error) {
      $('report-status').textContent = '';
      showError($('report-error'), error);
      showFieldErrors(form, error);
    }
  }

  function renderTable(report, groupBy) {
    const head = $('report-table').tHead;
    head.replaceChildren(el('tr', {}, el('th', { scope: 'col', text: GROUP_TITLE[groupBy] }),
      ...COLUMNS.map(([, title]) => el('th', { scope: 'col', text: title }))));
    $('report-caption').textContent = `Measures by ${groupBy}`;
    const body = $('report-table').tBodies[0];
    body.replaceChildren(...report.items.map((row) => el('tr', {},
      el('th', { scope: 'row', text: groupBy === 'day' ? dayText(row.key)
        : row.name || (row.key === 'unassigned' ? 'no agent' : row.key) }),
      ...COLUMNS.map(([name, , format]) => el('td', { text: format(row[name]) })))));
    if (!report.items.length) {
      body.replaceChildren(el('tr', {}, el('td', { colspan: COLUMNS.length + 1,
        text: 'No conversation was created in this range.' })));
    }
  }

  function renderCharts(items, from, to) {
    const days = daysOf(from, to);
    // Two charts side by side when there is room, one under the other on a phone.
    const room = $('report-charts').clientWidth || 1300;
    const width = (room >= 980 ? room / 2 : room) - 40;
    const byKey = new Map(items.map((r) => [r.key, r]));
    const pick = (name, empty) => days.map((d) => (byKey.has(d) ? byKey.get(d)[name] : empty));
    const sum = (values) => values.reduce((a, b) => a + (b || 0), 0);

    const counts = ['conversations', 'closed', 'abandoned'].map((name) => pick(name, 0));
    const volumes = chart({
      id: 'chart-volumes', width, title: 'Conversations per day', kind: 'bars', labels: days,
      labelText: dayText, axis: 'conversations', integers: true,
      summary: `${sum(counts[0])} conversations, ${sum(counts[1])} closed and `
        + `${sum(counts[2])} abandoned over ${days.length} days.`,
      series: [{ name: 'Conversations', values: counts[0] }, { name: 'Closed', values: counts[1] },
        { name: 'Abandoned', values: counts[2] }],
    });

    const firsts = pick('median_first_response_seconds', null);
    const waits = pick('median_wait_seconds', null);
    const scale = timeScale([...firsts, ...waits]);
    const scaled = (values) => values.map((v) => (v === null ? null : round(v / scale.divide)));
    const known = (values) => values.filter((v) => v !== null);
    const worst = (values) => (known(values).length ? seconds(Math.max(...known(values))) : 'no data');
    const times = chart({
      id: 'chart-times', width, title: 'Median first response and median wait per day', kind: 'lines',
      labels: days, labelText: dayText, axis: scale.unit,
      format: (v) => `${round(v)} ${scale.short}`,
      summary: `Slowest day: first response ${worst(firsts)}, wait ${worst(waits)}; `
        + `days with data: ${known(firsts).length} of ${days.length}.`,
      series: [{ name: 'Median first response', values: scaled(firsts) },
        { name: 'Median wait', values: scaled(waits) }],
    });

    const ratings = pick('csat_average', null);
    const responses = sum(pick('csat_responses', 0));
    const overall = responses ? round(days.reduce((total, d) => {
      const r = byKey.get(d);
      return total + (r && r.csat_average !== null ? r.csat_average * r.csat_responses : 0);
    }, 0) / responses, 2) : null;
    const csat = chart({
      id: 'chart-csat', width, title: 'Customer satisfaction per day (average rating, 1 to 5)', kind: 'lines',
      labels: days, labelText: dayText, axis: 'rating', fixedMax: 5,
      format: (v) => (Number.isInteger(v) ? String(v) : v.toFixed(2)),
      summary: responses ? `${responses} rating${responses === 1 ? '' : 's'}, ${overall} on average.`
        : 'No rating in this range.',
      series: [{ name: 'Average rating', values: ratings }],
    });
    $('report-charts').replaceChildren(volumes, times, csat);
  }

  // The API wants the key in a header, so a plain link cannot fetch the file: it is fetched
  // here, then handed to the browser as a blob: URL to save.
  $('report-csv').addEventListener('click', async () => {
    const { from, to, group_by: groupBy } = range();
    showError($('report-error'), null);
    if (!form.reportValidity()) return;
    try {
      const blob = await api.get(`/reports?from=${from}&to=${to}&group_by=${groupBy}&format=csv`);
      const url = URL.createObjectURL(blob);
      const name = `report-${groupBy}-${from}-${to}.csv`;
      const link = el('a', { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      $('report-status').textContent = `Downloaded ${name}.`;
    } catch (error) { showError($('report-error'), error); }
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load();
  });

  return {
    show() {
      if (shown) return;
      shown = true;
      form.elements.to.value = utcDay(0);
      form.elements.from.value = utcDay(-(DEFAULT_DAYS - 1));
      load();
    },
  };
}
