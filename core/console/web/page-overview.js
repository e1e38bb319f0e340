import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import { all, get } from './api.js'
import { money, percent, number } from './format.js'
import { html, Loading, Stat, useLoad } from './ui.js'

const BUCKETS = [
  ['current', 'Current'],
  ['1_30', '1–30 days'],
  ['31_60', '31–60 days'],
  ['61_90', '61–90 days'],
  ['90_plus', '90+ days'],
]

/** The figures: aging (report), overdue share, DSO over 90 days of invoicing, utilization, suspended customers, drift. */
async function loadOverview(can) {
  const [aging, customers, invoices, recon] = await Promise.all([
    get('/v1/reports/aging'),
    all('/v1/customers'),
    can('invoices.view') ? all('/v1/invoices') : Promise.resolve(null),
    can('reconciliation.view') ? get('/v1/reconciliations?limit=1') : Promise.resolve(null),
  ])
  const total = Number(aging.total)
  const overdue = BUCKETS.slice(1).reduce((s, [k]) => s + Number(aging.buckets[k]), 0)
  const since = new Date(Date.parse(aging.as_of) - 90 * 86400_000).toISOString().slice(0, 10)
  const billed = invoices ? invoices.filter((i) => i.issue_date >= since && i.status !== 'void').reduce((s, i) => s + Number(i.total_base ?? i.total), 0) : null
  const limited = customers.filter((c) => c.credit_limit)
  const limits = limited.reduce((s, c) => s + Number(c.credit_limit), 0)
  const used = limited.reduce((s, c) => s + Math.max(0, Number(c.balance?.current_balance ?? 0)), 0)
  return {
    aging,
    overdueShare: total > 0 ? overdue / total : 0,
    dso: billed ? (total / billed) * 90 : null,
    utilization: limits > 0 ? used / limits : null,
    suspended: customers.filter((c) => c.status === 'suspended'),
    lastRun: recon?.data?.[0] ?? null,
  }
}

function AgingChart({ aging }) {
  const el = useRef(null)
  useEffect(() => {
    const digits = new Intl.NumberFormat('en', { style: 'currency', currency: aging.currency.toUpperCase() }).resolvedOptions().maximumFractionDigits
    const values = BUCKETS.map(([k]) => Number(aging.buckets[k]) / 10 ** digits)
    const width = Math.max(280, Math.min(el.current.clientWidth || 640, 900))
    const plot = new uPlot(
      {
        width,
        height: 260,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, range: [-0.5, BUCKETS.length - 0.5] } },
        axes: [
          { values: (_u, ticks) => ticks.map((t) => BUCKETS[t]?.[1] ?? ''), splits: () => BUCKETS.map((_b, i) => i) },
          { values: (_u, ticks) => ticks.map((t) => money(t * 10 ** digits, aging.currency)), size: 90 },
        ],
        series: [{}, { label: 'Receivables', fill: '#2f6fbf', stroke: '#1d4f8f', paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false } }],
      },
      [BUCKETS.map((_b, i) => i), values],
      el.current,
    )
    return () => plot.destroy()
  }, [aging])
  return html`<figure class="chart">
    <div ref=${el} role="img" aria-label=${`Aging: ${BUCKETS.map(([k, l]) => `${l} ${money(aging.buckets[k], aging.currency)}`).join(', ')}`}></div>
    <figcaption>Receivables by days past due, as of ${aging.as_of}</figcaption>
  </figure>`
}

export function Overview({ can }) {
  const state = useLoad(() => loadOverview(can))
  const d = state.data
  return html`<section aria-labelledby="h-overview">
    <h1 id="h-overview">Overview</h1>
    <${Loading} state=${state}>${d && html`
      <dl class="stats">
        <${Stat} label="Receivables" value=${money(d.aging.total, d.aging.currency)} />
        <${Stat} label="Overdue" value=${percent(d.overdueShare)} hint="share of receivables past due" />
        <${Stat} label="DSO" value=${d.dso === null ? '—' : `${number(d.dso)} days`} hint="receivables ÷ last 90 days of invoicing × 90" />
        <${Stat} label="Credit utilization" value=${percent(d.utilization)} hint="balances ÷ credit limits" />
        <${Stat} label="Suspended customers" value=${d.suspended.length} />
        <${Stat} label="Drift" value=${d.lastRun ? `${d.lastRun.discrepancy_count ?? 0} discrepancies` : 'not checked'} hint=${d.lastRun ? `last reconciliation: ${d.lastRun.status}` : ''} />
      </dl>
      <${AgingChart} aging=${d.aging} />
      ${d.suspended.length ? html`<h2>Suspended</h2><ul>${d.suspended.map((c) => html`<li><a href=${`#/customers/${c.id}`}>${c.name}</a></li>`)}</ul>` : ''}
    `}<//>
  </section>`
}
