import type { Account, AccountMapping, ChartOfAccountsPlugin, PostingEvent } from '../../../core/kernel/plugins/contract'

/** A partner chart with its own codes that splits revenue between products and services. */
interface Config {
  product_share_percent?: number
}

export const ACCOUNTS: Account[] = [
  { code: '10000', name: 'Cash on hand', type: 'asset' },
  { code: '10100', name: 'Bank current account', type: 'asset' },
  { code: '11000', name: 'Trade debtors', type: 'asset' },
  { code: '13000', name: 'Stock', type: 'asset' },
  { code: '21000', name: 'Customer prepayments', type: 'liability' },
  { code: '22000', name: 'VAT payable', type: 'liability' },
  { code: '40000', name: 'Product revenue', type: 'revenue' },
  { code: '40100', name: 'Service revenue', type: 'revenue' },
  { code: '41000', name: 'Returns', type: 'contra_revenue' },
  { code: '49000', name: 'Sundry income', type: 'revenue' },
  { code: '49500', name: 'Exchange gains', type: 'revenue' },
  { code: '50000', name: 'Cost of sales', type: 'expense' },
  { code: '61000', name: 'Irrecoverable debts', type: 'expense' },
  { code: '69500', name: 'Exchange losses', type: 'expense' },
]

const BY_ROLE: AccountMapping = {
  ar: '11000',
  advances: '21000',
  cash: '10000',
  bank: '10100',
  revenue: '40000',
  tax: '22000',
  cogs: '50000',
  inventory: '13000',
  sales_returns: '41000',
  bad_debt: '61000',
  other_income: '49000',
  fx_gain: '49500',
  fx_loss: '69500',
}

export const chartOfAccounts: ChartOfAccountsPlugin<Config> = {
  accounts: () => ACCOUNTS,
  map(event: PostingEvent, config: Config): AccountMapping {
    const mapping: AccountMapping = { ...BY_ROLE }
    if (event.method !== undefined && event.method !== 'cash') mapping.cash = BY_ROLE.bank
    const revenue = event.lines.filter((l) => l.role === 'revenue')
    // A split applies to every line of its role, so only split when there is exactly one.
    if (revenue.length === 1) {
      const amount = revenue[0].amount
      const products = Math.floor((amount * (config.product_share_percent ?? 60)) / 100)
      mapping.revenue = [
        { account: '40000', amount: products },
        { account: '40100', amount: amount - products },
      ]
    }
    return mapping
  },
}
