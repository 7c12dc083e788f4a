// Photographs the Temporal Web UI of a running `make demo`:
//   node scripts/screenshot.cjs http://127.0.0.1:8233 docs/screenshots
// scripts/screenshot.sh installs playwright-core into .screenshot/ and runs
// this once the demo's two runs are done.
'use strict';

const path = require('path');
const fs = require('fs');
const os = require('os');

const { chromium } = require(path.resolve(__dirname, '..', '.screenshot', 'node_modules', 'playwright-core'));

const [ui, outDir] = process.argv.slice(2);
if (!ui || !outDir) {
  console.error('usage: node scripts/screenshot.cjs UI_URL OUT_DIR');
  process.exit(2);
}
const ns = 'default';

// The demo's failed run, through the Web UI server's HTTP API.
async function failedRun() {
  const query = encodeURIComponent('DataWorksFlow = "daily_sales_broken" AND DagOutcome = "FAILED"');
  for (let i = 0; i < 60; i++) {
    const resp = await fetch(`${ui}/api/v1/namespaces/${ns}/workflows?query=${query}`);
    if (resp.ok) {
      const body = await resp.json();
      const e = (body.executions || [])[0];
      if (e) return e.execution;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('the failed demo run is not listed by the Web UI');
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'manualdag-chromium-'));
  // The machine's network is closed: no background connections.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false,
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height: 900 },
    colorScheme: 'light',
  });
  try {
    const page = await context.newPage();

    const list = `${ui}/namespaces/${ns}/workflows?query=${encodeURIComponent('DataWorksProject = "demo_project"')}`;
    await page.goto(list, { waitUntil: 'networkidle' });
    await page.getByText('daily_sales_broken').first().waitFor({ timeout: 30000 });
    await page.waitForTimeout(1000);
    await page.screenshot({ path: path.join(outDir, 'workflow-list.png') });
    console.log(`screenshot: ${path.join(outDir, 'workflow-list.png')} (${list})`);

    const run = await failedRun();
    const url = `${ui}/namespaces/${ns}/workflows/${encodeURIComponent(run.workflowId)}/${run.runId}/history`;
    // Taller, for the event timeline with the activity and timer summaries.
    await page.setViewportSize({ width: 1440, height: 1250 });
    await page.goto(url, { waitUntil: 'networkidle' });
    await page.getByText('dwd_orders_merge').first().waitFor({ timeout: 30000 });
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(outDir, 'failed-run.png'), fullPage: false });
    console.log(`screenshot: ${path.join(outDir, 'failed-run.png')} (${url})`);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error('screenshot:', err);
  process.exit(1);
});
