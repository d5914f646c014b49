// The browser half of bins/mlx/tests/ui.rs: drives Debian's chromium through
// playwright-core against a running `mlx ui`, as a reviewer would, and asserts what the
// pages show against the truth the Rust test computed from the stages' own files.
//
//   node tests/ui/browser.cjs SCENARIO
//
// Environment: MLX_UI_URL (the server), MLX_UI_EXPECTED (a JSON file the test wrote),
// MLX_UI_SHOTS (where the screenshots go), MLX_TEST_CHROMIUM, and NODE_PATH holding
// playwright-core (tests/services/browser.sh). Scenarios: review, monitor.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { chromium } = require('playwright-core');

const base = process.env.MLX_UI_URL;
const expected = JSON.parse(fs.readFileSync(process.env.MLX_UI_EXPECTED, 'utf8'));
const shots = process.env.MLX_UI_SHOTS;

// The flags this machine's closed network needs (shared/BUILD-NOTES.md): without the
// background-networking ones, chromium keeps trying to reach Google's hosts.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

/// Equal to the 6 significant digits the tables show.
function close(shown, truth, what) {
  assert.ok(Math.abs(shown - truth) <= 5e-6 * Math.max(1e-12, Math.abs(truth)), `${what}: ${shown} shown, ${truth} true`);
}

function step(name) {
  process.stderr.write(`browser: ${name}\n`);
}

/// The texts of a column of the runs table (1-based, as CSS counts).
async function column(page, n) {
  return page.$$eval(`#runs tbody tr td:nth-child(${n})`, (tds) => tds.map((t) => t.textContent.trim()));
}

async function runsTable(page) {
  step('runs: the table, its sorting and its filter');
  let r = await page.goto(`${base}/runs`);
  assert.equal(r.status(), 200);
  const ids = await page.$$eval('#runs tbody tr', (trs) => trs.map((t) => t.dataset.id));
  assert.deepEqual([...ids].sort(), [...expected.runs.map((x) => x.id)].sort(), 'every run is listed');
  // Sort by the held-out primary metric, largest first: a click on its header, then
  // another (the first sorts ascending).
  const key = expected.sort_key;
  await page.click(`#runs thead a[data-key="${key}"]`);
  await page.click(`#runs thead a[data-key="${key}"]`);
  assert.match(page.url(), /sort=/);
  const byMetric = [...expected.runs].sort((a, b) => b.metric - a.metric || (a.id < b.id ? -1 : 1));
  const sorted = await page.$$eval('#runs tbody tr', (trs) => trs.map((t) => t.dataset.id));
  assert.deepEqual(sorted, byMetric.map((x) => x.id), 'sorted by the metric, descending');
  await shot(page, 'runs');
  // A filter, typed into the form.
  await page.fill('#filter', expected.filter);
  await Promise.all([page.waitForNavigation(), page.click('#apply')]);
  const models = await column(page, 5);
  assert.ok(models.length > 0);
  assert.equal(models.length, expected.runs.filter((x) => x.model === expected.filter_model).length);
  for (const m of models) assert.equal(m, expected.filter_model);
  // A malformed filter: the CLI's message, in the page, with 400.
  r = await page.goto(`${base}/runs?filter=${encodeURIComponent(expected.bad_filter)}`);
  assert.equal(r.status(), 400);
  const error = (await page.textContent('#error')).trim();
  assert.ok(error.includes(expected.bad_filter_message), `${error} / ${expected.bad_filter_message}`);
  await shot(page, 'runs-bad-filter');
}

async function runAndCompare(page) {
  step('run: everything one run knows');
  const best = expected.runs.find((x) => x.id === expected.best);
  await page.goto(`${base}/runs`);
  await Promise.all([page.waitForNavigation(), page.click(`a[href="/runs/${best.id}"]`)]);
  assert.equal((await page.textContent('#run-id')).trim(), best.id);
  const shown = await page.textContent(`#metrics tr[data-key="${expected.metric_key}"] td`);
  close(Number(shown.trim()), best.metric, expected.metric_key);
  await shot(page, 'run');
  let r = await page.goto(`${base}/runs/ffffffffffff`);
  assert.equal(r.status(), 404);
  assert.match(await page.textContent('#error'), /no run|not/i);

  step('compare: two runs side by side');
  await page.goto(`${base}/runs`);
  const two = expected.runs.slice(0, 2);
  for (const x of two) await page.check(`input[name="ids"][value="${x.id}"]`);
  await Promise.all([page.waitForNavigation(), page.click('#compare')]);
  const cells = await page.$$eval(`#compare tr[data-key="metrics.${expected.metric_key}"] td`,
    (tds) => tds.map((t) => Number(t.textContent.trim())));
  assert.equal(cells.length, 2);
  cells.forEach((c, i) => close(c, two[i].metric, `compare ${two[i].id}`));
  // Only the rows that differ are shown: the model row exactly when the models differ.
  const model = await page.$('#compare tr[data-key="model"]');
  if (two[0].model === two[1].model) assert.equal(model, null);
  else assert.match(await model.getAttribute('class'), /differs/);
  await shot(page, 'compare');
}

async function login(page, token) {
  await page.goto(`${base}/login?next=/review`);
  await page.fill('#token', token);
  return Promise.all([page.waitForNavigation(), page.click('#login')]).then(([r]) => r);
}

async function review(browser) {
  step('registry: the audit trail before any decision');
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/registry`);
  const actions = await page.$$eval('#audit tbody tr', (trs) => trs.map((t) => t.children[3].textContent.trim()));
  assert.ok(actions.includes('register'), `audit: ${actions}`);

  step('login: an outsider\'s token is refused');
  let r = await login(page, 'not-a-token-of-anyone-here');
  assert.equal(r.status(), 401);
  assert.match(await page.textContent('#error'), /not a reviewer's token/);
  assert.equal(await page.$('#reviewer'), null);
  await shot(page, 'login-refused');

  step('review: a reviewer not on approval_gate.reviewers may log in but not decide');
  await login(page, expected.tokens.mallory);
  assert.equal((await page.textContent('#reviewer')).trim(), 'mallory');
  await page.fill('#notes', 'looks fine to me');
  r = (await Promise.all([page.waitForNavigation(), page.click('#approve')]))[0];
  assert.equal(r.status(), 409);
  assert.match(await page.textContent('#notice'), /not an allowed reviewer/);
  await page.click('button.link'); // log out
  await page.waitForURL(`${base}/runs`);

  step('review: a form without its CSRF token is refused');
  await login(page, expected.tokens.alice);
  assert.equal((await page.textContent('#reviewer')).trim(), 'alice');
  const evidence = (await page.textContent('#evidence')).trim();
  for (const csrf of [null, 'f'.repeat(64)]) {
    const form = { decision: 'approve', evidence, notes: 'forged' };
    if (csrf) form.csrf = csrf;
    r = await page.request.post(`${base}/review`, { form, maxRedirects: 0 });
    assert.equal(r.status(), 403, `csrf ${csrf}`);
    assert.match(await r.text(), /CSRF/);
  }

  step('review: a stale page\'s approval is refused');
  await page.goto(`${base}/review`);
  assert.match(await page.textContent('#outcome'), /pending human review/);
  await shot(page, 'review');
  // The gate runs again on other evidence while the page is open.
  // (Exit 1: the candidate still waits for a human.)
  const gate = spawnSync(expected.restale[0], expected.restale.slice(1), { encoding: 'utf8' });
  assert.ok([0, 1].includes(gate.status), `the gate: ${gate.status} ${gate.stderr}`);
  await page.fill('#notes', 'slices look fine');
  r = (await Promise.all([page.waitForNavigation(), page.click('#approve')]))[0];
  assert.equal(r.status(), 409);
  assert.match(await page.textContent('#notice'), /the candidate or its checks changed/);
  assert.notEqual((await page.textContent('#evidence')).trim(), evidence, 'the page now shows the new evidence');

  step('review: alice approves on the current evidence');
  await page.fill('#notes', 'slices look fine');
  r = (await Promise.all([page.waitForNavigation(), page.click('#approve')]))[0];
  assert.equal(r.status(), 200);
  assert.match(await page.textContent('#notice'), /alice approved/);
  await shot(page, 'review-approved');

  step('registry: the approval is in the version and the audit trail');
  await page.goto(`${base}/registry`);
  const reviews = await page.textContent(`#versions tr[data-version="${expected.version}"] .reviews`);
  assert.match(reviews, /approve\s+by alice \(ui/);
  const audit = await page.$$eval('#audit tbody tr', (trs) => trs.map((t) => [...t.children].map((c) => c.textContent.trim())));
  const row = audit.find((a) => a[3] === 'review');
  assert.ok(row, `no review in the audit trail: ${JSON.stringify(audit)}`);
  assert.equal(row[2], 'alice');
  assert.match(row[6], /approve: slices look fine/);
  await shot(page, 'registry');
  await context.close();
}

async function monitor(page) {
  step('monitor: every window, the latest in detail');
  const r = await page.goto(`${base}/monitor`);
  assert.equal(r.status(), 200);
  const rows = await page.$$eval('#windows tr', (trs) => trs.slice(1).map((t) => t.children[0].textContent.trim()));
  assert.deepEqual(rows, expected.windows, 'the windows, newest first');
  assert.match(await page.textContent('#diagnosis'), new RegExp(expected.diagnosis));
  const fired = await page.$$eval('#triggers tr.differs td:first-child', (tds) => tds.map((t) => t.textContent.trim()));
  assert.deepEqual(fired, expected.fired);
  await shot(page, 'monitor');
}

(async () => {
  const scenario = process.argv[2];
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({ executablePath: process.env.MLX_TEST_CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    if (scenario === 'review') {
      await runsTable(page);
      await runAndCompare(page);
      await review(browser);
    } else if (scenario === 'monitor') {
      await monitor(page);
    } else {
      throw new Error(`unknown scenario ${scenario}`);
    }
  } finally {
    await browser.close();
  }
  step(`${scenario}: every check passed`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
