import type { ChartOfAccountsPlugin } from '../../../../core/kernel/plugins/contract'
import { ACCOUNTS, chartOfAccounts as partner } from '../../coa-partner'
import { report } from '../modules/side-channel'

/** The partner chart (revenue split by config), reporting its load and every call to the test. */
report('coa-counting:load')

export const chartOfAccounts: ChartOfAccountsPlugin<{ product_share_percent?: number }> = {
  accounts(config) {
    report(`coa-counting:accounts:${config.product_share_percent}`)
    return ACCOUNTS
  },
  map(event, config) {
    report(`coa-counting:map:${event.type}:${config.product_share_percent}`)
    return partner.map(event, config)
  },
}
