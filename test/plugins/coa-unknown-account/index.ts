import type { ChartOfAccountsPlugin } from '../../../core/kernel/plugins/contract'
import { ACCOUNTS, chartOfAccounts as partner } from '../coa-partner'

/** Broken on purpose: maps revenue to a code its accounts() does not list. */
export const chartOfAccounts: ChartOfAccountsPlugin = {
  accounts: () => ACCOUNTS,
  map: (event, config) => ({ ...partner.map(event, config), revenue: '99999' }),
}
