import type { StatementDocument } from '../core/reports/statement'

/** A statement of `lines` transactions (no database): the PDF benchmark's input. */
export function syntheticStatement(lines: number): StatementDocument {
  let balance = 0
  const transactions = Array.from({ length: lines }, (_, i) => {
    const amount = i % 5 === 4 ? -2500 : 1000 + i
    balance += amount
    return {
      id: `txn_${String(i).padStart(26, '0')}`,
      type: i % 5 === 4 ? 'payment' : 'invoice',
      amount,
      balance_before: balance - amount,
      balance_after: balance,
      reference: i % 97 === 0 ? `REF-${'long-reference-that-wraps-'.repeat(3)}${i}` : `INV-${String(i).padStart(6, '0')}`,
      posting_date: '2026-10-15',
      status: 'posted',
      running_balance: balance,
    }
  })
  return {
    merchant: { name: 'Kraków Wholesale', address: 'ul. Długa 5, 31-147 Kraków', tax_id: 'PL1234567890', email: 'billing@krakow.example', phone: null, payment_instructions: null },
    customer: { id: 'cus_00000000000000000000000001', name: 'Łódź Kebab — 山田商店', address: ['ul. Piotrkowska 1', '90-001 Łódź', 'PL'], tax_id: null },
    statement: {
      object: 'statement',
      customer: 'cus_00000000000000000000000001',
      name: 'Łódź Kebab — 山田商店',
      currency: 'usd',
      from: '2026-10-01',
      to: '2026-10-31',
      opening_balance: 0,
      closing_balance: balance,
      total_debits: transactions.reduce((s, t) => s + Math.max(t.amount, 0), 0),
      total_credits: transactions.reduce((s, t) => s + Math.max(-t.amount, 0), 0),
      transactions,
    } as unknown as StatementDocument['statement'],
    open_items: [],
    aging: { current: balance, '1_30': 0, '31_60': 0, '61_90': 0, '90_plus': 0 },
    as_of: '2026-10-31',
  }
}

