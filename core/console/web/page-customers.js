import { useState } from 'preact/hooks'
import { call, get, patch, post, qs } from './api.js'
import { date, dateTime, money, number, toMinor } from './format.js'
import { ActionForm, Field, html, Loading, Stat, Status, Table, useLoad } from './ui.js'

export function Customers({ route, can }) {
  return route[0] ? html`<${CustomerDetail} id=${route[0]} can=${can} />` : html`<${CustomerList} can=${can} />`
}

function CustomerList({ can }) {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '')
  const [q, setQ] = useState(params.get('q') ?? '')
  const [status, setStatus] = useState('')
  const state = useLoad(() => get(`/v1/customers${qs({ q, status, limit: 50 })}`), [q, status])
  const balances = can('customers.balance.view')
  return html`<section aria-labelledby="h-customers">
    <h1 id="h-customers">Customers</h1>
    <form class="filters" role="search" onSubmit=${(e) => e.preventDefault()}>
      <label for="customer-q">Search<input id="customer-q" type="search" value=${q} onInput=${(e) => setQ(e.currentTarget.value)} placeholder="Name, email, external id" /></label>
      <label for="customer-status">Status<select id="customer-status" value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
        <option value="">Any</option><option value="active">Active</option><option value="suspended">Suspended</option><option value="inactive">Inactive</option>
      </select></label>
    </form>
    <${Loading} state=${state}>
      <${Table}
        caption="Customers"
        rows=${state.data?.data}
        empty="No customer matches."
        onSelect=${(c) => (location.hash = `#/customers/${c.id}`)}
        columns=${[
          ['Name', (c) => c.name],
          ['Status', (c) => html`<${Status} value=${c.status} />`],
          ...(balances
            ? [
                ['Balance', (c) => html`<span class="num">${money(c.balance?.current_balance, c.currency)}</span>`],
                ['Credit limit', (c) => html`<span class="num">${money(c.credit_limit, c.currency)}</span>`],
              ]
            : []),
          ['Currency', (c) => c.currency.toUpperCase()],
        ]}
      />
    <//>
  </section>`
}

async function loadCustomer(id, can) {
  const res = await call('GET', `/v1/customers/${id}`)
  const c = res.data
  const maybe = (ok, path) => (ok ? get(path).catch(() => null) : Promise.resolve(null))
  const balances = can('customers.balance.view')
  const [transactions, invoices, credit, communications, notifications, disputes] = await Promise.all([
    maybe(balances, `/v1/customers/${id}/transactions?limit=50`),
    maybe(can('invoices.view'), `/v1/invoices${qs({ customer: id, limit: 100 })}`),
    maybe(balances, `/v1/customers/${id}/credit`),
    maybe(true, `/v1/customers/${id}/communications?limit=50`),
    maybe(can('notifications.view'), `/v1/notifications${qs({ customer: id, limit: 50 })}`),
    maybe(can('disputes.view'), `/v1/disputes${qs({ customer: id, limit: 50 })}`),
  ])
  return { c, etag: res.headers.get('etag'), transactions, invoices, credit, communications, notifications, disputes }
}

function CustomerDetail({ id, can }) {
  const state = useLoad(() => loadCustomer(id, can), [id])
  const d = state.data
  return html`<section aria-labelledby="h-customer">
    <p><a href="#/customers">← Customers</a></p>
    <${Loading} state=${state}>${d && html`
      <h1 id="h-customer">${d.c.name} <${Status} value=${d.c.status} /></h1>
      <dl class="stats">
        ${d.c.balance ? html`
          <${Stat} label="Balance" value=${money(d.c.balance.current_balance, d.c.currency)} />
          <${Stat} label="Pending" value=${money(d.c.balance.pending_balance, d.c.currency)} />
          <${Stat} label="Credit (advance)" value=${money(d.c.balance.advance_balance, d.c.currency)} />` : ''}
        ${d.c.credit_limit !== undefined ? html`<${Stat} label="Credit limit" value=${money(d.c.credit_limit, d.c.currency)} />` : ''}
        ${d.credit ? html`<${Stat} label="Credit score" value=${`${d.credit.score} (${d.credit.grade})`} />` : ''}
        <${Stat} label="Payment terms" value=${`${d.c.payment_terms_days} days`} />
        ${d.c.suspension_override_until ? html`<${Stat} label="Suspension override until" value=${date(d.c.suspension_override_until)} />` : ''}
      </dl>
      ${d.c.email !== undefined ? html`<p>Email: ${d.c.email ?? '—'} · Phone: ${d.c.phone ?? '—'}</p>` : ''}
      <${Actions} d=${d} can=${can} reload=${state.reload} />
      ${d.credit ? html`<${CreditFacts} credit=${d.credit} currency=${d.c.currency} />` : ''}
      ${d.invoices ? html`<h2>Open items</h2><${Table}
        rows=${d.invoices.data.filter((i) => i.status === 'open' || i.status === 'partially_paid')}
        empty="No open invoice."
        columns=${[
          ['Invoice', (i) => i.number],
          ['Issued', (i) => date(i.issue_date)],
          ['Due', (i) => date(i.due_date)],
          ['Total', (i) => html`<span class="num">${money(i.total, i.currency)}</span>`],
          ['Outstanding', (i) => html`<span class="num">${money(i.outstanding, i.currency)}</span>`],
          ['Status', (i) => html`<${Status} value=${i.status} />`],
        ]} />` : ''}
      ${d.transactions ? html`<h2>Sub-ledger</h2><${Table}
        rows=${d.transactions.data}
        empty="No transaction."
        columns=${[
          ['Date', (r) => date(r.posting_date)],
          ['Type', (r) => r.type.replace(/_/g, ' ')],
          ['Reference', (r) => r.reference ?? r.source ?? '—'],
          ['Amount', (r) => html`<span class="num">${money(r.amount, r.currency)}</span>`],
          ['Balance after', (r) => html`<span class="num">${money(r.balance_after, r.currency)}</span>`],
          ['Status', (r) => r.status],
        ]} />` : ''}
      <h2>Communications</h2>
      <${Table} rows=${d.communications?.data} empty="No communication recorded." columns=${[
        ['When', (r) => dateTime(r.occurred_at)],
        ['Type', (r) => r.type.replace(/_/g, ' ')],
        ['Summary', (r) => r.summary],
        ['Promise', (r) => (r.promised_amount ? `${money(r.promised_amount, d.c.currency)} by ${date(r.promised_date)}` : '—')],
        ['By', (r) => r.created_by],
      ]} />
      ${d.notifications ? html`<h2>Notifications</h2><${Table} rows=${d.notifications.data} empty="No notification sent." columns=${[
        ['Created', (n) => dateTime(n.created)],
        ['Template', (n) => n.template],
        ['Channel', (n) => n.channel ?? '—'],
        ['Status', (n) => html`<${Status} value=${n.status} />`],
      ]} />` : ''}
      ${d.disputes ? html`<h2>Disputes</h2><${Table} rows=${d.disputes.data} empty="No dispute." onSelect=${(x) => (location.hash = `#/disputes/${x.id}`)} columns=${[
        ['Dispute', (x) => x.id],
        ['Type', (x) => x.type],
        ['Amount', (x) => html`<span class="num">${money(x.amount, x.currency)}</span>`],
        ['Status', (x) => html`<${Status} value=${x.status} />`],
      ]} />` : ''}
    `}<//>
  </section>`
}

function CreditFacts({ credit, currency }) {
  const f = credit.facts
  return html`<details class="facts">
    <summary>Credit facts and score factors</summary>
    <dl class="grid">
      <dt>Overdue</dt><dd>${money(f.overdue_amount, currency)} (${f.overdue_invoice_count} invoices, up to ${f.max_days_overdue} days)</dd>
      <dt>Utilization</dt><dd>${f.utilization === null ? '—' : `${number(f.utilization * 100)} %`}</dd>
      <dt>Aging</dt><dd>${['current', 'd1_30', 'd31_60', 'd61_90', 'd90_plus'].map((k) => `${k}: ${money(f.aging?.[k], currency)}`).join(' · ')}</dd>
      <dt>Promise to pay</dt><dd>${f.has_promise_to_pay ? date(f.promise_to_pay_date) : 'none'}</dd>
      <dt>Days since last payment</dt><dd>${f.days_since_last_payment ?? '—'}</dd>
    </dl>
    <${Table} rows=${credit.factors} rowKey=${(r) => r.name} columns=${[
      ['Factor', (r) => r.name.replace(/_/g, ' ')],
      ['Value', (r) => (typeof r.value === 'number' ? number(r.value) : String(r.value ?? '—'))],
      ['Weight', (r) => r.weight],
      ['Points', (r) => number(r.points)],
    ]} />
  </details>`
}

function Actions({ d, can, reload }) {
  const c = d.c
  const id = c.id
  const edit = can('customers.basic.edit')
  if (!edit) return null
  const today = new Date().toISOString().slice(0, 10)
  const change = async (body, msg) => {
    await patch(`/v1/customers/${id}`, body, d.etag ? { 'if-match': d.etag } : {})
    await reload()
    return msg
  }
  return html`<div class="actions">
    <${ActionForm} label="Record a promise to pay" action=${async (f) => {
      const amount = toMinor(f.get('amount'), c.currency)
      if (amount === null || amount <= 0) throw new Error('Enter the promised amount, e.g. 120.00.')
      await post(`/v1/customers/${id}/communications`, { type: 'promise_to_pay', direction: 'inbound', summary: f.get('summary') || 'Promise to pay', promised_amount: amount, promised_date: f.get('date') })
      await reload()
      return 'Promise recorded.'
    }}>
      <h3>Promise to pay</h3>
      <${Field} label=${`Amount (${c.currency.toUpperCase()})`} name="amount" inputmode="decimal" required />
      <${Field} label="Pay by" name="date" type="date" required min=${today} />
      <${Field} label="Note" name="summary" />
    <//>
    <${ActionForm} label="Record a communication" action=${async (f, form) => {
      await post(`/v1/customers/${id}/communications`, { type: f.get('type'), direction: f.get('direction'), summary: f.get('summary') })
      form.reset()
      await reload()
      return 'Communication recorded.'
    }}>
      <h3>Communication</h3>
      <${Field} label="Type" name="type" options=${['call', 'email', 'sms', 'letter', 'visit', 'note']} />
      <${Field} label="Direction" name="direction" options=${['outbound', 'inbound']} />
      <${Field} label="Summary" name="summary" required />
    <//>
    <${ActionForm} label="Suspension" submit=${c.status === 'suspended' ? 'Reactivate' : 'Suspend'} action=${() =>
      change({ status: c.status === 'suspended' ? 'active' : 'suspended' }, c.status === 'suspended' ? 'Reactivated.' : 'Suspended.')}>
      <h3>Status</h3>
      <p>Now <${Status} value=${c.status} />.</p>
    <//>
    <${ActionForm} label="Suspension override" submit="Set override" action=${(f) =>
      change({ suspension_override_until: f.get('until') || null }, 'Override saved: rules see suspension_override until then.')}>
      <h3>Override the policy</h3>
      <${Field} label="Keep active until" name="until" type="date" min=${today} value=${c.suspension_override_until ?? ''} />
    <//>
  </div>`
}
