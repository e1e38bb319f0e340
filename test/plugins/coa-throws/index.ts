import type { ChartOfAccountsPlugin } from '../../../core/kernel/plugins/contract'
import { ACCOUNTS } from '../coa-partner'

/** Broken on purpose: lists its accounts but every mapping throws. */
export const chartOfAccounts: ChartOfAccountsPlugin = {
  accounts: () => ACCOUNTS,
  map() {
    throw new Error('mapping service unavailable')
  },
}
