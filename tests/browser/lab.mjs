// Drive JupyterLab 4 in Debian's headless Chromium through playwright-core (no browser download).
//
// The server is started by tests/browser/labserver.py with `expose_app_in_browser`, so notebooks are run
// through JupyterLab's own command registry (the same commands the menus use) instead of keyboard chords
// that depend on focus.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Flags checked on Chromium 156 (Debian bookworm): headless WebGL falls back to SwiftShader through ANGLE
// either way; naming it keeps the WebGL map working when Chromium stops the implicit fallback.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  // Containers often mount a 64 MB /dev/shm; Chromium then crashes on large pages unless it uses /tmp.
  '--disable-dev-shm-usage',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--metrics-recording-only',
  '--password-store=basic',
];

/** Parse `--name value` pairs (and bare `--flag`) into an object. */
export function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    if (!key.startsWith('--')) throw new Error(`unexpected argument ${key}`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[key.slice(2)] = true;
    else { out[key.slice(2)] = next; i++; }
  }
  return out;
}

/**
 * Launch Chromium with a fresh profile; record dialogs, page errors and console errors.
 * @returns {{context, page, events, close}} events: {dialogs: string[], pageErrors: string[],
 *   pageErrorStacks: string[] (the same errors with their stacks, to tell where they were thrown), consoleErrors: string[]}
 */
export async function launch(executablePath, { width = 1400, height = 950 } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nblabel-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width, height },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const events = { dialogs: [], pageErrors: [], pageErrorStacks: [], consoleErrors: [] };
  page.on('dialog', async (dialog) => {
    events.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss();
  });
  page.on('pageerror', (err) => {
    events.pageErrors.push(String(err));
    events.pageErrorStacks.push(err.stack ?? String(err));
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') events.consoleErrors.push(msg.text());
  });
  const close = async () => {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, page, events, close };
}

/** Open a notebook URL and wait until JupyterLab shows it with an idle kernel. */
export async function openNotebook(page, url, { timeout = 120_000 } = {}) {
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
  await page.waitForFunction(
    () => {
      const w = window.jupyterapp?.shell?.currentWidget;
      return w?.content?.widgets?.length > 0 && w.sessionContext?.session?.kernel?.status === 'idle';
    },
    null,
    { timeout, polling: 200 },
  );
}

/** Switch the JupyterLab theme ('JupyterLab Light' / 'JupyterLab Dark') and wait until it is applied. */
export async function setTheme(page, theme, { timeout = 30_000 } = {}) {
  await page.evaluate((t) => window.jupyterapp.commands.execute('apputils:change-theme', { theme: t }), theme);
  const light = theme.toLowerCase().includes('light');
  await page.waitForFunction(
    (wantLight) => document.body.dataset.jpThemeLight === String(wantLight),
    light,
    { timeout, polling: 200 },
  );
}

/** Summary of every code cell of the current notebook: execution count and error outputs. */
function cellSummaries() {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets
    .filter((cell) => cell.model.type === 'code')
    .map((cell) => {
      const outputs = cell.model.outputs.toJSON();
      const errors = outputs
        .filter((o) => o.output_type === 'error')
        .map((o) => `${o.ename}: ${o.evalue}\n${(o.traceback || []).join('\n')}`);
      return { count: cell.model.executionCount, errors };
    });
}

/**
 * Run every cell (JupyterLab's `notebook:run-all-cells`) and wait until all have run.
 * Throws with the Python traceback as soon as a cell reports an error.
 * @returns {Promise<number>} page-clock time (performance.now(), ms) at which the run was requested.
 */
export async function runAllCells(page, { timeout = 180_000 } = {}) {
  const t0 = await page.evaluate(() => {
    const start = performance.now();
    window.jupyterapp.commands.execute('notebook:run-all-cells');
    return start;
  });
  const deadline = Date.now() + timeout;
  for (;;) {
    const cells = await page.evaluate(cellSummaries);
    const failed = cells.find((c) => c.errors.length > 0);
    if (failed) throw new Error(`notebook cell failed:\n${stripAnsi(failed.errors.join('\n'))}`);
    if (cells.every((c) => c.count !== null)) return t0;
    if (Date.now() > deadline) throw new Error(`cells did not finish within ${timeout} ms: ${JSON.stringify(cells)}`);
    await page.waitForTimeout(200);
  }
}

/** Text of all stream/error outputs of the notebook (for failure messages). */
export async function notebookOutputText(page) {
  return page.evaluate(() => {
    const panel = window.jupyterapp.shell.currentWidget;
    return panel.content.widgets
      .filter((cell) => cell.model.type === 'code')
      .flatMap((cell) => cell.model.outputs.toJSON())
      .map((o) => o.text ?? (o.traceback ? o.traceback.join('\n') : JSON.stringify(o.data ?? {}).slice(0, 500)))
      .join('\n');
  });
}

export function stripAnsi(text) {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

/** Print one JSON line (the result the Python side parses) and exit. */
export function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
