import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { call, get, useSession } from './api.js'
import { html, ErrorBox } from './ui.js'
import { Overview } from './page-overview.js'
import { Customers } from './page-customers.js'
import { Policy } from './page-policy.js'
import { Notifications } from './page-notifications.js'
import { Disputes } from './page-disputes.js'
import { Imports } from './page-imports.js'
import { Reconciliation } from './page-reconciliation.js'
import { Periods } from './page-periods.js'
import { Webhooks } from './page-webhooks.js'
import { Plugins } from './page-plugins.js'
import { Approvals } from './page-approvals.js'
import { Audit } from './page-audit.js'

/** The pages, and the permission a key needs to see each (the API checks again on every call). */
const PAGES = [
  { path: 'overview', title: 'Overview', needs: ['reports.view', 'customers.balance.view'], component: Overview },
  { path: 'customers', title: 'Customers', needs: ['customers.basic.view'], component: Customers },
  { path: 'policy', title: 'Credit policy', needs: ['customers.balance.view'], component: Policy },
  { path: 'notifications', title: 'Notifications', needs: ['notifications.view'], component: Notifications },
  { path: 'disputes', title: 'Disputes', needs: ['disputes.view'], component: Disputes },
  { path: 'imports', title: 'Imports', needs: ['imports.create'], component: Imports },
  { path: 'reconciliation', title: 'Reconciliation', needs: ['reconciliation.view'], component: Reconciliation },
  { path: 'periods', title: 'Periods', needs: ['periods.view'], component: Periods },
  { path: 'webhooks', title: 'Webhooks', needs: ['webhooks.view'], component: Webhooks },
  { path: 'plugins', title: 'Plugins', needs: ['plugins.view'], component: Plugins },
  { path: 'approvals', title: 'Approvals', needs: ['approvals.approve'], component: Approvals },
  { path: 'audit', title: 'Audit log', needs: ['audit.view'], component: Audit },
]

function useHash() {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const on = () => setHash(location.hash)
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent)
}

function SignIn({ onSession, notice }) {
  const [error, setError] = useState(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e) => {
    e.preventDefault()
    const input = e.currentTarget.elements.api_key
    setBusy(true)
    setError(null)
    try {
      const { data } = await call('POST', '/console/session', { api_key: input.value.trim() })
      input.value = '' // the key is not kept in the page either
      onSession(data)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return html`<main class="signin" id="main">
    <h1>Receivables console</h1>
    ${notice ? html`<p role="status">${notice}</p>` : ''}
    <form onSubmit=${submit} aria-label="Sign in">
      <label for="api_key">API key
        <input id="api_key" name="api_key" type="password" autocomplete="off" required spellcheck="false" placeholder="sk_live_…" />
      </label>
      <p class="hint">The key is exchanged for a session cookie and is not stored in the browser.</p>
      <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      <${ErrorBox} error=${error} />
    </form>
  </main>`
}

function App() {
  const [session, setSession] = useState(undefined)
  const [notice, setNotice] = useState(null)
  const route = useHash()
  const signedOut = (msg) => {
    useSession(null)
    setSession(null)
    setNotice(msg ?? 'Your session ended: sign in again.')
  }
  const adopt = (s) => {
    useSession(s.csrf_token, () => signedOut())
    setNotice(null)
    setSession(s)
  }
  useEffect(() => {
    get('/console/session').then(adopt, () => setSession(null))
  }, [])
  if (session === undefined) return html`<p aria-live="polite">Loading…</p>`
  if (!session) return html`<${SignIn} onSession=${adopt} notice=${notice} />`

  const can = (p) => session.permissions.includes(p)
  const pages = PAGES.filter((p) => p.needs.every(can))
  const current = pages.find((p) => p.path === route[0]) ?? pages[0]
  const signOut = async () => {
    await call('DELETE', '/console/session').catch(() => undefined)
    signedOut('Signed out.')
  }
  document.title = `${current ? current.title : 'Console'} · ${session.tenant.name ?? 'Receivables'}`
  const Page = current?.component
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main')?.focus() }}>Skip to content</a>
    <header class="top">
      <strong class="brand">${session.tenant.name ?? 'Receivables'}</strong>
      <span class="who">${session.user ?? session.key.name} · <span class="role">${session.role}</span></span>
      ${session.role === 'admin' ? html`<a href="/admin/queues" target="_blank" rel="noopener">Queues</a>` : ''}
      <button type="button" class="secondary" onClick=${signOut}>Sign out</button>
    </header>
    <nav aria-label="Pages"><ul>${pages.map(
      (p) => html`<li><a href=${`#/${p.path}`} aria-current=${p === current ? 'page' : undefined}>${p.title}</a></li>`,
    )}</ul></nav>
    <main id="main" tabindex="-1">
      ${Page ? html`<${Page} key=${current.path} route=${route.slice(1)} can=${can} session=${session} />` : html`<p>This key may not use any console page.</p>`}
    </main>`
}

render(html`<${App} />`, document.getElementById('app'))
