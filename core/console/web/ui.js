import { h } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import htm from 'htm'

export const html = htm.bind(h)

/** Loads `load()` now and whenever `deps` change; `reload` runs it again. */
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ loading: true, data: null, error: null })
  const run = useCallback(async () => {
    setState((s) => ({ ...s, loading: true, error: null }))
    try {
      setState({ loading: false, data: await load(), error: null })
    } catch (error) {
      setState({ loading: false, data: null, error })
    }
  }, deps)
  useEffect(() => {
    run()
  }, [run])
  return { ...state, reload: run }
}

export function ErrorBox({ error }) {
  if (!error) return null
  return html`<p class="error" role="alert">${error.message}${error.code ? html` <code>${error.code}</code>` : ''}${error.param ? html` at <code>${error.param}</code>` : ''}</p>`
}

export function Loading({ state, children }) {
  if (state.error) return html`<${ErrorBox} error=${state.error} />`
  if (state.loading && !state.data) return html`<p aria-live="polite">Loading…</p>`
  return children
}

/**
 * A table: `columns` are [header, (row) => cell]. Rows with `onSelect` are buttons for the keyboard.
 */
export function Table({ caption, columns, rows, empty = 'Nothing yet.', onSelect, rowKey = (r) => r.id }) {
  if (!rows?.length) return html`<p class="empty">${empty}</p>`
  return html`<div class="table-wrap"><table>
    ${caption ? html`<caption>${caption}</caption>` : ''}
    <thead><tr>${columns.map(([head]) => html`<th scope="col">${head}</th>`)}</tr></thead>
    <tbody>${rows.map(
      (r) => html`<tr key=${rowKey(r)} class=${onSelect ? 'selectable' : ''}>${columns.map(([, cell], i) =>
        i === 0 && onSelect ? html`<td><button type="button" class="link" onClick=${() => onSelect(r)}>${cell(r)}</button></td>` : html`<td>${cell(r)}</td>`,
      )}</tr>`,
    )}</tbody>
  </table></div>`
}

/** A form whose submit runs `action`, shows its error, and disables itself while busy. */
export function ActionForm({ label, action, children, submit = label, class: cls = '' }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState(null)
  const [done, setDone] = useState(null)
  const onSubmit = async (e) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    setDone(null)
    try {
      const msg = await action(new FormData(e.currentTarget), e.currentTarget)
      setDone(typeof msg === 'string' ? msg : null)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return html`<form class=${`action ${cls}`} aria-label=${label} onSubmit=${onSubmit}>
    ${children}
    <button type="submit" disabled=${busy}>${busy ? 'Working…' : submit}</button>
    <${ErrorBox} error=${error} />
    ${done ? html`<p class="ok" role="status">${done}</p>` : ''}
  </form>`
}

export function Field({ label, name, type = 'text', required = false, value, options, ...rest }) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`
  if (options)
    return html`<label for=${id}>${label}<select id=${id} name=${name} required=${required} value=${value} ...${rest}>${options.map((o) =>
      Array.isArray(o) ? html`<option value=${o[0]}>${o[1]}</option>` : html`<option value=${o}>${o}</option>`,
    )}</select></label>`
  if (type === 'checkbox') return html`<label class="check"><input id=${id} type="checkbox" name=${name} checked=${value} ...${rest} /> ${label}</label>`
  if (type === 'textarea') return html`<label for=${id}>${label}<textarea id=${id} name=${name} required=${required} ...${rest}>${value ?? ''}</textarea></label>`
  return html`<label for=${id}>${label}<input id=${id} type=${type} name=${name} required=${required} value=${value ?? ''} ...${rest} /></label>`
}

export function Status({ value }) {
  return html`<span class=${`badge badge-${value}`}>${String(value).replace(/_/g, ' ')}</span>`
}

export function Stat({ label, value, hint }) {
  return html`<div class="stat"><dt>${label}</dt><dd>${value}</dd>${hint ? html`<small>${hint}</small>` : ''}</div>`
}
