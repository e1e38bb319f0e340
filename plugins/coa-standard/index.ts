import type { Account, AccountMapping, ChartOfAccountsPlugin, PostingEvent } from '../../core/kernel/plugins/contract'

/** The default chart of accounts: the posting rules of ARCHITECTURE.md section 6. */
interface Config {
  card_to_bank?: boolean
}

const ACCOUNTS: Account[] = [
  { code: '1000', name: 'Cash', type: 'asset' },
  { code: '1010', name: 'Bank', type: 'asset' },
  { code: '1020', name: 'Payment clearing', type: 'asset' },
  { code: '1100', name: 'Accounts receivable', type: 'asset' },
  { code: '1300', name: 'Inventory', type: 'asset' },
  { code: '2100', name: 'Customer advances', type: 'liability' },
  { code: '2200', name: 'Tax payable', type: 'liability' },
  { code: '3900', name: 'Opening balance equity', type: 'equity' },
  { code: '4000', name: 'Revenue', type: 'revenue' },
  { code: '4100', name: 'Sales returns', type: 'contra_revenue' },
  { code: '4900', name: 'Other income', type: 'revenue' },
  { code: '4950', name: 'FX gain', type: 'revenue' },
  { code: '5000', name: 'Cost of goods sold', type: 'expense' },
  { code: '6100', name: 'Bad debt expense', type: 'expense' },
  { code: '6950', name: 'FX loss', type: 'expense' },
]

const BY_ROLE: AccountMapping = {
  ar: '1100',
  advances: '2100',
  cash: '1000',
  bank: '1010',
  revenue: '4000',
  tax: '2200',
  cogs: '5000',
  inventory: '1300',
  sales_returns: '4100',
  bad_debt: '6100',
  other_income: '4900',
  fx_gain: '4950',
  fx_loss: '6950',
  opening_balance_equity: '3900',
}

const CLEARING = '1020'

export const chartOfAccounts: ChartOfAccountsPlugin<Config> = {
  accounts: () => ACCOUNTS,
  map(event: PostingEvent, config: Config): AccountMapping {
    const mapping: AccountMapping = { ...BY_ROLE }
    // Money moves through the account of its method's role (tenant settings); without one (a code
    // the tenant no longer lists), money received other than in cash lands in the bank account.
    const role = event.account_role ?? (event.method !== undefined && event.method !== 'cash' ? 'bank' : 'cash')
    if (role === 'clearing') mapping.cash = CLEARING
    else if (role === 'bank' && config.card_to_bank !== false) mapping.cash = BY_ROLE.bank
    return mapping
  },
}
