// Package jobs will hold the in-process gocron scheduler and its jobs (closing polls,
// reminders, push dispatch, gauges, clean-up), each guarded by a cross-replica lock.
// Until it lands, polls past their deadline are closed lazily by the store when read.
package jobs
