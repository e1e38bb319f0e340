import type { ChartOfAccountsPlugin } from '../../../../core/kernel/plugins/contract'
import { ACCOUNTS, chartOfAccounts as partner } from '../../coa-partner'
import { report } from '../modules/side-channel'

/** A partner chart whose map() spins for 30 s (a remote lookup gone wrong): longer than any budget a test gives it. */
export const chartOfAccounts: ChartOfAccountsPlugin = {
  accounts: () => ACCOUNTS,
  map(event, config) {
    report(`coa-slow:map:${event.type}`)
    const until = Date.now() + 30_000
    while (Date.now() < until) {
      /* spinning */
    }
    return partner.map(event, config)
  },
}
