// What post-boot adds to the persisted metrics: the health check's result and time, a rollback, a failure's code.

import type { PostBootOutcome } from '../lifecycle/post-boot.js';
import { countFailure, MAX_HEALTH_DURATIONS, recordCounters } from './counters.js';

export async function recordPostBootMetrics(stateDir: string, outcome: PostBootOutcome): Promise<void> {
  if (outcome.action === 'steady' || outcome.action === 'pending-reboot') return;
  await recordCounters(stateDir, (c) => {
    if ('health' in outcome && outcome.health) {
      const seconds = outcome.health.elapsedMs / 1000;
      c.healthChecks.seconds += seconds;
      c.healthChecks.lastSeconds = seconds;
      if (outcome.health.ok) c.healthChecks.passed += 1;
      else c.healthChecks.failed += 1;
      c.healthChecks.durations.push({ result: outcome.health.ok ? 'passed' : 'failed', seconds });
      if (c.healthChecks.durations.length > MAX_HEALTH_DURATIONS) c.healthChecks.durations.splice(0, c.healthChecks.durations.length - MAX_HEALTH_DURATIONS);
    }
    if (outcome.action === 'rolled-back') {
      c.rollbacks += 1;
      countFailure(c, 'ERR_HEALTH_CHECK');
    }
    if (outcome.action === 'kept-failing') countFailure(c, 'ERR_HEALTH_CHECK');
    if (outcome.action === 'rollback-detected') {
      c.rollbacks += 1;
      countFailure(c, 'ERR_ROLLBACK');
    }
  });
}
