import type { ChartOfAccountsPlugin } from '../../../../core/kernel/plugins/contract'
import { ACCOUNTS, chartOfAccounts as partner } from '../../coa-partner'
import { report } from '../modules/side-channel'

/** A partner chart whose map() spins for 3 s (a remote lookup gone wrong). */
export const chartOfAccounts: ChartOfAccountsPlugin = {
  accounts: () => ACCOUNTS,
  map(event, config) {
    report(`coa-slow:map:${event.type}`)
    const until = Date.now() + 3000
    while (Date.now() < until) {
      /* spinning */
    }
    return partner.map(event, config)
  },
}
