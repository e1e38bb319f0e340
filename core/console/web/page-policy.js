import { useEffect, useRef, useState } from 'preact/hooks'
import { all, call, get, post } from './api.js'
import { dateTime } from './format.js'
import { ErrorBox, html, Loading, Table, useLoad } from './ui.js'

/** Line diff (longest common subsequence) of two texts: [[' ' | '-' | '+', line]]. */
export function diffLines(a, b) {
  const x = a === '' ? [] : a.split('\n')
  const y = b.split('\n')
  const n = x.length
  const m = y.length
  const l = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1))
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) l[i][j] = x[i] === y[j] ? l[i + 1][j + 1] + 1 : Math.max(l[i + 1][j], l[i][j + 1])
  const out = []
  let i = 0
  let j = 0
  while (i < n && j < m) {
    if (x[i] === y[j]) out.push([' ', x[i++], j++])
    else if (l[i + 1][j] >= l[i][j + 1]) out.push(['-', x[i++]])
    else out.push(['+', y[j++]])
  }
  while (i < n) out.push(['-', x[i++]])
  while (j < m) out.push(['+', y[j++]])
  return out
}

const pretty = (rules) => JSON.stringify(rules, null, 2)

/** Where a JSON syntax error is, as "line L, column C", from the browser's message. */
function jsonError(text, err) {
  const pos = /position (\d+)/.exec(err.message)?.[1]
  if (pos === undefined) return err.message
  const before = text.slice(0, Number(pos)).split('\n')
  return `${err.message.replace(/ in JSON at position \d+.*/, '')} at line ${before.length}, column ${before[before.length - 1].length + 1}`
}

export function Policy({ can }) {
  const policy = useLoad(() => get('/v1/credit-policy'))
  // Customer names for the preview table (the dry run names customers by id).
  const names = useLoad(async () => new Map((await all('/v1/customers')).map((c) => [c.id, c.name])))
  const [published, setPublished] = useState(0)
  const editable = can('credit_policy.edit')
  return html`<section aria-labelledby="h-policy">
    <h1 id="h-policy">Credit policy</h1>
    <${Loading} state=${policy}>${policy.data && html`
      <p>Version <strong>${policy.data.version}</strong> · source <code>${policy.data.source}</code>${policy.data.updated_at ? ` · saved ${dateTime(policy.data.updated_at)}` : ''}</p>
      ${editable ? html`<${Editor} key=${policy.data.version} policy=${policy.data} reload=${policy.reload} names=${names.data} onPublished=${setPublished} />` : html`<pre class="code">${pretty(policy.data.rules)}</pre>`}
      <${Versions} current=${policy.data} published=${published} editable=${editable} reload=${policy.reload} />
    `}<//>
  </section>`
}

function Editor({ policy, reload, names, onPublished }) {
  const [text, setText] = useState(pretty(policy.rules))
  const [check, setCheck] = useState({ state: 'idle' })
  const [publishing, setPublishing] = useState(null)
  const timer = useRef(null)
  const seq = useRef(0)

  // Validation as you type: JSON first, then the API's dry run (which refuses an invalid rule with
  // `invalid_rule` and the rule's path) gives the preview of what the rules would do.
  useEffect(() => {
    clearTimeout(timer.current)
    let rules
    try {
      rules = JSON.parse(text)
    } catch (err) {
      setCheck({ state: 'invalid', message: `Not JSON: ${jsonError(text, err)}` })
      return
    }
    const mine = ++seq.current
    setCheck((c) => ({ ...c, state: 'checking' }))
    timer.current = setTimeout(async () => {
      try {
        const preview = await post('/v1/credit-policy/dry-run', { rules })
        if (mine === seq.current) setCheck({ state: 'valid', preview, rules })
      } catch (err) {
        if (mine === seq.current) setCheck({ state: 'invalid', message: err.message, code: err.code, param: err.param })
      }
    }, 400)
    return () => clearTimeout(timer.current)
  }, [text])

  const publish = async () => {
    setPublishing({ busy: true })
    try {
      const saved = await call('PUT', '/v1/credit-policy', { rules: check.rules }, { 'if-match': String(policy.version) })
      setPublishing({ message: `Published version ${saved.data.version}.`, version: saved.data.version })
      onPublished(saved.data.version)
    } catch (err) {
      setPublishing({ error: err })
    }
  }
  const runNow = async () => {
    setPublishing({ busy: true, message: 'Applying the policy to every customer…' })
    try {
      let run = await post('/v1/credit-policy/runs', {})
      while (run.status === 'queued' || run.status === 'running') {
        await new Promise((r) => setTimeout(r, 500))
        run = await get(`/v1/credit-policy/runs/${run.id}`)
      }
      setPublishing({ message: `Policy run ${run.status}: ${run.evaluated} customers evaluated, ${run.actions_taken} actions taken.`, done: true })
    } catch (err) {
      setPublishing({ error: err })
    }
  }
  const lines = text.split('\n').length
  return html`<div class="editor">
    <label for="policy-rules">Rules (JSON-logic)</label>
    <textarea id="policy-rules" class="code" spellcheck="false" rows=${Math.min(30, Math.max(10, lines + 1))} value=${text}
      aria-describedby="policy-check" aria-invalid=${check.state === 'invalid'} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
    <div id="policy-check" role="status" aria-live="polite" class=${`check check-${check.state}`}>
      ${check.state === 'checking' ? 'Checking…' : ''}
      ${check.state === 'valid' ? 'Valid: the preview below shows what these rules would do now.' : ''}
      ${check.state === 'invalid' ? html`<span class="error">${check.message}${check.param ? html` — at <code>${check.param}</code>` : ''}</span>` : ''}
    </div>
    ${check.state === 'valid' ? html`<${Preview} preview=${check.preview} names=${names} />` : ''}
    <div class="buttons">
      <button type="button" disabled=${check.state !== 'valid' || publishing?.busy} onClick=${publish}>Publish</button>
      ${publishing?.version ? html`<button type="button" class="secondary" onClick=${runNow}>Apply now</button>` : ''}
      ${publishing?.done ? html`<button type="button" class="secondary" onClick=${reload}>Reload</button>` : ''}
    </div>
    ${publishing?.message ? html`<p class="ok" role="status">${publishing.message}</p>` : ''}
    <${ErrorBox} error=${publishing?.error} />
  </div>`
}

function Preview({ preview, names }) {
  const s = preview.summary
  return html`<div class="preview">
    <h2>Dry run</h2>
    <p>${preview.evaluated} customers evaluated as of ${preview.as_of}: ${Object.entries(s).filter(([, n]) => n).map(([k, n]) => `${n} ${k.replace(/_/g, ' ')}`).join(', ') || 'no change'}.</p>
    <${Table} caption="Changes the rules would make" rows=${preview.changes} rowKey=${(r) => r.customer} empty="No customer would change." columns=${[
      ['Customer', (r) => html`<a href=${`#/customers/${r.customer}`}>${names?.get(r.customer) ?? r.customer}</a>`],
      ['Rules', (r) => r.rules.join(', ')],
      ['Actions', (r) => r.actions.map((a) => a.type + (a.level ? ` ${a.level}` : '')).join(', ')],
      ['Overdue days', (r) => r.facts?.max_days_overdue ?? '—'],
    ]} />
  </div>`
}

function Versions({ current, published, editable, reload }) {
  const versions = useLoad(() => get('/v1/credit-policy/versions?limit=50'), [current.version, published])
  const latest = Math.max(current.version, published)
  const [pick, setPick] = useState(null)
  const [error, setError] = useState(null)
  const list = versions.data?.data ?? []
  const chosen = list.find((v) => v.version === pick)
  const previous = chosen && list.find((v) => v.version < chosen.version)
  const restore = async (v) => {
    try {
      await post(`/v1/credit-policy/versions/${v}/restore`, {})
      await reload()
    } catch (err) {
      setError(err)
    }
  }
  return html`<div class="versions">
    <h2>Versions</h2>
    <${Loading} state=${versions}>
      <${Table} rows=${list} rowKey=${(v) => v.version} empty="No saved version yet (the plugin's rules apply)." onSelect=${(v) => setPick(v.version)} columns=${[
        ['Version', (v) => `v${v.version}`],
        ['Saved', (v) => dateTime(v.created_at)],
        ['By', (v) => v.created_by],
        ['Restored from', (v) => v.restored_from ?? '—'],
        ...(editable ? [['', (v) => (v.version !== latest ? html`<button type="button" class="secondary" onClick=${() => restore(v.version)}>Restore</button>` : 'current')]] : []),
      ]} />
    <//>
    <${ErrorBox} error=${error} />
    ${chosen ? html`<h3>Changes in v${chosen.version}${previous ? ` since v${previous.version}` : ''}</h3>
      <pre class="diff" aria-label="Diff">${diffLines(previous ? pretty(previous.rules) : '', pretty(chosen.rules)).map(([op, line]) =>
        html`<span class=${op === '+' ? 'add' : op === '-' ? 'del' : ''}>${op} ${line}\n</span>`)}</pre>` : ''}
  </div>`
}
