import { chartOfAccounts } from '../../../coa-partner'

/** Top-level code that never finishes: loading this module must never happen on the main thread. */
for (;;) {
  /* spinning at load */
}

export { chartOfAccounts }
