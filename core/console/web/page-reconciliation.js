import { useState } from 'preact/hooks'
import { call, get, post } from './api.js'
import { dateTime, money } from './format.js'
import { ActionForm, ErrorBox, Field, html, Loading, Status, Table, useLoad } from './ui.js'

export function Reconciliation({ route, can }) {
  const runs = useLoad(() => get('/v1/reconciliations?limit=20'))
  const [error, setError] = useState(null)
  const start = async () => {
    setError(null)
    try {
      let run = await post('/v1/reconciliations', {})
      while (run.status === 'queued' || run.status === 'running') {
        await new Promise((r) => setTimeout(r, 500))
        run = await get(`/v1/reconciliations/${run.id}`)
      }
      await runs.reload()
      location.hash = `#/reconciliation/${run.id}`
    } catch (err) {
      setError(err)
    }
  }
  return html`<section aria-labelledby="h-recon">
    <h1 id="h-recon">Reconciliation</h1>
    ${can('reconciliation.run') ? html`<p><button type="button" onClick=${start}>Run a reconciliation</button></p>` : ''}
    <${ErrorBox} error=${error} />
    <${Loading} state=${runs}>
      <${Table} caption="Runs" rows=${runs.data?.data} empty="No reconciliation has run yet." onSelect=${(r) => (location.hash = `#/reconciliation/${r.id}`)} columns=${[
        ['Run', (r) => r.id],
        ['Started', (r) => dateTime(r.created)],
        ['Trigger', (r) => r.trigger],
        ['Status', (r) => html`<${Status} value=${r.status} />`],
        ['Checked', (r) => r.checked ?? '—'],
        ['Discrepancies', (r) => r.discrepancy_count ?? '—'],
        ['Repaired', (r) => (r.repaired ? `${dateTime(r.repaired.at)}: ${r.repaired.reason}` : '—')],
      ]} />
    <//>
    ${route[0] ? html`<${Run} key=${route[0]} id=${route[0]} can=${can} reload=${runs.reload} />` : ''}
  </section>`
}

function Run({ id, can, reload }) {
  const run = useLoad(() => get(`/v1/reconciliations/${id}`), [id])
  const r = run.data
  return html`<${Loading} state=${run}>${r && html`<div class="run">
    <h2>Run ${r.id} <${Status} value=${r.status} /></h2>
    <${Table} caption="Discrepancies" rows=${r.discrepancies} rowKey=${(d) => `${d.check}:${d.customer}:${d.invoice}:${d.entry}:${d.field}`} empty="No discrepancy: cached balances agree with the ledger." columns=${[
      ['Check', (d) => d.check.replace(/_/g, ' ')],
      ['Customer', (d) => (d.customer ? html`<a href=${`#/customers/${d.customer}`}>${d.customer}</a>` : '—')],
      ['Invoice / entry', (d) => d.invoice ?? d.entry ?? d.transaction ?? '—'],
      ['Field', (d) => d.field],
      ['Cached', (d) => html`<span class="num">${d.currency ? money(d.cached, d.currency) : String(d.cached)}</span>`],
      ['Ledger', (d) => html`<span class="num">${d.currency ? money(d.ledger, d.currency) : String(d.ledger)}</span>`],
    ]} />
    ${r.repaired ? html`<p class="ok">Repaired ${dateTime(r.repaired.at)} by ${r.repaired.by ?? '—'}: ${r.repaired.reason}</p>` : ''}
    ${r.discrepancies?.length && !r.repaired && can('reconciliation.repair') ? html`
      <${ActionForm} label="Repair" submit="Repair cached balances" action=${async (f) => {
        const res = await call('POST', `/v1/reconciliations/${id}/repair`, { reason: f.get('reason') })
        await run.reload()
        await reload()
        return res.status === 202 ? 'The repair waits for a second approver (Approvals).' : 'Repaired: cached balances rebuilt from the ledger.'
      }}>
        <${Field} label="Reason (kept in the audit log)" name="reason" required minlength="3" />
      <//>` : ''}
  </div>`}<//>`
}
