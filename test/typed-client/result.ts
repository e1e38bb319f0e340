/** What test/typed-client/flow.ts reports back to test/typed-client.test.ts (plain types, no generated ones). */
export interface FlowResult {
  tenantCurrency: string
  keyRole: string
  customer: string
  invoices: { id: string; number: string; total: number; outstanding: number; status: string }[]
  payment: { id: string; amount: number; unapplied: number; allocated: number[] }
  agingTotal: string | number
  agingCustomers: string[]
  statement: { opening: number; closing: number; rows: string[]; balances: number[] }
}
