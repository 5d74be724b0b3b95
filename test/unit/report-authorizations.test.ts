// The report counts every authorization the network sent, answered or not: before, a platform
// whose authorizations all timed out showed "no observations yet" and nothing else.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFigures, authorizationCounts } from '../../src/report/collect.js';
import { authorizationPanel } from '../../src/report/render.js';

// The API's metrics endpoint after a busy run: 5 answered (one by the stand-in), 24 timed out,
// 2 unavailable, 1 refused; other methods' calls do not count.
const METRICS = `
# HELP api_requests_total API calls by method and code
# TYPE api_requests_total counter
api_requests_total{method="Authorize",code="ok"} 5
api_requests_total{method="Authorize",code="deadline_exceeded"} 22
api_requests_total{method="Authorize",code="canceled"} 2
api_requests_total{method="Authorize",code="unavailable"} 2
api_requests_total{method="Authorize",code="invalid_argument"} 1
api_requests_total{method="Clear",code="deadline_exceeded"} 9
# TYPE card_authorization_answers_total counter
card_authorization_answers_total{outcome="approved",reason="none"} 3
card_authorization_answers_total{outcome="declined",reason="insufficient_funds"} 1
card_authorization_answers_total{outcome="stand_in_declined",reason="late_decision"} 1
`;

test('authorization counts: answered, stood in, timed out, unavailable, refused', () => {
  const counts = authorizationCounts(apiFigures(METRICS));
  assert.deepEqual(counts, { calls: 32, approved: 3, declined: 1, stand_in: 1, timed_out: 24, unavailable: 2, other: 1 });
});

test('the panel shows the timeouts and says the platform is overloaded, with no latency observed', () => {
  const figures = apiFigures(
    METRICS.split('\n')
      .filter((l) => !l.startsWith('card_authorization_answers'))
      .join('\n'),
  );
  assert.equal(figures.authorization_latency_ms, null, 'no answered authorization: the latency chart is empty');
  const html = authorizationPanel(authorizationCounts(figures));
  assert.match(html, /data-authorizations="timed_out">24</);
  assert.match(html, /data-authorizations="calls">32</);
  assert.match(html, /26 of 32 authorizations were not decided in time/);
  const quiet = authorizationPanel(authorizationCounts(apiFigures('api_requests_total{method="Authorize",code="ok"} 4\n')));
  assert.doesNotMatch(quiet, /not decided in time/);
});
