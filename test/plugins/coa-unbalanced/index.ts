import type { ChartOfAccountsPlugin } from '../../../core/kernel/plugins/contract'
import { ACCOUNTS, chartOfAccounts as partner } from '../coa-partner'

/** Broken on purpose: splits revenue into parts that add up to one unit more than the revenue. */
export const chartOfAccounts: ChartOfAccountsPlugin = {
  accounts: () => ACCOUNTS,
  map(event, config) {
    const mapping = partner.map(event, config)
    const revenue = event.lines.find((l) => l.role === 'revenue')
    if (revenue) mapping.revenue = [{ account: '40000', amount: revenue.amount }, { account: '40100', amount: 1 }]
    return mapping
  },
}
