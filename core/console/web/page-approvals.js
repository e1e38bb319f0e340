import { useState } from 'preact/hooks'
import { get, post, qs } from './api.js'
import { dateTime, money } from './format.js'
import { ErrorBox, html, Loading, Status, Table, useLoad } from './ui.js'

export function Approvals() {
  const [status, setStatus] = useState('pending')
  const list = useLoad(() => get(`/v1/approval-requests${qs({ status, limit: 50 })}`), [status])
  const [error, setError] = useState(null)
  const decide = async (r, verb) => {
    setError(null)
    const reason = prompt(verb === 'approve' ? 'Reason (optional)' : 'Reason for rejecting')
    if (reason === null || (verb === 'reject' && !reason.trim())) return
    try {
      await post(`/v1/approval-requests/${r.id}/${verb}`, reason.trim() ? { reason: reason.trim() } : {})
      await list.reload()
    } catch (err) {
      setError(err)
    }
  }
  return html`<section aria-labelledby="h-approvals">
    <h1 id="h-approvals">Approvals</h1>
    <label for="apr-status">Status<select id="apr-status" value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
      ${['pending', 'approved', 'rejected', 'expired', 'failed', ''].map((s) => html`<option value=${s}>${s || 'Any'}</option>`)}
    </select></label>
    <${ErrorBox} error=${error} />
    <${Loading} state=${list}>
      <${Table} rows=${list.data?.data} empty="Nothing waits for approval." columns=${[
        ['Action', (r) => r.action.replace(/_/g, ' ')],
        ['Customer', (r) => r.customer ?? '—'],
        ['Amount', (r) => (r.amount !== null && r.amount !== undefined ? money(r.amount, r.currency) : '—')],
        ['Requested by', (r) => r.requested_user ?? r.requested_by],
        ['Status', (r) => html`<${Status} value=${r.status} />`],
        ['Expires', (r) => dateTime(r.expires_at)],
        ['', (r) => (r.status === 'pending' ? html`<button type="button" onClick=${() => decide(r, 'approve')}>Approve</button> <button type="button" class="secondary" onClick=${() => decide(r, 'reject')}>Reject</button>` : r.reason ?? '')],
      ]} />
    <//>
  </section>`
}
