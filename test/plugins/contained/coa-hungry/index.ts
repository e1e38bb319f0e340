import type { ChartOfAccountsPlugin } from '../../../../core/kernel/plugins/contract'
import { ACCOUNTS } from '../../coa-partner'

/** A partner chart whose map() keeps allocating until its worker's heap limit stops it. */
export const chartOfAccounts: ChartOfAccountsPlugin = {
  accounts: () => ACCOUNTS,
  map() {
    const kept: number[][] = []
    for (;;) kept.push(new Array(1_000_000).fill(kept.length))
  },
}
