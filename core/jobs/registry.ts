/**
 * Every module that defines job types, event consumers or tenant schedules, imported for its side
 * effects. The API (which enqueues) and the worker (which processes) both load this list, so both
 * know every job type. Add a line when a module defines a job.
 */
import '../events/dispatch'
import '../reconciliation/jobs'
import '../webhooks/delivery'
