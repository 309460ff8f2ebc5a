/**
 * A cron schedule that does not fire while a test runs: once a day, 12 hours from
 * now. A test that counts exports or follows a snapshot's parents must not use the
 * default hourly schedule, which fires when the test happens to cross the hour (a
 * stressed CI run did, and found an extra snapshot between two of its own). Local
 * time, as BullMQ reads a cron without a time zone.
 */
export function quietSchedule(now = new Date()): string {
  const later = new Date(now.getTime() + 12 * 3600_000);
  return `${later.getMinutes()} ${later.getHours()} * * *`;
}
